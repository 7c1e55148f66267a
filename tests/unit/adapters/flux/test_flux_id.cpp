// SPDX-License-Identifier: MIT
// The Flux ID signer against bitcoinjs-message's own test vectors
// (test/fixtures.json, "sign": the private key 1 and "vires is numeris").
#include <catch2/catch.hpp>

#include "adapters/flux/flux_id.hpp"

namespace snap::adapters::flux {

TEST_CASE("a Flux ID signs as bitcoinjs-message does", "[unit][flux]") {
  auto compressed = FluxId::parse(
      "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn", "test");
  REQUIRE(compressed);
  CHECK(compressed->zelid() == "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH");
  CHECK(compressed->sign("vires is numeris") ==
        "IF8nHqFr3K2UKYahhX3soVeoW8W1ECNbr0wfck7lzyXjCS5Q16Ek45zyBuy1Fiy9sTPK"
        "VgsqqOuPvbycuVSSVl8=");

  auto uncompressed = FluxId::parse(
      "5HpHagT65TZzG1PH3CSu63k8DbpvD8s5ip4nEB3kEsreAnchuDf", "test");
  REQUIRE(uncompressed);
  CHECK(uncompressed->zelid() == "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm");
  CHECK(uncompressed->sign("vires is numeris") ==
        "HF8nHqFr3K2UKYahhX3soVeoW8W1ECNbr0wfck7lzyXjCS5Q16Ek45zyBuy1Fiy9sTPK"
        "VgsqqOuPvbycuVSSVl8=");

  // 64 hex digits: the same key, compressed.
  auto hex = FluxId::parse(std::string(63, '0') + "1", "test");
  REQUIRE(hex);
  CHECK(hex->zelid() == compressed->zelid());
}

TEST_CASE("a Flux ID key that is not one is refused without echoing it",
          "[unit][flux]") {
  for (std::string bad : std::vector<std::string>{
           "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWm", // checksum
           "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH",                   // an address
           std::string(64, '0'),                                   // zero key
           std::string(64, 'f'),                                   // above n
           "", "0x1234"}) {
    auto id = FluxId::parse(bad, "key file k");
    REQUIRE(!id);
    CHECK(id.error().kind == ErrorKind::config);
    CHECK((bad.empty() || id.error().message.find(bad) == std::string::npos));
  }
}

TEST_CASE("base58check encodes as Bitcoin addresses do", "[unit][flux]") {
  // The all-zero HASH160 with version 0 (bitcoinjs-message's wrong-address
  // fixture).
  CHECK(base58check_encode(std::string(21, '\0')) ==
        "1111111111111111111114oLvT2");
}

} // namespace snap::adapters::flux
