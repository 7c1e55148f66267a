// SPDX-License-Identifier: MIT
// Consul snapshots as the emulator writes and reads them. state.bin holds the
// FSM header ({"LastIndex": N}) and then records, each a structs.MessageType
// byte and a MessagePack value, in the order fsm/snapshot_oss.go persists
// them: the catalog (a Register per node, per service and per check), the
// ACL tokens and policies, one KVS record per key (structs.DirEntry's
// fields in their order, the value as a raw string), the Autopilot
// configuration and an Index record per table. The encoding is
// hashicorp/go-msgpack's with structs.MsgpackHandle (see msgpack.cpp).
// SHA256SUMS covers meta.json and state.bin. The tar carries exactly two
// zero blocks after its end, as Go writes it.
#include "emulator/consul_snapshot.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <chrono>
#include <cstring>
#include <fstream>
#include <openssl/evp.h>
#include <random>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "emulator/msgpack.hpp"

namespace snap::emulator {
namespace {

// structs.MessageType values (agent/structs/structs.go).
constexpr unsigned char k_register = 0;
constexpr unsigned char k_kvs_record = 2;
constexpr unsigned char k_autopilot = 9;
constexpr unsigned char k_index = 16;
constexpr unsigned char k_acl_token = 17;
constexpr unsigned char k_acl_policy = 19;
constexpr unsigned char k_last_known_type = 43; // UpdateVirtualIPRequestType
constexpr unsigned char k_ignore_unknown = 128; // IgnoreUnknownTypeFlag

using ojson = nlohmann::ordered_json;

// The records around the KV store that every Consul server has: its own
// node with the consul service and serfHealth check, the anonymous token,
// the global-management policy, the default Autopilot configuration.
std::vector<std::pair<unsigned char, ojson>> catalog_records() {
  ojson node = {
      {"Datacenter", "dc1"},
      {"ID", "9b1c7e36-0000-4000-8000-000000000001"},
      {"Node", "emulator"},
      {"Address", "127.0.0.1"},
      {"TaggedAddresses", {{"lan", "127.0.0.1"}, {"wan", "127.0.0.1"}}},
      {"NodeMeta", {{"consul-network-segment", ""}}},
      {"Service", nullptr},
      {"Check", nullptr},
      {"Checks", nullptr},
      {"SkipNodeUpdate", false},
      {"PeerName", ""},
      {"Token", ""},
      {"CreateIndex", 5},
      {"ModifyIndex", 5}};
  ojson with_service = node;
  with_service["Service"] = {{"Kind", ""},
                             {"ID", "consul"},
                             {"Service", "consul"},
                             {"Tags", ojson::array()},
                             {"Address", ""},
                             {"Port", 8300},
                             {"EnableTagOverride", false},
                             {"CreateIndex", 5},
                             {"ModifyIndex", 5}};
  ojson with_check = node;
  with_check["Check"] = {{"Node", "emulator"},
                         {"CheckID", "serfHealth"},
                         {"Name", "Serf Health Status"},
                         {"Status", "passing"},
                         {"Notes", ""},
                         {"Output", "Agent alive and reachable"},
                         {"ServiceID", ""},
                         {"ServiceName", ""},
                         {"CreateIndex", 6},
                         {"ModifyIndex", 6}};
  ojson token = {{"AccessorID", "00000000-0000-0000-0000-000000000002"},
                 {"SecretID", "anonymous"},
                 {"Description", "Anonymous Token"},
                 {"Policies", ojson::array()},
                 {"Roles", ojson::array()},
                 {"ServiceIdentities", nullptr},
                 {"NodeIdentities", nullptr},
                 {"Local", false},
                 {"AuthMethod", ""},
                 {"ExpirationTTL", 0},
                 {"CreateIndex", 3},
                 {"ModifyIndex", 3}};
  ojson policy = {
      {"ID", "00000000-0000-0000-0000-000000000001"},
      {"Name", "global-management"},
      {"Description", "Builtin Policy that grants unlimited access"},
      {"Rules", "acl = \"write\"\nagent_prefix \"\" {\n  policy = "
                "\"write\"\n}\nkey_prefix \"\" {\n  policy = "
                "\"write\"\n}\n"},
      {"Datacenters", nullptr},
      {"CreateIndex", 2},
      {"ModifyIndex", 2}};
  return {{k_register, node},
          {k_register, with_service},
          {k_register, with_check},
          {k_acl_token, token},
          {k_acl_policy, policy}};
}

std::vector<std::pair<unsigned char, ojson>>
closing_records(std::uint64_t index) {
  ojson autopilot = {{"CleanupDeadServers", true},
                     {"LastContactThreshold", 200000000},
                     {"MaxTrailingLogs", 250},
                     {"MinQuorum", 0},
                     {"ServerStabilizationTime", 10000000000ull},
                     {"RedundancyZoneTag", ""},
                     {"DisableUpgradeMigration", false},
                     {"UpgradeVersionTag", ""},
                     {"CreateIndex", 4},
                     {"ModifyIndex", 4}};
  std::vector<std::pair<unsigned char, ojson>> out = {{k_autopilot, autopilot}};
  for (const char* table : {"acl-policies", "acl-tokens", "autopilot-config",
                            "checks", "kvs", "nodes", "services"}) {
    out.push_back({k_index, ojson{{"Key", table}, {"Value", index}}});
  }
  return out;
}

// Writes state.bin: the FSM header, then one KVS record per key, then the
// benchmark padding as one more KVS record.
std::pair<std::string, std::uint64_t>
write_state(const KvStore& kv, const SnapshotSpec& spec,
            const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  std::uint64_t size = 0;
  auto emit = [&](const std::string& chunk) {
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    EVP_DigestUpdate(md, chunk.data(), chunk.size());
    size += chunk.size();
  };
  std::string buf;
  msgpack::put_map(buf, 1);
  msgpack::put_str(buf, "LastIndex");
  msgpack::put_uint(buf, spec.index);
  // The header stands alone, so a store with no keys still has one (Consul's
  // fsm Persist writes it before any record).
  emit(buf);
  buf.clear();
  auto record = [&](unsigned char type, const ojson& value) {
    buf.push_back(static_cast<char>(type));
    msgpack::put_value(buf, value);
    emit(buf);
    buf.clear();
  };
  for (const auto& [type, value] : catalog_records()) {
    record(type, value);
  }
  // structs.DirEntry: LockIndex, Key, Flags, Value, Session, then the
  // embedded RaftIndex's CreateIndex and ModifyIndex; the value's bytes
  // follow the head directly, so a large one is never copied.
  auto record_head = [&](const std::string& key, const KvEntry& e,
                         std::uint64_t value_size) {
    buf.push_back(static_cast<char>(k_kvs_record));
    msgpack::put_map(buf, 7);
    msgpack::put_str(buf, "LockIndex");
    msgpack::put_uint(buf, 0);
    msgpack::put_str(buf, "Key");
    msgpack::put_str(buf, key);
    msgpack::put_str(buf, "Flags");
    msgpack::put_uint(buf, e.flags);
    msgpack::put_str(buf, "Value");
    msgpack::put_raw_header(buf, value_size);
  };
  auto record_tail = [&](const KvEntry& e) {
    msgpack::put_str(buf, "Session");
    msgpack::put_str(buf, "");
    msgpack::put_str(buf, "CreateIndex");
    msgpack::put_uint(buf, e.create_index);
    msgpack::put_str(buf, "ModifyIndex");
    msgpack::put_uint(buf, e.modify_index);
  };
  for (const auto& [key, e] : kv) {
    record_head(key, e, e.value.size());
    buf += e.value;
    record_tail(e);
    emit(buf);
    buf.clear();
  }
  // Padding for benchmarks: hex text, which compresses about as well as
  // real catalog and KV data does.
  std::uint64_t left = spec.padding_bytes;
  while (left > 0) {
    std::uint64_t part = std::min<std::uint64_t>(left, 0xfff00000u);
    KvEntry pad;
    record_head(fmt::format("_emulator/padding/{}", left), pad, part);
    emit(buf);
    buf.clear();
    std::mt19937_64 rng(left);
    std::string block(1 << 20, '\0');
    static constexpr char k_hex[] = "0123456789abcdef";
    for (std::uint64_t done = 0; done < part;) {
      if (spec.random_padding) {
        for (std::size_t i = 0; i + 8 <= block.size(); i += 8) {
          std::uint64_t v = rng();
          std::memcpy(block.data() + i, &v, 8);
        }
      } else {
        for (auto& c : block) {
          c = k_hex[rng() & 0xf];
        }
      }
      std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(block.size(), part - done));
      emit(block.substr(0, n));
      done += n;
    }
    left -= part;
    record_tail(pad);
    emit(buf);
    buf.clear();
  }
  for (const auto& [type, value] : closing_records(spec.index)) {
    record(type, value);
  }
  unsigned char d[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, d, &n);
  EVP_MD_CTX_free(md);
  if (!out.flush()) {
    throw std::runtime_error(path.string() + ": cannot write the state");
  }
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    hex += fmt::format("{:02x}", d[i]);
  }
  return {hex, size};
}

} // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char d[32];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += fmt::format("{:02x}", d[i]);
  }
  return out;
}

std::filesystem::path write_snapshot(const KvStore& kv,
                                     const SnapshotSpec& spec) {
  auto state_path = spec.dir / "state.bin";
  auto [state_sha, state_size] = write_state(kv, spec, state_path);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  nlohmann::ordered_json meta = {
      {"Version", 1},
      {"ID", fmt::format("{}-{}-{}", spec.term, spec.index, ms)},
      {"Index", spec.index},
      {"Term", spec.term},
      {"Peers", "ka4xMjcuMC4wLjE6ODMwMA=="},
      {"Configuration",
       {{"Servers",
         {{{"Suffrage", 0},
           {"ID", "a577b288-7b8d-4b6e-a5d2-1f2b7f4c1e01"},
           {"Address", spec.leader_addr}}}}}},
      {"ConfigurationIndex", 1},
      {"Size", state_size}};
  std::string meta_text = meta.dump() + "\n";
  // Go map order: the sums are not in a fixed order.
  std::string sums = fmt::format("{}  state.bin\n{}  meta.json\n", state_sha,
                                 sha256_hex(meta_text));
  auto file = spec.dir / fmt::format("snapshot-{}.tgz", spec.index);
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_ustar(a);
  archive_write_set_bytes_in_last_block(a, 1); // no padding after the end
  // A snapshot that cannot be written is an error of the request: Consul's
  // HTTP layer (agent/http.go, wrap) answers an error without a code of its
  // own with 500 and the error's text; the handler's exception becomes that.
  if (archive_write_open_filename(a, file.c_str()) != ARCHIVE_OK) {
    std::string why = archive_error_string(a);
    archive_write_free(a);
    std::filesystem::remove(state_path);
    throw std::runtime_error(fmt::format("{}: {}", file.string(), why));
  }
  auto add = [&](const char* name, std::uint64_t size, auto&& body) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_mtime(e, ms / 1000, 0);
    archive_write_header(a, e);
    body();
    archive_entry_free(e);
  };
  add("meta.json", meta_text.size(),
      [&] { archive_write_data(a, meta_text.data(), meta_text.size()); });
  add("state.bin", state_size, [&] {
    std::ifstream in(state_path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      archive_write_data(a, buf.data(), static_cast<size_t>(in.gcount()));
    }
  });
  add("SHA256SUMS", sums.size(),
      [&] { archive_write_data(a, sums.data(), sums.size()); });
  archive_write_close(a);
  archive_write_free(a);
  std::filesystem::remove(state_path);
  return file;
}

std::variant<RestoredSnapshot, std::string>
read_snapshot(const std::string& body) {
  std::string meta_text, state, sums, error;
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (body.size() < 2 || static_cast<unsigned char>(body[0]) != 0x1f ||
      static_cast<unsigned char>(body[1]) != 0x8b) {
    error = "failed to decompress snapshot: gzip: invalid header";
  } else if (archive_read_open_memory(a, body.data(), body.size()) !=
             ARCHIVE_OK) {
    error = "failed to decompress snapshot: unexpected EOF";
  }
  struct archive_entry* e = nullptr;
  while (error.empty()) {
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc != ARCHIVE_OK) {
      error = "failed to read snapshot file: unexpected EOF";
      break;
    }
    std::string name = archive_entry_pathname(e);
    std::string* into = name == "meta.json"    ? &meta_text
                        : name == "state.bin"  ? &state
                        : name == "SHA256SUMS" ? &sums
                                               : nullptr;
    if (into == nullptr) {
      error = fmt::format("unexpected file \"{}\" in snapshot", name);
      break;
    }
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
      into->append(buf, static_cast<std::size_t>(n));
    }
    if (n < 0) {
      error = "failed to read snapshot file: unexpected EOF";
    }
  }
  archive_read_free(a);
  if (error.empty()) {
    for (auto [name, data] :
         {std::pair{"meta.json", &meta_text}, std::pair{"state.bin", &state}}) {
      if (sums.find(sha256_hex(*data) + "  " + name) == std::string::npos) {
        error = fmt::format("failed to read snapshot file: failed checking "
                            "integrity of snapshot: hash check failed for "
                            "\"{}\"",
                            name);
        break;
      }
    }
  }
  std::map<std::string, KvEntry> kv;
  std::uint64_t snap_index = 0;
  if (error.empty()) {
    try {
      auto meta = nlohmann::json::parse(meta_text);
      snap_index = meta.at("Index").get<std::uint64_t>();
      if (meta.at("Size").get<std::uint64_t>() != state.size()) {
        error = fmt::format("failed to write snapshot, size didn't match "
                            "({} != {})",
                            state.size(), meta.at("Size").get<std::uint64_t>());
      }
      std::size_t pos = 0;
      msgpack::decode(state, pos); // header
      while (error.empty() && pos < state.size()) {
        auto type = static_cast<unsigned char>(state[pos++]);
        auto rec = msgpack::decode(state, pos);
        if (type != k_kvs_record) {
          // The catalog and ACL records are not modelled; a type Consul
          // does not know fails its restore (fsm Restore's default case).
          if (type > k_last_known_type && (type & k_ignore_unknown) == 0) {
            error = fmt::format("Raft error when restoring snapshot: "
                                "Unrecognized msg type {}",
                                type);
          }
          continue;
        }
        std::string key = rec.at("Key").get<std::string>();
        if (key.starts_with("_emulator/padding/")) {
          continue;
        }
        // A raw string as Consul writes it; bin from other encoders.
        const auto& v = rec.at("Value");
        std::string value = v.is_binary() ? std::string(v.get_binary().begin(),
                                                        v.get_binary().end())
                                          : v.get<std::string>();
        kv[key] = {std::move(value), rec.at("Flags").get<std::uint64_t>(),
                   rec.at("CreateIndex").get<std::uint64_t>(),
                   rec.at("ModifyIndex").get<std::uint64_t>()};
      }
    } catch (const std::exception& ex) {
      error = fmt::format("Raft error when restoring snapshot: {}", ex.what());
    }
  }
  if (!error.empty()) {
    return error;
  }
  return RestoredSnapshot{std::move(kv), snap_index};
}

} // namespace snap::emulator
