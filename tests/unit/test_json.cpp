// SPDX-License-Identifier: MIT
// JSON output (src/json.cpp, src/output.cpp).
#include <catch2/catch.hpp>

#include "snap/error.hpp"
#include "snap/json.hpp"
#include "snap/output.hpp"

using namespace snap;

TEST_CASE("errors in JSON carry their exit code", "[unit][json]") {
  auto j = snap::error_json({snap::ErrorKind::not_ready, "no leader"});
  CHECK(j["kind"] == "not_ready");
  CHECK(j["message"] == "no leader");
  CHECK(j["exit_code"] == 10);
}
