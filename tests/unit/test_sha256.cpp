// SPDX-License-Identifier: MIT
// SHA-256 (src/sha256.cpp).
#include <catch2/catch.hpp>

#include "snap/sha256.hpp"

using namespace snap;

TEST_CASE("sha256 matches the known vector", "[unit][io]") {
  CHECK(sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update(as_bytes("a"));
  h.update(as_bytes("bc"));
  CHECK(h.hex() == sha256_hex("abc"));
}
