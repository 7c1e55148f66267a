// SPDX-License-Identifier: MIT
// Emulated Cloudify Manager (7.x, API v3.1). Snapshots are created and
// restored by system workflows whose executions move pending -> started ->
// terminated (or failed) over --job-ms; the archive of a created snapshot is
// a new-format zip carrying the emulator's own state (secrets, per tenant),
// so a restore visibly puts that state back. Maintenance mode, the
// unauthenticated /snapshot-status, the JSON error shape and its codes follow
// Cloudify's REST documentation (cloudify-cosmo/cloudify-rest-docs,
// source/includes/_snapshots.md and _maintenance.md) and its rest-service.
#include "emulator/cloudify.hpp"
#include "emulator/cloudify_archive.hpp"
#include "emulator/codec.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <variant>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace snap::emulator {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::string_view k_prefix = "/api/v3.1";
constexpr std::string_view k_tenant = "default_tenant";
constexpr std::string_view k_version = "7.1.0";

std::string now_iso() {
  auto t = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                t.time_since_epoch())
                .count() %
            1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

std::string sha256_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += fmt::format("{:02x}", md[i]);
  }
  return out;
}

struct Snapshot {
  std::string id;
  std::string created_at;
  std::string status; // creating, created, failed, uploaded
  std::string error;
  std::filesystem::path file;
};

// A plugins update (rest-service plugins_update/manager.py): initiated
// per blueprint, it runs the update_plugin system workflow, whose last
// step finalizes it to "successful"; with nothing to change its state is
// "no_changes_required" and its execution a finished stand-in. A workflow
// that fails leaves it in "executing_workflow" (only a finalize call
// would mark it failed).
struct PluginsUpdate {
  std::string id;
  std::string blueprint_id;
  std::string state;
  std::string execution_id;
  std::string created_at;
  json deployments = json::array();
};

struct Execution {
  std::string id;
  std::string workflow_id; // create_snapshot, restore_snapshot, …
  std::string status;      // pending, started, terminated, failed
  std::string error;
  std::string snapshot_id;
  std::string created_at;
  Clock::time_point started;
  json parameters;
  std::string deployment_id; // "" for system workflows
  std::string scheduled_for; // Cloudify 5.1's scheduled executions
  std::string ended_at;      // set when it ends
};

// An execution schedule (rest-service models.ExecutionSchedule), as far as
// a restore of scheduled executions makes one: a single run at `since`.
struct Schedule {
  std::string id;
  std::string deployment_id;
  std::string workflow_id;
  std::string since;
  std::string created_at;
};

class Cloudify {
public:
  Cloudify(FaultInjector& faults, CloudifyOptions opts)
      : m_faults(faults), m_opts(std::move(opts)) {
    for (int i = 0; i < m_opts.seed_snapshots; ++i) {
      std::string id = fmt::format("seed-{:05d}", i);
      m_snapshots[id] = {id, now_iso(), "uploaded", "", {}};
    }
    for (const auto& spec : m_opts.scheduled_executions) {
      // WORKFLOW:DEPLOYMENT:TIME; the time has colons of its own.
      auto a = spec.find(':');
      auto b = a == std::string::npos ? a : spec.find(':', a + 1);
      if (b == std::string::npos) {
        continue;
      }
      Execution e;
      e.id = fmt::format("sched-{}", m_executions.size() + 1);
      e.workflow_id = spec.substr(0, a);
      e.deployment_id = spec.substr(a + 1, b - a - 1);
      e.scheduled_for = spec.substr(b + 1);
      e.status = "scheduled";
      e.created_at = now_iso();
      m_executions[e.id] = e;
    }
  }

  void routes(httplib::Server& server) {
    std::string p(k_prefix);
    // Every handler runs under the one lock; an archive download streams
    // after its handler returned, from its own file handle.
    struct Locked {
      Cloudify* self;
      httplib::Server& server;
      void Get(const std::string& path, httplib::Server::Handler h) {
        server.Get(path, wrap(std::move(h)));
      }
      void Put(const std::string& path, httplib::Server::Handler h) {
        server.Put(path, wrap(std::move(h)));
      }
      void Post(const std::string& path, httplib::Server::Handler h) {
        server.Post(path, wrap(std::move(h)));
      }
      void Delete(const std::string& path, httplib::Server::Handler h) {
        server.Delete(path, wrap(std::move(h)));
      }
      httplib::Server::Handler wrap(httplib::Server::Handler h) {
        return [self = self, h = std::move(h)](const httplib::Request& rq,
                                               httplib::Response& rs) {
          std::lock_guard lock(self->m_mutex);
          self->advance();
          h(rq, rs);
        };
      }
    } s{this, server};
    s.Get("/api/version",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (guard(rq, rs)) {
              rs.set_content(
                  json{{"version", k_version}, {"edition", "premium"}}.dump(),
                  "application/json");
            }
          });
    s.Get(p + "/snapshot-status",
          [this](const httplib::Request&, httplib::Response& rs) {
            rs.set_content(
                json{{"status", restore_running() ? "running" : "not-running"}}
                    .dump(),
                "application/json");
          });
    s.Get(p + "/snapshots",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (!guard(rq, rs)) {
              return;
            }
            list_snapshots(rq, rs);
          });
    s.Get(p + R"(/snapshots/([^/]+))",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (auto* snap = find(rq, rs)) {
              rs.set_content(snapshot_json(*snap).dump(), "application/json");
            }
          });
    s.Put(p + R"(/snapshots/([^/]+))",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            create(rq, rs);
          });
    s.Delete(p + R"(/snapshots/([^/]+))",
             [this](const httplib::Request& rq, httplib::Response& rs) {
               if (auto* snap = find(rq, rs)) {
                 json body = snapshot_json(*snap);
                 std::filesystem::remove(snap->file);
                 m_snapshots.erase(snap->id);
                 rs.set_content(body.dump(), "application/json");
               }
             });
    s.Get(p + R"(/snapshots/([^/]+)/archive)",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            download(rq, rs);
          });
    s.Put(p + R"(/snapshots/([^/]+)/archive)",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            upload(rq, rs);
          });
    s.Post(p + R"(/snapshots/([^/]+)/restore)",
           [this](const httplib::Request& rq, httplib::Response& rs) {
             restore(rq, rs);
           });
    listed(s, p + "/executions", [this](const httplib::Request& rq) {
      std::vector<json> items;
      bool system = rq.get_param_value("_include_system_workflows") == "true";
      // A field given as a parameter filters the list
      // (rest_decorators.create_filters); status is the one modelled.
      std::string status = rq.get_param_value("status");
      // System workflows (snapshots) are listed only when asked for.
      for (const auto& [id, e] : m_executions) {
        if ((system || !e.deployment_id.empty()) &&
            (status.empty() || e.status == status)) {
          items.push_back(execution_json(e));
        }
      }
      return items;
    });
    if (m_opts.before_schedules) {
      s.Get(p + "/execution-schedules",
            [this](const httplib::Request& rq, httplib::Response& rs) {
              if (guard(rq, rs)) {
                // Flask's answer for a route it does not have.
                error(rs, 404, "not_found_error",
                      "404 Not Found: The requested URL was not found on the "
                      "server.");
              }
            });
    } else {
      listed(s, p + "/execution-schedules", [this](const httplib::Request&) {
        std::vector<json> items;
        for (const auto& [id, sc] : m_schedules) {
          items.push_back({{"id", sc.id},
                           {"deployment_id", sc.deployment_id},
                           {"workflow_id", sc.workflow_id},
                           {"since", sc.since},
                           {"until", nullptr},
                           {"next_occurrence", sc.since},
                           {"rule", {{"count", 1}}},
                           {"enabled", true},
                           {"created_at", sc.created_at},
                           {"tenant_name", k_tenant},
                           {"created_by", "admin"}});
        }
        return items;
      });
    }
    // Deployments and their node instances, as far as cfy agents install
    // reads them (rest-service's list endpoints: items and pagination),
    // and the start of a deployment's workflow (POST /executions: 201 with
    // the execution; an unknown deployment is not_found_error, and a
    // workflow other than install_new_agents is refused here as the
    // emulator models no blueprint's workflows).
    numbered(s, p + "/deployments", "dep");
    listed(s, p + "/node-instances", [this](const httplib::Request&) {
      std::vector<json> items;
      for (int i = 1; i <= m_opts.deployments; ++i) {
        std::string dep = fmt::format("dep-{}", i);
        std::string vm = fmt::format("vm_{}abc", i);
        items.push_back(
            {{"id", vm},
             {"host_id", vm},
             {"deployment_id", dep},
             {"state",
              dep == m_opts.unstarted_deployment ? "stopped" : "started"}});
        items.push_back({{"id", fmt::format("app_{}def", i)},
                         {"host_id", vm},
                         {"deployment_id", dep},
                         {"state", "started"}});
      }
      return items;
    });
    s.Post(p + "/executions", [this](const httplib::Request& rq,
                                     httplib::Response& rs) {
      if (!guard(rq, rs) || !json_body(rq, rs)) {
        return;
      }
      json body = json::parse(rq.body, nullptr, false);
      std::string dep = body.value("deployment_id", json("")).is_string()
                            ? body["deployment_id"].get<std::string>()
                            : "";
      std::string wf = body.value("workflow_id", json("")).is_string()
                           ? body["workflow_id"].get<std::string>()
                           : "";
      int n = 0;
      if (dep.rfind("dep-", 0) != 0 ||
          std::sscanf(dep.c_str() + 4, "%d", &n) != 1 || n < 1 ||
          n > m_opts.deployments) {
        error(rs, 404, "not_found_error",
              fmt::format("Requested `Deployment` with ID `{}` was not found",
                          dep));
        return;
      }
      if (wf != "install_new_agents") {
        error(rs, 400, "nonexistent_workflow_error",
              fmt::format("Workflow {} does not exist in the deployment {}", wf,
                          dep));
        return;
      }
      Execution& e = start(wf, "", body.value("parameters", json::object()));
      e.parameters.erase("snapshot_id");
      e.deployment_id = dep;
      rs.status = 201;
      rs.set_content(execution_json(e).dump(), "application/json");
    });
    s.Get(p + R"(/executions/([^/]+))", [this](const httplib::Request& rq,
                                               httplib::Response& rs) {
      if (!guard(rq, rs)) {
        return;
      }
      auto it = m_executions.find(rq.matches[1]);
      if (it == m_executions.end()) {
        error(rs, 404, "not_found_error",
              fmt::format("Requested `Execution` with ID `{}` was not found",
                          rq.matches[1].str()));
        return;
      }
      rs.set_content(execution_json(it->second).dump(), "application/json");
    });
    // Blueprints bp-1…bp-N, one per deployment, as far as a plugins
    // update needs them (the list endpoint: items and pagination).
    numbered(s, p + "/blueprints", "bp");
    // resources_v3_1/plugins.py PluginsUpdate.post, phase initiate
    // (manager.py initiate_plugins_update): 404 for an unknown blueprint,
    // 409 while an update of it is active, else the update (200).
    s.Post(p + R"(/plugins-updates/([^/]+)/update/initiate)",
           [this](const httplib::Request& rq, httplib::Response& rs) {
             if (!guard(rq, rs)) {
               return;
             }
             std::string bp = rq.matches[1];
             int n = 0;
             if (bp.rfind("bp-", 0) != 0 ||
                 std::sscanf(bp.c_str() + 3, "%d", &n) != 1 || n < 1 ||
                 n > m_opts.deployments) {
               error(rs, 404, "not_found_error",
                     fmt::format("Requested `Blueprint` with ID `{}` was not "
                                 "found",
                                 bp));
               return;
             }
             std::vector<std::string> active;
             for (const auto& [id, u] : m_updates) {
               if (u.blueprint_id == bp &&
                   (u.state == "updating" || u.state == "executing_workflow" ||
                    u.state == "finalizing")) {
                 active.push_back(id);
               }
             }
             if (!active.empty()) {
               error(rs, 409, "conflict_error",
                     fmt::format("There are plugins updates still active, "
                                 "update IDs: {}",
                                 fmt::join(active, ", ")));
               return;
             }
             PluginsUpdate u;
             u.blueprint_id = bp;
             u.created_at = now_iso();
             if (!m_opts.plugins_current) {
               u.deployments = json::array({fmt::format("dep-{}", n)});
             }
             Execution& e = start("update_plugin", "", json::object());
             e.parameters = {{"update_id", ""},
                             {"deployments_to_update", u.deployments},
                             {"temp_blueprint_id", nullptr},
                             {"force", false},
                             {"auto_correct_types", false},
                             {"reevaluate_active_statuses", false}};
             u.id = fmt::format("{}-update", e.id);
             e.parameters["update_id"] = u.id;
             u.execution_id = e.id;
             if (m_opts.plugins_current) {
               u.state = "no_changes_required";
               e.status = "terminated";
             } else {
               u.state = "executing_workflow";
             }
             m_updates[u.id] = u;
             rs.set_content(update_json(u).dump(), "application/json");
           });
    s.Get(p + R"(/plugins-updates/([^/]+))",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (!guard(rq, rs)) {
              return;
            }
            auto it = m_updates.find(rq.matches[1]);
            if (it == m_updates.end()) {
              error(rs, 404, "not_found_error",
                    fmt::format("Requested `PluginsUpdate` with ID `{}` was "
                                "not found",
                                rq.matches[1].str()));
              return;
            }
            rs.set_content(update_json(it->second).dump(), "application/json");
          });
    s.Get(p + "/maintenance",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (guard(rq, rs)) {
              rs.set_content(maintenance_json().dump(), "application/json");
            }
          });
    s.Post(p + R"(/maintenance/(activate|deactivate))",
           [this](const httplib::Request& rq, httplib::Response& rs) {
             if (!guard(rq, rs)) {
               return;
             }
             bool activate = rq.matches[1] == "activate";
             bool on = m_maintenance != "deactivated";
             if (activate == on) {
               rs.status = 304;
               return;
             }
             // Activation waits for running executions: 'activating'
             // until they end (advance() finishes it).
             m_maintenance = !activate ? "deactivated"
                             : busy()  ? "activating"
                                       : "activated";
             m_maintenance_at = activate ? now_iso() : "";
             rs.set_content(maintenance_json().dump(), "application/json");
           });
    s.Put(p + R"(/secrets/([^/]+))",
          [this](const httplib::Request& rq, httplib::Response& rs) {
            if (!guard(rq, rs) || !json_body(rq, rs)) {
              return;
            }
            auto body = json::parse(rq.body, nullptr, false);
            m_secrets[rq.matches[1]] = body.value("value", "");
            rs.status = 201;
            rs.set_content(json{{"key", rq.matches[1].str()}}.dump(),
                           "application/json");
          });
    s.Get(p + R"(/secrets/([^/]+))", [this](const httplib::Request& rq,
                                            httplib::Response& rs) {
      if (!guard(rq, rs)) {
        return;
      }
      auto it = m_secrets.find(rq.matches[1]);
      if (it == m_secrets.end()) {
        error(rs, 404, "not_found_error",
              fmt::format("Requested `Secret` with ID `{}` was not found",
                          rq.matches[1].str()));
        return;
      }
      rs.set_content(json{{"key", it->first}, {"value", it->second}}.dump(),
                     "application/json");
    });
    // POST /users/<name> {"password": …} changes a user's password
    // (resources_v3/users.py UsersId.post); the emulator has one user.
    s.Post(p + R"(/users/([^/]+))", [this](const httplib::Request& rq,
                                           httplib::Response& rs) {
      if (!guard(rq, rs) || !json_body(rq, rs)) {
        return;
      }
      auto body = json::parse(rq.body, nullptr, false);
      if (rq.matches[1] != "admin" || !body.contains("password")) {
        error(rs, 400, "bad_parameters_error",
              "Only the admin user's password can be changed here");
        return;
      }
      m_admin_password_sha256 = sha256_hex(body.value("password", ""));
      rs.set_content(json{{"username", "admin"}, {"role", "sys_admin"}}.dump(),
                     "application/json");
    });
    s.Delete(p + R"(/secrets/([^/]+))",
             [this](const httplib::Request& rq, httplib::Response& rs) {
               if (guard(rq, rs)) {
                 m_secrets.erase(rq.matches[1]);
                 rs.set_content("{}", "application/json");
               }
             });
  }

private:
  static void error(httplib::Response& rs, int status, std::string_view code,
                    std::string message) {
    rs.status = status;
    rs.set_content(json{{"message", message},
                        {"error_code", code},
                        {"server_traceback", nullptr}}
                       .dump(),
                   "application/json");
  }

  // Checks, in the manager's order: the restart window, authentication,
  // tenant, maintenance mode. True when the request may go on.
  bool guard(const httplib::Request& rq, httplib::Response& rs) {
    if (m_window_until > Clock::now()) {
      // While the services restart, nginx answers 502 or the connection
      // drops halfway through an answer; alternate the two.
      rs.status = 502;
      if (++m_window_hits % 2 == 0) {
        rs.set_content_provider(
            1024, "application/json",
            [](std::size_t, std::size_t, httplib::DataSink&) {
              return false; // headers went out; close without a body
            });
        return false;
      }
      rs.set_content("<html><head><title>502 Bad Gateway</title></head>"
                     "<body><center><h1>502 Bad Gateway</h1></center>"
                     "<hr><center>nginx</center></body></html>",
                     "text/html");
      return false;
    }
    const std::string& want = m_faults.faults().require_token;
    if (!want.empty()) {
      std::string token = rq.get_header_value("Authentication-Token");
      std::string auth = rq.get_header_value("Authorization");
      bool basic_ok = false;
      if (auth.starts_with("Basic ")) {
        std::string decoded = base64_decode(auth.substr(6)).value_or("");
        basic_ok = sha256_hex(decoded.substr(decoded.find(':') + 1)) ==
                   admin_password_sha256();
      }
      if (token.empty() && auth.empty()) {
        error(rs, 401, "unauthorized_error",
              "User unauthorized: No authentication info provided");
        return false;
      }
      if (token != want && !basic_ok) {
        error(rs, 401, "unauthorized_error",
              "User unauthorized: authentication failed");
        return false;
      }
    }
    std::string tenant = rq.get_header_value("Tenant");
    if (!tenant.empty() && tenant != k_tenant) {
      error(rs, 403, "forbidden_error",
            fmt::format("Authorization failed: Tried to authenticate with "
                        "invalid tenant name: {}",
                        tenant));
      return false;
    }
    bool bypass = !rq.get_header_value("X-BYPASS-MAINTENANCE").empty();
    if (m_maintenance == "activating" && !bypass &&
        (rq.method == "PUT" || rq.method == "POST") &&
        rq.path.find("/snapshots/") != std::string::npos &&
        !rq.path.ends_with("/archive")) {
      error(rs, 503, "entering_maintenance_mode",
            "Your request was rejected since Cloudify manager is "
            "currently "
            "entering maintenance mode");
      return false;
    }
    if (m_maintenance == "activated" && !bypass &&
        !allowed_in_maintenance(rq.path)) {
      error(rs, 503, "maintenance_mode_active",
            "Your request was rejected since Cloudify manager is "
            "currently "
            "in maintenance mode");
      return false;
    }
    return true;
  }

  static bool allowed_in_maintenance(const std::string& path) {
    for (std::string_view ok : {"/snapshots", "/snapshot-status",
                                "/maintenance", "/status", "/version"}) {
      if (path.find(ok) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  bool json_body(const httplib::Request& rq, httplib::Response& rs) {
    if (rq.get_header_value("Content-Type").find("application/json") ==
        std::string::npos) {
      error(rs, 415, "unsupported_content_type_error",
            "Content type must be application/json");
      return false;
    }
    if (json::parse(rq.body, nullptr, false).is_discarded()) {
      error(rs, 400, "bad_parameters_error", "Invalid JSON in request body");
      return false;
    }
    return true;
  }

  Snapshot* find(const httplib::Request& rq, httplib::Response& rs) {
    if (!guard(rq, rs)) {
      return nullptr;
    }
    auto it = m_snapshots.find(rq.matches[1]);
    if (it == m_snapshots.end()) {
      error(rs, 404, "not_found_error",
            fmt::format("Requested `Snapshot` with ID `{}` was not found",
                        rq.matches[1].str()));
      return nullptr;
    }
    return &it->second;
  }

  // GET /snapshots, as rest_decorators.py paginate, sortable, search
  // and all_tenants shape it: _sort=[-]field (repeatable), _size
  // (default default_page_size, 1000), _offset, _search (id substring);
  // one tenant here, so _all_tenants lists the same. Bad numbers are
  // 400s.
  void list_snapshots(const httplib::Request& rq, httplib::Response& rs) {
    long size = 0, offset = 0;
    if (!page_params(rq, rs, size, offset)) {
      return;
    }
    std::vector<json> items;
    std::string search = rq.get_param_value("_search");
    for (const auto& [id, snap] : m_snapshots) {
      if (search.empty() || id.find(search) != std::string::npos) {
        items.push_back(snapshot_json(snap));
      }
    }
    for (std::size_t i = rq.get_param_value_count("_sort"); i-- > 0;) {
      std::string key = rq.get_param_value("_sort", i);
      bool desc = key.starts_with("-");
      key = desc ? key.substr(1) : key;
      if (!snapshot_json(Snapshot{}).contains(key)) {
        error(rs, 400, "bad_parameters_error",
              fmt::format("Unknown field to sort by: {}", key));
        return;
      }
      std::stable_sort(items.begin(), items.end(),
                       [&](const json& a, const json& b) {
                         return desc ? b[key].dump() < a[key].dump()
                                     : a[key].dump() < b[key].dump();
                       });
    }
    rs.set_content(page_answer(items, size, offset).dump(), "application/json");
  }

  // _size (default default_page_size, 1000) and _offset as
  // rest_decorators.paginate reads them; a bad number is answered 400
  // and false returned.
  bool page_params(const httplib::Request& rq, httplib::Response& rs,
                   long& size, long& offset) {
    auto number = [&](const char* key, long fallback) -> long {
      if (!rq.has_param(key)) {
        return fallback;
      }
      std::string v = rq.get_param_value(key);
      if (v.empty() || v.find_first_not_of("0123456789") != v.npos) {
        error(rs, 400, "bad_parameters_error",
              fmt::format("`{}` is expected to be a positive integer", key));
        return -1;
      }
      return std::stol(v);
    };
    size = number("_size", 1000);
    offset = size < 0 ? -1 : number("_offset", 0);
    return size >= 0 && offset >= 0;
  }

  // A list answer: `items` from `offset`, at most `size`, with the
  // pagination metadata.
  static json page_answer(const std::vector<json>& items, long size,
                          long offset) {
    json page = json::array();
    for (auto i = static_cast<std::size_t>(offset);
         i < items.size() && page.size() < static_cast<std::size_t>(size);
         ++i) {
      page.push_back(items[i]);
    }
    return {{"items", page},
            {"metadata",
             {{"pagination",
               {{"total", items.size()}, {"size", size}, {"offset", offset}}},
              {"filtered", nullptr}}}};
  }

  json snapshot_json(const Snapshot& s) const {
    return {{"id", s.id},
            {"created_at", s.created_at},
            {"created_by", "admin"},
            {"status", s.status},
            {"error", s.error},
            {"visibility", "private"},
            {"tenant_name", k_tenant},
            {"private_resource", true}};
  }

  json execution_json(const Execution& e) const {
    std::string display = e.status == "terminated" ? "completed" : e.status;
    return {{"id", e.id},
            {"workflow_id", e.workflow_id},
            {"status", e.status},
            {"status_display", display},
            {"error", e.error},
            {"created_at", e.created_at},
            {"is_system_workflow", e.deployment_id.empty()},
            {"deployment_id",
             e.deployment_id.empty() ? json(nullptr) : json(e.deployment_id)},
            {"parameters", e.parameters},
            {"scheduled_for",
             e.scheduled_for.empty() ? json(nullptr) : json(e.scheduled_for)},
            {"ended_at", e.ended_at.empty() ? json(nullptr) : json(e.ended_at)},
            {"tenant_name", k_tenant},
            {"created_by", "admin"}};
  }

  json maintenance_json() const {
    return {{"status", m_maintenance},
            {"activated_at", m_maintenance_at},
            {"activation_requested_at", m_maintenance_at},
            {"requested_by", m_maintenance_at.empty() ? "" : "admin"},
            {"remaining_executions", nullptr}};
  }

  bool busy() const {
    for (const auto& [id, e] : m_executions) {
      if (e.status == "pending" || e.status == "started") {
        return true;
      }
    }
    return false;
  }

  bool restore_running() const {
    for (const auto& [id, e] : m_executions) {
      if (e.workflow_id == "restore_snapshot" &&
          (e.status == "pending" || e.status == "started")) {
        return true;
      }
    }
    return false;
  }

  Execution& start(std::string workflow, const std::string& snapshot_id,
                   json parameters) {
    unsigned n = ++m_counter;
    std::string id = fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                                 n * 2654435761u, n, n, n, n);
    parameters["snapshot_id"] = snapshot_id;
    Execution e{id,          workflow,  "pending",    "",
                snapshot_id, now_iso(), Clock::now(), parameters};
    return m_executions[id] = e;
  }

  // Moves every execution along by the time passed, and maintenance
  // mode from activating to activated once none runs; called under the
  // lock.
  void advance() {
    auto now = Clock::now();
    if (m_maintenance == "activating" && !busy()) {
      m_maintenance = "activated";
    }
    // A queued execution starts once none runs (the queue is dequeued
    // in creation order as executions end).
    for (auto& [id, e] : m_executions) {
      if (e.status == "queued" && !busy()) {
        e.status = "pending";
        e.started = now;
      }
    }
    for (auto& [id, e] : m_executions) {
      if (e.status != "pending" && e.status != "started") {
        continue;
      }
      std::string kind = e.workflow_id == "create_snapshot"    ? "create"
                         : e.workflow_id == "restore_snapshot" ? "restore"
                         : e.workflow_id == "update_plugin"    ? "plugins"
                                                               : "agents";
      auto elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - e.started)
              .count();
      if (elapsed >= m_opts.job_ms / 3) {
        e.status = "started";
      }
      if (elapsed < m_opts.job_ms || m_opts.hang_workflow == kind) {
        continue;
      }
      e.ended_at = now_iso();
      if (m_opts.fail_workflow == kind) {
        e.status = "failed";
        e.error = fmt::format("RuntimeError: {} failed (injected by "
                              "snap-emulator --fail-workflow)",
                              e.workflow_id);
        if (auto it = m_snapshots.find(e.snapshot_id);
            it != m_snapshots.end() && kind == "create") {
          it->second.status = "failed";
          it->second.error = e.error;
        }
        continue;
      }
      std::string err = kind == "create"    ? finish_create(e)
                        : kind == "restore" ? finish_restore(e)
                                            : "";
      e.status = err.empty() ? "terminated" : "failed";
      e.error = err;
      if (kind == "plugins" && e.status == "terminated") {
        // The workflow's last step: finalize (manager.py finalize).
        for (auto& [uid, u] : m_updates) {
          if (u.execution_id == e.id && u.state == "executing_workflow") {
            u.state = "successful";
          }
        }
      }
    }
  }

  // A paged list endpoint, as rest-service's list endpoints answer (items
  // and pagination): the guard, then _size and _offset (page_params), then
  // the page of what `items` lists for the request.
  template <typename Router, typename Items>
  void listed(Router& s, const std::string& path, Items items) {
    s.Get(path,
          [this, items](const httplib::Request& rq, httplib::Response& rs) {
            if (!guard(rq, rs)) {
              return;
            }
            long size = 0, offset = 0;
            if (!page_params(rq, rs, size, offset)) {
              return;
            }
            rs.set_content(page_answer(items(rq), size, offset).dump(),
                           "application/json");
          });
  }

  // A list endpoint of the objects <prefix>-1…<prefix>-N, N from
  // --deployments.
  template <typename Router>
  void numbered(Router& s, const std::string& path, const std::string& prefix) {
    listed(s, path, [this, prefix](const httplib::Request&) {
      std::vector<json> items;
      for (int i = 1; i <= m_opts.deployments; ++i) {
        items.push_back({{"id", fmt::format("{}-{}", prefix, i)},
                         {"tenant_name", k_tenant}});
      }
      return items;
    });
  }

  json update_json(const PluginsUpdate& u) const {
    return {{"id", u.id},
            {"blueprint_id", u.blueprint_id},
            {"state", u.state},
            {"execution_id", u.execution_id},
            {"deployments_to_update", u.deployments},
            {"forced", false},
            {"created_at", u.created_at},
            {"tenant_name", k_tenant}};
  }

  // The admin's password hash: the one --require-token set, until a
  // password change or a restore replaced it.
  std::string admin_password_sha256() const {
    return m_admin_password_sha256
               ? *m_admin_password_sha256
               : sha256_hex(m_faults.faults().require_token);
  }

  std::string finish_create(Execution& e) {
    Snapshot& s = m_snapshots[e.snapshot_id];
    s.file = m_opts.data_dir / (s.id + ".zip");
    // A legacy snapshot says so in its metadata (snapshot_restore.py
    // _is_legacy_snapshot: all three schema revisions); its pg_dump
    // layout is not modelled, the emulator's dumps stand in for it.
    json meta = {{"snapshot_version", k_version}, {"execution_id", e.id}};
    json legacy = e.parameters.value("legacy", json(false));
    if (legacy == true || legacy == "true") {
      meta = {{"snapshot_version", k_version},
              {"schema_revision", "ab1ae3df69b5"},
              {"stage_schema_revision", "2021-09-16"},
              {"composer_schema_revision", "2021-09-06"}};
    }
    ManagerState state{m_secrets, admin_password_sha256()};
    if (legacy == true || legacy == "true") {
      for (const auto& [id, x] : m_executions) {
        if (x.status == "scheduled") {
          state.scheduled.push_back(execution_json(x));
        }
      }
    }
    std::string err =
        write_snapshot_zip(s.file, m_opts.sample_dir, meta,
                           std::string(k_tenant), state, m_opts.corrupt_member);
    s.status = err.empty() ? "created" : "failed";
    s.error = err;
    return err;
  }

  std::string finish_restore(Execution& e) {
    auto it = m_snapshots.find(e.snapshot_id);
    if (it == m_snapshots.end()) {
      return "Snapshot not found";
    }
    auto restored = read_snapshot_zip(it->second.file, std::string(k_tenant));
    if (auto* err = std::get_if<std::string>(&restored)) {
      return *err;
    }
    // The manager's state is the snapshot's now, its users included: a
    // password changed since the snapshot no longer logs in.
    auto& state = std::get<ManagerState>(restored);
    m_secrets = std::move(state.secrets);
    if (!state.admin_password_sha256.empty()) {
      m_admin_password_sha256 = state.admin_password_sha256;
    }
    restore_scheduled(state.scheduled);
    return "";
  }

  // A legacy restore's last steps for the executions its database dump
  // held in status scheduled (cloudify-manager mgmtworker
  // cloudify_system_workflows/snapshots/snapshot_restore.py
  // _restore_scheduled_executions): one still due later than now gets an
  // execution schedule <workflow>_restored_<hex> for a single run at that
  // time; every one, due or overdue, is then marked failed. Its earlier
  // form warned "Execution %s scheduled for %s is overdue. Marking as
  // FAILED."; cloudify-manager's integration test
  // test_restore_snapshot_scheduled_tasks checks both outcomes. Before
  // execution schedules (5.2), that first form requeued (executions.
  // requeue) an execution still due instead, and failed only the overdue
  // ones.
  void restore_scheduled(const json& scheduled) {
    std::string now = now_iso();
    for (const auto& x : scheduled) {
      if (!x.is_object() || !x.value("scheduled_for", json()).is_string()) {
        continue;
      }
      Execution e;
      e.id = x.value("id", fmt::format("restored-{}", ++m_counter));
      e.workflow_id = x.value("workflow_id", "");
      e.deployment_id = x.value("deployment_id", json("")).is_string()
                            ? x["deployment_id"].get<std::string>()
                            : "";
      e.scheduled_for = x["scheduled_for"].get<std::string>();
      e.created_at = x.value("created_at", now);
      e.parameters = x.value("parameters", json::object());
      // ISO times of one format compare as the instants they name.
      if (e.scheduled_for > now && m_opts.before_schedules) {
        e.status = "scheduled";
        m_executions[e.id] = e;
        continue;
      }
      if (e.scheduled_for > now) {
        Schedule sc{fmt::format("{}_restored_{:032x}", e.workflow_id,
                                ++m_counter * 0x9e3779b97f4a7c15ULL),
                    e.deployment_id, e.workflow_id, e.scheduled_for, now};
        m_schedules[sc.id] = sc;
      }
      e.status = "failed";
      e.ended_at = now;
      m_executions[e.id] = e;
    }
  }

  void create(const httplib::Request& rq, httplib::Response& rs) {
    if (!guard(rq, rs) || !json_body(rq, rs)) {
      return;
    }
    std::string id = rq.matches[1];
    static const std::regex k_id("^[A-Za-z][A-Za-z0-9._-]{0,255}$");
    if (!std::regex_match(id, k_id)) {
      error(rs, 400, "bad_parameters_error",
            fmt::format("The `snapshot_id` argument contains illegal "
                        "characters. Only letters, digits and the characters "
                        "\"-\", \".\" and \"_\" are allowed, and it must start "
                        "with a letter: {}",
                        id));
      return;
    }
    if (m_snapshots.contains(id)) {
      error(rs, 409, "conflict_error",
            fmt::format("<Snapshot id=`{}` tenant=`{}`> already exists", id,
                        k_tenant));
      return;
    }
    json params = json::parse(rq.body);
    // The 7.x create options (SnapshotsId.put): booleans as
    // verify_and_convert_bool takes them, listener_timeout a number or
    // null, tempdir_path a directory the manager can write.
    for (const char* key : {"include_credentials", "include_logs",
                            "include_events", "queue", "legacy"}) {
      if (params.contains(key) && !params[key].is_boolean() &&
          !(params[key].is_string() &&
            (params[key] == "true" || params[key] == "false"))) {
        error(rs, 400, "bad_parameters_error",
              fmt::format("Value of `{}` must be a boolean", key));
        return;
      }
    }
    auto truthy = [&](const char* key) {
      return params.contains(key) &&
             (params[key] == true || params[key] == "true");
    };
    if (params.contains("listener_timeout") &&
        !params["listener_timeout"].is_null() &&
        !params["listener_timeout"].is_number()) {
      error(rs, 400, "bad_parameters_error",
            "`listener_timeout` must be a number");
      return;
    }
    if (params.contains("tempdir_path") && params["tempdir_path"].is_string()) {
      std::string dir = params["tempdir_path"];
      if (::access(dir.c_str(), W_OK) != 0 ||
          !std::filesystem::is_directory(dir)) {
        // The words are the emulator's; the 403 is the documented
        // answer.
        error(
            rs, 403, "forbidden_error",
            fmt::format("The temp dir {} is not writable by the manager", dir));
        return;
      }
    }
    // A legacy create is a blocking system workflow: refused while
    // another execution runs, or queued with queue=true; the new
    // format's create runs beside other executions (its audit-log
    // listener records what they change).
    bool legacy = truthy("legacy");
    bool queued = false;
    if (legacy && busy()) {
      if (!truthy("queue")) {
        error(rs, 400, "existing_running_execution_error",
              "You cannot start a system-workflow while there are "
              "running "
              "executions.");
        return;
      }
      queued = true;
    }
    m_snapshots[id] = {id, now_iso(), "creating", "", {}};
    Execution& e = start("create_snapshot", id, params);
    if (queued) {
      e.status = "queued";
    }
    rs.status = 201;
    rs.set_content(execution_json(e).dump(), "application/json");
  }

  void download(const httplib::Request& rq, httplib::Response& rs) {
    Snapshot* snap = find(rq, rs);
    if (snap == nullptr) {
      return;
    }
    if (snap->status == "failed" || snap->status == "creating") {
      error(rs, 400, "snapshot_action_error",
            fmt::format("Failed snapshot cannot be downloaded: {}", snap->id));
      return;
    }
    rs.set_header("Content-Disposition",
                  fmt::format("attachment; filename=\"{}.zip\"", snap->id));
    stream_file(rs, snap->file, "application/octet-stream",
                m_faults.faults().fail_after_bytes);
  }

  void upload(const httplib::Request& rq, httplib::Response& rs) {
    if (!guard(rq, rs)) {
      return;
    }
    std::string id = rq.matches[1];
    std::string fetched;
    if (rq.has_param("snapshot_archive_url")) {
      std::string err;
      if (!fetch_archive(rq, rq.get_param_value("snapshot_archive_url"),
                         fetched, err)) {
        error(rs, 400, "bad_parameters_error", err);
        return;
      }
    }
    bool existed = m_snapshots.contains(id);
    Snapshot& s = m_snapshots[id];
    s.id = id;
    s.file = m_opts.data_dir / (id + ".zip");
    std::ofstream(s.file, std::ios::binary | std::ios::trunc)
        << (rq.has_param("snapshot_archive_url") ? fetched : rq.body);
    s.status = "uploaded";
    s.error = "";
    if (s.created_at.empty()) {
      s.created_at = now_iso();
    }
    rs.status = 201;
    rs.set_content(existed ? json::object().dump() : snapshot_json(s).dump(),
                   "application/json");
  }

  // upload_manager/utils.py save_file_from_url: the URL alone (no body,
  // no chunked upload), matching ^(https?|ftp)://[^\s/$.?#].[^\s]*$, then
  // requests.get(url, stream=True, timeout=(5, None)), which follows
  // redirects, and raise_for_status(); any failure is a
  // BadParametersError "Cannot fetch <url>: <why>". No address is refused.
  static bool fetch_archive(const httplib::Request& rq, const std::string& url,
                            std::string& out, std::string& err) {
    if (!rq.body.empty() || rq.has_header("Transfer-Encoding")) {
      err = "Can pass snapshot as only one of: URL via query parameters, "
            "request body, multi-form or chunked.";
      return false;
    }
    auto scheme = url.find("://");
    std::string s = scheme == std::string::npos ? "" : url.substr(0, scheme);
    bool pattern = (s == "http" || s == "https" || s == "ftp") &&
                   url.size() > scheme + 4 &&
                   std::string_view(" \t\r\n/$.?#").find(url[scheme + 3]) ==
                       std::string_view::npos &&
                   url.size() <= 8192 &&
                   url.find_first_of(" \t\r\n\f\v") == std::string::npos;
    if (!pattern) {
      err = "Invalid URL " + url;
      return false;
    }
    if (s == "ftp") {
      err = fmt::format("Cannot fetch {}: No connection adapters were found "
                        "for '{}'",
                        url, url);
      return false;
    }
    auto path = url.find_first_of("/?", scheme + 3);
    httplib::Client cli(url.substr(0, path));
    cli.set_connection_timeout(5);
    cli.set_read_timeout(300);
    cli.set_follow_location(true);
    std::string target = path == std::string::npos ? "/" : url.substr(path);
    if (target.starts_with("?")) {
      target = "/" + target;
    }
    auto res = cli.Get(target);
    if (!res) {
      err = fmt::format("Cannot fetch {}: {}", url,
                        httplib::to_string(res.error()));
      return false;
    }
    if (res->status >= 400) {
      err = fmt::format("Cannot fetch {}: {} {} Error: {} for url: {}", url,
                        res->status, res->status < 500 ? "Client" : "Server",
                        res->reason, url);
      return false;
    }
    out = std::move(res->body);
    return true;
  }

  void restore(const httplib::Request& rq, httplib::Response& rs) {
    Snapshot* snap = find(rq, rs);
    if (snap == nullptr || !json_body(rq, rs)) {
      return;
    }
    json body = json::parse(rq.body);
    if (!body.contains("force")) {
      error(rs, 500, "internal_server_error", "KeyError: 'force'");
      return;
    }
    if (snap->status == "failed") {
      error(rs, 400, "snapshot_action_error",
            fmt::format("Failed snapshot cannot be restored: {}", snap->id));
      return;
    }
    if (body.value("no_reboot", false) &&
        !body.value("restore_certificates", false)) {
      error(rs, 400, "bad_parameters_error",
            "`no_reboot` is only relevant when `restore_certificates` is "
            "set");
      return;
    }
    // A restore is a blocking system workflow: it is refused while
    // another execution runs (resource_manager.py prepare_executions ->
    // ExistingRunningExecutionError).
    if (busy()) {
      error(rs, 400, "existing_running_execution_error",
            "You cannot start a system-workflow while there are running "
            "executions.");
      return;
    }
    std::string id = snap->id;
    // SnapshotsIdRestore.post is @marshal_with(models.Snapshot): the
    // execution goes out with the Snapshot's fields alone (id, status,
    // error, created_at, …), without workflow_id or parameters.
    const Execution& e = start("restore_snapshot", id, body);
    rs.set_content(
        snapshot_json(Snapshot{e.id, e.created_at, e.status, e.error, {}})
            .dump(),
        "application/json");
    if (m_opts.restore_window_ms > 0) {
      m_window_until =
          Clock::now() + std::chrono::milliseconds(m_opts.restore_window_ms);
    }
  }

  FaultInjector& m_faults;
  CloudifyOptions m_opts;
  std::mutex m_mutex;
  std::map<std::string, Snapshot> m_snapshots;
  std::map<std::string, Execution> m_executions;
  std::map<std::string, PluginsUpdate> m_updates;
  std::map<std::string, Schedule> m_schedules;
  Secrets m_secrets;
  std::optional<std::string> m_admin_password_sha256;
  std::string m_maintenance = "deactivated";
  std::string m_maintenance_at;
  Clock::time_point m_window_until;
  unsigned m_window_hits = 0;
  unsigned m_counter = 0;
};

} // namespace

void register_cloudify(httplib::Server& server, FaultInjector& faults,
                       const CloudifyOptions& options) {
  static std::unique_ptr<Cloudify> cloudify;
  cloudify = std::make_unique<Cloudify>(faults, options);
  cloudify->routes(server);
}

} // namespace snap::emulator
