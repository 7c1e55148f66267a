// SPDX-License-Identifier: MIT
// The Zeebe gateway's management API subset snap needs (docs/contract.md §7):
// the backup endpoint (/actuator/backups for 8.2–8.7, /actuator/backupRuntime
// from 8.8), exporting pause (hard or soft) and resume, and, where a broker
// answers, /actuator/partitions whose exporterPhase tests read.
#pragma once

#include <string>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct ZeebeOptions {
  std::string version = "8.7.2";
  int partitions = 3;
  long backup_ms = 500;              // until every partition is done
  std::string outcome = "completed"; // completed | failed | incomplete
  bool webapps = false; // 8.8+: /actuator/backupHistory is served too
  // What answers: "gateway" (a standalone gateway, 8.2–8.7's Helm default),
  // "broker" (a broker with its embedded gateway) or "" for the version's
  // usual one (the gateway before 8.8, the orchestration cluster after).
  std::string role;
  bool continuous = false; // 8.9+: backups number themselves
};

void register_zeebe(httplib::Server& server, FaultInjector& faults,
                    const ZeebeOptions& options);

} // namespace snap::emulator
