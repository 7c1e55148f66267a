// SPDX-License-Identifier: MIT
// Resource names as kubectl spells them (adapters/kube/client.cpp).
#include <catch2/catch.hpp>

#include "adapters/kube/client.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace kube = adapters::kube;

} // namespace

TEST_CASE("resource names parse as kubectl spells them", "[unit][kube]") {
  auto a = kube::parse_resource_id("ibppeers.ibp.com/peer1");
  REQUIRE(a);
  CHECK(a->plural == "ibppeers");
  CHECK(a->group == "ibp.com");
  CHECK(a->version.empty());
  CHECK(a->name == "peer1");
  auto b = kube::parse_resource_id("ibppeers.v1beta1.ibp.com/peer1");
  REQUIRE(b);
  CHECK(b->version == "v1beta1");
  CHECK(b->group == "ibp.com");
  auto c = kube::parse_resource_id("peers.peerset.hyperledger.fabric/p0");
  REQUIRE(c);
  CHECK(c->group == "peerset.hyperledger.fabric");
  CHECK(c->version.empty());
  auto d = kube::parse_resource_id("configmaps/msp1");
  REQUIRE(d);
  CHECK(d->group.empty());
  for (const char* bad : {"peer1", "/x", "secrets/", "a/b/c"}) {
    INFO(bad);
    auto e = kube::parse_resource_id(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::usage);
  }
}

} // namespace snap::test
