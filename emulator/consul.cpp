// SPDX-License-Identifier: MIT
// Emulated Consul agent+server. It keeps KV in memory, produces snapshots in
// the real format (gzip tar of meta.json, state.bin as MessagePack FSM
// records, SHA256SUMS), builds each one in a file first and then streams it
// as Consul does, and restores KV from a PUT snapshot after checking it the
// way Consul does. Errors are plain text with Consul's wording.
#include "emulator/consul.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <openssl/evp.h>
#include <random>

#include <fmt/format.h>

#include "emulator/msgpack.hpp"

namespace snap::emulator {
namespace {

constexpr std::uint64_t k_term = 2;
constexpr std::string_view k_leader_addr = "127.0.0.1:8300";
constexpr unsigned char k_kvs_record = 2; // structs.KVSRequestType

struct KvEntry {
  std::string value;
  std::uint64_t flags = 0;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
};

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

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

struct Snapshot {
  std::uint64_t index = 0;
  std::filesystem::path file;
};

class Consul {
public:
  Consul(FaultInjector& faults, ConsulOptions opts)
      : m_faults(faults), m_opts(std::move(opts)) {}

  void routes(httplib::Server& s) {
    s.Get("/v1/status/leader", [this](const auto& rq, auto& rs) {
      std::lock_guard lock(m_mutex);
      rs.set_content(m_opts.no_leader ? "\"\""
                                      : fmt::format("\"{}\"", k_leader_addr),
                     "application/json");
      (void)rq;
    });
    s.Get("/v1/agent/self", [this](const auto& rq, auto& rs) {
      if (!authorize(rq, rs)) {
        return;
      }
      nlohmann::json j = {
          {"Config",
           {{"Datacenter", "dc1"},
            {"NodeName", "emulator"},
            {"Version", "1.17.0"}}},
          {"Stats",
           {{"consul", {{"leader", m_opts.no_leader ? "false" : "true"}}}}}};
      rs.set_content(j.dump(), "application/json");
    });
    s.Get("/v1/catalog/nodes", [this](const auto& rq, auto& rs) {
      if (!authorize(rq, rs) || !check_read(rq, rs)) {
        return;
      }
      std::lock_guard lock(m_mutex);
      meta_headers(rs);
      rs.set_content(R"([{"Node":"emulator","Address":"127.0.0.1",)"
                     R"("Datacenter":"dc1"}])",
                     "application/json");
    });
    s.Get(R"(/v1/kv/(.*))",
          [this](const auto& rq, auto& rs) { kv_get(rq, rs); });
    s.Put(R"(/v1/kv/(.*))",
          [this](const auto& rq, auto& rs) { kv_put(rq, rs); });
    s.Delete(R"(/v1/kv/(.*))",
             [this](const auto& rq, auto& rs) { kv_delete(rq, rs); });
    s.Get("/v1/snapshot",
          [this](const auto& rq, auto& rs) { snapshot_get(rq, rs); });
    s.Put("/v1/snapshot",
          [this](const auto& rq, auto& rs) { snapshot_put(rq, rs); });
    auto not_allowed = [](const httplib::Request&, httplib::Response& rs) {
      rs.status = 405;
      rs.set_header("Allow", "GET, PUT");
      rs.set_content("method not allowed", "text/plain");
    };
    s.Post("/v1/snapshot", not_allowed);
    s.Delete("/v1/snapshot", not_allowed);
  }

private:
  static void text(httplib::Response& rs, int status, std::string body) {
    rs.status = status;
    rs.set_content(std::move(body), "text/plain; charset=utf-8");
  }

  bool authorize(const httplib::Request& rq, httplib::Response& rs) {
    const std::string& want = m_faults.faults().require_token;
    if (want.empty()) {
      return true;
    }
    std::string token = rq.get_header_value("X-Consul-Token");
    if (token.empty()) {
      std::string auth = rq.get_header_value("Authorization");
      if (auth.size() > 7 && strncasecmp(auth.c_str(), "bearer ", 7) == 0) {
        token = auth.substr(7);
      }
    }
    if (token.empty() && rq.has_param("token")) {
      token = rq.get_param_value("token");
    }
    if (token.empty()) {
      text(rs, 403,
           "Permission denied: anonymous token lacks permission 'acl:write'. "
           "The anonymous token is used implicitly when a request does not "
           "specify a token.");
      return false;
    }
    if (token != want) {
      text(rs, 403, "ACL not found");
      return false;
    }
    return true;
  }

  // dc must be ours; reads need a leader unless ?stale.
  bool check_read(const httplib::Request& rq, httplib::Response& rs) {
    if (rq.has_param("dc") && rq.get_param_value("dc") != "dc1") {
      text(rs, 500, "No path to datacenter");
      return false;
    }
    if (m_opts.no_leader && !rq.has_param("stale")) {
      text(rs, 500, "No cluster leader");
      return false;
    }
    return true;
  }

  bool check_write(const httplib::Request& rq, httplib::Response& rs) {
    if (rq.has_param("dc") && rq.get_param_value("dc") != "dc1") {
      text(rs, 500, "No path to datacenter");
      return false;
    }
    if (m_opts.no_leader) {
      text(rs, 500, "No cluster leader");
      return false;
    }
    return true;
  }

  void meta_headers(httplib::Response& rs) {
    rs.set_header("X-Consul-Index", std::to_string(m_index));
    rs.set_header("X-Consul-KnownLeader", m_opts.no_leader ? "false" : "true");
    rs.set_header("X-Consul-LastContact", m_opts.no_leader ? "3150" : "0");
  }

  nlohmann::json entry_json(const std::string& key, const KvEntry& e) {
    return {{"LockIndex", 0},
            {"Key", key},
            {"Flags", e.flags},
            {"Value", e.value.empty() ? nlohmann::json(nullptr)
                                      : nlohmann::json(base64(e.value))},
            {"CreateIndex", e.create_index},
            {"ModifyIndex", e.modify_index}};
  }

  void kv_get(const httplib::Request& rq, httplib::Response& rs) {
    if (!authorize(rq, rs) || !check_read(rq, rs)) {
      return;
    }
    std::lock_guard lock(m_mutex);
    std::string key = rq.matches[1];
    meta_headers(rs);
    if (rq.has_param("keys")) {
      nlohmann::json keys = nlohmann::json::array();
      for (auto it = m_kv.lower_bound(key);
           it != m_kv.end() && it->first.starts_with(key); ++it) {
        keys.push_back(it->first);
      }
      if (keys.empty()) {
        rs.status = 404;
        return;
      }
      rs.set_content(keys.dump(), "application/json");
      return;
    }
    if (rq.has_param("recurse")) {
      nlohmann::json out = nlohmann::json::array();
      for (auto it = m_kv.lower_bound(key);
           it != m_kv.end() && it->first.starts_with(key); ++it) {
        out.push_back(entry_json(it->first, it->second));
      }
      if (out.empty()) {
        rs.status = 404;
        return;
      }
      rs.set_content(out.dump(), "application/json");
      return;
    }
    auto it = m_kv.find(key);
    if (it == m_kv.end()) {
      rs.status = 404;
      return;
    }
    if (rq.has_param("raw")) {
      rs.set_content(it->second.value, "text/plain; charset=utf-8");
      return;
    }
    rs.set_content(nlohmann::json::array({entry_json(key, it->second)}).dump(),
                   "application/json");
  }

  void kv_put(const httplib::Request& rq, httplib::Response& rs) {
    if (!authorize(rq, rs) || !check_write(rq, rs)) {
      return;
    }
    std::lock_guard lock(m_mutex);
    std::string key = rq.matches[1];
    if (key.empty()) {
      text(rs, 400, "Missing key name");
      return;
    }
    KvEntry& e = m_kv[key];
    ++m_index;
    if (e.create_index == 0) {
      e.create_index = m_index;
    }
    e.modify_index = m_index;
    e.value = rq.body;
    e.flags =
        rq.has_param("flags") ? std::stoull(rq.get_param_value("flags")) : 0;
    rs.set_content("true", "application/json");
  }

  void kv_delete(const httplib::Request& rq, httplib::Response& rs) {
    if (!authorize(rq, rs) || !check_write(rq, rs)) {
      return;
    }
    std::lock_guard lock(m_mutex);
    std::string key = rq.matches[1];
    ++m_index;
    if (rq.has_param("recurse")) {
      for (auto it = m_kv.lower_bound(key);
           it != m_kv.end() && it->first.starts_with(key);) {
        it = m_kv.erase(it);
      }
    } else {
      m_kv.erase(key);
    }
    rs.set_content("true", "application/json");
  }

  // Writes state.bin: the FSM header, then one KVS record per key, then the
  // benchmark padding as one more KVS record.
  std::pair<std::string, std::uint64_t>
  write_state(const std::filesystem::path& path) {
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
    msgpack::put_uint(buf, m_index);
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
      msgpack::put_str(buf, "Session");
      msgpack::put_str(buf, "");
      msgpack::put_str(buf, "CreateIndex");
      msgpack::put_uint(buf, e.create_index);
      msgpack::put_str(buf, "ModifyIndex");
      msgpack::put_uint(buf, e.modify_index);
      msgpack::put_str(buf, "Value");
      msgpack::put_bin_header(buf, static_cast<std::uint32_t>(value_size));
    };
    for (const auto& [key, e] : m_kv) {
      record_head(key, e, e.value.size());
      buf += e.value;
      emit(buf);
      buf.clear();
    }
    // Padding for benchmarks: hex text, which compresses about as well as
    // real catalog and KV data does.
    std::uint64_t left = m_opts.snapshot_bytes;
    while (left > 0) {
      std::uint64_t part = std::min<std::uint64_t>(left, 0xfff00000u);
      record_head(fmt::format("_emulator/padding/{}", left), {}, part);
      emit(buf);
      buf.clear();
      std::mt19937_64 rng(left);
      std::string block(1 << 20, '\0');
      static constexpr char k_hex[] = "0123456789abcdef";
      for (std::uint64_t done = 0; done < part;) {
        if (m_opts.random_content) {
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
    }
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    EVP_MD_CTX_free(md);
    std::string hex;
    for (unsigned int i = 0; i < n; ++i) {
      hex += fmt::format("{:02x}", d[i]);
    }
    return {hex, size};
  }

  // Builds the snapshot file for the current state (cached per index).
  Snapshot build_snapshot() {
    if (m_snapshot.index == m_index && !m_snapshot.file.empty()) {
      return m_snapshot;
    }
    auto state_path = m_opts.data_dir / "state.bin";
    auto [state_sha, state_size] = write_state(state_path);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    nlohmann::ordered_json meta = {
        {"Version", 1},
        {"ID", fmt::format("{}-{}-{}", k_term, m_index, ms)},
        {"Index", m_index},
        {"Term", k_term},
        {"Peers", "ka4xMjcuMC4wLjE6ODMwMA=="},
        {"Configuration",
         {{"Servers",
           {{{"Suffrage", 0},
             {"ID", "a577b288-7b8d-4b6e-a5d2-1f2b7f4c1e01"},
             {"Address", std::string(k_leader_addr)}}}}}},
        {"ConfigurationIndex", 1},
        {"Size", state_size}};
    std::string meta_text = meta.dump() + "\n";
    // Go map order: the sums are not in a fixed order.
    std::string sums = fmt::format("{}  state.bin\n{}  meta.json\n", state_sha,
                                   sha256_hex(meta_text));
    auto file = m_opts.data_dir / fmt::format("snapshot-{}.tgz", m_index);
    struct archive* a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_ustar(a);
    archive_write_set_bytes_in_last_block(a, 1); // no padding after the end
    archive_write_open_filename(a, file.c_str());
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
    if (!m_snapshot.file.empty()) {
      std::filesystem::remove(m_snapshot.file);
    }
    m_snapshot = {m_index, file};
    return m_snapshot;
  }

  void snapshot_get(const httplib::Request& rq, httplib::Response& rs) {
    if (!authorize(rq, rs) || !check_read(rq, rs)) {
      return;
    }
    Snapshot snap;
    {
      std::lock_guard lock(m_mutex);
      snap = build_snapshot();
      meta_headers(rs);
      rs.set_header("X-Consul-Index", std::to_string(snap.index));
    }
    auto in = std::make_shared<std::ifstream>(snap.file, std::ios::binary);
    std::int64_t limit = m_faults.faults().fail_after_bytes;
    rs.set_chunked_content_provider(
        "application/x-gzip",
        [in, limit](std::size_t offset, httplib::DataSink& sink) {
          std::vector<char> buf(256 * 1024);
          std::size_t want = buf.size();
          if (limit >= 0) {
            if (offset >= static_cast<std::size_t>(limit)) {
              return false; // drop the connection mid-body
            }
            want = std::min(want, static_cast<std::size_t>(limit) - offset);
          }
          in->read(buf.data(), static_cast<std::streamsize>(want));
          auto n = static_cast<std::size_t>(in->gcount());
          if (n == 0) {
            sink.done();
            return true;
          }
          return sink.write(buf.data(), n);
        });
  }

  void snapshot_put(const httplib::Request& rq, httplib::Response& rs) {
    if (rq.has_param("stale")) {
      text(rs, 500, "stale not allowed for restore");
      return;
    }
    if (!authorize(rq, rs) || !check_write(rq, rs)) {
      return;
    }
    std::string meta_text, state, sums, error;
    struct archive* a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (rq.body.size() < 2 || static_cast<unsigned char>(rq.body[0]) != 0x1f ||
        static_cast<unsigned char>(rq.body[1]) != 0x8b) {
      error = "failed to decompress snapshot: gzip: invalid header";
    } else if (archive_read_open_memory(a, rq.body.data(), rq.body.size()) !=
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
      for (auto [name, data] : {std::pair{"meta.json", &meta_text},
                                std::pair{"state.bin", &state}}) {
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
          error =
              fmt::format("failed to write snapshot, size didn't match "
                          "({} != {})",
                          state.size(), meta.at("Size").get<std::uint64_t>());
        }
        std::size_t pos = 0;
        msgpack::decode(state, pos); // header
        while (error.empty() && pos < state.size()) {
          auto type = static_cast<unsigned char>(state[pos++]);
          auto rec = msgpack::decode(state, pos);
          if (type != k_kvs_record) {
            continue;
          }
          std::string key = rec.at("Key").get<std::string>();
          if (key.starts_with("_emulator/padding/")) {
            continue;
          }
          const auto& bin = rec.at("Value").get_binary();
          kv[key] = {std::string(bin.begin(), bin.end()),
                     rec.at("Flags").get<std::uint64_t>(),
                     rec.at("CreateIndex").get<std::uint64_t>(),
                     rec.at("ModifyIndex").get<std::uint64_t>()};
        }
      } catch (const std::exception& ex) {
        error =
            fmt::format("Raft error when restoring snapshot: {}", ex.what());
      }
    }
    if (!error.empty()) {
      text(rs, 500, error);
      return;
    }
    std::lock_guard lock(m_mutex);
    m_kv = std::move(kv);
    m_index = std::max(m_index, snap_index) + 1;
    rs.status = 200;
  }

  FaultInjector& m_faults;
  ConsulOptions m_opts;
  std::mutex m_mutex;
  std::map<std::string, KvEntry> m_kv;
  std::uint64_t m_index = 12;
  Snapshot m_snapshot;
};

} // namespace

void register_consul(httplib::Server& server, FaultInjector& faults,
                     const ConsulOptions& options) {
  static std::unique_ptr<Consul> consul; // lives as long as the server
  consul = std::make_unique<Consul>(faults, options);
  consul->routes(server);
}

} // namespace snap::emulator
