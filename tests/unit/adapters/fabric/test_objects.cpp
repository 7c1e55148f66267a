// SPDX-License-Identifier: MIT
// Fabric's object rules (adapters/fabric/objects.cpp).
#include <catch2/catch.hpp>

#include "adapters/fabric/objects.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace fabric = adapters::fabric;

} // namespace

TEST_CASE("references are read from pod templates and Fabric specs",
          "[unit][fabric]") {
  json dep = json::parse(R"({"kind": "Deployment", "spec": {"template":
    {"spec": {
      "volumes": [{"secret": {"secretName": "s1"}},
                  {"configMap": {"name": "c1"}},
                  {"persistentVolumeClaim": {"claimName": "v1"}},
                  {"projected": {"sources": [{"secret": {"name": "s2"}}]}}],
      "containers": [{"envFrom": [{"configMapRef": {"name": "c2"}}],
                      "env": [{"valueFrom": {"secretKeyRef":
                                {"name": "s1", "key": "k"}}}]}],
      "imagePullSecrets": [{"name": "reg"}]}}}})");
  std::vector<std::string> got;
  for (const auto& r : fabric::references_of(dep)) {
    got.push_back(r.resource + "/" + r.name);
  }
  CHECK(got == std::vector<std::string>{
                   "secrets/s1", "configmaps/c1", "persistentvolumeclaims/v1",
                   "secrets/s2", "configmaps/c2", "secrets/reg"});
  json peer = {{"kind", "IBPPeer"}, {"spec", {{"mspSecret", "msp"}}}};
  REQUIRE(fabric::references_of(peer).size() == 1);
  CHECK(fabric::references_of(peer)[0].name == "msp");
}

TEST_CASE("PVC roles follow fabric-operator's names", "[unit][fabric]") {
  CHECK(fabric::pvc_role("p1-statedb-pvc", json::object()) == "statedb");
  CHECK(fabric::pvc_role("p1-pvc", json::object()) == "data");
  json custom = {
      {"spec", {{"customNames", {{"pvc", {{"statedb", "couch"}}}}}}}};
  CHECK(fabric::pvc_role("couch", custom) == "statedb");
}

} // namespace snap::test
