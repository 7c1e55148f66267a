// SPDX-License-Identifier: MIT
// What snap prints (src/output.cpp).
#include <catch2/catch.hpp>

#include "snap/output.hpp"

using namespace snap;

TEST_CASE("a progress line is cut to the terminal's width", "[unit][output]") {
  using snap::fit_width;
  CHECK(fit_width("download 12%", 0) == "download 12%");
  CHECK(fit_width("download 12%", 13) == "download 12%");
  CHECK(fit_width("download 12%", 12) == "download 1…");
  CHECK(fit_width("é très long", 6) == "é tr…");
  CHECK(fit_width("abc", 1) == "…");
}
