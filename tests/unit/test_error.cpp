// SPDX-License-Identifier: MIT
// The error kinds and their exit codes (src/error.cpp).
#include <catch2/catch.hpp>

#include "snap/error.hpp"

using namespace snap;

TEST_CASE("every error kind maps to the exit code of docs/contract.md §4",
          "[unit][error]") {
  CHECK(exit_code(ErrorKind::usage) == 2);
  CHECK(exit_code(ErrorKind::config) == 2);
  CHECK(exit_code(ErrorKind::partial) == 3);
  CHECK(exit_code(ErrorKind::connect) == 4);
  CHECK(exit_code(ErrorKind::timeout) == 4);
  CHECK(exit_code(ErrorKind::auth) == 5);
  CHECK(exit_code(ErrorKind::not_found) == 6);
  CHECK(exit_code(ErrorKind::archive) == 7);
  CHECK(exit_code(ErrorKind::unsupported) == 8);
  CHECK(exit_code(ErrorKind::interrupted) == 130);
  CHECK(exit_code(ErrorKind::remote) == 1);
  CHECK(exit_code(ErrorKind::conflict) == 1);
  CHECK(exit_code(ErrorKind::internal) == 1);
}
