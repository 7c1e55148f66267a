// SPDX-License-Identifier: MIT
// What the Kubernetes backup engine knows about objects without talking to
// a server: which objects a pod template refers to, which fields the server
// sets (and so are stripped before a create), and the order a restore
// creates kinds in. Pure functions, unit-tested.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace snap::adapters::kube {

using nlohmann::json;

// The string `j[key]`, or "" when `j` is not an object or it is absent or
// not a string.
std::string str(const json& j, const char* key);
// j[key] when it is a non-negative integer, else 0.
std::uint64_t count_of(const json& j, const char* key);

// j[key] when `j` is an object and that is one, else an empty object.
const json& object_at(const json& j, const char* key);
// An object's metadata, or an empty object when it has none.
inline const json& meta(const json& object) {
  return object_at(object, "metadata");
}

// A reference from one object to another by name, in the same namespace.
struct NameRef {
  std::string resource; // "secrets", "configmaps", "persistentvolumeclaims"
  std::string name;
};

// Collects name references once each, in the order found.
class NameRefs {
public:
  void add(const std::string& resource, const std::string& name);
  // The secrets, configmaps and PVCs a workload's pod template
  // (spec.template.spec: volumes, envFrom, env valueFrom, imagePullSecrets)
  // refers to.
  void add_pod_template(const json& object);
  std::vector<NameRef> take() { return std::move(m_out); }

private:
  void containers(const json& list);
  std::vector<NameRef> m_out;
  std::vector<std::pair<std::string, std::string>> m_seen;
};

// `object` ready to create in `ns`: server-set metadata (uid,
// resourceVersion, creationTimestamp, managedFields, ownerReferences, …)
// and status removed, plus the per-kind fields Velero also resets
// (Service clusterIP, PVC binding annotations and volumeName).
json strip_for_create(json object, const std::string& ns);

// `object` as a restore compares it with the live one: stripped as for a
// create, and for a PVC without the dataSource a restore gave it.
json comparable(json object, const std::string& ns);

// True for objects the API server makes itself and a restore must skip
// (service-account token secrets).
bool server_generated(const json& object);

// The rank of `resource` ("secrets", "ibppeers.ibp.com") in the restore
// order: CRDs, volume snapshots, PVCs, service accounts, RBAC, secrets,
// configmaps, then the custom resources an operator reconciles
// (`operator_kind`), then everything else (what they own and regenerate).
int restore_rank(const std::string& resource, bool operator_kind);

// A name for a VolumeSnapshot of `pvc` in backup `id`, valid as a DNS
// subdomain (at most 253 characters).
std::string snapshot_name(const std::string& pvc, const std::string& id);

} // namespace snap::adapters::kube
