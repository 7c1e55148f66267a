// SPDX-License-Identifier: MIT
// CPU limits as the kernel documents them:
// - cgroup v2 (Documentation/admin-guide/cgroup-v2.rst): the process's
//   cgroup is the "0::PATH" line of /proc/self/cgroup, its files are under
//   /sys/fs/cgroup/PATH, and cpu.max holds "$MAX $PERIOD" in microseconds,
//   MAX being "max" where there is no limit.
// - cgroup v1 (Documentation/scheduler/sched-bwc.rst): the line whose
//   controllers include "cpu" names the cgroup under /sys/fs/cgroup/cpu,
//   with cpu.cfs_quota_us (-1: no limit) and cpu.cfs_period_us.
// A limit on any ancestor holds too, so every level up to the root is
// read. In a container the hierarchy is mounted at the container's own
// cgroup, whose files are then at the root ("/"), which is read last.
#include "snap/cores.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sched.h>
#include <string>
#include <thread>

#include "snap/text.hpp"

namespace snap {
namespace {

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::nullopt;
  }
  return line;
}

// This process's cgroups ("/" or "/a/b"): the v2 one, and the v1 one of
// the cpu controller.
struct Cgroups {
  std::optional<std::string> v2;
  std::optional<std::string> v1_cpu;
};

Cgroups own_cgroups() {
  Cgroups out;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos ||
        line.compare(second + 1, 1, "/") != 0) {
      continue;
    }
    std::string path = line.substr(second + 1);
    std::string_view controllers(line.data() + first + 1, second - first - 1);
    if (line.starts_with("0::")) {
      out.v2 = path;
    }
    for (std::size_t at = 0; at <= controllers.size();) {
      auto comma = std::min(controllers.find(',', at), controllers.size());
      if (controllers.substr(at, comma - at) == "cpu") {
        out.v1_cpu = path;
      }
      at = comma + 1;
    }
  }
  return out;
}

// The tightest limit that `read_limit(dir)` finds at `path` under `mount`
// or any level above it.
template <class F>
std::optional<unsigned> tightest(const std::string& mount,
                                 const std::string& path, F read_limit) {
  std::optional<unsigned> least;
  for (std::string p = path;;) {
    if (auto limit = read_limit(mount + (p == "/" ? std::string() : p))) {
      least = std::min(least.value_or(*limit), *limit);
    }
    if (p == "/") {
      return least;
    }
    auto slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
}

} // namespace

std::optional<unsigned> cores_of_cpu_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  auto space = text.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  auto quota = whole_number(text.substr(0, space));
  auto period = whole_number(text.substr(space + 1));
  if (!quota || !period || *quota == 0 || *period == 0) {
    return std::nullopt; // "max", or not a limit
  }
  std::uint64_t cores = (*quota + *period - 1) / *period;
  return static_cast<unsigned>(std::clamp<std::uint64_t>(cores, 1, 1u << 16));
}

unsigned usable_cores() {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    cores = static_cast<unsigned>(CPU_COUNT(&set));
  }
  Cgroups own = own_cgroups();
  std::optional<unsigned> limit;
  if (own.v2) {
    limit = tightest("/sys/fs/cgroup", *own.v2,
                     [](const std::string& dir) -> std::optional<unsigned> {
                       auto line = read_line(dir + "/cpu.max");
                       return line ? cores_of_cpu_max(*line) : std::nullopt;
                     });
  }
  if (!limit && own.v1_cpu) {
    limit = tightest("/sys/fs/cgroup/cpu", *own.v1_cpu,
                     [](const std::string& dir) -> std::optional<unsigned> {
                       auto quota = read_line(dir + "/cpu.cfs_quota_us");
                       auto period = read_line(dir + "/cpu.cfs_period_us");
                       return quota && period
                                  ? cores_of_cpu_max(*quota + " " + *period)
                                  : std::nullopt;
                     });
  }
  return std::max(1u, std::min(cores, limit.value_or(cores)));
}

} // namespace snap
