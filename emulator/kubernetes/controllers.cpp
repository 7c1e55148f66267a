// SPDX-License-Identifier: MIT
// What the emulated cluster runs in the background, every 50 ms: PVCs bound
// to CSI volumes of their StorageClass, and the CSI snapshot controller
// (external-snapshotter's types): a VolumeSnapshot is bound to a
// VolumeSnapshotContent, gets creationTime when cut and readyToUse later,
// never, or status.error.
#include "emulator/kubernetes/cluster.hpp"

#include <chrono>
#include <set>

#include <fmt/format.h>

#include "emulator/clock.hpp"

namespace snap::emulator::kube {

// Parses "1Gi"/"500Mi"/"1000" into bytes.
std::int64_t quantity_bytes(const std::string& q) {
  std::size_t i = 0;
  while (i < q.size() && std::isdigit(static_cast<unsigned char>(q[i]))) {
    ++i;
  }
  std::int64_t n = i == 0 ? 0 : std::stoll(q.substr(0, i));
  std::string unit = q.substr(i);
  static const std::map<std::string, std::int64_t> units = {
      {"", 1},           {"Ki", 1LL << 10}, {"Mi", 1LL << 20},
      {"Gi", 1LL << 30}, {"Ti", 1LL << 40}, {"k", 1000},
      {"M", 1000000},    {"G", 1000000000}};
  auto it = units.find(unit);
  return it == units.end() ? n : n * it->second;
}

void Cluster::start() {
  m_controller = std::thread([this] {
    while (!m_stop) {
      {
        std::lock_guard lock(m_mutex);
        reconcile_locked();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

// What the cluster's controllers do: bind PVCs to CSI volumes of their
// StorageClass (from a ready VolumeSnapshot when dataSource names one),
// and cut and ready VolumeSnapshots.
void Cluster::reconcile_locked() {
  const Kind* pvc_k = find_kind("", "persistentvolumeclaims");
  const Kind* pv_k = find_kind("", "persistentvolumes");
  const Kind* sc_k = find_kind("storage.k8s.io", "storageclasses");
  const Kind* vs_k = find_kind("snapshot.storage.k8s.io", "volumesnapshots");
  const Kind* vsc_k =
      find_kind("snapshot.storage.k8s.io", "volumesnapshotcontents");
  const Kind* cls_k =
      find_kind("snapshot.storage.k8s.io", "volumesnapshotclasses");
  std::vector<json*> pvcs, snaps;
  for (auto& [k, o] : m_objects) {
    if (k.starts_with("v1|persistentvolumeclaims|")) {
      pvcs.push_back(&o);
    } else if (vs_k != nullptr &&
               k.starts_with(vs_k->gv() + "|volumesnapshots|")) {
      snaps.push_back(&o);
    }
  }
  for (json* pvc : pvcs) {
    json& st = (*pvc)["status"];
    if (st.value("phase", "") == "Bound") {
      continue;
    }
    json spec = pvc->value("spec", json::object());
    std::string ns = (*pvc)["metadata"].value("namespace", "");
    std::string cls = spec.value("storageClassName", "");
    json* sc = cls.empty() ? nullptr : object(sc_k, "", cls);
    if (sc == nullptr) {
      continue;
    }
    std::string data;
    json ds = spec.value("dataSource", json());
    if (ds.is_object() && ds.value("kind", "") == "VolumeSnapshot") {
      json* vs = object(vs_k, ns, ds.value("name", ""));
      if (vs == nullptr ||
          !vs->value("status", json::object()).value("readyToUse", false)) {
        continue; // stays Pending until the snapshot is ready
      }
      json* content =
          object(vsc_k, "",
                 (*vs)["status"].value("boundVolumeSnapshotContentName", ""));
      if (content == nullptr) {
        continue;
      }
      auto h = m_handles.find(
          content->value("status", json::object()).value("snapshotHandle", ""));
      if (h == m_handles.end()) {
        continue;
      }
      data = h->second;
      copy_volume(h->first, "vol-pvc-" + (*pvc)["metadata"].value(
                                             "uid", std::string("x")));
    }
    std::string pv_name =
        "pvc-" + (*pvc)["metadata"].value("uid", std::string("x"));
    std::string storage = spec.value("resources", json::object())
                              .value("requests", json::object())
                              .value("storage", "1Gi");
    json pv = {
        {"apiVersion", "v1"},
        {"kind", "PersistentVolume"},
        {"metadata",
         {{"name", pv_name}, {"annotations", {{"snap-emulator/data", data}}}}},
        {"spec",
         {{"capacity", {{"storage", storage}}},
          {"accessModes", spec.value("accessModes", json::array())},
          {"storageClassName", cls},
          {"persistentVolumeReclaimPolicy", "Delete"},
          {"claimRef",
           {{"namespace", ns},
            {"name", (*pvc)["metadata"].value("name", "")},
            {"uid", (*pvc)["metadata"].value("uid", "")}}},
          {"csi",
           {{"driver", sc->value("provisioner", "")},
            {"volumeHandle", "vol-" + pv_name}}}}}};
    std::string ignored;
    json made = create_locked(*pv_k, "", pv, ignored);
    m_objects[key(*pv_k, "", pv_name)]["status"] = {{"phase", "Bound"}};
    (*pvc)["spec"]["volumeName"] = pv_name;
    st = {{"phase", "Bound"},
          {"capacity", {{"storage", storage}}},
          {"accessModes", spec.value("accessModes", json::array())}};
    (*pvc)["metadata"]["resourceVersion"] = next_rv();
  }
  for (json* vs : snaps) {
    reconcile_snapshot(*vs, pvc_k, pv_k, vsc_k, cls_k);
  }
  if (m_options.fabric_operator) {
    reconcile_fabric_operator_locked();
  }
  reconcile_pods_locked();
  // The Job controller (kubernetes pkg/controller/job): the Job's pod runs
  // once every PVC it mounts exists (until then it is Pending and the Job
  // only active); after --job-ms it ends, and the Job gets succeeded: 1
  // and condition Complete, or failed: 1 and condition Failed
  // (BackoffLimitExceeded) with --job-outcome failed.
  for (auto& [k, o] : m_objects) {
    if (!k.starts_with("batch/v1|jobs|")) {
      continue;
    }
    json& st = o["status"];
    if (st.is_object() && st.contains("conditions")) {
      continue; // ended
    }
    std::string ns = o["metadata"].value("namespace", "");
    bool claims = true;
    const json& pod = o.value("spec", json::object())
                          .value("template", json::object())
                          .value("spec", json::object());
    for (const auto& v : pod.value("volumes", json::array())) {
      if (v.is_object() && v.contains("persistentVolumeClaim")) {
        std::string claim =
            v["persistentVolumeClaim"].value("claimName", std::string());
        claims = claims && object(pvc_k, ns, claim) != nullptr;
      }
    }
    if (!claims) {
      if (!st.is_object() || st.value("active", 0) != 1) {
        st = {{"active", 1}};
        o["metadata"]["resourceVersion"] = next_rv();
      }
      continue;
    }
    auto since = m_jobs_since.try_emplace(k, now_ms()).first->second;
    if (now_ms() - since < m_options.job_ms) {
      if (!st.is_object() || st.value("active", 0) != 1) {
        st = {{"active", 1}, {"startTime", rfc3339(since, 0)}};
        o["metadata"]["resourceVersion"] = next_rv();
      }
      continue;
    }
    bool ok = m_options.job_outcome != "failed";
    st = {{"startTime", rfc3339(since, 0)},
          {ok ? "succeeded" : "failed", 1},
          {"conditions",
           json::array({ok ? json{{"type", "Complete"}, {"status", "True"}}
                           : json{{"type", "Failed"},
                                  {"status", "True"},
                                  {"reason", "BackoffLimitExceeded"},
                                  {"message", "Job has reached the specified "
                                              "backoff limit"}}})}};
    if (ok) {
      st["completionTime"] = rfc3339(now_ms(), 0);
    }
    o["metadata"]["resourceVersion"] = next_rv();
  }
  // Workload controllers: the pods follow spec.replicas.
  for (auto& [k, o] : m_objects) {
    bool deployment = k.starts_with("apps/v1|deployments|");
    if (deployment || k.starts_with("apps/v1|statefulsets|")) {
      reconcile_workload_locked(k, o, deployment);
    }
  }
}

// The Deployment and StatefulSet controllers' status, as a rollout of
// spec.replicas pods that run --workload-ready-ms after the generation
// they belong to was written (every pod of a generation at once):
// - Deployment (kubernetes pkg/controller/deployment/sync.go,
//   calculateStatus; progress.go, syncRolloutStatus): observedGeneration,
//   replicas, updatedReplicas, readyReplicas, availableReplicas and
//   unavailableReplicas (left out at 0, omitempty); condition Available
//   True MinimumReplicasAvailable once availableReplicas >= replicas -
//   maxUnavailable (25% of replicas, rounded down, by default), else False
//   MinimumReplicasUnavailable; Progressing True, NewReplicaSetAvailable
//   once the new ReplicaSet's pods are all available, ReplicaSetUpdated
//   before.
// - StatefulSet (pkg/controller/statefulset/stateful_set_control.go,
//   updateStatefulSetStatus): observedGeneration, replicas, readyReplicas,
//   availableReplicas, currentReplicas, updatedReplicas, currentRevision
//   and updateRevision (the same revision once every pod is updated). A
//   revision is named <name>-<hex> as a ControllerRevision is; the hex
//   here follows the generation, where the controller's hashes the pod
//   template.
// A status rewrite bumps resourceVersion, as the status subresource does.
void Cluster::reconcile_workload_locked(const std::string& key, json& o,
                                        bool deployment) {
  json gen = o["metadata"].value("generation", json(1));
  std::int64_t generation =
      gen.is_number_integer() ? gen.get<std::int64_t>() : 1;
  auto [it, made] = m_workloads_since.try_emplace(
      o["metadata"].value("uid", key), std::pair{generation, now_ms()});
  if (!made && it->second.first != generation) {
    it->second = {generation, now_ms()};
  }
  bool running = now_ms() - it->second.second >= m_options.workload_ready_ms;
  // The API server refuses a replicas that is not an integer; one stored
  // anyway is read as the default.
  json spec = o.value("spec", json::object());
  json replicas = spec.is_object() ? spec.value("replicas", json(1)) : json(1);
  int want = replicas.is_number_integer() ? replicas.get<int>() : 1;
  int ready = running ? want : 0;
  std::string name = o["metadata"].value("name", "");
  std::string revision = fmt::format("{}-{:x}", name, generation * 2654435761u);
  json st = {{"observedGeneration", generation},
             {"replicas", want},
             {"updatedReplicas", want},
             {"readyReplicas", ready},
             {"availableReplicas", ready}};
  if (deployment) {
    if (want > ready) {
      st["unavailableReplicas"] = want - ready;
    }
    int max_unavailable = want / 4; // 25%, rounded down
    bool available = ready >= want - max_unavailable;
    st["conditions"] = json::array(
        {{{"type", "Available"},
          {"status", available ? "True" : "False"},
          {"reason", available ? "MinimumReplicasAvailable"
                               : "MinimumReplicasUnavailable"},
          {"message", available
                          ? "Deployment has minimum availability."
                          : "Deployment does not have minimum availability."}},
         {{"type", "Progressing"},
          {"status", "True"},
          {"reason",
           ready == want ? "NewReplicaSetAvailable" : "ReplicaSetUpdated"},
          {"message", fmt::format("ReplicaSet \"{}\" {}", revision,
                                  ready == want ? "has successfully progressed."
                                                : "is progressing.")}}});
  } else {
    st["currentReplicas"] = want;
    st["currentRevision"] = revision;
    st["updateRevision"] = revision;
  }
  if (o.value("status", json()) != st) {
    o["status"] = std::move(st);
    o["metadata"]["resourceVersion"] = next_rv();
  }
}

void Cluster::reconcile_snapshot(json& vs, const Kind* pvc_k, const Kind* pv_k,
                                 const Kind* vsc_k, const Kind* cls_k) {
  json& md = vs["metadata"];
  std::string ns = md.value("namespace", "");
  json spec = vs.value("spec", json::object());
  json source = spec.value("source", json::object());
  json& st = vs["status"];
  if (!st.is_object()) {
    st = json::object();
  }
  if (st.value("readyToUse", false)) {
    return;
  }
  // Pre-provisioned: the content names a storage snapshot that exists.
  if (source.contains("volumeSnapshotContentName")) {
    json* c = object(vsc_k, "", source.value("volumeSnapshotContentName", ""));
    if (c == nullptr) {
      return;
    }
    std::string handle = (*c)["spec"]
                             .value("source", json::object())
                             .value("snapshotHandle", "");
    if (!m_handles.contains(handle)) {
      st["error"] = {{"message", "snapshot handle " + handle + " not found"},
                     {"time", rfc3339(now_ms(), 0)}};
      return;
    }
    (*c)["status"] = {{"snapshotHandle", handle},
                      {"readyToUse", true},
                      {"restoreSize", 1LL << 30}};
    st = {{"boundVolumeSnapshotContentName",
           source.value("volumeSnapshotContentName", "")},
          {"readyToUse", true},
          {"creationTime", rfc3339(now_ms(), 0)},
          {"restoreSize", "1Gi"}};
    md["resourceVersion"] = next_rv();
    return;
  }
  std::string content_name = st.value("boundVolumeSnapshotContentName", "");
  if (content_name.empty()) {
    std::string cls = spec.value("volumeSnapshotClassName", "");
    json* klass = cls.empty() ? nullptr : object(cls_k, "", cls);
    json* pvc =
        object(pvc_k, ns, source.value("persistentVolumeClaimName", ""));
    if (klass == nullptr || pvc == nullptr ||
        (*pvc)["status"].value("phase", "") != "Bound" ||
        m_options.snapshot_outcome == "error") {
      std::string why =
          klass == nullptr ? "Failed to get snapshot class with error "
                             "volumesnapshotclass.snapshot.storage.k8s.io \"" +
                                 cls + "\" not found"
          : pvc == nullptr ? "Failed to get source PVC"
          : m_options.snapshot_outcome == "error"
              ? "Failed to check and update snapshot content: failed to "
                "take snapshot of the volume: rpc error: code = Internal"
              : "the source PVC is not bound yet";
      if (st.value("error", json::object()).value("message", "") != why) {
        st["error"] = {{"message", why}, {"time", rfc3339(now_ms(), 0)}};
        st["readyToUse"] = false;
        md["resourceVersion"] = next_rv();
      }
      return;
    }
    json* pv = object(pv_k, "", (*pvc)["spec"].value("volumeName", ""));
    std::string uid = md.value("uid", "");
    std::string handle = "snapshot-" + uid;
    m_handles[handle] = pv == nullptr
                            ? ""
                            : (*pv)["metadata"]
                                  .value("annotations", json::object())
                                  .value("snap-emulator/data", "");
    if (pv != nullptr) {
      // The storage snapshot keeps the volume's files as they are now.
      copy_volume((*pv)["spec"]["csi"].value("volumeHandle", ""), handle);
    }
    content_name = "snapcontent-" + uid;
    std::string size = (*pvc)["status"]
                           .value("capacity", json::object())
                           .value("storage", "1Gi");
    json content = {
        {"apiVersion", vsc_k->gv()},
        {"kind", "VolumeSnapshotContent"},
        {"metadata", {{"name", content_name}}},
        {"spec",
         {{"deletionPolicy", klass->value("deletionPolicy", "Delete")},
          {"driver", klass->value("driver", "")},
          {"volumeSnapshotClassName", cls},
          {"source",
           {{"volumeHandle",
             pv == nullptr ? ""
                           : (*pv)["spec"]["csi"].value("volumeHandle", "")}}},
          {"volumeSnapshotRef",
           {{"name", md.value("name", "")},
            {"namespace", ns},
            {"uid", uid}}}}}};
    std::string ignored;
    create_locked(*vsc_k, "", content, ignored);
    m_objects[key(*vsc_k, "", content_name)]["status"] = {
        {"snapshotHandle", handle},
        {"creationTime", now_ms() * 1000000},
        {"restoreSize", quantity_bytes(size)},
        {"readyToUse", false}};
    st = {{"boundVolumeSnapshotContentName", content_name},
          {"creationTime", rfc3339(now_ms(), 0)},
          {"readyToUse", false},
          {"restoreSize", size}};
    m_cut_ms[uid] = now_ms();
    md["resourceVersion"] = next_rv();
    return;
  }
  if (m_options.snapshot_outcome == "never") {
    return;
  }
  auto cut = m_cut_ms.find(md.value("uid", ""));
  if (cut == m_cut_ms.end() || now_ms() - cut->second < m_options.snapshot_ms) {
    return;
  }
  st["readyToUse"] = true;
  if (json* c = object(vsc_k, "", content_name)) {
    (*c)["status"]["readyToUse"] = true;
  }
  md["resourceVersion"] = next_rv();
}

// fabric-operator (hyperledger-labs/fabric-operator), as far as a restore
// sees it:
// - Each IBPCA, IBPPeer, IBPConsole and orderer node runs as a Deployment
//   named after its resource, labelled app=<name>, with a Service of the
//   same name, both with the resource as their controlling owner
//   (pkg/offering/base/*/override/deployment.go and service.go; the
//   controllers watch what they own, controllers/*/..._controller.go).
//   The operator builds the Deployment from the resource: replicas other
//   than the resource's spec.replicas (default 1) are set back, so scaling
//   the Deployment alone is undone.
// - An orderer node is an IBPOrderer with spec.nodeNumber or the label
//   parent; a parent (spec.clusterSize) runs nothing itself and takes its
//   status from its nodes (ibporderer_controller.go: "Status should be set
//   by the child nodes only").
// - status (each controller's SetStatus): type Deploying, reason
//   waitingForPods, until every pod runs, then Deployed, allPodsRunning;
//   with no pod scheduled (replicas 0) it stays Deploying. A reconcile
//   error sets type Error with reason errorOccurredDuringReconcile
//   (--operator-fail). Pods run --operator-ready-ms after being scheduled.
// - The status goes through the status subresource and bumps only
//   resourceVersion, as PatchStatus does.
void Cluster::reconcile_fabric_operator_locked() {
  std::vector<std::pair<const Kind*, std::string>> crs;
  for (const char* plural :
       {"ibpcas", "ibppeers", "ibpconsoles", "ibporderers"}) {
    const Kind* k = find_kind("ibp.com", plural);
    if (k == nullptr || !k->served) {
      continue;
    }
    for (const auto& [key, o] : m_objects) {
      if (key.starts_with(k->gv() + "|" + k->plural + "|")) {
        crs.emplace_back(k, key);
      }
    }
  }
  // Nodes first: a parent's status is read from them.
  for (const auto& [k, key] : crs) {
    json& cr = m_objects[key];
    const json& md = cr["metadata"];
    json spec = cr.value("spec", json::object());
    bool node = k->plural != "ibporderers" || spec.contains("nodeNumber") ||
                md.value("labels", json::object()).contains("parent");
    if (node) {
      reconcile_node_locked(*k, cr);
    }
  }
  for (const auto& [k, key] : crs) {
    json& cr = m_objects[key];
    const json& md = cr["metadata"];
    json spec = cr.value("spec", json::object());
    if (k->plural != "ibporderers" || spec.contains("nodeNumber") ||
        md.value("labels", json::object()).contains("parent")) {
      continue;
    }
    std::string name = md.value("name", "");
    std::string ns = md.value("namespace", "");
    int nodes = 0, deployed = 0;
    for (const auto& [key2, o] : m_objects) {
      if (!key2.starts_with(k->gv() + "|ibporderers|" + ns + "|")) {
        continue;
      }
      const json& m2 = o["metadata"];
      if (m2.value("labels", json::object()).value("parent", "") != name) {
        continue;
      }
      ++nodes;
      deployed +=
          o.value("status", json::object()).value("type", "") == "Deployed";
    }
    if (nodes == 0) {
      continue;
    }
    std::string type = deployed == nodes ? "Deployed" : "Deploying";
    if (cr.value("status", json::object()).value("type", "") != type) {
      cr["status"] = {
          {"type", type},
          {"status", "True"},
          {"reason", deployed == nodes ? "allPodsRunning" : "waitingForPods"}};
      cr["metadata"]["resourceVersion"] = next_rv();
    }
  }
}

void Cluster::reconcile_node_locked(const Kind& k, json& cr) {
  const json& md = cr["metadata"];
  std::string name = md.value("name", "");
  std::string ns = md.value("namespace", "");
  std::string uid = md.value("uid", "");
  json spec = cr.value("spec", json::object());
  int replicas = spec.value("replicas", 1);
  json owner = {{"apiVersion", k.gv()}, {"kind", k.kind},
                {"name", name},         {"uid", uid},
                {"controller", true},   {"blockOwnerDeletion", true}};
  const Kind* dep_k = find_kind("apps", "deployments");
  const Kind* svc_k = find_kind("", "services");
  std::string ignored;
  json* dep = object(dep_k, ns, name);
  if (dep == nullptr) {
    create_locked(
        *dep_k, ns,
        {{"metadata",
          {{"name", name},
           {"labels", {{"app", name}}},
           {"ownerReferences", json::array({owner})}}},
         {"spec",
          {{"replicas", replicas},
           {"selector", {{"matchLabels", {{"app", name}}}}},
           {"template", {{"metadata", {{"labels", {{"app", name}}}}}}}}}},
        ignored);
    dep = object(dep_k, ns, name);
  } else if (dep->value("spec", json::object()).value("replicas", 1) !=
             replicas) {
    (*dep)["spec"]["replicas"] = replicas;
    (*dep)["metadata"]["resourceVersion"] = next_rv();
  }
  if (object(svc_k, ns, name) == nullptr) {
    create_locked(*svc_k, ns,
                  {{"metadata",
                    {{"name", name},
                     {"labels", {{"app", name}}},
                     {"ownerReferences", json::array({owner})}}},
                   {"spec",
                    {{"selector", {{"app", name}}},
                     {"ports", {{{"name", "api"}, {"port", 7051}}}}}}},
                  ignored);
  }
  if (replicas > 0) {
    m_pods_since.try_emplace(uid, now_ms());
  } else {
    m_pods_since.erase(uid);
  }
  json want;
  bool failing =
      std::find(m_options.operator_fail.begin(), m_options.operator_fail.end(),
                name) != m_options.operator_fail.end();
  if (failing) {
    want = {{"type", "Error"},
            {"status", "True"},
            {"reason", "errorOccurredDuringReconcile"},
            {"message", "failed to enroll with the CA"}};
  } else if (auto since = m_pods_since.find(uid);
             since != m_pods_since.end() &&
             now_ms() - since->second >= m_options.operator_ready_ms) {
    want = {{"type", "Deployed"},
            {"status", "True"},
            {"reason", "allPodsRunning"},
            {"message", "All pods running"}};
  } else {
    want = {{"type", "Deploying"},
            {"status", "True"},
            {"reason", "waitingForPods"},
            {"message", "Waiting for pods"}};
  }
  if (cr.value("status", json::object()).value("type", "") !=
      want.value("type", "")) {
    cr["status"] = want;
    cr["metadata"]["resourceVersion"] = next_rv();
  }
}

} // namespace snap::emulator::kube
