// SPDX-License-Identifier: MIT
// A Kubernetes API server subset, in memory (docs/contract.md §7): discovery,
// namespaced and cluster-scoped CRUD of core kinds and of CRDs loaded from
// their YAML, Status errors, resourceVersion checks, merge patches,
// ownerReferences with garbage collection (background and orphan), bearer-token
// and client-certificate auth, PVCs bound to CSI volumes by their StorageClass,
// a CSI snapshot controller whose VolumeSnapshots become ready after a
// delay, never, or with an error, and (--fabric-operator) fabric-operator
// making each Fabric resource's Deployment and Service and its status.
#pragma once

#include <string>
#include <vector>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct KubernetesOptions {
  std::vector<std::string> crd_files;     // CustomResourceDefinition YAML
  long snapshot_ms = 300;                 // until a VolumeSnapshot is ready
  std::string snapshot_outcome = "ready"; // ready | never | error
  std::vector<std::string> reject_create; // names whose create answers 422
  bool client_ca = false; // a verified client certificate authenticates
  // fabric-operator runs in the cluster and reconciles ibp.com resources
  // (controllers.cpp); their pods run this long after being scheduled.
  bool fabric_operator = false;
  long operator_ready_ms = 300;
  std::vector<std::string> operator_fail; // CRs the operator sets to Error
  // Jobs: their pod runs this long, then succeeds (or, "failed", fails
  // past its backoffLimit); a pod whose PVC is missing never starts.
  long job_ms = 300;
  std::string job_outcome = "complete"; // complete | failed
  // Pods made directly (not by a workload or Job) run this long after
  // every PVC they mount is bound, with a pod IP (kubernetes/pods.cpp).
  long pod_ms = 200;
  // A Deployment's or StatefulSet's pods run this long after its
  // generation is written (kubernetes/controllers.cpp).
  long workload_ready_ms = 0;
  // Where volumes and storage snapshots keep their files, one folder per
  // CSI volume handle or snapshot handle; a temporary folder when empty.
  std::string volume_dir;
};

// Errors: a CRD file that cannot be read; the message says which.
bool register_kubernetes(httplib::Server& server, FaultInjector& faults,
                         const KubernetesOptions& options, std::string& error);

} // namespace snap::emulator
