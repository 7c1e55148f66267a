// SPDX-License-Identifier: MIT
// Emulated Consul agent+server. It keeps KV in memory, produces snapshots in
// the real format (gzip tar of meta.json, state.bin as MessagePack FSM
// records, SHA256SUMS), builds each one in a file first and then streams it
// as Consul does, and restores KV from a PUT snapshot after checking it the
// way Consul does. Errors are plain text with Consul's wording.
#include "emulator/consul.hpp"
#include "emulator/codec.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <openssl/evp.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "emulator/consul_snapshot.hpp"

namespace snap::emulator {
namespace {

constexpr std::uint64_t k_term = 2;
constexpr std::string_view k_leader_addr = "127.0.0.1:8300";

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
                                      : nlohmann::json(base64_encode(e.value))},
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

  // The snapshot file for the current state, built once per index.
  Snapshot build_snapshot() {
    if (m_snapshot.index == m_index && !m_snapshot.file.empty()) {
      return m_snapshot;
    }
    auto file = write_snapshot(m_kv, {.index = m_index,
                                      .term = k_term,
                                      .leader_addr = std::string(k_leader_addr),
                                      .padding_bytes = m_opts.snapshot_bytes,
                                      .random_padding = m_opts.random_content,
                                      .dir = m_opts.data_dir});
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
    stream_file(rs, snap.file, "application/x-gzip",
                m_faults.faults().fail_after_bytes);
  }

  void snapshot_put(const httplib::Request& rq, httplib::Response& rs) {
    if (rq.has_param("stale")) {
      text(rs, 500, "stale not allowed for restore");
      return;
    }
    if (!authorize(rq, rs) || !check_write(rq, rs)) {
      return;
    }
    auto restored = read_snapshot(rq.body);
    if (auto* error = std::get_if<std::string>(&restored)) {
      text(rs, 500, *error);
      return;
    }
    auto& r = std::get<RestoredSnapshot>(restored);
    std::lock_guard lock(m_mutex);
    m_kv = std::move(r.kv);
    m_index = std::max(m_index, r.index) + 1;
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
