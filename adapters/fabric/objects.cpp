// SPDX-License-Identifier: MIT
// Fabric's object rules, after fabric-operator's naming
// (pkg/offering/base/peer, orderer, ca) and the Catalyx console's kinds.
#include "adapters/fabric/objects.hpp"

namespace snap::adapters::fabric {

using kube::str;

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

std::vector<kube::NameRef> references_of(const json& object) {
  kube::NameRefs refs;
  json spec = object.is_object() ? object.value("spec", json::object())
                                 : json::object();
  if (!spec.is_object()) {
    return {};
  }
  // fabric-operator: an IBPPeer/IBPOrderer may name a user-made MSP secret.
  refs.add("secrets", str(spec, "mspSecret"));
  refs.add_pod_template(object);
  return refs.take();
}

std::string pvc_role(const std::string& pvc_name, const json& owner) {
  json custom =
      owner.is_object() ? owner.value("spec", json::object()) : json::object();
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

} // namespace snap::adapters::fabric
