// SPDX-License-Identifier: MIT
// SIGINT/SIGTERM handling: a signal sets a flag that every loop and transfer
// checks, so work unwinds through its destructors (removing temporary files)
// and the process exits 130.
#pragma once

namespace snap {

// Installs the handlers (without SA_RESTART, so blocking calls return EINTR).
void install_signal_handlers();

// True once SIGINT or SIGTERM arrived.
bool is_interrupted();

// Sleeps up to `ms` milliseconds, returning early (false) when interrupted.
bool sleep_unless_interrupted(long ms);

} // namespace snap
