// SPDX-License-Identifier: MIT
#include "adapters/camunda/zeebe_api.hpp"

#include <regex>

#include <chrono>

#include "snap/json.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters::camunda {

Expected<json> Actuator::call(const std::string& method,
                              const std::string& path, const json& body,
                              std::vector<long> ok, bool idempotent,
                              bool cleanup) const {
  JsonCall call{.request = {.method = method,
                            .path = path,
                            .idempotent = idempotent,
                            .cleanup = cleanup},
                .ok = std::move(ok),
                .who = label,
                .not_json_hint = "is the address its management port?"};
  if (!body.is_null()) {
    call.body = body.dump();
    call.has_body = true;
  }
  // Errors carry the component's {"message"} (Optimize's errorMessage).
  call.error_text = [](const std::string& text) {
    json e = parse_untrusted_json(text);
    std::string m =
        e.is_object() ? e.value("message", e.value("errorMessage", "")) : "";
    return m.empty() ? text : m;
  };
  auto answer = call_json(http, std::move(call));
  if (!answer) {
    Error err = answer.error();
    if (!label.empty() && !err.message.starts_with(label + ":")) {
      err.message = label + ": " + err.message;
    }
    return tl::unexpected(err);
  }
  return std::move(answer->body);
}

BackupState backup_state(const std::string& state) {
  if (state == "COMPLETED" || state == "COMPLETE" || state == "SUCCESS") {
    return BackupState::complete;
  }
  if (state == "IN_PROGRESS") {
    return BackupState::running;
  }
  return state == "INCOMPLETE" || state == "PARTIAL" ? BackupState::partial
                                                     : BackupState::failed;
}

Expected<std::int64_t> backup_id_from(const std::string& v) {
  if (v.empty()) {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (*end != '\0' || n <= 0) {
    return fail(ErrorKind::usage,
                fmt::format("--backup-id '{}': backup ids are whole numbers "
                            "above 0",
                            v));
  }
  return n;
}

Expected<ZeebeEndpoint> zeebe_backup_path(const Actuator& zeebe,
                                          const std::string& version) {
  if (!version.empty()) {
    int major = 0, minor = 0;
    if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) {
      return fail(ErrorKind::usage,
                  fmt::format("--camunda-version '{}': expected a version "
                              "such as 8.7 or 8.8.2",
                              version));
    }
    if (major < 8 || (major == 8 && minor < 1)) {
      return fail(ErrorKind::unsupported,
                  fmt::format("zeebe: Camunda {} has no backup API; it "
                              "arrived in 8.1",
                              version));
    }
    if (major == 8 && minor == 1) {
      return ZeebeEndpoint{"/actuator/backups", true};
    }
    return ZeebeEndpoint{major > 8 || minor >= 8 ? "/actuator/backupRuntime"
                                                 : "/actuator/backups"};
  }
  json index = SNAP_TRY(zeebe.call("GET", "/actuator"));
  const json& links = index.value("_links", json::object());
  if (links.contains("backupRuntime")) {
    return ZeebeEndpoint{"/actuator/backupRuntime"};
  }
  if (links.contains("backups")) {
    return ZeebeEndpoint{"/actuator/backups"};
  }
  return fail(ErrorKind::unsupported,
              "zeebe: the gateway exposes no backup endpoint (GET /actuator "
              "lists neither backupRuntime nor backups): enable it "
              "(management.endpoints.web.exposure.include) and configure a "
              "backup store on the brokers");
}

Expected<void> zeebe_take(const Actuator& zeebe, const ZeebeEndpoint& ep,
                          std::int64_t id) {
  auto taken = ep.v81 ? zeebe.call("POST", fmt::format("{}/{}", ep.path, id),
                                   json(), {200}, false)
                      : zeebe.call("POST", ep.path, json{{"backupId", id}},
                                   {202, 200}, false);
  if (!taken && taken.error().kind == ErrorKind::conflict) {
    return fail(ErrorKind::conflict,
                fmt::format("{} (Zeebe needs each backup id above every "
                            "earlier one, deleted or failed ones included: "
                            "pass a higher --backup-id, or leave it out to "
                            "use the current UTC time in seconds)",
                            taken.error().message));
  }
  if (!taken) {
    return tl::unexpected(taken.error());
  }
  return {};
}

bool refused_for_continuous(const Error& e) {
  return e.message.find("continuous backups are enabled") != std::string::npos;
}

Expected<std::optional<json>> zeebe_state(const Actuator& zeebe,
                                          const ZeebeEndpoint& ep) {
  if (ep.v81 || ep.path != "/actuator/backupRuntime") {
    return std::optional<json>();
  }
  auto got = zeebe.call("GET", ep.path + "/state");
  if (!got) {
    // 8.8 reads "state" as an id ("Expected a backup ID or prefix ending
    // with '*'", 400).
    if (got.error().kind == ErrorKind::usage ||
        got.error().kind == ErrorKind::not_found ||
        got.error().message.find("Expected a backup ID") != std::string::npos) {
      return std::optional<json>();
    }
    return tl::unexpected(got.error());
  }
  return std::optional<json>(*got);
}

Expected<bool> zeebe_continuous(const Actuator& zeebe,
                                const ZeebeEndpoint& ep) {
  // Only 8.9 and later have them, and only they answer GET .../state.
  if (!SNAP_TRY(zeebe_state(zeebe, ep))) {
    return false;
  }
  auto probe =
      zeebe.call("POST", ep.path, json{{"backupId", 0}}, {202, 200}, false);
  if (probe) {
    return fail(ErrorKind::remote,
                fmt::format("{}: a backup with id 0 was accepted, which "
                            "Zeebe refuses; is --zeebe its management "
                            "port?",
                            zeebe.label));
  }
  if (refused_for_continuous(probe.error())) {
    return true;
  }
  // Refused for the id: a cluster without continuous backups. Anything
  // else (unreachable, 5xx) is the error it is.
  if (probe.error().message.find("backupId must be provided") !=
      std::string::npos) {
    return false;
  }
  return tl::unexpected(probe.error());
}

Expected<std::int64_t> zeebe_take_numbered(const Actuator& zeebe,
                                           const ZeebeEndpoint& ep) {
  // Without a body: 8.9 routes a JSON body to take(backupId), which then
  // misses its parameter, and only a POST without one to take() (the
  // documented "POST actuator/backupRuntime without specifying a
  // backupId").
  json answer =
      SNAP_TRY(zeebe.call("POST", ep.path, json(), {202, 200}, false));
  // "A backup with id N has been scheduled. Use GET ... to monitor ..."
  std::string text = answer.is_object() && answer.contains("message") &&
                             answer["message"].is_string()
                         ? answer["message"].get<std::string>()
                         : "";
  static const std::regex k_id(R"(backup with id (\d{1,18}) )");
  std::smatch m;
  if (!std::regex_search(text, m, k_id)) {
    return fail(ErrorKind::remote,
                fmt::format("{}: the backup was scheduled, but the answer "
                            "names no id ({}); find it with snap list zeebe",
                            zeebe.label, text.substr(0, 120)));
  }
  return std::stoll(m[1].str());
}

Expected<json> zeebe_get(const Actuator& zeebe, const ZeebeEndpoint& ep,
                         const std::string& id) {
  json info = SNAP_TRY(
      zeebe.call("GET", fmt::format("{}/{}", ep.path, url_escape(id))));
  if (!ep.v81) {
    return info;
  }
  // 8.1: {"backupId","status","failureReason","partitions":[{"partitionId",
  // "status","description":{"brokerVersion",…},…}]}, and DOES_NOT_EXIST
  // with a 200 where later versions answer 404.
  std::string status = info.value("status", "");
  if (status == "DOES_NOT_EXIST") {
    return fail(ErrorKind::not_found,
                fmt::format("{}: backup {} does not exist", zeebe.label, id));
  }
  json details = json::array();
  for (const auto& p : info.value("partitions", json::array())) {
    json d = {{"partitionId", p.value("partitionId", 0)},
              {"state", p.value("status", "")},
              {"createdAt", p.value("createdAt", "")},
              {"lastUpdatedAt", p.value("lastUpdatedAt", "")}};
    if (p.contains("failureReason") && p["failureReason"].is_string()) {
      d["failureReason"] = p["failureReason"];
    }
    json desc = p.value("description", json::object());
    if (desc.is_object()) {
      for (const char* k :
           {"snapshotId", "checkpointPosition", "brokerId", "brokerVersion"}) {
        if (desc.contains(k)) {
          d[k] = desc[k];
        }
      }
    }
    details.push_back(std::move(d));
  }
  json out = {{"backupId", info.value("backupId", std::int64_t{0})},
              {"state", status},
              {"details", details}};
  if (info.contains("failureReason") && info["failureReason"].is_string()) {
    out["failureReason"] = info["failureReason"];
  }
  return out;
}

Expected<json> zeebe_wait(const Actuator& zeebe, Reporter& reporter,
                          const ZeebeEndpoint& ep, std::int64_t id,
                          double timeout_s) {
  json info;
  int settled = 0;
  SNAP_TRY(poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        auto got = zeebe_get(zeebe, ep, std::to_string(id));
        // Right after the take, partitions may not know the backup yet.
        if (!got && got.error().kind == ErrorKind::not_found) {
          return false;
        }
        info = SNAP_TRY(std::move(got));
        int done = 0, running = 0, total = 0;
        for (const auto& d : info.value("details", json::array())) {
          ++total;
          done += d.value("state", "") == "COMPLETED";
          running += d.value("state", "") == "IN_PROGRESS";
        }
        reporter.progress(fmt::format("{} backup {}: partitions {}/{}",
                                      zeebe.label, id, done, total),
                          0, 0);
        std::string state = info.value("state", "");
        if (state == "INCOMPLETE" && running == 0) {
          return ++settled >= 3;
        }
        settled = 0;
        // DELETED (8.9) is final too: the backup is gone.
        return state == "COMPLETED" || state == "FAILED" ||
               state == "INCOMPATIBLE" || state == "DELETED";
      },
      [&] {
        return fmt::format("{}: backup {} is still {} after {:.0f} s (raise "
                           "--wait-timeout; it goes on in the cluster)",
                           zeebe.label, id, info.value("state", "unknown"),
                           timeout_s);
      },
      200, 2000,
      [&] {
        return fmt::format("{} backup {} goes on in the cluster: follow it "
                           "with snap status zeebe {}",
                           zeebe.label, id, id);
      }));
  return info;
}

std::string broker_version(const json& info) {
  std::string version;
  for (const auto& d : info.value("details", json::array())) {
    version = d.value("brokerVersion", version);
  }
  return version;
}

std::optional<Error> zeebe_verdict(const json& info, const std::string& who) {
  std::string state = info.value("state", "");
  if (state == "COMPLETED") {
    return std::nullopt;
  }
  std::vector<std::string> parts;
  for (const auto& d : info.value("details", json::array())) {
    std::string st = d.value("state", "");
    if (st != "COMPLETED") {
      std::string why = d.value("failureReason", "");
      parts.push_back(fmt::format("partition {} {}{}",
                                  d.value("partitionId", 0), st,
                                  why.empty() ? "" : ": " + why));
    }
  }
  std::string id = std::to_string(info.value("backupId", 0L));
  if (state == "INCOMPLETE") {
    return Error{ErrorKind::partial,
                 fmt::format("{}: backup {} is INCOMPLETE ({}); it cannot be "
                             "restored as a whole",
                             who, id, fmt::join(parts, "; "))};
  }
  std::string reason = info.value("failureReason", "");
  return Error{ErrorKind::remote,
               fmt::format("{}: backup {} {}{} ({})", who, id, state,
                           reason.empty() ? "" : ": " + reason,
                           fmt::join(parts, "; "))};
}

Expected<std::optional<std::vector<std::string>>>
exporter_phases(const Actuator& zeebe) {
  auto parts = zeebe.call("GET", "/actuator/partitions");
  if (!parts) {
    if (parts.error().kind == ErrorKind::not_found) {
      return std::optional<std::vector<std::string>>();
    }
    return tl::unexpected(parts.error());
  }
  std::vector<std::string> out;
  if (parts->is_object()) {
    for (const auto& [p, st] : parts->items()) {
      out.push_back(fmt::format("{}: {}", p,
                                st.is_object() ? st.value("exporterPhase", "?")
                                               : std::string("?")));
    }
  }
  return std::optional(out);
}

} // namespace snap::adapters::camunda
