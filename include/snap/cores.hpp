// SPDX-License-Identifier: MIT
// How many cores snap may use, for the defaults that size its threads.
#pragma once

#include <optional>
#include <string_view>

namespace snap {

// The CPUs this process's affinity allows (taskset, a cgroup's cpuset),
// capped by the tightest cgroup v2 CPU limit (cpu.max, which a container's
// CPU limit sets) on its cgroup or any above it, rounded up; at least 1.
// std::thread::hardware_concurrency() counts the machine's CPUs instead, so
// a container limited to one CPU on a 64-core host would count 64.
unsigned usable_cores();

// The whole cores that a cpu.max text allows ("150000 100000": 2, rounded
// up); nullopt for "max" (no limit) or text that is not a limit.
std::optional<unsigned> cores_of_cpu_max(std::string_view text);

} // namespace snap
