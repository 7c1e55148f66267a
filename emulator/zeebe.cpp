// SPDX-License-Identifier: MIT
// Zeebe emulator: backups that each partition finishes in turn over
// --backup-ms, the 409 rule (a new id must be above every earlier one, even
// deleted ones), the {"message"} error body, 202/204 answers, and the
// exporter phase per partition.
#include "emulator/zeebe.hpp"
#include "emulator/clock.hpp"

#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

namespace snap::emulator {
namespace {

using nlohmann::json;

struct Backup {
  std::int64_t id = 0;
  std::int64_t start_ms = 0;
};

struct Zeebe {
  ZeebeOptions opts;
  int major = 8, minor = 7, patch = 2;
  std::mutex mu;
  std::map<std::int64_t, Backup> backups;
  std::int64_t latest = 0; // survives deletes: ids must keep growing
  std::string phase = "EXPORTING";

  // Up to 8.7 exporting answers 204; from 8.8 the orchestration cluster
  // answers 200 with the endpoint's response as JSON, as the 8.8 backup
  // procedure's example output shows.
  void exporting_done(httplib::Response& res) const {
    if (major > 8 || minor >= 8) {
      res.status = 200;
      res.set_content(
          json{{"body", nullptr}, {"status", 204}, {"contentType", nullptr}}
              .dump(),
          "application/json");
    } else {
      res.status = 204;
    }
  }

  bool soft_pause_supported() const {
    // ExportingEndpoint gained ?soft in 8.2.27, 8.3.11, 8.4.7 and 8.5.1.
    if (major > 8 || minor >= 6) {
      return true;
    }
    int since[] = {0, 0, 27, 11, 7, 1};
    return minor >= 2 && patch >= since[minor];
  }

  std::string partition_state(const Backup& b, int p) const {
    std::int64_t done_at =
        b.start_ms + opts.backup_ms * p / std::max(1, opts.partitions);
    if (now_ms() < done_at) {
      return "IN_PROGRESS";
    }
    if (opts.outcome == "failed" && p == 1) {
      return "FAILED";
    }
    if (opts.outcome == "incomplete" && p == opts.partitions) {
      return "DOES_NOT_EXIST";
    }
    return "COMPLETED";
  }

  json info(const Backup& b, bool detailed) const {
    json details = json::array();
    int failed = 0, missing = 0, running = 0;
    for (int p = 1; p <= opts.partitions; ++p) {
      std::string st = partition_state(b, p);
      failed += st == "FAILED";
      missing += st == "DOES_NOT_EXIST";
      running += st == "IN_PROGRESS";
      json d = {{"partitionId", p},
                {"state", st},
                {"createdAt", rfc3339(b.start_ms, 9)},
                {"brokerVersion", opts.version}};
      if (detailed) {
        d["lastUpdatedAt"] = rfc3339(now_ms(), 9);
        d["snapshotId"] = fmt_snapshot(p, b);
        d["checkpointPosition"] = 1000 * p + b.id % 1000;
        d["brokerId"] = (p - 1) % 3;
        if (st == "FAILED") {
          d["failureReason"] = "Failed to upload the backup to the store: "
                               "S3 request timed out";
        }
      }
      details.push_back(d);
    }
    std::string state = failed > 0 ? "FAILED"
                        : missing > 0 && missing < opts.partitions
                            ? "INCOMPLETE"
                        : running > 0 ? "IN_PROGRESS"
                                      : "COMPLETED";
    json out = {{"backupId", b.id}, {"state", state}, {"details", details}};
    if (state == "FAILED") {
      out["failureReason"] = "Backup on partition 1 failed";
    }
    return out;
  }

  // 8.1's experimental API answers in its own shape: "status" and
  // "partitions" with a "description", and DOES_NOT_EXIST rather than 404
  // (no INCOMPLETE: a partition without the backup makes it DOES_NOT_EXIST).
  json info_81(std::int64_t id, const Backup* b) const {
    if (b == nullptr) {
      return {{"backupId", id},
              {"status", "DOES_NOT_EXIST"},
              {"failureReason", nullptr},
              {"partitions", json::array()}};
    }
    json later = info(*b, true);
    json parts = json::array();
    for (const auto& d : later["details"]) {
      parts.push_back(
          {{"partitionId", d["partitionId"]},
           {"status", d["state"]},
           {"description",
            {{"snapshotId", d.value("snapshotId", "")},
             {"checkpointPosition", d.value("checkpointPosition", 0)},
             {"brokerId", 0},
             {"brokerVersion", opts.version}}},
           {"failureReason", d.value("failureReason", json())},
           {"createdAt", d.value("createdAt", "")},
           {"lastUpdatedAt", d.value("lastUpdatedAt", "")}});
    }
    std::string status = later["state"];
    return {{"backupId", id},
            {"status", status == "INCOMPLETE" ? "DOES_NOT_EXIST" : status},
            {"failureReason", later.value("failureReason", json())},
            {"partitions", parts}};
  }

  // Takes backup `id` (above the latest) and answers 202 as
  // BackupEndpoint's successfullyScheduledBackupResponse does. Lock held.
  void schedule(std::int64_t id, httplib::Response& res) {
    latest = id;
    backups[id] = Backup{id, now_ms()};
    res.status = 202;
    res.set_content(
        json{{"message", "A backup with id " + std::to_string(id) +
                             " has been scheduled. Use GET actuator/backups/" +
                             std::to_string(id) + " to monitor the status."}}
            .dump(),
        "application/json");
  }

  static std::string fmt_snapshot(int p, const Backup& b) {
    return std::to_string(p) + "-1-" + std::to_string(b.id % 100000) + "-2";
  }
};

void message(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(json{{"message", text}}.dump(), "application/json");
}

} // namespace

void register_zeebe(httplib::Server& server, FaultInjector&,
                    const ZeebeOptions& options) {
  static Zeebe z{options};
  std::sscanf(options.version.c_str(), "%d.%d.%d", &z.major, &z.minor,
              &z.patch);
  // 8.8 moved the endpoint to backupRuntime (backups stays only for a
  // standalone broker or gateway).
  std::string base = z.major > 8 || (z.major == 8 && z.minor >= 8)
                         ? "/actuator/backupRuntime"
                         : "/actuator/backups";
  server.Get("/actuator", [base](const auto&, auto& res) {
    json links = json::object();
    std::vector<std::string> ids{"health", "exporting",
                                 base.substr(std::string("/actuator/").size())};
    if (z.opts.role == "broker" ||
        (z.opts.role.empty() && (z.major > 8 || z.minor >= 8))) {
      ids.push_back("partitions");
    }
    if (z.opts.webapps) {
      ids.push_back("backupHistory");
    }
    for (const std::string& id : ids) {
      links[id] = {{"href", "http://localhost:9600/actuator/" + id},
                   {"templated", false}};
    }
    res.set_content(json{{"_links", links}}.dump(), "application/json");
  });
  server.Post("/actuator/exporting/pause", [](const auto& req, auto& res) {
    std::lock_guard lock(z.mu);
    bool soft = req.get_param_value("soft") == "true";
    z.phase = soft && z.soft_pause_supported() ? "SOFT_PAUSED" : "PAUSED";
    z.exporting_done(res);
  });
  server.Post("/actuator/exporting/resume", [](const auto&, auto& res) {
    std::lock_guard lock(z.mu);
    z.phase = "EXPORTING";
    z.exporting_done(res);
  });
  // /actuator/partitions is the broker's PartitionEndpoint
  // (zeebe/broker/.../broker/system/management/PartitionEndpoint.java): a
  // standalone gateway, 8.2–8.7's usual deployment, answers it 404; the
  // 8.8 orchestration cluster runs a broker and serves it.
  bool broker = z.opts.role == "broker" ||
                (z.opts.role.empty() && (z.major > 8 || z.minor >= 8));
  if (broker) {
    server.Get("/actuator/partitions", [](const auto&, auto& res) {
      std::lock_guard lock(z.mu);
      json out = json::object();
      for (int p = 1; p <= z.opts.partitions; ++p) {
        out[std::to_string(p)] = {{"role", "LEADER"},
                                  {"exporterPhase", z.phase},
                                  {"health", "healthy"}};
      }
      res.set_content(out.dump(), "application/json");
    });
  }
  if (z.major == 8 && z.minor == 1) {
    // 8.1: POST /actuator/backups/{id} without a body answers 200 {"id"};
    // GET answers 200 whatever the id; no list or delete.
    server.Post(R"(/actuator/backups/(\d+))", [](const auto& req, auto& res) {
      std::int64_t id = std::atoll(std::string(req.matches[1]).c_str());
      std::lock_guard lock(z.mu);
      if (id <= z.latest) {
        message(res, 500,
                "Backup with id " + std::to_string(id) +
                    " cannot be taken: a backup with a higher or equal id "
                    "exists");
        return;
      }
      z.latest = id;
      z.backups[id] = Backup{id, now_ms()};
      res.set_content(json{{"id", id}}.dump(), "application/json");
    });
    server.Get(R"(/actuator/backups/(\d+))", [](const auto& req, auto& res) {
      std::lock_guard lock(z.mu);
      std::int64_t id = std::atoll(std::string(req.matches[1]).c_str());
      auto it = z.backups.find(id);
      res.set_content(
          z.info_81(id, it == z.backups.end() ? nullptr : &it->second).dump(),
          "application/json");
    });
    return;
  }
  // From 8.9 (camunda/camunda dist/.../management/BackupEndpoint.java):
  // with backup.continuous on, a take with an id is refused before the id
  // is looked at, and one without an id gets the time in milliseconds
  // (CheckpointIdGenerator, offset 0 here); with it off, a take without an
  // id is refused as an id <= 0 is. GET <base>/state answers each
  // partition's latest checkpoint and backup and the ranges of backups;
  // 8.8 reads "state" as a malformed id.
  //
  // 8.9 has two write operations on one path, take(long backupId) and
  // take(). Spring Boot's actuator gives the one with a body parameter a
  // "consumes" of the JSON media types (RequestPredicateFactory
  // getConsumes), and Spring MVC picks it for a JSON body; a POST without
  // a JSON body reaches take(). So a JSON body without a backupId is a
  // missing parameter (400, Spring's error body), not a take without id.
  bool v89 = z.major > 8 || (z.major == 8 && z.minor >= 9);
  server.Post(base, [v89](const httplib::Request& req, httplib::Response& res) {
    std::string type = req.get_header_value("Content-Type");
    bool json_body = type.find("json") != std::string::npos;
    json body = json::parse(req.body, nullptr, false);
    bool has_id = body.is_object() && body.contains("backupId");
    if (v89 && json_body && !has_id) {
      res.status = 400;
      res.set_content(json{{"timestamp", rfc3339(now_ms(), 3)},
                           {"status", 400},
                           {"error", "Bad Request"},
                           {"path", req.path}}
                          .dump(),
                      "application/json");
      return;
    }
    if (v89 && z.opts.continuous && has_id) {
      message(res, 400,
              "Cannot take backup with predetermined backupId when "
              "continuous backups are enabled. Use POST "
              "actuator/backupRuntime without specifying a backupId.");
      return;
    }
    if (v89 && z.opts.continuous) {
      std::lock_guard lock(z.mu);
      std::int64_t id = now_ms();
      if (id <= z.latest) {
        id = z.latest + 1; // two takes within a millisecond
      }
      z.schedule(id, res);
      return;
    }
    if (v89 && !has_id) {
      message(res, 400, "A backupId must be provided and it must be > 0");
      return;
    }
    if (!body.is_object() || !body.contains("backupId") ||
        !(body["backupId"].is_number_integer() ||
          body["backupId"].is_string())) {
      message(res, 400, "Expected a backupId in the request body");
      return;
    }
    std::int64_t id =
        body["backupId"].is_string()
            ? std::atoll(body["backupId"].get<std::string>().c_str())
            : body["backupId"].get<std::int64_t>();
    if (id <= 0) {
      message(res, 400,
              "A backupId must be provided and it must be greater than 0");
      return;
    }
    std::lock_guard lock(z.mu);
    if (id <= z.latest) {
      message(res, 409,
              "Requested backup has id " + std::to_string(id) +
                  ". The latest backup has id " + std::to_string(z.latest) +
                  ". Id of new backups must be higher than the previous one.");
      return;
    }
    z.schedule(id, res);
  });
  server.Get(base, [](const auto&, auto& res) {
    std::lock_guard lock(z.mu);
    json list = json::array();
    for (auto it = z.backups.rbegin(); it != z.backups.rend(); ++it) {
      list.push_back(z.info(it->second, false));
    }
    res.set_content(list.dump(), "application/json");
  });
  if (base == "/actuator/backupRuntime") {
    server.Get(base + "/state", [v89](const auto&, auto& res) {
      if (!v89) {
        message(res, 400,
                "Expected a backup ID or prefix ending with '*', but got "
                "'state'.");
        return;
      }
      std::lock_guard lock(z.mu);
      json checkpoints = json::array(), backups = json::array(),
           ranges = json::array();
      const Backup* last =
          z.backups.empty() ? nullptr : &z.backups.rbegin()->second;
      for (int p = 1; p <= z.opts.partitions; ++p) {
        if (last != nullptr) {
          json one = {{"partitionId", p},
                      {"checkpointId", last->id},
                      {"checkpointPosition", 1000 * p + last->id % 1000},
                      {"checkpointTimestamp", rfc3339(last->start_ms, 3)}};
          checkpoints.push_back(one);
          one["checkpointType"] =
              z.opts.continuous ? "SCHEDULED_BACKUP" : "MANUAL_BACKUP";
          backups.push_back(one);
        }
        ranges.push_back(
            {{"partitionId", p},
             {"start",
              z.backups.empty() ? json() : json(z.backups.begin()->first)},
             {"end", last == nullptr ? json() : json(last->id)},
             {"missingCheckpoints", json::array()}});
      }
      res.set_content(json{{"checkpointStates", checkpoints},
                           {"backupStates", backups},
                           {"ranges", ranges}}
                          .dump(),
                      "application/json");
    });
  }
  server.Get(base + R"(/(\d+))", [](const auto& req, auto& res) {
    std::lock_guard lock(z.mu);
    std::int64_t id = std::atoll(std::string(req.matches[1]).c_str());
    auto it = z.backups.find(id);
    if (it == z.backups.end()) {
      message(res, 404,
              "Backup with id " + std::to_string(id) + " does not exist");
      return;
    }
    res.set_content(z.info(it->second, true).dump(), "application/json");
  });
  server.Delete(base + R"(/(\d+))", [](const auto& req, auto& res) {
    std::lock_guard lock(z.mu);
    z.backups.erase(std::atoll(std::string(req.matches[1]).c_str()));
    res.status = 204;
  });
}

} // namespace snap::emulator
