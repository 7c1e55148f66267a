// SPDX-License-Identifier: MIT
#include "snap/poll.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "snap/signals.hpp"

namespace snap {
namespace {

std::atomic<long> g_poll_interval_ms{0};

} // namespace

void set_poll_interval_ms(long ms) { g_poll_interval_ms = ms; }

Expected<void> poll_until(double seconds,
                          const std::function<Expected<bool>()>& step,
                          const std::function<std::string()>& late,
                          long first_ms, long max_ms,
                          const std::function<std::string()>& left_running) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(
                                           static_cast<long>(seconds * 1000));
  if (long chosen = g_poll_interval_ms; chosen > 0) {
    max_ms = chosen;
    first_ms = std::min(first_ms, chosen);
  }
  for (long delay = first_ms;; delay = std::min(delay * 2, max_ms)) {
    bool done = SNAP_TRY(step());
    if (done) {
      return {};
    }
    if (Clock::now() > deadline) {
      return fail(ErrorKind::timeout, late());
    }
    if (!sleep_unless_interrupted(delay)) {
      return fail(ErrorKind::interrupted, left_running
                                              ? "interrupted; " + left_running()
                                              : std::string("interrupted"));
    }
  }
}

} // namespace snap
