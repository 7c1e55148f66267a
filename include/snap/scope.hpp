// SPDX-License-Identifier: MIT
// The one guard for undo-on-exit: runs its step on every way out of a scope
// (a return, an error, SIGINT or SIGTERM turned into `interrupted`), unless
// released because the work finished or the step ran already. Written here
// because C++20 has no std::scope_exit (the Library Fundamentals TS v3's is
// not in libstdc++ 12). A step that sends a request marks it `cleanup` so it
// still goes out after a signal.
#pragma once

#include <utility>

namespace snap {

template <class F> class ScopeExit {
public:
  explicit ScopeExit(F step) : m_step(std::move(step)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() {
    if (m_armed) {
      m_step();
    }
  }
  // The step will not run.
  void release() { m_armed = false; }

private:
  F m_step;
  bool m_armed = true;
};

} // namespace snap
