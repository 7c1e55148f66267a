// SPDX-License-Identifier: MIT
// The interrupt flag. A second signal while unwinding is ignored on purpose:
// cleanup of temporary files must finish.
#include "snap/signals.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

namespace snap {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0}; // the first signal that arrived

extern "C" void on_signal(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  g_interrupted.store(true);
}

} // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool is_interrupted() { return g_interrupted.load(); }

int interrupt_exit_code() {
  int sig = g_signal.load();
  return 128 + (sig == 0 ? SIGINT : sig);
}

bool sleep_unless_interrupted(long ms) {
  using namespace std::chrono;
  auto end = steady_clock::now() + milliseconds(ms);
  while (steady_clock::now() < end) {
    if (is_interrupted()) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return !is_interrupted();
}

} // namespace snap
