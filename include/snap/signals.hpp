// SPDX-License-Identifier: MIT
// SIGINT/SIGTERM handling: a signal sets a flag that every loop and transfer
// checks, so work unwinds through its destructors (removing temporary files)
// and the process exits 128 + the signal's number: 130 for SIGINT, 143 for
// SIGTERM, as shells report a process the signal killed.
#pragma once

namespace snap {

// Installs the handlers (without SA_RESTART, so blocking calls return EINTR).
void install_signal_handlers();

// True once SIGINT or SIGTERM arrived.
bool is_interrupted();
// The exit code of an interrupted run: 130 (SIGINT) or 143 (SIGTERM).
int interrupt_exit_code();

// Sleeps up to `ms` milliseconds, returning early (false) when interrupted.
bool sleep_unless_interrupted(long ms);

} // namespace snap
