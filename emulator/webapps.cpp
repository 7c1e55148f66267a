// SPDX-License-Identifier: MIT
// Web-app backup emulator. Operate and Tasklist answer a take with 200 and
// the scheduled snapshot names, Optimize with 202 and a message; errors
// come as {"message"} (Optimize: {"errorCode","errorMessage"}). State
// rules as the apps' backup services: all parts SUCCESS -> COMPLETED, any
// FAILED or PARTIAL -> FAILED, any IN_PROGRESS -> IN_PROGRESS, fewer parts
// than expected -> INCOMPLETE (also, briefly, between two parts).
#include "emulator/webapps.hpp"

#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

namespace snap::emulator {
namespace {

using nlohmann::json;

struct Webapp {
  WebappOptions opts;
  int parts = 6;
  std::mutex mu;
  bool running = false;
  std::set<std::int64_t> failed; // backups --backup-outcome failed broke

  std::string prefix(std::int64_t id) const {
    return "camunda_" + opts.app + "_" + std::to_string(id) + "_";
  }
  std::string name(std::int64_t id, int k) const {
    return prefix(id) + opts.version + "_part_" + std::to_string(k) + "_of_" +
           std::to_string(parts);
  }
  httplib::Client es() const {
    httplib::Client c(opts.elasticsearch);
    c.set_read_timeout(60, 0);
    return c;
  }
  // The app's snapshots of backup `id`, from Elasticsearch.
  std::optional<json> snapshots(std::int64_t id) const {
    auto r = es().Get("/_snapshot/" + opts.repository + "/" + prefix(id) + "*");
    if (!r || r->status != 200) {
      return std::nullopt;
    }
    return json::parse(r->body, nullptr, false)
        .value("snapshots", json::array());
  }
  json state(std::int64_t id, const json& snaps) const {
    json details = json::array();
    int success = 0, bad = 0, running_parts = 0;
    for (const auto& s : snaps) {
      std::string st = s.value("state", "");
      success += st == "SUCCESS";
      bad += st == "FAILED" || st == "PARTIAL";
      running_parts += st == "IN_PROGRESS";
      details.push_back({{"snapshotName", s.value("snapshot", "")},
                         {"state", st},
                         {"startTime", s.value("start_time", "")},
                         {"failures", s.value("failures", json::array())}});
    }
    std::string state;
    json reason = nullptr;
    if (failed.contains(id)) {
      state = "FAILED";
      reason = "Snapshot part " + std::to_string(parts) +
               " could not be "
               "taken: snapshot request timed out";
    } else if (bad > 0) {
      state = "FAILED";
      reason = "Some of the snapshots failed";
    } else if (running_parts > 0) {
      state = "IN_PROGRESS";
    } else if (success == parts) {
      state = "COMPLETED";
    } else {
      state = "INCOMPLETE";
    }
    return {{"backupId", id},
            {"state", state},
            {"failureReason", reason},
            {"details", details}};
  }
};

void message(httplib::Response& res, const Webapp& w, int status,
             const std::string& text) {
  res.status = status;
  json body = w.opts.app == "optimize"
                  ? json{{"errorCode", status == 409 ? "conflict" : "error"},
                         {"errorMessage", text},
                         {"detailedMessage", text}}
                  : json{{"message", text}};
  res.set_content(body.dump(), "application/json");
}

} // namespace

void register_webapp(httplib::Server& server, FaultInjector&,
                     const WebappOptions& options) {
  static Webapp w{options};
  // Optimize takes 2 parts; 8.8's docs show the web apps' backup in 5.
  w.parts = options.app == "optimize" ? 2 : options.app == "webapps" ? 5 : 6;
  if (w.opts.v81) {
    w.opts.base = "/actuator/backup";
  }
  const std::string& base = w.opts.base;
  server.Post(base, [](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body["backupId"].is_number_integer() ||
        body["backupId"].get<std::int64_t>() < 0) {
      message(res, w, 400,
              "BackupId must be provided and be a non-negative "
              "integer");
      return;
    }
    std::int64_t id = body["backupId"];
    auto repo = w.es().Get("/_snapshot/" + w.opts.repository);
    if (!repo || repo->status != 200) {
      message(res, w, w.opts.app == "optimize" ? 400 : 404,
              "No repository with name [" + w.opts.repository +
                  "] could be found.");
      return;
    }
    auto existing = w.snapshots(id);
    if (existing && !existing->empty()) {
      message(res, w, w.opts.app == "optimize" ? 409 : 400,
              "A backup with ID [" + std::to_string(id) +
                  "] already exists. Found snapshots: [" +
                  (*existing)[0].value("snapshot", "") + "]");
      return;
    }
    std::vector<std::string> names;
    {
      std::lock_guard lock(w.mu);
      if (w.running) {
        message(res, w, 400, "Another backup is running at the moment");
        return;
      }
      w.running = true;
      for (int k = 1; k <= w.parts; ++k) {
        names.push_back(w.name(id, k));
      }
    }
    // The app's queue: one snapshot after the other, each waited for.
    std::thread([id, names] {
      for (int k = 1; k <= static_cast<int>(names.size()); ++k) {
        if (w.opts.outcome == "failed" && k == w.parts) {
          std::lock_guard lock(w.mu);
          w.failed.insert(id);
          break;
        }
        json snap = {
            {"indices",
             w.opts.app + (k == 1 ? "-*" : "-part" + std::to_string(k) + "-*")},
            {"ignore_unavailable", false},
            {"include_global_state", false},
            {"feature_states", json::array({"none"})},
            {"metadata",
             {{"backupId", id},
              {"version", w.opts.version},
              {"partNo", k},
              {"partCount", w.parts}}}};
        w.es().Put("/_snapshot/" + w.opts.repository + "/" + names[k - 1] +
                       "?wait_for_completion=true",
                   snap.dump(), "application/json");
      }
      std::lock_guard lock(w.mu);
      w.running = false;
    }).detach();
    if (w.opts.app == "optimize" && !w.opts.v81) {
      res.status = 202;
      res.set_content(
          json{{"message", "Backup creation for ID " + std::to_string(id) +
                               " has been scheduled. Use the GET API to "
                               "monitor completion of backup process"}}
              .dump(),
          "application/json");
      return;
    }
    res.set_content(json{{"scheduledSnapshots", names}}.dump(),
                    "application/json");
  });
  server.Get(base + R"(/(\d+))", [](const auto& req, auto& res) {
    std::int64_t id = std::atoll(std::string(req.matches[1]).c_str());
    auto snaps = w.snapshots(id);
    if (!snaps) {
      message(res, w, 502, "Elasticsearch is not reachable");
      return;
    }
    std::lock_guard lock(w.mu);
    if (snaps->empty() && !w.failed.contains(id)) {
      message(res, w, 404,
              w.opts.app == "optimize"
                  ? "No Optimize backup with ID [" + std::to_string(id) +
                        "] could be found."
                  : "No backup with id [" + std::to_string(id) + "] found.");
      return;
    }
    json state = w.state(id, *snaps);
    if (w.opts.v81) {
      state = json{{"State", state["state"]}};
    }
    res.set_content(state.dump(), "application/json");
  });
  if (w.opts.v81) {
    return;
  }
  server.Get(base, [](const auto&, auto& res) {
    auto r = w.es().Get("/_snapshot/" + w.opts.repository + "/camunda_" +
                        w.opts.app + "_*");
    json all = r && r->status == 200 ? json::parse(r->body, nullptr, false)
                                           .value("snapshots", json::array())
                                     : json::array();
    std::map<std::int64_t, json> by_id;
    for (const auto& s : all) {
      std::int64_t id =
          s.value("metadata", json::object()).value("backupId", 0L);
      if (!by_id.contains(id)) {
        by_id[id] = json::array();
      }
      by_id[id].push_back(s);
    }
    json list = json::array();
    std::lock_guard lock(w.mu);
    for (auto it = by_id.rbegin(); it != by_id.rend(); ++it) {
      list.push_back(w.state(it->first, it->second));
    }
    res.set_content(list.dump(), "application/json");
  });
  server.Delete(base + R"(/(\d+))", [](const auto& req, auto& res) {
    std::int64_t id = std::atoll(std::string(req.matches[1]).c_str());
    auto snaps = w.snapshots(id);
    if (!snaps || snaps->empty()) {
      message(res, w, 404,
              "No backup with id [" + std::to_string(id) + "] found.");
      return;
    }
    for (const auto& s : *snaps) {
      w.es().Delete("/_snapshot/" + w.opts.repository + "/" +
                    s.value("snapshot", ""));
    }
    res.status = 204;
  });
}

} // namespace snap::emulator
