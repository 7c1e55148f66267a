// SPDX-License-Identifier: MIT
// Camunda 8's management (actuator) APIs as the zeebe and camunda adapters
// use them: JSON calls to one component, the Zeebe backup endpoint
// (/actuator/backups for 8.2–8.7, /actuator/backupRuntime from 8.8), taking
// a backup and following it, and exporting pause and resume.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/adapter.hpp"

namespace snap::adapters::camunda {

using nlohmann::json;

// One component's management API, through a client of its own address.
struct Actuator {
  HttpClient& http;
  std::string label; // "zeebe", "operate", …
  // Errors carry the component's {"message"} (or Optimize's errorMessage).
  Expected<json> call(const std::string& method, const std::string& path,
                      const json& body = json(), std::vector<long> ok = {200},
                      bool idempotent = true, bool cleanup = false) const;
};

// The backup id --backup-id gives, or by default the current UTC time in
// seconds (above every earlier one, as Zeebe needs). Errors: `usage`.
Expected<std::int64_t> backup_id_from(const std::string& flag_value);

// A cluster's Zeebe backup API: its endpoint, and whether it is Camunda
// 8.1's experimental one (a take is POST <path>/<id> without a body
// answering 200; the state is in "status" and "partitions"; no list or
// delete).
struct ZeebeEndpoint {
  std::string path;
  bool v81 = false;
};

// The Zeebe backup endpoint for `version` ("8.1", "8.7", "8.8.1"), or when
// it is empty, as GET /actuator lists it (8.1 must be named: its gateway
// lists the same "backups" as 8.2–8.7).
Expected<ZeebeEndpoint> zeebe_backup_path(const Actuator& zeebe,
                                          const std::string& version);

// Takes Zeebe backup `id` (202; 8.1: 200). A 409 (an id not above the
// latest) is a `conflict` naming the latest id.
Expected<void> zeebe_take(const Actuator& zeebe, const ZeebeEndpoint& ep,
                          std::int64_t id);

// True when `e` is Zeebe's refusal of an id because the cluster takes
// continuous backups, which number themselves (8.9+: 400 "Cannot take
// backup with predetermined backupId when continuous backups are
// enabled").
bool refused_for_continuous(const Error& e);

// Whether the cluster takes continuous backups (8.9+), asked without side
// effects: where GET .../state answers (8.9+), a take of id 0, which is
// refused either way, with the continuous message first where they are on
// (BackupEndpoint.take checks that before the id). False before 8.9.
Expected<bool> zeebe_continuous(const Actuator& zeebe, const ZeebeEndpoint& ep);

// Takes a backup without an id, as a cluster with continuous backups
// wants (POST <backupRuntime> {}), and returns the id Zeebe gave it (the
// epoch milliseconds plus the configured offset), read from the 202's
// message. Errors: `remote` when the message names no id, any kind.
Expected<std::int64_t> zeebe_take_numbered(const Actuator& zeebe,
                                           const ZeebeEndpoint& ep);

// GET <backupRuntime>/state (8.9+): each partition's latest checkpoint and
// backup, and the ranges of backups the store holds, or nothing where
// the version has no such endpoint. Errors: any kind.
Expected<std::optional<json>> zeebe_state(const Actuator& zeebe,
                                          const ZeebeEndpoint& ep);

// GET of backup `id` as a BackupInfo of 8.2 and later ("state", "details"
// per partition, "brokerVersion"), 8.1's answer translated. Errors:
// `not_found` (8.1: status DOES_NOT_EXIST), any kind.
Expected<json> zeebe_get(const Actuator& zeebe, const ZeebeEndpoint& ep,
                         const std::string& id);

// Follows backup `id` until COMPLETED or FAILED, or INCOMPLETE with no
// partition still in progress over several polls; returns the last
// BackupInfo. Errors: any kind, `timeout`.
Expected<json> zeebe_wait(const Actuator& zeebe, Reporter& reporter,
                          const ZeebeEndpoint& ep, std::int64_t id,
                          double timeout_s);

// The Zeebe version the partitions of a BackupInfo report, or "".
std::string broker_version(const json& info);

// A Zeebe or web-app backup state (BackupStatusCode: COMPLETED,
// IN_PROGRESS, INCOMPLETE, FAILED; Optimize says COMPLETE, and the records
// snapshot SUCCESS or PARTIAL) in snap's words; anything else
// (DOES_NOT_EXIST) is `failed`.
BackupState backup_state(const std::string& state);

// The verdict on a finished BackupInfo: nothing for COMPLETED, `partial`
// for INCOMPLETE, `remote` for FAILED, each naming the partitions.
std::optional<Error> zeebe_verdict(const json& info, const std::string& who);

// Each partition's exporter phase ("1: EXPORTING"), from the broker's
// /actuator/partitions; nothing where a standalone gateway answers (it has
// no such endpoint: 8.2–8.7's usual deployment). Errors: any kind but
// `not_found`.
Expected<std::optional<std::vector<std::string>>>
exporter_phases(const Actuator& zeebe);

// What status shows for exporting when exporter_phases gave nothing.
inline constexpr std::string_view k_phases_unknown =
    "not shown by a standalone gateway (each broker's /actuator/partitions "
    "shows it)";

} // namespace snap::adapters::camunda
