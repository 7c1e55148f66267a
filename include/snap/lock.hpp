// SPDX-License-Identifier: MIT
// One run at a time per target: an advisory lock (flock) on a file named
// for the target, in $XDG_RUNTIME_DIR/snap (else /tmp/snap-<uid>), held for
// the life of the run, so two cron runs of a save, or a save and a restore,
// never interleave. The kernel releases it when a run dies, however it dies.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "snap/error.hpp"

namespace snap {

class RunLock {
public:
  // Takes the lock for `key` (say "consul http://consul:8500"), waiting up
  // to `wait_s` seconds for another run to finish; `what` is written into
  // the lock file for the next run's message. Errors: `locked` naming the
  // other run's pid, start time and what it does; `interrupted`;
  // `internal` when no lock file can be made.
  static Expected<std::unique_ptr<RunLock>>
  acquire(std::string_view key, std::string_view what, double wait_s);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

private:
  explicit RunLock(int fd) : m_fd(fd) {}
  int m_fd;
};

} // namespace snap
