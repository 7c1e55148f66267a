// SPDX-License-Identifier: MIT
// The Kubernetes engine's object rules (adapters/kube/objects.cpp).
#include <catch2/catch.hpp>

#include "adapters/kube/objects.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace kube = adapters::kube;

} // namespace

TEST_CASE("server fields are stripped before a create", "[unit][kube]") {
  json svc = json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "p1", "namespace": "old", "uid": "u",
                 "resourceVersion": "7", "creationTimestamp": "t",
                 "managedFields": [], "ownerReferences": [{"uid": "x"}],
                 "labels": {"app": "p1"}},
    "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
             "ports": [{"port": 7051, "nodePort": 30001}]},
    "status": {"loadBalancer": {}}})");
  json out = kube::strip_for_create(svc, "new");
  CHECK(out["metadata"] == json::parse(
                               R"({"name":"p1","namespace":"new",
                                   "labels":{"app":"p1"}})"));
  CHECK_FALSE(out.contains("status"));
  CHECK_FALSE(out["spec"].contains("clusterIP"));
  CHECK(out["spec"]["ports"][0]["nodePort"] == 30001);

  json headless = svc;
  headless["spec"]["clusterIP"] = "None";
  CHECK(kube::strip_for_create(headless, "new")["spec"]["clusterIP"] == "None");

  json pvc = json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {"name": "p1-pvc", "annotations": {
      "pv.kubernetes.io/bind-completed": "yes", "keep": "me"}},
    "spec": {"volumeName": "pvc-1", "storageClassName": "sc"}})");
  json p = kube::strip_for_create(pvc, "fab");
  CHECK(p["metadata"]["annotations"] == json{{"keep", "me"}});
  CHECK_FALSE(p["spec"].contains("volumeName"));
}

TEST_CASE("the restore order puts what an operator needs first",
          "[unit][kube]") {
  using kube::restore_rank;
  CHECK(restore_rank("persistentvolumeclaims", false) <
        restore_rank("secrets", false));
  CHECK(restore_rank("secrets", false) <
        restore_rank("ibppeers.ibp.com", true));
  CHECK(restore_rank("configmaps", false) <
        restore_rank("ibppeers.ibp.com", true));
  CHECK(restore_rank("ibppeers.ibp.com", true) <
        restore_rank("deployments.apps", false));
  CHECK(kube::snapshot_name(std::string(300, 'a'), "id").size() == 253);
}

} // namespace snap::test
