// SPDX-License-Identifier: MIT
// healthchecks.io as its documentation and source describe it
// (healthchecks/healthchecks: templates/docs/http_api.md, hc/api/urls.py,
// hc/api/views.py):
// - HEAD, GET or POST /ping/<uuid> signals success, /ping/<uuid>/start a
//   start, /ping/<uuid>/fail a failure, /ping/<uuid>/log a log entry, and
//   /ping/<uuid>/<exit-status> (0 to 255) success for 0, failure otherwise.
//   The answer is 200 with the body "OK".
// - A path that is not a UUID matches no route (404); a UUID with no check
//   answers 404 "not found".
// - ?rid= must be a UUID (400 "invalid uuid format"); it pairs a start with
//   its end.
// - The request body is kept up to PING_BODY_LIMIT (default 10,000 bytes).
// - GET /api/v3/checks/<uuid>/pings/ (X-Api-Key) lists the pings, newest
//   first, with "type", "n", "method", "rid", "exitstatus" and "body_size";
//   .../pings/<n>/body gives one ping's body.
#include "emulator/healthchecks.hpp"

#include <map>
#include <mutex>
#include <regex>

#include <nlohmann/json.hpp>

namespace snap::emulator {
namespace {

constexpr std::size_t k_body_limit = 10000; // settings.PING_BODY_LIMIT

const char* k_uuid =
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

struct Ping {
  int n = 0;
  std::string type; // start, success, fail, log
  std::string method;
  std::string rid;
  std::optional<int> exit_status;
  std::string body;
};

struct State {
  std::mutex mu;
  std::map<std::string, std::vector<Ping>> pings; // by check UUID
};

bool is_uuid(const std::string& s) {
  static const std::regex re(k_uuid);
  return std::regex_match(s, re);
}

} // namespace

void register_healthchecks(httplib::Server& server, FaultInjector& /*faults*/,
                           const HealthchecksOptions& options) {
  auto state = std::make_shared<State>();
  for (const auto& c : options.checks) {
    state->pings[c];
  }
  auto ping = [state](const httplib::Request& req, httplib::Response& res) {
    std::string uuid = req.matches[1];
    std::string action =
        req.matches.size() > 2 ? std::string(req.matches[2]) : std::string();
    Ping p;
    p.method = req.method;
    if (action.empty()) {
      p.type = "success";
    } else if (action == "start" || action == "fail" || action == "log") {
      p.type = action;
    } else {
      int code = std::stoi(action); // the route allows 1 to 3 digits
      if (code > 255) {
        res.status = 404;
        res.set_content("not found", "text/plain");
        return;
      }
      p.exit_status = code;
      p.type = code == 0 ? "success" : "fail";
    }
    if (req.has_param("rid")) {
      p.rid = req.get_param_value("rid");
      if (!is_uuid(p.rid)) {
        res.status = 400;
        res.set_content("invalid uuid format", "text/plain");
        return;
      }
    }
    p.body = req.body.substr(0, k_body_limit);
    std::lock_guard lock(state->mu);
    auto it = state->pings.find(uuid);
    if (it == state->pings.end()) {
      res.status = 404;
      res.set_content("not found", "text/plain");
      return;
    }
    p.n = static_cast<int>(it->second.size()) + 1;
    it->second.push_back(std::move(p));
    res.set_header("Access-Control-Allow-Origin", "*");
    res.set_content("OK", "text/plain; charset=utf-8");
  };
  std::string base = std::string("/ping/(") + k_uuid + ")";
  std::string with_action = base + "/(start|fail|log|[0-9]{1,3})";
  for (const auto& path : {base, with_action}) {
    server.Get(path, ping);
    server.Post(path, ping);
  }

  auto authorized = [options](const httplib::Request& req,
                              httplib::Response& res) {
    if (req.get_header_value("X-Api-Key") != options.api_key) {
      res.status = 401;
      res.set_content(R"({"error": "missing api key"})", "application/json");
      return false;
    }
    return true;
  };
  server.Get(
      std::string("/api/v3/checks/(") + k_uuid + ")/pings/",
      [state, authorized](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) {
          return;
        }
        std::lock_guard lock(state->mu);
        auto it = state->pings.find(req.matches[1]);
        if (it == state->pings.end()) {
          res.status = 404;
          res.set_content(R"({"error": "not found"})", "application/json");
          return;
        }
        nlohmann::json list = nlohmann::json::array();
        for (auto p = it->second.rbegin(); p != it->second.rend(); ++p) {
          nlohmann::json j = {{"type", p->type},
                              {"n", p->n},
                              {"method", p->method},
                              {"body_size", p->body.size()}};
          if (!p->rid.empty()) {
            j["rid"] = p->rid;
          }
          if (p->exit_status) {
            j["exitstatus"] = *p->exit_status;
          }
          list.push_back(j);
        }
        res.set_content(nlohmann::json{{"pings", list}}.dump(),
                        "application/json");
      });
  server.Get(
      std::string("/api/v3/checks/(") + k_uuid + ")/pings/([0-9]+)/body",
      [state, authorized](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) {
          return;
        }
        std::lock_guard lock(state->mu);
        auto it = state->pings.find(req.matches[1]);
        std::size_t n = std::stoul(req.matches[2]);
        if (it == state->pings.end() || n == 0 || n > it->second.size()) {
          res.status = 404;
          res.set_content(R"({"error": "not found"})", "application/json");
          return;
        }
        res.set_content(it->second[n - 1].body, "text/plain");
      });
}

} // namespace snap::emulator
