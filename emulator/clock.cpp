// SPDX-License-Identifier: MIT
// See clock.hpp.
#include "emulator/clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace snap::emulator {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(std::int64_t ms, int fraction_digits) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (fraction_digits > 0) {
    // Milliseconds, padded with zeros to the precision asked for.
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
    out += frac;
    out.append(
        static_cast<std::size_t>(fraction_digits > 3 ? fraction_digits - 3 : 0),
        '0');
  }
  return out + "Z";
}

} // namespace snap::emulator
