// SPDX-License-Identifier: MIT
// Following an operation the target runs on its own: ask, wait, ask again,
// with a deadline and SIGINT honoured between the questions.
#pragma once

#include <functional>
#include <string>

#include "snap/error.hpp"

namespace snap {

// Calls `step` until it reports done, pausing `first_ms` (doubling up to
// `max_ms`) in between; after `seconds` gives up with a `timeout` error whose
// message is `late()`. Interrupted (SIGINT, SIGTERM), it says what goes on
// on the target without snap: `left_running()` ("the snapshot goes on in the
// cluster: snap status elasticsearch NAME"). Errors: `step`'s, `timeout`,
// `interrupted`.
// The longest wait between two questions, for every poll of this run
// (--poll-interval, SNAP_POLL_INTERVAL); 0 leaves each poll its own (up to
// 5 s). Operators raise it to ask a loaded cluster less often; the test
// suite lowers it so emulated tasks are followed at test scale.
void set_poll_interval_ms(long ms);

Expected<void>
poll_until(double seconds, const std::function<Expected<bool>()>& step,
           const std::function<std::string()>& late, long first_ms = 200,
           long max_ms = 5000,
           const std::function<std::string()>& left_running = {});

} // namespace snap
