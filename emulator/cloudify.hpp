// SPDX-License-Identifier: MIT
// The Cloudify Manager REST API subset snap and its tests need
// (docs/contract.md §7).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct CloudifyOptions {
  long job_ms = 300;                // how long a snapshot workflow runs
  std::string fail_workflow;        // "create" or "restore": it fails
  std::string hang_workflow;        // "create" or "restore": never ends
  long restore_window_ms = 0;       // 502 for everything but
                                    // snapshot-status while a restore runs
  std::filesystem::path sample_dir; // extra files for created snapshots
  bool corrupt_member = false;      // created archives have a bad member
  int seed_snapshots = 0;           // uploaded records at start (list)
  std::filesystem::path data_dir;   // the file server
  int deployments = 0;              // dep-1…dep-N, one started compute each
  std::string unstarted_deployment; // its compute instance is "stopped"
  bool plugins_current = false;     // a plugins update finds nothing to do
  // Executions in status scheduled at start, each WORKFLOW:DEPLOYMENT:TIME
  // (TIME as the manager writes it, 2050-01-01T12:00:00.000Z).
  std::vector<std::string> scheduled_executions;
  // A manager before 5.2: no execution schedules, and its legacy restore
  // requeues the scheduled executions still due.
  bool before_schedules = false;
};

// Registers the Cloudify routes on `server`.
void register_cloudify(httplib::Server& server, FaultInjector& faults,
                       const CloudifyOptions& options);

} // namespace snap::emulator
