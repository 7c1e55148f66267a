// SPDX-License-Identifier: MIT
// Counting a Consul FSM snapshot (state.bin) as it streams past.
//
// The layout (agent/consul/fsm/snapshot.go, ReadSnapshot): one MessagePack
// value, the header {"LastIndex": N}; then records, each one byte of
// structs.MessageType followed by one MessagePack value, until the end.
// `consul snapshot inspect` (command/snapshot/inspect) counts each record's
// bytes as those its reader consumed since the previous record ended, so
// the first record's size also holds the header and each its type byte;
// the same is done here, so the numbers match Consul's. KV keys come from a
// KVS record's "Key" field, split at "/" to -kvdepth parts (kvEnhance).
//
// Written by hand because the values are only walked, never built: a
// record can be a multi-gigabyte KV value, which a DOM decoder (nlohmann's
// from_msgpack) would hold whole. Here only the header bytes of each value,
// a stack of container counts and the short strings needed are kept.
#include "adapters/consul/state.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace snap::adapters {
namespace {

// structs.MessageType's names (agent/structs/structs.go,
// requestTypeStrings), by value.
constexpr std::array<const char*, 44> k_type_names = {
    "Register",
    "Deregister",
    "KVS",
    "Session",
    "ACL",
    "Tombstone",
    "CoordinateBatchUpdate",
    "PreparedQuery",
    "Txn",
    "Autopilot",
    "Area",
    "ACLBootstrap",
    "Intention",
    "ConnectCA",
    "ConnectCAProviderState",
    "ConnectCAConfig",
    "Index",
    "ACLToken",
    "ACLTokenDelete",
    "ACLPolicy",
    "ACLPolicyDelete",
    "ConnectCALeaf",
    "ConfigEntry",
    "ACLRole",
    "ACLRoleDelete",
    "ACLBindingRule",
    "ACLBindingRuleDelete",
    "ACLAuthMethod",
    "ACLAuthMethodDelete",
    "ChunkingState",
    "FederationState",
    "SystemMetadata",
    "ServiceVirtualIP",
    "FreeVirtualIP",
    "KindServiceName",
    "Peering",
    "PeeringDelete",
    "PeeringTerminateByID",
    "PeeringTrustBundle",
    "PeeringTrustBundleDelete",
    "PeeringSecret",
    "RaftLogVerifierCheckpoint",
    "Resource",
    "UpdateManualVirtualIPRequestType",
};

constexpr unsigned k_kvs = 2;
constexpr std::size_t k_max_depth = 256;
constexpr std::size_t k_max_key = 64 * 1024;
constexpr std::size_t k_max_prefix = 512;

// Bytes of a MessagePack value's head (the type byte and what follows it
// before any payload); 0 for the one byte MessagePack never uses.
std::size_t head_length(unsigned char b) {
  if (b <= 0xc0 || b >= 0xe0 || b == 0xc2 || b == 0xc3) {
    return 1; // fixint, fixmap, fixarray, fixstr, nil, bool
  }
  switch (b) {
  case 0xc4:
  case 0xcc:
  case 0xd0:
  case 0xd9:
  case 0xd4:
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    return 2;
  case 0xc5:
  case 0xc7:
  case 0xcd:
  case 0xd1:
  case 0xda:
  case 0xdc:
  case 0xde:
    return 3;
  case 0xc8:
    return 4;
  case 0xc6:
  case 0xca:
  case 0xce:
  case 0xd2:
  case 0xdb:
  case 0xdd:
  case 0xdf:
    return 5;
  case 0xc9:
    return 6;
  case 0xcb:
  case 0xcf:
  case 0xd3:
    return 9;
  default:
    return 0; // 0xc1
  }
}

std::uint64_t be(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

std::vector<ConsulTally> sorted(std::vector<ConsulTally> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.size != b.size ? a.size > b.size : a.name < b.name;
  });
  return v;
}

} // namespace

std::string consul_message_type_name(unsigned t) {
  return t < k_type_names.size() ? k_type_names[t]
                                 : fmt::format("Unknown({})", t);
}

std::string consul_byte_size(std::uint64_t bytes) {
  struct Unit {
    std::uint64_t size;
    const char* name;
  };
  static constexpr Unit units[] = {{1ull << 40, "TB"},
                                   {1ull << 30, "GB"},
                                   {1ull << 20, "MB"},
                                   {1ull << 10, "KB"},
                                   {1, "B"}};
  if (bytes == 0) {
    return "0";
  }
  for (const auto& u : units) {
    if (bytes >= u.size) {
      std::string v = fmt::format("{:.1f}", static_cast<double>(bytes) /
                                                static_cast<double>(u.size));
      if (v.ends_with(".0")) {
        v.resize(v.size() - 2);
      }
      return v + u.name;
    }
  }
  return "0";
}

nlohmann::ordered_json ConsulStateStats::to_json() const {
  auto rows = [](const std::vector<ConsulTally>& v) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& t : v) {
      out.push_back({{"name", t.name}, {"count", t.count}, {"size", t.size}});
    }
    return out;
  };
  return {{"types", rows(types)},
          {"total_size", total_size},
          {"kv", rows(kv)},
          {"kv_total_size", kv_total_size}};
}

std::optional<ConsulStateStats>
ConsulStateStats::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("types") || !j["types"].is_array()) {
    return std::nullopt;
  }
  ConsulStateStats s;
  auto rows = [](const nlohmann::json& v, std::vector<ConsulTally>& into) {
    if (!v.is_array()) {
      return;
    }
    for (const auto& r : v) {
      if (r.is_object()) {
        into.push_back({r.value("name", ""), r.value("count", 0ull),
                        r.value("size", 0ull)});
      }
    }
  };
  rows(j["types"], s.types);
  rows(j.value("kv", nlohmann::json::array()), s.kv);
  s.total_size = j.value("total_size", 0ull);
  s.kv_total_size = j.value("kv_total_size", 0ull);
  return s;
}

struct ConsulStateReader::Impl {
  ConsulKvView view;
  std::string error;
  std::uint64_t consumed = 0;
  std::uint64_t last_total = 0; // consumed when the last record ended
  bool header_done = false;
  bool in_record = false;
  unsigned record_type = 0;

  std::array<unsigned char, 9> head{};
  std::size_t head_have = 0, head_need = 0;
  std::uint64_t skip = 0; // payload bytes left of the current string
  struct Frame {
    std::uint64_t left;
    bool map;
  };
  std::vector<Frame> stack;

  enum class Capture { none, map_key, key_value } capture = Capture::none;
  std::string captured;
  std::string last_key; // the record map's key before the current value
  std::string kv_key;
  bool have_key = false;

  std::map<unsigned, ConsulTally> types;
  std::map<std::string, ConsulTally> kv;
  std::uint64_t kv_total = 0;

  void fail(std::string why) {
    if (error.empty()) {
      error = std::move(why);
    }
  }

  std::string where() const {
    return header_done ? fmt::format("a {} record",
                                     consul_message_type_name(record_type))
                       : std::string("the snapshot header");
  }

  void feed(const unsigned char* p, std::size_t n) {
    while (n > 0 && error.empty()) {
      if (skip > 0) {
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(skip, n));
        if (capture != Capture::none) {
          std::size_t limit = capture == Capture::map_key ? 64 : k_max_key;
          captured.append(
              reinterpret_cast<const char*>(p),
              std::min(take, limit - std::min(limit, captured.size())));
        }
        p += take;
        n -= take;
        consumed += take;
        skip -= take;
        if (skip == 0) {
          string_done();
        }
        continue;
      }
      if (header_done && !in_record) {
        record_type = *p++;
        --n;
        ++consumed;
        in_record = true;
        continue;
      }
      if (head_have == 0) {
        head_need = head_length(*p);
        if (head_need == 0) {
          fail(fmt::format("state.bin: {} holds the byte 0xc1, which is "
                           "not MessagePack",
                           where()));
          return;
        }
      }
      std::size_t take = std::min(head_need - head_have, n);
      std::copy(p, p + take, head.begin() + static_cast<long>(head_have));
      head_have += take;
      p += take;
      n -= take;
      consumed += take;
      if (head_have == head_need) {
        head_have = 0;
        value_head();
      }
    }
  }

  // A value's head is whole: start a string, a container, or end a scalar.
  void value_head() {
    unsigned char b = head[0];
    bool at_record_map = stack.size() == 1 && stack.back().map;
    bool is_key = at_record_map && stack.back().left % 2 == 0;
    if (is_key) {
      last_key.clear();
    }
    std::optional<std::uint64_t> payload;
    std::optional<std::uint64_t> items;
    bool map = false;
    bool string = false;
    if (b >= 0xa0 && b <= 0xbf) {
      payload = b & 0x1f;
      string = true;
    } else if (b >= 0x80 && b <= 0x8f) {
      items = b & 0x0f;
      map = true;
    } else if (b >= 0x90 && b <= 0x9f) {
      items = b & 0x0f;
    } else {
      switch (b) {
      case 0xc4:
      case 0xd9:
        payload = head[1];
        string = true;
        break;
      case 0xc5:
      case 0xda:
        payload = be(&head[1], 2);
        string = true;
        break;
      case 0xc6:
      case 0xdb:
        payload = be(&head[1], 4);
        string = true;
        break;
      case 0xc7:
        payload = head[1];
        break;
      case 0xc8:
        payload = be(&head[1], 2);
        break;
      case 0xc9:
        payload = be(&head[1], 4);
        break;
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        payload = 1u << (b - 0xd4);
        break;
      case 0xdc:
        items = be(&head[1], 2);
        break;
      case 0xdd:
        items = be(&head[1], 4);
        break;
      case 0xde:
        items = be(&head[1], 2);
        map = true;
        break;
      case 0xdf:
        items = be(&head[1], 4);
        map = true;
        break;
      default:
        break; // a number, nil or bool: no more bytes
      }
    }
    if (payload) {
      capture = Capture::none;
      captured.clear();
      if (string && in_record && record_type == k_kvs && at_record_map) {
        if (is_key) {
          capture = Capture::map_key;
        } else if (last_key == "Key") {
          capture = Capture::key_value;
        }
      }
      skip = *payload;
      if (skip == 0) {
        string_done();
      }
      return;
    }
    if (items) {
      if (stack.size() >= k_max_depth) {
        fail(fmt::format("state.bin: {} nests deeper than {} levels", where(),
                         k_max_depth));
        return;
      }
      std::uint64_t n = map ? *items * 2 : *items;
      if (n == 0) {
        item_done();
        return;
      }
      stack.push_back({n, map});
      return;
    }
    item_done();
  }

  void string_done() {
    if (capture == Capture::map_key) {
      last_key = captured;
    } else if (capture == Capture::key_value) {
      kv_key = captured;
      have_key = true;
    }
    capture = Capture::none;
    captured.clear();
    item_done();
  }

  void item_done() {
    while (!stack.empty()) {
      if (--stack.back().left > 0) {
        return;
      }
      stack.pop_back();
    }
    value_done();
  }

  void value_done() {
    if (!header_done) {
      header_done = true; // its bytes go to the first record, as in Consul
      return;
    }
    std::uint64_t size = consumed - last_total;
    last_total = consumed;
    ConsulTally& t = types[record_type];
    if (t.name.empty()) {
      t.name = consul_message_type_name(record_type);
    }
    ++t.count;
    t.size += size;
    if (record_type == k_kvs && have_key) {
      add_kv(size);
    }
    in_record = false;
    have_key = false;
    last_key.clear();
  }

  void add_kv(std::uint64_t size) {
    if (!view.filter.empty() && !kv_key.starts_with(view.filter)) {
      return;
    }
    std::string prefix;
    std::size_t start = 0;
    for (int part = 0; part < std::max(view.depth, 1); ++part) {
      auto slash = kv_key.find('/', start);
      prefix = kv_key.substr(0, slash);
      if (slash == std::string::npos) {
        break;
      }
      start = slash + 1;
    }
    if (prefix.size() > k_max_prefix) {
      prefix = prefix.substr(0, k_max_prefix) + "…";
    }
    if (!kv.contains(prefix) && kv.size() >= view.max_prefixes) {
      prefix = "(more)";
    }
    ConsulTally& t = kv[prefix];
    t.name = prefix;
    ++t.count;
    t.size += size;
    kv_total += size;
  }
};

ConsulStateReader::ConsulStateReader(ConsulKvView view)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->view = std::move(view);
}
ConsulStateReader::~ConsulStateReader() = default;
ConsulStateReader::ConsulStateReader(ConsulStateReader&&) noexcept = default;
ConsulStateReader&
ConsulStateReader::operator=(ConsulStateReader&&) noexcept = default;

void ConsulStateReader::feed(const unsigned char* data, std::size_t n) {
  m_impl->feed(data, n);
}

Expected<ConsulStateStats> ConsulStateReader::finish() {
  Impl& s = *m_impl;
  if (s.error.empty() && (!s.header_done || s.in_record)) {
    s.fail(fmt::format("state.bin ends inside {}: unexpected EOF", s.where()));
  }
  if (!s.error.empty()) {
    return fail(ErrorKind::archive, s.error);
  }
  ConsulStateStats out;
  for (const auto& [type, t] : s.types) {
    out.types.push_back(t);
  }
  for (const auto& [prefix, t] : s.kv) {
    out.kv.push_back(t);
  }
  out.types = sorted(std::move(out.types));
  out.kv = sorted(std::move(out.kv));
  out.total_size = s.last_total;
  out.kv_total_size = s.kv_total;
  return out;
}

} // namespace snap::adapters
