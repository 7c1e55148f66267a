// SPDX-License-Identifier: MIT
// The healthchecks.io Pinging API that --notify-url talks to, and the part
// of its Management API (v3) that lists a check's pings, for the tests.
#pragma once

#include <string>
#include <vector>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct HealthchecksOptions {
  std::vector<std::string> checks;  // the UUIDs of the checks that exist
  std::string api_key = "read-key"; // X-Api-Key of the Management API
};

void register_healthchecks(httplib::Server& server, FaultInjector& faults,
                           const HealthchecksOptions& options);

} // namespace snap::emulator
