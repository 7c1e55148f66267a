// SPDX-License-Identifier: MIT
#include "adapters/kube/graph.hpp"

#include "snap/text.hpp"

namespace snap::adapters::kube {

Expected<std::vector<ResourceType>>
owned_kinds(Client& api,
            const std::vector<std::pair<std::string, std::string>>& extra) {
  static const std::pair<const char*, const char*> kinds[] = {
      {"secrets", ""},
      {"configmaps", ""},
      {"persistentvolumeclaims", ""},
      {"services", ""},
      {"serviceaccounts", ""},
      {"deployments", "apps"},
      {"statefulsets", "apps"},
      {"roles", "rbac.authorization.k8s.io"},
      {"rolebindings", "rbac.authorization.k8s.io"},
      {"ingresses", "networking.k8s.io"},
      {"routes", "route.openshift.io"}};
  std::vector<ResourceType> out;
  for (const auto& [plural, group] : kinds) {
    if (auto t = SNAP_TRY(api.resolve_if_served(plural, group))) {
      out.push_back(*t);
    }
  }
  for (const auto& [plural, group] : extra) {
    if (auto t = SNAP_TRY(api.resolve_if_served(plural, group))) {
      out.push_back(*t);
    }
  }
  return out;
}

void Graph::add(ResourceType type, json object, std::string role) {
  Item item{std::move(type), std::move(object), std::move(role)};
  m_uids.insert(item.uid());
  m_items.push_back(std::move(item));
}

Expected<const std::vector<json>*> Graph::listed(const ResourceType& t) {
  auto it = m_lists.find(t.name());
  if (it == m_lists.end()) {
    auto items = SNAP_TRY(m_api.list(t, m_ns));
    it = m_lists.emplace(t.name(), std::move(items)).first;
  }
  return &it->second;
}

Expected<void> Graph::add_owners() {
  for (std::size_t i = 0; i < m_items.size(); ++i) {
    json refs = meta(m_items[i].object).value("ownerReferences", json::array());
    for (const auto& ref : refs) {
      if (has(str(ref, "uid"))) {
        continue;
      }
      ResourceType t =
          SNAP_TRY(m_api.type_of(str(ref, "apiVersion"), str(ref, "kind")));
      auto owner = SNAP_TRY(m_api.get_if(t, m_ns, str(ref, "name")));
      if (owner && str(meta(*owner), "uid") == str(ref, "uid")) {
        add(t, *owner, "parent");
      }
    }
  }
  return {};
}

Expected<void> Graph::add_owned(const std::vector<ResourceType>& kinds) {
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& t : kinds) {
      for (const auto& o : *SNAP_TRY(listed(t))) {
        if (has(str(meta(o), "uid"))) {
          continue;
        }
        for (const auto& ref :
             meta(o).value("ownerReferences", json::array())) {
          if (has(str(ref, "uid"))) {
            add(t, o, "owned");
            grew = true;
            break;
          }
        }
      }
    }
  }
  return {};
}

Expected<void> Graph::add_referenced(
    const std::function<std::vector<NameRef>(const json&)>& refs_of) {
  for (std::size_t i = 0; i < m_items.size(); ++i) {
    const Item item = m_items[i];
    for (const auto& ref : refs_of(item.object)) {
      ResourceType t = SNAP_TRY(m_api.resolve(ref.resource, ""));
      const json* found = nullptr;
      for (const auto& o : *SNAP_TRY(listed(t))) {
        if (str(meta(o), "name") == ref.name) {
          found = &o;
        }
      }
      if (found == nullptr) {
        m_note(fmt::format("{} refers to {}/{}, which does not exist",
                           item.id(), ref.resource, ref.name));
      } else if (!has(str(meta(*found), "uid"))) {
        add(t, *found, "referenced");
      }
    }
  }
  return {};
}

Expected<void>
Graph::add_crds(const std::function<bool(const ResourceType&)>& wanted) {
  std::set<std::string> kinds;
  for (const auto& item : m_items) {
    if (wanted(item.type)) {
      kinds.insert(item.type.name());
    }
  }
  if (kinds.empty()) {
    return {};
  }
  ResourceType crd = SNAP_TRY(
      m_api.resolve("customresourcedefinitions", "apiextensions.k8s.io"));
  for (const auto& name : kinds) {
    auto got = m_api.get(crd, "", name);
    if (!got) {
      if (got.error().kind == ErrorKind::auth ||
          got.error().kind == ErrorKind::not_found) {
        m_note(fmt::format("the CRD {} was not saved ({}); a restore needs it "
                           "installed already",
                           name, got.error().message));
        continue;
      }
      return tl::unexpected(got.error());
    }
    add(crd, std::move(*got), "crd");
  }
  return {};
}

json Graph::owner_of(const Item& item) const {
  for (const auto& ref :
       meta(item.object).value("ownerReferences", json::array())) {
    for (const auto& other : m_items) {
      if (other.uid() == str(ref, "uid")) {
        return other.object;
      }
    }
  }
  return json::object();
}

Expected<json>
Graph::write(ArchiveWriter& out,
             const std::function<bool(const ResourceType&)>& operator_kind,
             std::set<std::string>* written) const {
  json objects = json::array();
  for (const auto& item : m_items) {
    std::string file = fmt::format(
        "resources/{}/{}.json", item.type.name(),
        item.type.namespaced ? "namespaces/" + m_ns + "/" + item.name()
                             : "cluster/" + item.name());
    if (written != nullptr && !written->insert(file).second) {
      continue;
    }
    SNAP_TRY(out.add_json(file, item.object));
    json owners = json::array();
    for (const auto& ref :
         meta(item.object).value("ownerReferences", json::array())) {
      owners.push_back(str(ref, "uid"));
    }
    objects.push_back({{"resource", item.type.name()},
                       {"api_version", item.type.api_version()},
                       {"kind", item.type.kind},
                       {"plural", item.type.plural},
                       {"namespaced", item.type.namespaced},
                       {"name", item.name()},
                       {"uid", item.uid()},
                       {"role", item.role},
                       {"fabric", operator_kind(item.type)},
                       {"owners", owners},
                       {"file", "payload/" + file}});
  }
  return objects;
}

} // namespace snap::adapters::kube
