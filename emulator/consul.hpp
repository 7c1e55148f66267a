// SPDX-License-Identifier: MIT
// The Consul HTTP API subset snap and its tests need (SPEC §7).
#pragma once

#include <cstdint>
#include <filesystem>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct ConsulOptions {
  bool no_leader = false;
  std::uint64_t snapshot_bytes =
      0;                          // extra state so benchmarks get big snapshots
  std::filesystem::path data_dir; // where snapshots are built, as Consul does
};

// Registers the Consul routes on `server`.
void register_consul(httplib::Server &server, FaultInjector &faults,
                     const ConsulOptions &options);

} // namespace snap::emulator
