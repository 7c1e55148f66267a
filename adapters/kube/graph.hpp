// SPDX-License-Identifier: MIT
// The object graph a Kubernetes backup holds: roots an adapter names, their
// owners (ownerReferences upward), what they own (downward, transitively),
// the secrets, configmaps and PVCs they refer to by name, and the
// CustomResourceDefinitions of their kinds. One graph serves one save.
//
// In the archive every object is a file resources/<resource>/namespaces/
// <ns>/<name>.json (or cluster/<name>.json), kept as the server returned
// it, and backup.json lists them with the fields a restore checks against
// the file before it trusts it: resource, api_version, kind, plural,
// namespaced, name, uid, role, owners, file, and `fabric`: true for a kind
// an operator reconciles (the field is named after the first adapter that
// wrote the format, and kept so older archives restore).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/kube/client.hpp"
#include "adapters/kube/objects.hpp"

namespace snap::adapters::kube {

// One object the backup holds.
struct Item {
  ResourceType type;
  json object;
  std::string role; // root, node, parent, owned, referenced, crd
  std::string uid() const { return str(meta(object), "uid"); }
  std::string name() const { return str(meta(object), "name"); }
  std::string id() const { return type.name() + "/" + name(); }
};

// Something a save should say and keep in the archive's notes.
using NoteFn = std::function<void(std::string)>;

// The kinds an owner can own that a backup follows: secrets, configmaps,
// PVCs, services, service accounts, Deployments, StatefulSets, RBAC,
// ingresses and OpenShift routes, each when served, then `extra` (the
// operator's own kinds). Pods, ReplicaSets and EndpointSlices are left to
// their controllers.
Expected<std::vector<ResourceType>>
owned_kinds(Client& api,
            const std::vector<std::pair<std::string, std::string>>& extra);

class Graph {
public:
  Graph(Client& api, std::string ns, NoteFn note)
      : m_api(api), m_ns(std::move(ns)), m_note(std::move(note)) {}

  bool has(const std::string& uid) const { return m_uids.contains(uid); }
  void add(ResourceType type, json object, std::string role);
  const std::vector<Item>& items() const { return m_items; }
  const std::string& ns() const { return m_ns; }

  // Each kind's objects in the namespace, listed once.
  Expected<const std::vector<json>*> listed(const ResourceType& t);

  // The owners of everything collected, transitively (by uid, so a
  // namesake made anew is not taken for the owner).
  Expected<void> add_owners();
  // Everything of `kinds` whose ownerReferences reach a collected object,
  // until no more is found.
  Expected<void> add_owned(const std::vector<ResourceType>& kinds);
  // What each collected object names (`refs_of`) but does not own; a name
  // that does not exist is noted.
  Expected<void> add_referenced(
      const std::function<std::vector<NameRef>(const json&)>& refs_of);
  // The CRDs of the collected objects whose kinds `wanted` says yes to.
  // Without RBAC to read them the save goes on, and says so.
  Expected<void>
  add_crds(const std::function<bool(const ResourceType&)>& wanted);

  // The collected object that owns `item`, or an empty object.
  json owner_of(const Item& item) const;

  // Writes every object to `out` and returns backup.json's "objects" list;
  // `operator_kind` marks the kinds an operator reconciles. A file already
  // in `written` (a CRD another namespace's graph wrote) is left out, and
  // each file written is added to it.
  Expected<json>
  write(ArchiveWriter& out,
        const std::function<bool(const ResourceType&)>& operator_kind,
        std::set<std::string>* written = nullptr) const;

private:
  Client& m_api;
  std::string m_ns;
  NoteFn m_note;
  std::vector<Item> m_items;
  std::set<std::string> m_uids;
  std::map<std::string, std::vector<json>> m_lists;
};

} // namespace snap::adapters::kube
