// SPDX-License-Identifier: MIT
// Streams (src/io.cpp).
#include <catch2/catch.hpp>

#include "snap/io.hpp"

using namespace snap;

TEST_CASE("a capped memory sink refuses more than its limit", "[unit][io]") {
  MemorySink s(4);
  CHECK(s.write(as_bytes("1234")));
  CHECK_FALSE(s.write(as_bytes("5")));
}
