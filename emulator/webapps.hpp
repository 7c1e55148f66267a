// SPDX-License-Identifier: MIT
// Operate, Tasklist and Optimize's backup actuator (Camunda 8.2–8.7,
// /actuator/backups; from 8.8 Operate and Tasklist as one, at the
// orchestration cluster's /actuator/backupHistory): each backup is a series of
// Elasticsearch snapshots the app takes one after the other in the shared
// Elasticsearch (the elasticsearch emulator at --elasticsearch), named
// camunda_<app>_<id>_<version>_part_<k>_of_<n>, and its state is read back
// from those snapshots as the apps do.
#pragma once

#include <string>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct WebappOptions {
  std::string app; // operate | tasklist | optimize | webapps (8.8)
  // The endpoint: 8.8's orchestration cluster serves Operate and Tasklist
  // together as /actuator/backupHistory, snapshots camunda_webapps_….
  std::string base = "/actuator/backups";
  // 8.1: /actuator/backup (singular), a take answers 200 with the
  // scheduled snapshots (Optimize too), a state is {"State": …} alone, and
  // there is no list or delete.
  bool v81 = false;
  std::string version = "8.7.2";
  std::string elasticsearch; // http://127.0.0.1:PORT
  std::string repository = "camunda";
  std::string outcome = "completed"; // completed | failed
};

void register_webapp(httplib::Server& server, FaultInjector& faults,
                     const WebappOptions& options);

} // namespace snap::emulator
