// SPDX-License-Identifier: MIT
// What the fabric adapter knows about Kubernetes objects without talking to
// a server: the presets' names, which objects a pod template refers to,
// which fields the server sets (and so are stripped before a create), and
// the order a restore creates kinds in. Pure functions, unit-tested.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace snap::adapters::fabric {

using nlohmann::json;

// The string `j[key]`, or "" when `j` is not an object or it is absent or
// not a string.
std::string str(const json& j, const char* key);

// A Fabric kind of a preset: `<plural>.<group>` and its role.
struct PresetKind {
  std::string plural;
  std::string group;
  std::string role; // peer, orderer, ca, console
};

// The kinds of preset `name` ("fabric-operator" or "catalyx"); empty when
// the name is unknown.
std::vector<PresetKind> preset_kinds(const std::string& name);

// A reference from one object to another by name, in the same namespace.
struct NameRef {
  std::string resource; // "secrets", "configmaps", "persistentvolumeclaims"
  std::string name;
};

// The secrets, configmaps and PVCs a workload's pod template
// (spec.template.spec: volumes, envFrom, env valueFrom, imagePullSecrets)
// or a Fabric CR's spec (mspSecret) refers to; each once.
std::vector<NameRef> references_of(const json& object);

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
// configmaps, then Fabric CRs (`is_fabric`), then everything else.
int restore_rank(const std::string& resource, bool is_fabric);

// The role of a PVC of `owner_name` ("statedb" when it holds CouchDB's
// data, else "data"), from fabric-operator's names (<p>-statedb-pvc, or
// spec.customNames.pvc.statedb of the owning CR).
std::string pvc_role(const std::string& pvc_name, const json& owner);

// A name for a VolumeSnapshot of `pvc` in backup `id`, valid as a DNS
// subdomain (at most 253 characters).
std::string snapshot_name(const std::string& pvc, const std::string& id);

} // namespace snap::adapters::fabric
