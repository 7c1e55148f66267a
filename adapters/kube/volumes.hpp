// SPDX-License-Identifier: MIT
// Volume data of a Kubernetes backup: CSI VolumeSnapshots (external-
// snapshotter's snapshot.storage.k8s.io/v1), taken one after another in the
// order given, each cut before the next starts, and all waited to
// readyToUse; labelled snap/backup=<id> so status, list and delete find
// them. The snapshots stay in the cluster and the archive records each
// (name, PVC, class, driver, content, storage handle) so a restore can
// re-import one whose VolumeSnapshot is gone. Quiescing scales the
// workloads that mount the volumes to zero for the snapshots and back on
// every way out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "adapters/kube/graph.hpp"

namespace snap::adapters::kube {

inline constexpr std::string_view k_backup_label = "snap/backup";
inline constexpr double k_default_snapshot_timeout_s = 600; // Velero's

// A PVC to snapshot and its role in the archive ("statedb", "data").
struct VolumeToSnapshot {
  std::string pvc;
  std::string role;
  json spec;      // the PVC's spec, for its volumeName
  std::string ns; // its namespace, when not the call's
};

class Volumes {
public:
  Volumes(Client& api, Reporter& reporter, NoteFn note, std::string label)
      : m_api(api), m_reporter(reporter), m_note(std::move(note)),
        m_label(std::move(label)) {}

  // The VolumeSnapshot type. Errors: `not_found` (with what to install)
  // when the cluster does not serve it, any.
  Expected<ResourceType> snapshot_type();

  // Snapshots each PVC in `ns` (or its own namespace) in order for backup
  // `id`, with class `klass` (else the driver's default class, else its
  // only one, as Velero chooses), and returns the archive's records, each
  // with its namespace. A PVC that is unbound or not on a CSI volume is
  // noted and left out. On any failure the snapshots this call took are
  // deleted.
  Expected<json> snapshot(const std::string& ns, const std::string& id,
                          const std::vector<VolumeToSnapshot>& volumes,
                          const std::string& klass, double timeout_s);

  // Waits for the VolumeSnapshot `rec` names in `ns`, importing it from
  // its storage snapshot handle when it is gone. Errors: `not_found`,
  // `timeout`, any.
  Expected<void> ensure(const json& rec, const std::string& ns,
                        double timeout_s);

  // The VolumeSnapshots of backup `id` in `ns` (every backup's when empty).
  Expected<std::vector<json>> of_backup(const std::string& ns,
                                        const std::string& id);
  // Deletes the VolumeSnapshots of backup `id`, making their contents
  // Delete first so no storage snapshot is orphaned; returns their names.
  // Errors: `not_found` when there are none, any.
  Expected<std::vector<std::string>> remove_backup(const std::string& ns,
                                                   const std::string& id);

private:
  struct Taken {
    std::string pvc, role, name, klass, driver, ns;
  };
  Expected<std::string> snapshot_class(const std::string& driver,
                                       const std::string& given);
  Expected<json> take_all(const std::string& ns, const std::string& id,
                          const std::vector<VolumeToSnapshot>& volumes,
                          const std::string& klass, double timeout_s,
                          const ResourceType& vs, std::vector<Taken>& taken);
  Expected<json> wait(const ResourceType& vs, const Taken& s, double timeout_s,
                      bool ready);
  Client& m_api;
  Reporter& m_reporter;
  NoteFn m_note;
  std::string m_label; // "fabric", prefixing messages
};

// What was scaled down: the object whose spec.replicas was set to 0 (the
// workload, or the custom resource its operator builds it from), its own
// value before (null when it had none: the operator's default), and the
// workload whose pods were waited for.
struct Scaled {
  ResourceType type;
  std::string name;
  json replicas;
  ResourceType workload_type;
  std::string workload_name;
  std::string ns;
};

// The custom resource to scale instead of `workload`, when an operator
// rebuilds the workload from it (and would undo a change to the workload
// itself); nullptr for the workload itself.
using ScaleVia = std::function<const Item*(const Item& workload)>;

// Scales every Deployment and StatefulSet among `items` that runs to 0
// (through `via` where it names the resource) and waits until none of
// their pods is left. What was scaled is in `scaled` even when this fails.
// Errors: `timeout`, `interrupted`, any.
Expected<void> scale_down(Client& api, Reporter& reporter, const NoteFn& note,
                          const std::string& ns, const std::vector<Item>& items,
                          double timeout_s, std::vector<Scaled>& scaled,
                          const std::string& label, const ScaleVia& via = {});
// Gives every scaled object (in its namespace) its own replicas back
// (removing the field where it had none); sent even after SIGINT.
// Errors: the first that failed, with the kubectl command to do it by hand.
Expected<void> scale_back(Client& api, const std::vector<Scaled>& scaled,
                          const std::string& label);

} // namespace snap::adapters::kube
