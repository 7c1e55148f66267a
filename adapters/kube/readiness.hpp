// SPDX-License-Identifier: MIT
// Whether a live object is ready, read from its status alone, by the rules
// of kstatus (kubernetes-sigs/cli-utils pkg/kstatus/status), the library
// kubectl's successors, Flux and kpt use to wait for what they applied:
// the generic rules for a custom resource whose status schema snap does
// not know, and the Deployment and StatefulSet rules for the workloads.
// Pure functions, unit-tested.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace snap::adapters::kube {

using nlohmann::json;

struct Readiness {
  enum class State { ready, waiting, failed };
  State state = State::ready;
  std::string why; // what it waits for, or why it failed; "" when ready

  bool ready() const { return state == State::ready; }
  bool failed() const { return state == State::failed; }
};

// A custom resource (kstatus checkGenericProperties):
// - being deleted (metadata.deletionTimestamp): waiting;
// - status.observedGeneration, where the controller reports one, behind
//   metadata.generation: waiting (the controller has not seen the spec);
// - condition Reconciling True: waiting; Stalled True: failed;
// - and, stricter than kstatus, a Ready condition that is not True:
//   waiting (the API conventions' summary condition, which Flux and most
//   operators built with controller-runtime set).
// Otherwise ready: a resource that reports nothing is taken as ready.
Readiness resource_readiness(const json& object);

// A Deployment or StatefulSet, by the replica counts of kstatus's
// deploymentConditions and stsConditions: the controller has seen the
// current generation, and as many replicas as spec.replicas (default 1)
// exist, are updated, ready and (a Deployment) available, with no extra
// ones terminating; a StatefulSet runs one revision. A Deployment whose
// Progressing condition says ProgressDeadlineExceeded has failed. A
// StatefulSet with the OnDelete update strategy counts its pods only, and
// one with a rollingUpdate partition P needs spec.replicas - P updated.
Readiness workload_readiness(const json& object);

} // namespace snap::adapters::kube
