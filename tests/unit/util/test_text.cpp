// SPDX-License-Identifier: MIT
// Text helpers (src/util/text.cpp): suggestions, times.
#include <catch2/catch.hpp>

#include "snap/text.hpp"

using namespace snap;

TEST_CASE("suggestions for mistyped names", "[unit][text]") {
  std::vector<std::string> names{"consul", "cloudify", "elasticsearch"};
  CHECK(closest_match("consl", names) == "consul");
  CHECK(closest_match("elastic", names) == "elasticsearch");
  CHECK(closest_match("zzzzzzzz", names).empty());
  CHECK(rfc3339_to_compact("2026-11-21T10:15:00Z") == "20261121T101500Z");
  CHECK(safe_token("snap 1/2") == "snap_1_2");
  CHECK(safe_token("consul-13.x_y") == "consul-13.x_y");
  CHECK(safe_token("") == "_");
}

TEST_CASE("milliseconds since the epoch read as RFC 3339 UTC", "[unit][text]") {
  CHECK(snap::epoch_ms_to_rfc3339(1717000000123) == "2024-05-29T16:26:40.123Z");
  CHECK(snap::epoch_ms_to_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(snap::epoch_ms_to_rfc3339(-1).empty());
}
