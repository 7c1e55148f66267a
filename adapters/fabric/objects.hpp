// SPDX-License-Identifier: MIT
// What the fabric adapter knows about Fabric's objects without talking to a
// server: the presets' kinds and roles, what a Fabric CR refers to, and
// which PVC holds a peer's state database. Pure functions, unit-tested.
#pragma once

#include <string>
#include <vector>

#include "adapters/kube/objects.hpp"

namespace snap::adapters::fabric {

using kube::json;

// A Fabric kind of a preset: `<plural>.<group>` and its role.
struct PresetKind {
  std::string plural;
  std::string group;
  std::string role; // peer, orderer, ca, console
};

// The kinds of preset `name` ("fabric-operator" or "catalyx"); empty when
// the name is unknown.
std::vector<PresetKind> preset_kinds(const std::string& name);

// What a Fabric CR's spec (mspSecret) or a workload's pod template refers
// to; each once.
std::vector<kube::NameRef> references_of(const json& object);

// The role of a PVC of `owner_name` ("statedb" when it holds CouchDB's
// data, else "data"), from fabric-operator's names (<p>-statedb-pvc, or
// spec.customNames.pvc.statedb of the owning CR).
std::string pvc_role(const std::string& pvc_name, const json& owner);

} // namespace snap::adapters::fabric
