// SPDX-License-Identifier: MIT
// The Kubernetes half of a Camunda restore (restore --kubeconfig): stop
// the applications and Zeebe, restore every broker's volume with Zeebe's
// restore application as a Job per broker, start them again, as Camunda's
// documentation and the community's c8-backup do by hand.
#pragma once

#include <string>
#include <vector>

#include "adapters/kube/cluster.hpp"
#include "adapters/kube/graph.hpp"
#include "adapters/kube/volumes.hpp"

namespace snap::adapters::camunda {

// What the restore acts on in the namespace.
struct KubeTargets {
  kube::Cluster cluster;
  std::string ns;
  std::vector<kube::Item> workloads; // every one scaled to 0 and back
  kube::Item brokers;                // Zeebe's StatefulSet
  int broker_count = 0;              // its replicas before the restore
  std::string restore_command;       // Zeebe's restore application
  // The chart's multi-region layout: broker n of this region has node id
  // n × regions + region_id (1 and 0 in one region).
  int regions = 1;
  int region_id = 0;
  int node_id(int ordinal) const { return ordinal * regions + region_id; }
};

// Connects through the kubeconfig and finds Camunda's workloads: the
// Deployments and StatefulSets whose app.kubernetes.io/component is one of
// `components`, among which exactly one StatefulSet of Zeebe's brokers
// (component zeebe-broker, or from 8.8 orchestration, the Helm chart's
// names) with a volumeClaimTemplate. Errors: `config` naming what is
// missing, any kind.
Expected<KubeTargets> find_targets(const AdapterContext& ctx,
                                   const std::vector<std::string>& components,
                                   const std::string& restore_command);

// The Job that restores broker `ordinal` of `t` from backup `id`: the
// broker's image, environment and volumes, its data PVC
// (<claim template>-<statefulset>-<ordinal>) mounted where the broker
// mounts it, the data directory emptied first (the restore application
// refuses a directory that is not empty), and the node id set.
nlohmann::json restore_job(const KubeTargets& t, std::int64_t id, int ordinal);

// Plan lines for --dry-run.
std::vector<std::string> describe_stop(const KubeTargets& t);
std::vector<std::string> describe_brokers(const KubeTargets& t,
                                          std::int64_t id);

// Runs each broker's Job and waits until it completes, within `timeout_s`
// for all. Errors: `remote` naming the broker whose Job failed, `timeout`,
// `interrupted`, any kind.
Expected<void> restore_brokers(KubeTargets& t, Reporter& reporter,
                               std::int64_t id, double timeout_s);

// Waits until every scaled workload has its replicas available again.
// Errors: `timeout` naming those that are not, any kind.
Expected<void> wait_available(KubeTargets& t,
                              const std::vector<kube::Scaled>& scaled,
                              Reporter& reporter, double timeout_s);

// The kubectl commands that start the scaled workloads again, for a
// report when the restore stopped halfway.
std::string scale_back_commands(const KubeTargets& t,
                                const std::vector<kube::Scaled>& scaled);

} // namespace snap::adapters::camunda
