// SPDX-License-Identifier: MIT
// Object rules of the fabric adapter, after Velero's restore
// (pkg/restore/restore.go resetMetadata/resetStatus, restore/actions
// service_action.go and pvc_action.go, config.go defaultRestorePriorities)
// and fabric-operator's naming (pkg/offering/base/peer, orderer, ca).
#include "adapters/fabric_objects.hpp"

#include <algorithm>
#include <set>

namespace snap::adapters::fabric {
namespace {

struct RefCollector {
  std::vector<NameRef> out;
  std::set<std::pair<std::string, std::string>> seen;
  void add(const std::string& resource, const std::string& name) {
    if (!name.empty() && seen.emplace(resource, name).second) {
      out.push_back({resource, name});
    }
  }
  void containers(const json& list) {
    if (!list.is_array()) {
      return;
    }
    for (const auto& c : list) {
      for (const auto& from : c.value("envFrom", json::array())) {
        add("secrets", str(from.value("secretRef", json()), "name"));
        add("configmaps", str(from.value("configMapRef", json()), "name"));
      }
      for (const auto& env : c.value("env", json::array())) {
        json vf = env.value("valueFrom", json::object());
        add("secrets", str(vf.value("secretKeyRef", json()), "name"));
        add("configmaps", str(vf.value("configMapKeyRef", json()), "name"));
      }
    }
  }
};

} // namespace

std::string str(const json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) {
    return j[key].get<std::string>();
  }
  return {};
}

std::vector<PresetKind> preset_kinds(const std::string& name) {
  if (name == "fabric-operator") {
    return {{"ibppeers", "ibp.com", "peer"},
            {"ibporderers", "ibp.com", "orderer"},
            {"ibpcas", "ibp.com", "ca"},
            {"ibpconsoles", "ibp.com", "console"}};
  }
  if (name == "catalyx") {
    return {{"peers", "peerset.hyperledger.fabric", "peer"},
            {"orderers", "orderingservice.hyperledger.fabric", "orderer"},
            {"fabriccas", "ca.hyperledger.fabric", "ca"}};
  }
  return {};
}

std::vector<NameRef> references_of(const json& object) {
  RefCollector r;
  json spec = object.value("spec", json::object());
  if (!spec.is_object()) {
    return {};
  }
  // fabric-operator: an IBPPeer/IBPOrderer may name a user-made MSP secret.
  r.add("secrets", str(spec, "mspSecret"));
  json pod = spec.value("template", json::object());
  pod = pod.is_object() ? pod.value("spec", json::object()) : json::object();
  if (!pod.is_object()) {
    return r.out;
  }
  for (const auto& v : pod.value("volumes", json::array())) {
    r.add("secrets", str(v.value("secret", json()), "secretName"));
    r.add("configmaps", str(v.value("configMap", json()), "name"));
    r.add("persistentvolumeclaims",
          str(v.value("persistentVolumeClaim", json()), "claimName"));
    json projected = v.value("projected", json::object());
    for (const auto& s : projected.value("sources", json::array())) {
      r.add("secrets", str(s.value("secret", json()), "name"));
      r.add("configmaps", str(s.value("configMap", json()), "name"));
    }
  }
  r.containers(pod.value("initContainers", json::array()));
  r.containers(pod.value("containers", json::array()));
  for (const auto& s : pod.value("imagePullSecrets", json::array())) {
    r.add("secrets", str(s, "name"));
  }
  return r.out;
}

json strip_for_create(json object, const std::string& ns) {
  json& md = object["metadata"];
  for (const char* key :
       {"generateName", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
        "ownerReferences", "managedFields"}) {
    md.erase(key);
  }
  if (md.contains("namespace")) {
    md["namespace"] = ns;
  }
  object.erase("status");
  const std::string kind = str(object, "kind");
  json& spec = object["spec"];
  if (kind == "Service" && spec.is_object()) {
    // A new ClusterIP is allocated; a headless service keeps "None".
    if (str(spec, "clusterIP") != "None") {
      spec.erase("clusterIP");
      spec.erase("clusterIPs");
    }
    spec.erase("healthCheckNodePort");
  } else if (kind == "PersistentVolumeClaim" && spec.is_object()) {
    spec.erase("volumeName");
    if (md.contains("annotations") && md["annotations"].is_object()) {
      for (const char* a : {"pv.kubernetes.io/bind-completed",
                            "pv.kubernetes.io/bound-by-controller",
                            "volume.kubernetes.io/storage-provisioner",
                            "volume.beta.kubernetes.io/storage-provisioner",
                            "volume.kubernetes.io/selected-node"}) {
        md["annotations"].erase(a);
      }
    }
  }
  if (spec.is_null()) {
    object.erase("spec");
  }
  return object;
}

json comparable(json object, const std::string& ns) {
  json out = strip_for_create(std::move(object), ns);
  if (str(out, "kind") == "PersistentVolumeClaim" && out.contains("spec")) {
    out["spec"].erase("dataSource");
    out["spec"].erase("dataSourceRef");
  }
  return out;
}

bool server_generated(const json& object) {
  return str(object, "kind") == "Secret" &&
         str(object, "type") == "kubernetes.io/service-account-token";
}

int restore_rank(const std::string& resource, bool is_fabric) {
  static const std::vector<std::string> first = {
      "customresourcedefinitions.apiextensions.k8s.io",
      "volumesnapshotcontents.snapshot.storage.k8s.io",
      "volumesnapshots.snapshot.storage.k8s.io",
      "persistentvolumeclaims",
      "serviceaccounts",
      "roles.rbac.authorization.k8s.io",
      "rolebindings.rbac.authorization.k8s.io",
      "secrets",
      "configmaps"};
  auto it = std::find(first.begin(), first.end(), resource);
  if (it != first.end()) {
    return static_cast<int>(it - first.begin());
  }
  // The Fabric CR comes after what its operator would otherwise generate
  // anew (crypto secrets, <name>-config), before what it owns and
  // regenerates anyway (Deployment, Service).
  return is_fabric ? 100 : 200;
}

std::string pvc_role(const std::string& pvc_name, const json& owner) {
  json custom = owner.value("spec", json::object());
  if (custom.is_object()) {
    custom = custom.value("customNames", json::object());
    if (custom.is_object()) {
      custom = custom.value("pvc", json::object());
      if (custom.is_object() && str(custom, "statedb") == pvc_name) {
        return "statedb";
      }
    }
  }
  return pvc_name.ends_with("-statedb-pvc") ? "statedb" : "data";
}

std::string snapshot_name(const std::string& pvc, const std::string& id) {
  std::string suffix = "-" + id;
  std::string name = "snap-" + pvc;
  if (name.size() + suffix.size() > 253) {
    name.resize(253 - suffix.size());
  }
  return name + suffix;
}

} // namespace snap::adapters::fabric
