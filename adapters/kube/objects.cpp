// SPDX-License-Identifier: MIT
// Object rules of the Kubernetes backup engine, after Velero's restore
// (pkg/restore/restore.go resetMetadata/resetStatus, restore/actions
// service_action.go and pvc_action.go, config.go defaultRestorePriorities).
#include "adapters/kube/objects.hpp"

#include <algorithm>

namespace snap::adapters::kube {

std::string str(const json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_string()) {
    return j[key].get<std::string>();
  }
  return {};
}

std::uint64_t count_of(const json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number_unsigned()) {
    return j[key].get<std::uint64_t>();
  }
  return 0;
}

const json& object_at(const json& j, const char* key) {
  static const json empty = json::object();
  if (!j.is_object()) {
    return empty;
  }
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

void NameRefs::add(const std::string& resource, const std::string& name) {
  std::pair<std::string, std::string> key{resource, name};
  if (name.empty() ||
      std::find(m_seen.begin(), m_seen.end(), key) != m_seen.end()) {
    return;
  }
  m_seen.push_back(key);
  m_out.push_back({resource, name});
}

void NameRefs::containers(const json& list) {
  if (!list.is_array()) {
    return;
  }
  for (const auto& c : list) {
    if (!c.is_object()) {
      continue;
    }
    for (const auto& from : c.value("envFrom", json::array())) {
      if (from.is_object()) {
        add("secrets", str(from.value("secretRef", json()), "name"));
        add("configmaps", str(from.value("configMapRef", json()), "name"));
      }
    }
    for (const auto& env : c.value("env", json::array())) {
      if (env.is_object()) {
        json vf = env.value("valueFrom", json::object());
        if (vf.is_object()) {
          add("secrets", str(vf.value("secretKeyRef", json()), "name"));
          add("configmaps", str(vf.value("configMapKeyRef", json()), "name"));
        }
      }
    }
  }
}

void NameRefs::add_pod_template(const json& object) {
  json spec = object.is_object() ? object.value("spec", json::object())
                                 : json::object();
  json pod = spec.is_object() ? spec.value("template", json::object())
                              : json::object();
  pod = pod.is_object() ? pod.value("spec", json::object()) : json::object();
  if (!pod.is_object()) {
    return;
  }
  for (const auto& v : pod.value("volumes", json::array())) {
    if (!v.is_object()) {
      continue;
    }
    add("secrets", str(v.value("secret", json()), "secretName"));
    add("configmaps", str(v.value("configMap", json()), "name"));
    add("persistentvolumeclaims",
        str(v.value("persistentVolumeClaim", json()), "claimName"));
    json projected = v.value("projected", json::object());
    if (!projected.is_object()) {
      continue;
    }
    for (const auto& s : projected.value("sources", json::array())) {
      if (s.is_object()) {
        add("secrets", str(s.value("secret", json()), "name"));
        add("configmaps", str(s.value("configMap", json()), "name"));
      }
    }
  }
  containers(pod.value("initContainers", json::array()));
  containers(pod.value("containers", json::array()));
  for (const auto& s : pod.value("imagePullSecrets", json::array())) {
    add("secrets", str(s, "name"));
  }
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

int restore_rank(const std::string& resource, bool operator_kind) {
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
  // The custom resource comes after what its operator would otherwise
  // generate anew (crypto secrets, <name>-config), before what it owns and
  // regenerates anyway (Deployment, Service).
  return operator_kind ? 100 : 200;
}

std::string snapshot_name(const std::string& pvc, const std::string& id) {
  std::string suffix = "-" + id;
  std::string name = "snap-" + pvc;
  if (name.size() + suffix.size() > 253) {
    name.resize(253 - suffix.size());
  }
  return name + suffix;
}

} // namespace snap::adapters::kube
