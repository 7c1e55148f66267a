// SPDX-License-Identifier: MIT
// The FluxOS node API subset snap and its tests need (docs/contract.md §7).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "emulator/faults.hpp"
#include "emulator/flux_fetch.hpp"

namespace snap::emulator {

struct FluxOptions {
  std::vector<std::string> apps = {"myapp:web,db"}; // name:component,…
  long line_delay_ms = 50;        // the node waits 3 s between lines
  std::string fail_task;          // "backup" or "restore": an error line
  std::filesystem::path data_dir; // the apps folder
  // Flux ID sign-in as FluxOS checks it (verificationHelperUtils.js), on
  // when either ID is set; else the zelidauth header is compared with the
  // faults' required token.
  std::string owner;            // every app's owner (registryManager)
  std::string admin;            // the node's userconfig.initial.zelid
  long session_ttl_s = 1209600; // loggedUsers' TTL index: 14 days
  bool unhealthy = false;       // /id/loginphrase answers the DOS error
  // Other nodes running every app ("ip:port"), which /apps/location lists
  // after this one, as the network's app locations would.
  std::vector<std::string> peers;
  // How the node fetches a remote restore's URL (urlSecurity.js).
  FetchRules fetch;
};

// Registers the FluxOS routes on `server`; creates each component's
// appdata with a few files.
void register_flux(httplib::Server& server, FaultInjector& faults,
                   const FluxOptions& options);

} // namespace snap::emulator
