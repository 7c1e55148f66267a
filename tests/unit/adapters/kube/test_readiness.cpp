// SPDX-License-Identifier: MIT
// Readiness from a live object's status (adapters/kube/readiness.cpp), by
// kstatus's rules (kubernetes-sigs/cli-utils pkg/kstatus/status, whose
// core_test.go and status_compute_test.go cover the same cases).
#include <catch2/catch.hpp>

#include "adapters/kube/readiness.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace kube = adapters::kube;

json resource(const std::string& status, int generation = 2) {
  json o = {{"apiVersion", "peerset.hyperledger.fabric/v1alpha2"},
            {"kind", "Peer"},
            {"metadata", {{"name", "p0"}, {"generation", generation}}}};
  if (!status.empty()) {
    o["status"] = json::parse(status);
  }
  return o;
}

json deployment(int want, const std::string& status, int generation = 3) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "d"}, {"generation", generation}}},
          {"spec", {{"replicas", want}}},
          {"status", json::parse(status)}};
}

json statefulset(int want, const std::string& status,
                 json strategy = json::object()) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", {{"name", "s"}, {"generation", 1}}},
          {"spec", {{"replicas", want}, {"updateStrategy", strategy}}},
          {"status", json::parse(status)}};
}

} // namespace

TEST_CASE("a custom resource is read by the generic kstatus rules",
          "[unit][kube]") {
  // Nothing reported: taken as ready, as kstatus does.
  CHECK(kube::resource_readiness(resource("")).ready());
  CHECK(kube::resource_readiness(resource(R"({"phase": "x"})")).ready());
  // The controller has not seen the spec yet.
  auto behind = kube::resource_readiness(resource(R"({"observedGeneration":
                                                      1})"));
  CHECK(behind.state == kube::Readiness::State::waiting);
  CHECK(behind.why == "generation 2 not yet seen by its controller (it "
                      "reports 1)");
  auto reconciling = kube::resource_readiness(resource(R"({"conditions": [
      {"type": "Reconciling", "status": "True", "reason": "Progressing",
       "message": "enrolling"}]})"));
  CHECK(reconciling.state == kube::Readiness::State::waiting);
  CHECK(reconciling.why == "Reconciling: Progressing: enrolling");
  auto stalled = kube::resource_readiness(resource(R"({"conditions": [
      {"type": "Ready", "status": "False"},
      {"type": "Stalled", "status": "True", "reason": "EnrollFailed",
       "message": "the CA refused"}]})"));
  CHECK(stalled.failed());
  CHECK(stalled.why == "Stalled: EnrollFailed: the CA refused");
  // Ready not True is waited for; Reconciling False and Ready True pass.
  auto unready = kube::resource_readiness(resource(R"({"conditions": [
      {"type": "Ready", "status": "Unknown", "reason": "Starting"}]})"));
  CHECK(unready.state == kube::Readiness::State::waiting);
  CHECK(unready.why == "Ready Unknown: Starting");
  CHECK(kube::resource_readiness(resource(R"({"observedGeneration": 2,
      "conditions": [{"type": "Reconciling", "status": "False"},
                     {"type": "Ready", "status": "True"}]})"))
            .ready());
  // Records of the wrong type are read as absent, never thrown on.
  CHECK(kube::resource_readiness(resource(R"({"conditions": {"a": 1},
      "observedGeneration": "1"})"))
            .ready());
  CHECK(kube::resource_readiness(resource(R"({"conditions": [7, null]})"))
            .ready());
  json deleting = resource("");
  deleting["metadata"]["deletionTimestamp"] = "2026-12-07T10:00:00Z";
  CHECK(kube::resource_readiness(deleting).why == "being deleted");
}

TEST_CASE("a Deployment is ready when its replicas are updated and "
          "available",
          "[unit][kube]") {
  std::string done = R"({"observedGeneration": 3, "replicas": 2,
      "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2})";
  CHECK(kube::workload_readiness(deployment(2, done)).ready());
  CHECK(kube::workload_readiness(deployment(2, done, 4)).why ==
        "generation 4 not yet seen by its controller (it reports 3)");
  CHECK(kube::workload_readiness(deployment(3, done)).why ==
        "2 of 3 replicas made");
  CHECK(kube::workload_readiness(deployment(1, done)).why ==
        "1 extra replicas terminating");
  CHECK(kube::workload_readiness(deployment(2, R"({"replicas": 2,
      "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2})"))
            .why == "1 of 2 replicas updated");
  CHECK(kube::workload_readiness(deployment(2, R"({"replicas": 2,
      "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 1})"))
            .why == "1 of 2 replicas available");
  // No status yet: nothing made.
  CHECK(kube::workload_readiness(deployment(1, "{}")).why ==
        "0 of 1 replicas made");
  auto stuck = kube::workload_readiness(deployment(1, R"({"replicas": 1,
      "conditions": [{"type": "Progressing", "status": "False",
      "reason": "ProgressDeadlineExceeded",
      "message": "ReplicaSet \"d-1\" has timed out progressing."}]})"));
  CHECK(stuck.failed());
  CHECK(stuck.why == "Progressing: ProgressDeadlineExceeded: ReplicaSet "
                     "\"d-1\" has timed out progressing.");
}

TEST_CASE("a StatefulSet is ready when every pod runs its one revision",
          "[unit][kube]") {
  std::string done = R"({"observedGeneration": 1, "replicas": 3,
      "readyReplicas": 3, "updatedReplicas": 3, "currentReplicas": 3,
      "currentRevision": "s-1", "updateRevision": "s-1"})";
  CHECK(kube::workload_readiness(statefulset(3, done)).ready());
  CHECK(kube::workload_readiness(statefulset(3, R"({"replicas": 3,
      "readyReplicas": 2, "updatedReplicas": 3, "currentRevision": "a",
      "updateRevision": "a"})"))
            .why == "2 of 3 replicas ready");
  std::string rolling = R"({"replicas": 3, "readyReplicas": 3,
      "updatedReplicas": 1, "currentRevision": "s-1",
      "updateRevision": "s-2"})";
  CHECK(kube::workload_readiness(statefulset(3, rolling)).why ==
        "1 of 3 replicas updated");
  // A partition of 2 updates one pod; OnDelete updates none by itself.
  CHECK(kube::workload_readiness(
            statefulset(3, rolling,
                        {{"type", "RollingUpdate"},
                         {"rollingUpdate", {{"partition", 2}}}}))
            .ready());
  CHECK(
      kube::workload_readiness(statefulset(3, rolling, {{"type", "OnDelete"}}))
          .ready());
  CHECK(kube::workload_readiness(statefulset(3, R"({"replicas": 3,
      "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "s-1",
      "updateRevision": "s-2"})"))
            .why == "pods of the old revision still run");
}

} // namespace snap::test
