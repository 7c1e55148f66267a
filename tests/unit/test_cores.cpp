// SPDX-License-Identifier: MIT
// The cores snap counts (src/cores.cpp): a cgroup's CPU limit caps them.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "snap/cores.hpp"

using namespace snap;
namespace fs = std::filesystem;

TEST_CASE("a cpu.max limit is read as whole cores rounded up", "[unit][io]") {
  CHECK(cores_of_cpu_max("max 100000") == std::nullopt);
  CHECK(cores_of_cpu_max("max 100000\n") == std::nullopt);
  CHECK(cores_of_cpu_max("100000 100000\n") == 1u);
  CHECK(cores_of_cpu_max("50000 100000") == 1u);
  CHECK(cores_of_cpu_max("150000 100000") == 2u);
  CHECK(cores_of_cpu_max("400000 100000") == 4u);
  // cgroup v1's "no limit" quota, and text that is no limit at all.
  CHECK(cores_of_cpu_max("-1 100000") == std::nullopt);
  CHECK(cores_of_cpu_max("0 100000") == std::nullopt);
  CHECK(cores_of_cpu_max("100000 0") == std::nullopt);
  CHECK(cores_of_cpu_max("100000") == std::nullopt);
  CHECK(cores_of_cpu_max("") == std::nullopt);
  CHECK(cores_of_cpu_max("1e5 100000") == std::nullopt);
}

TEST_CASE("the cores snap counts are at most the machine's and at least one",
          "[unit][io]") {
  unsigned n = usable_cores();
  CHECK(n >= 1);
  CHECK(n <= std::max(1u, std::thread::hardware_concurrency()));
}

TEST_CASE("a process in a cgroup limited to one CPU counts one core",
          "[unit][io]") {
  // cgroup v1's cpu hierarchy, where this machine has one this user may
  // write (a container's CPU limit is such a group); else nothing is
  // checked.
  fs::path root = "/sys/fs/cgroup/cpu";
  if (::access((root / "cgroup.procs").c_str(), W_OK) != 0) {
    WARN("no writable cgroup v1 cpu hierarchy here: not checked");
    return;
  }
  fs::path dir = root / ("snap-test-cores-" + std::to_string(::getpid()));
  std::error_code ec;
  REQUIRE(fs::create_directory(dir, ec));
  {
    std::ofstream(dir / "cpu.cfs_period_us") << "100000\n";
    std::ofstream(dir / "cpu.cfs_quota_us") << "100000\n";
  }
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::ofstream(dir / "cgroup.procs") << ::getpid() << "\n";
    ::_exit(static_cast<int>(std::min(usable_cores(), 100u)));
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  fs::remove(dir, ec);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
}
