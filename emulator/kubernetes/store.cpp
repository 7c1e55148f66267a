// SPDX-License-Identifier: MIT
// The emulated API server's store: the built-in kinds, CRDs registered as
// kinds of their own, objects by key, resourceVersions and uids, and the
// garbage collector's background and orphan propagation (apimachinery
// DeletionPropagation; ownerReferences by uid).
#include "emulator/kubernetes/cluster.hpp"

#include <cstdlib>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "emulator/clock.hpp"

namespace snap::emulator::kube {

namespace {

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
  case YAML::NodeType::Map: {
    json o = json::object();
    for (const auto& kv : n) {
      o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    }
    return o;
  }
  case YAML::NodeType::Sequence: {
    json a = json::array();
    for (const auto& item : n) {
      a.push_back(yaml_to_json(item));
    }
    return a;
  }
  case YAML::NodeType::Scalar: {
    std::string s = n.as<std::string>();
    if (n.Tag() == "!") { // quoted
      return s;
    }
    if (s == "true" || s == "false") {
      return s == "true";
    }
    return s;
  }
  default:
    return nullptr;
  }
}

} // namespace

Cluster::Cluster(FaultInjector& faults, KubernetesOptions options)
    : m_faults(faults), m_options(std::move(options)) {
  auto core = [&](const char* plural, const char* singular, const char* kind,
                  bool ns, bool status) {
    m_kinds.push_back({"", "v1", plural, singular, kind, ns, status, false});
  };
  core("namespaces", "namespace", "Namespace", false, true);
  core("secrets", "secret", "Secret", true, false);
  core("configmaps", "configmap", "ConfigMap", true, false);
  core("persistentvolumeclaims", "persistentvolumeclaim",
       "PersistentVolumeClaim", true, true);
  core("persistentvolumes", "persistentvolume", "PersistentVolume", false,
       true);
  core("services", "service", "Service", true, true);
  core("serviceaccounts", "serviceaccount", "ServiceAccount", true, false);
  core("pods", "pod", "Pod", true, true);
  m_kinds.push_back({"apps", "v1", "deployments", "deployment", "Deployment",
                     true, true, false});
  m_kinds.push_back({"apps", "v1", "statefulsets", "statefulset", "StatefulSet",
                     true, true, false});
  m_kinds.push_back({"apps", "v1", "replicasets", "replicaset", "ReplicaSet",
                     true, true, false});
  m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "roles", "role", "Role",
                     true, false, false});
  m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "rolebindings",
                     "rolebinding", "RoleBinding", true, false, false});
  m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "clusterroles",
                     "clusterrole", "ClusterRole", false, false, false});
  m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                     "clusterrolebinding", "ClusterRoleBinding", false, false,
                     false});
  m_kinds.push_back(
      {"batch", "v1", "cronjobs", "cronjob", "CronJob", true, true, false});
  m_kinds.push_back({"batch", "v1", "jobs", "job", "Job", true, true, false});
  m_kinds.push_back({"storage.k8s.io", "v1", "storageclasses", "storageclass",
                     "StorageClass", false, false, false});
  m_kinds.push_back({"networking.k8s.io", "v1", "ingresses", "ingress",
                     "Ingress", true, true, false});
  m_kinds.push_back({"networking.k8s.io", "v1", "networkpolicies",
                     "networkpolicy", "NetworkPolicy", true, false, false});
  m_kinds.push_back({"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "customresourcedefinition", "CustomResourceDefinition",
                     false, true, false});
  // The short names discovery gives built-in kinds (each registry's
  // ShortNames(), kubernetes pkg/registry/*/*/storage/storage.go).
  const std::map<std::string, std::vector<std::string>> short_names = {
      {"namespaces", {"ns"}},
      {"networkpolicies", {"netpol"}},
      {"configmaps", {"cm"}},
      {"persistentvolumeclaims", {"pvc"}},
      {"persistentvolumes", {"pv"}},
      {"services", {"svc"}},
      {"serviceaccounts", {"sa"}},
      {"pods", {"po"}},
      {"deployments", {"deploy"}},
      {"statefulsets", {"sts"}},
      {"replicasets", {"rs"}},
      {"ingresses", {"ing"}},
      {"storageclasses", {"sc"}},
      {"customresourcedefinitions", {"crd", "crds"}},
      {"cronjobs", {"cj"}}};
  for (auto& k : m_kinds) {
    if (auto it = short_names.find(k.plural); it != short_names.end()) {
      k.short_names = it->second;
    }
  }
  json ns = {{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata", {{"name", "default"}}}};
  std::string ignored;
  create_locked(*find_kind("", "namespaces"), "", ns, ignored);
  if (m_options.volume_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() /
                        "snap-emulator-volumes-XXXXXX")
                           .string();
    if (::mkdtemp(tmpl.data()) != nullptr) {
      m_volume_root = tmpl;
      m_own_volume_root = true;
    }
  } else {
    m_volume_root = m_options.volume_dir;
    std::error_code ec;
    std::filesystem::create_directories(m_volume_root, ec);
  }
}

Cluster::~Cluster() {
  m_stop = true;
  if (m_controller.joinable()) {
    m_controller.join();
  }
  if (m_own_volume_root) {
    std::error_code ec;
    std::filesystem::remove_all(m_volume_root, ec);
  }
}

bool Cluster::load_crd(const std::string& file, std::string& error) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAllFromFile(file);
  } catch (const YAML::Exception& e) {
    error = file + ": " + e.what();
    return false;
  }
  for (const auto& doc : docs) {
    json crd = yaml_to_json(doc);
    if (!crd.is_object() ||
        crd.value("kind", "") != "CustomResourceDefinition") {
      continue;
    }
    std::string ignored;
    std::lock_guard lock(m_mutex);
    create_locked(
        *find_kind("apiextensions.k8s.io", "customresourcedefinitions"), "",
        crd, ignored);
  }
  return true;
}

std::string Cluster::key(const Kind& k, const std::string& ns,
                         const std::string& name) {
  return k.gv() + "|" + k.plural + "|" + ns + "|" + name;
}

std::string Cluster::prefix(const Kind& k, const std::string& ns) {
  return k.gv() + "|" + k.plural + "|" + ns + (ns.empty() ? "" : "|");
}

std::string Cluster::next_rv() { return std::to_string(++m_rv); }

void Cluster::register_crd_locked(const json& crd) {
  const json spec = crd.value("spec", json::object());
  const json names = spec.value("names", json::object());
  for (const auto& v : spec.value("versions", json::array())) {
    if (!v.value("served", false) || !v.value("storage", false)) {
      continue;
    }
    Kind k{spec.value("group", ""),
           v.value("name", ""),
           names.value("plural", ""),
           names.value("singular", ""),
           names.value("kind", ""),
           spec.value("scope", "") == "Namespaced",
           v.contains("subresources") && v["subresources"].contains("status"),
           true};
    for (const auto& n : names.value("shortNames", json::array())) {
      if (n.is_string()) {
        k.short_names.push_back(n.get<std::string>());
      }
    }
    bool revived = false;
    for (auto& old : m_kinds) {
      if (!old.served && old.group == k.group && old.plural == k.plural) {
        old = k;
        revived = true;
      }
    }
    if (!revived) {
      m_kinds.push_back(k);
    }
  }
}

json Cluster::create_locked(const Kind& k, const std::string& ns, json obj,
                            std::string&) {
  json& md = obj["metadata"];
  std::string name = md.value("name", "");
  if (k.namespaced) {
    md["namespace"] = ns;
  }
  char uid[64];
  ++m_uid;
  std::snprintf(uid, sizeof uid, "6f1c%04x-0000-4000-8000-%012llx",
                static_cast<unsigned>(m_uid & 0xffff), m_uid);
  md["uid"] = uid;
  md["resourceVersion"] = next_rv();
  md["creationTimestamp"] = rfc3339(now_ms(), 0);
  if (k.custom || k.plural == "deployments" || k.plural == "statefulsets") {
    md["generation"] = 1;
  }
  obj["kind"] = k.kind;
  obj["apiVersion"] = k.gv();
  if (k.has_status) {
    obj.erase("status");
  }
  if (k.plural == "customresourcedefinitions") {
    // apiextensions-apiserver serves the kind and reports it Established.
    register_crd_locked(obj);
    obj["status"] = {
        {"conditions",
         {{{"type", "NamesAccepted"}, {"status", "True"}},
          {{"type", "Established"}, {"status", "True"}}}},
        {"acceptedNames", obj["spec"].value("names", json::object())}};
  } else if (k.plural == "secrets" && obj.contains("stringData")) {
    // stringData is write-only: merged into data, base64-encoded, on write
    // (k8s.io/kubernetes pkg/apis/core/v1/conversion.go,
    // Convert_v1_Secret_To_core_Secret).
    for (const auto& [key, value] : obj["stringData"].items()) {
      if (value.is_string()) {
        obj["data"][key] = base64_encode(value.get<std::string>());
      }
    }
    obj.erase("stringData");
  } else if (k.plural == "namespaces") {
    obj["status"] = {{"phase", "Active"}};
  } else if (k.plural == "persistentvolumeclaims") {
    obj["status"] = {{"phase", "Pending"}};
  } else if (k.plural == "services" && obj.contains("spec")) {
    if (obj["spec"].value("clusterIP", "") != "None") {
      std::string ip = "10.96.0." + std::to_string(10 + m_uid % 200);
      obj["spec"]["clusterIP"] = ip;
      obj["spec"]["clusterIPs"] = {ip};
    }
  }
  m_objects[key(k, ns, name)] = obj;
  return obj;
}

// Deletes an object; its dependents lose the owner reference (orphan) or,
// with no owner left, are deleted in turn (background garbage collection).
void Cluster::remove_locked(const Kind& k, const std::string& ns,
                            const std::string& name, bool orphan) {
  auto it = m_objects.find(key(k, ns, name));
  if (it == m_objects.end()) {
    return;
  }
  json gone = it->second;
  m_objects.erase(it);
  std::string uid = gone["metadata"].value("uid", "");
  m_workloads_since.erase(uid);
  if (k.plural == "customresourcedefinitions") {
    const json spec = gone.value("spec", json::object());
    std::string group = spec.value("group", "");
    std::string plural =
        spec.value("names", json::object()).value("plural", "");
    for (auto& kind : m_kinds) {
      if (kind.group == group && kind.plural == plural && kind.served) {
        std::string pre = kind.gv() + "|" + kind.plural + "|";
        for (auto o = m_objects.lower_bound(pre);
             o != m_objects.end() && o->first.starts_with(pre);) {
          o = m_objects.erase(o);
        }
        kind.served = false;
      }
    }
  }
  if (k.plural == "persistentvolumeclaims") {
    std::string pv = gone.value("spec", json::object()).value("volumeName", "");
    if (!pv.empty()) {
      m_objects.erase(key(*find_kind("", "persistentvolumes"), "", pv));
    }
  }
  if (k.plural == "volumesnapshots") {
    std::string content = gone.value("status", json::object())
                              .value("boundVolumeSnapshotContentName", "");
    const Kind* vsc =
        find_kind("snapshot.storage.k8s.io", "volumesnapshotcontents");
    if (vsc != nullptr && !content.empty()) {
      auto c = m_objects.find(key(*vsc, "", content));
      if (c != m_objects.end() &&
          c->second["spec"].value("deletionPolicy", "") == "Delete") {
        m_handles.erase(c->second.value("status", json::object())
                            .value("snapshotHandle", ""));
        m_objects.erase(c);
      }
    }
  }
  if (k.plural == "namespaces") {
    std::vector<std::pair<const Kind*, std::string>> inside;
    for (const auto& [key_, o] : m_objects) {
      if (o["metadata"].value("namespace", "") == name) {
        inside.emplace_back(kind_of(o), o["metadata"].value("name", ""));
      }
    }
    for (const auto& [kk, n] : inside) {
      if (kk != nullptr) {
        remove_locked(*kk, name, n, false);
      }
    }
  }
  std::vector<std::pair<const Kind*, json>> dependents;
  for (auto& [key_, o] : m_objects) {
    json& refs = o["metadata"]["ownerReferences"];
    if (!refs.is_array()) {
      o["metadata"].erase("ownerReferences");
      continue;
    }
    json kept = json::array();
    for (const auto& r : refs) {
      if (r.value("uid", "") != uid) {
        kept.push_back(r);
      }
    }
    if (kept.size() == refs.size()) {
      continue;
    }
    if (kept.empty()) {
      o["metadata"].erase("ownerReferences");
      if (!orphan) {
        dependents.emplace_back(kind_of(o), o);
      }
    } else {
      refs = kept;
    }
  }
  for (const auto& [dk, o] : dependents) {
    if (dk != nullptr) {
      remove_locked(*dk, o["metadata"].value("namespace", ""),
                    o["metadata"].value("name", ""), false);
    }
  }
}

const Kind* Cluster::kind_of(const json& o) {
  std::string av = o.value("apiVersion", "");
  auto slash = av.find('/');
  std::string group = slash == std::string::npos ? "" : av.substr(0, slash);
  for (const auto& k : m_kinds) {
    if (k.served && k.group == group && k.kind == o.value("kind", "")) {
      return &k;
    }
  }
  return nullptr;
}

json* Cluster::object(const Kind* k, const std::string& ns,
                      const std::string& name) {
  if (k == nullptr) {
    return nullptr;
  }
  auto it = m_objects.find(key(*k, ns, name));
  return it == m_objects.end() ? nullptr : &it->second;
}

} // namespace snap::emulator::kube
