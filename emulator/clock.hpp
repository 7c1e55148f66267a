// SPDX-License-Identifier: MIT
// The emulators' wall clock and the RFC 3339 timestamps the emulated
// systems write, each with its own precision.
#pragma once

#include <cstdint>
#include <string>

namespace snap::emulator {

// Milliseconds since the Unix epoch.
std::int64_t now_ms();

// `ms` as UTC RFC 3339 with `fraction_digits` digits of seconds: 0 as
// Kubernetes writes ("2026-11-21T10:15:00Z"), 3 as Elasticsearch
// ("…:00.123Z"), 9 as Java's Instant in Zeebe ("…:00.123000000Z").
std::string rfc3339(std::int64_t ms, int fraction_digits);

} // namespace snap::emulator
