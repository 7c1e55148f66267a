// SPDX-License-Identifier: MIT
// The Consul HTTP API subset snap and its tests need (docs/contract.md §7).
#pragma once

#include <cstdint>
#include <filesystem>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct ConsulOptions {
  bool no_leader = false;
  // Extra state so benchmarks get big snapshots: hex text, which compresses
  // like real state, or random bytes, which do not compress at all.
  std::uint64_t snapshot_bytes = 0;
  bool random_content = false;
  // Where snapshots are built before they are streamed, as Consul does.
  std::filesystem::path data_dir;
};

// Registers the Consul routes on `server`.
void register_consul(httplib::Server& server, FaultInjector& faults,
                     const ConsulOptions& options);

} // namespace snap::emulator
