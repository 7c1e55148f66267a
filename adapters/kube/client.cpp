// SPDX-License-Identifier: MIT
// Kubernetes API calls: discovery (client-go discovery_client.go), paths
// (dynamic/simple.go makeURLSegments) and Status errors (api-conventions.md
// "Response Status Kind").
#include "adapters/kube/client.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "snap/json.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters::kube {
namespace {

bool looks_like_version(std::string_view s) {
  // A server's word, so its length is checked before libstdc++'s regex,
  // which recurses per character, sees it.
  static const std::regex version("v[0-9]+((alpha|beta)[0-9]+)?");
  return s.size() <= 32 && std::regex_match(s.begin(), s.end(), version);
}

std::string hint_for(long status, const std::string& body) {
  switch (status) {
  case 401:
    return "the server did not accept the credentials: check the token or "
           "client certificate of the kubeconfig user";
  case 403:
    // Pod Security admission's refusal (pod-security-admission
    // admission.go) is a 403 too, but no RBAC rule would change it.
    if (body.find("violates PodSecurity") != std::string::npos) {
      return "the namespace's Pod Security level (its label "
             "pod-security.kubernetes.io/enforce) refuses this pod";
    }
    return "the credentials lack RBAC permission for this; see kubectl auth "
           "can-i";
  default:
    return "";
  }
}

bool in_charset(std::string_view s, bool dots) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           (dots && c == '.');
  });
}

} // namespace

bool is_dns_label(std::string_view s) {
  return !s.empty() && s.size() <= 63 && in_charset(s, false) &&
         s.front() != '-' && s.back() != '-';
}

bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253 || !in_charset(s, true)) {
    return false;
  }
  for (std::size_t start = 0; start <= s.size();) {
    auto dot = s.find('.', start);
    auto part = s.substr(start, dot == s.npos ? s.npos : dot - start);
    if (!is_dns_label(part)) {
      return false;
    }
    if (dot == s.npos) {
      break;
    }
    start = dot + 1;
  }
  return true;
}

bool is_path_segment_name(std::string_view s) {
  return !s.empty() && s.size() <= 253 && s != "." && s != ".." &&
         std::none_of(s.begin(), s.end(), [](char c) {
           return c == '/' || c == '%' ||
                  static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
         });
}

bool is_kind_name(std::string_view s) {
  return !s.empty() && s.size() <= 63 &&
         std::isalpha(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0;
         });
}

std::vector<ResourceType> types_of_crd(const json& crd) {
  std::vector<ResourceType> out;
  const json spec = crd.value("spec", json::object());
  if (!spec.is_object() || !spec.contains("names") ||
      !spec["names"].is_object()) {
    return out;
  }
  auto text = [](const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>()
                                            : std::string();
  };
  std::string group = text(spec, "group");
  std::string plural = text(spec["names"], "plural");
  std::string kind = text(spec["names"], "kind");
  std::string scope = text(spec, "scope");
  if (!is_dns_subdomain(group) || !is_dns_label(plural) ||
      !is_kind_name(kind) || (scope != "Namespaced" && scope != "Cluster")) {
    return out;
  }
  auto versions = spec.find("versions");
  if (versions == spec.end() || !versions->is_array()) {
    return out;
  }
  for (const auto& v : *versions) {
    std::string name = v.is_object() ? text(v, "name") : "";
    bool served = v.is_object() && v.contains("served") &&
                  v["served"].is_boolean() && v["served"].get<bool>();
    if (served && is_dns_label(name)) {
      out.push_back({group, name, plural, kind, scope == "Namespaced"});
    }
  }
  return out;
}

std::string ResourceType::api_version() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ResourceType::name() const {
  return group.empty() ? plural : plural + "." + group;
}

Expected<ResourceId> parse_resource_id(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 ||
      slash + 1 == text.size() || text.find('/', slash + 1) != text.npos) {
    return fail(ErrorKind::usage,
                fmt::format("'{}' is not a resource name: write it as kubectl "
                            "does, <plural>[.<group>]/<name> (ibppeers.ibp."
                            "com/peer1, configmaps/msp1)",
                            text));
  }
  ResourceId id;
  id.name = std::string(text.substr(slash + 1));
  std::string_view type = text.substr(0, slash);
  auto dot = type.find('.');
  id.plural = std::string(type.substr(0, dot));
  if (dot != std::string_view::npos) {
    std::string_view rest = type.substr(dot + 1);
    auto next = rest.find('.');
    if (next != std::string_view::npos &&
        looks_like_version(rest.substr(0, next))) {
      id.version = std::string(rest.substr(0, next));
      rest = rest.substr(next + 1);
    }
    id.group = std::string(rest);
  }
  return id;
}

std::string status_text(const std::string& body) {
  auto j = parse_untrusted_json(body);
  if (j.is_object() && j.value("kind", "") == "Status") {
    std::string reason = j.value("reason", "");
    std::string message = j.value("message", "");
    return reason.empty() ? message : reason + ": " + message;
  }
  return body.substr(0, body.find('\n'));
}

Expected<JsonAnswer> Client::call(const std::string& method,
                                  const std::string& path, const json& body,
                                  const CallOptions& o) {
  JsonCall call{.request = {.method = method, .path = path, .query = o.query},
                .content_type = o.content_type,
                .max_bytes = 256 << 20,
                .who = m_http.config().label,
                .not_json_hint = "is the address a Kubernetes API server?"};
  call.request.headers.emplace_back("Accept", "application/json");
  // Creating is not safe to repeat blindly (a retry after a cut could meet
  // its own object); everything else here is.
  call.request.idempotent = method != "POST";
  call.request.cleanup = o.cleanup;
  if (!body.is_null()) {
    call.body = body.dump();
    call.has_body = true;
  }
  if (o.missing_ok) {
    call.ok = {200, 201, 202, 404};
  }
  call.error_text = [](const std::string& text) { return status_text(text); };
  call.hint = [](const Response& resp, const std::string& body) {
    return hint_for(resp.status, body);
  };
  JsonAnswer answer = SNAP_TRY(call_json(m_http, std::move(call)));
  if (answer.status == 404) {
    answer.body = json();
  }
  return answer;
}

Expected<const json*> Client::resources_of(const std::string& group,
                                           const std::string& version) {
  std::string gv = group.empty() ? version : group + "/" + version;
  auto it = m_resource_lists.find(gv);
  if (it == m_resource_lists.end()) {
    std::string p = group.empty() ? "/api/" + url_escape(version)
                                  : "/apis/" + url_escape(group) + "/" +
                                        url_escape(version);
    JsonAnswer list = SNAP_TRY(call("GET", p, json(), {.missing_ok = true}));
    json resources = list.status == 404
                         ? json::array()
                         : list.body.value("resources", json::array());
    it = m_resource_lists.emplace(gv, std::move(resources)).first;
  }
  return &it->second;
}

Expected<std::optional<ResourceType>>
Client::resolve_if_served(const std::string& plural, const std::string& group) {
  std::string version = "v1";
  if (!group.empty()) {
    version = SNAP_TRY(preferred_version(group));
    if (version.empty()) {
      return std::optional<ResourceType>();
    }
  }
  auto r = resolve(plural, group, version);
  if (!r) {
    if (r.error().kind == ErrorKind::not_found) {
      return std::optional<ResourceType>();
    }
    return tl::unexpected(r.error());
  }
  return std::optional<ResourceType>(*r);
}

Expected<ResourceType> Client::resolve(const std::string& plural,
                                       const std::string& group,
                                       const std::string& version) {
  std::string v = version;
  if (v.empty()) {
    if (group.empty()) {
      v = "v1";
    } else {
      auto found = SNAP_TRY(resolve_if_served(plural, group));
      if (!found) {
        return fail(ErrorKind::not_found,
                    fmt::format("fabric: the server has no API group '{}' "
                                "(is its CRD installed? kubectl api-resources "
                                "lists what it serves)",
                                group));
      }
      return *found;
    }
  }
  const json* resources = SNAP_TRY(resources_of(group, v));
  for (const auto& r : *resources) {
    std::string name = r.value("name", "");
    if (name == plural || r.value("singularName", "") == plural) {
      return ResourceType{group, v, name, r.value("kind", ""),
                          r.value("namespaced", true)};
    }
  }
  std::string spelled = group.empty() ? plural : plural + "." + group;
  return fail(ErrorKind::not_found,
              fmt::format("fabric: the server does not serve '{}' in {} "
                          "(kubectl api-resources lists what it serves)",
                          spelled, group.empty() ? v : group + "/" + v));
}

Expected<std::string> Client::preferred_version(const std::string& group) {
  auto pref = m_preferred.find(group);
  if (pref == m_preferred.end()) {
    JsonAnswer got = SNAP_TRY(call("GET", "/apis/" + url_escape(group), json(),
                                   {.missing_ok = true}));
    const json& g = got.body;
    std::string v;
    if (got.status != 404 && g.contains("preferredVersion")) {
      v = g["preferredVersion"].value("version", "");
    }
    pref = m_preferred.emplace(group, v).first;
  }
  return pref->second;
}

Expected<const std::vector<std::pair<std::string, std::string>>*>
Client::served_groups() {
  if (!m_groups) {
    json list = SNAP_TRY(call("GET", "/apis", json())).body;
    std::vector<std::pair<std::string, std::string>> groups;
    for (const auto& g : list.value("groups", json::array())) {
      std::string name = g.value("name", "");
      std::string version =
          g.value("preferredVersion", json::object()).value("version", "");
      if (is_dns_subdomain(name) && is_dns_label(version)) {
        groups.emplace_back(name, version);
        m_preferred.emplace(name, version);
      }
    }
    m_groups = std::move(groups);
  }
  return &*m_groups;
}

namespace {

// True when discovery entry `r` is what `word` names: its plural, its
// singular, one of its short names, or its kind in any case (kubectl
// lower-cases what it is given and matches plural and singular, and
// expands short names).
bool names_resource(const json& r, const std::string& word) {
  std::string name = r.value("name", "");
  if (name.empty() || name.find('/') != std::string::npos) {
    return false; // a subresource
  }
  std::string lower = to_lower(word);
  if (name == lower || r.value("singularName", "") == lower ||
      to_lower(r.value("kind", "")) == lower) {
    return true;
  }
  for (const auto& s : r.value("shortNames", json::array())) {
    if (s.is_string() && s.get<std::string>() == lower) {
      return true;
    }
  }
  return false;
}

} // namespace

Expected<ResourceType>
Client::resolve_name(const ResourceId& id,
                     const std::vector<std::string>& preferred) {
  std::vector<std::pair<std::string, std::string>> where; // group, version
  if (!id.group.empty()) {
    if (!is_dns_subdomain(id.group)) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: '{}' is not an API group", id.group));
    }
    std::string v =
        id.version.empty() ? SNAP_TRY(preferred_version(id.group)) : id.version;
    if (!v.empty()) {
      where.emplace_back(id.group, v);
    }
  } else {
    where.emplace_back("", "v1");
    for (const auto& g : *SNAP_TRY(served_groups())) {
      where.push_back(g);
    }
  }
  std::vector<ResourceType> matches;
  for (const auto& [group, version] : where) {
    for (const auto& r : *SNAP_TRY(resources_of(group, version))) {
      if (names_resource(r, id.plural)) {
        matches.push_back({group, version, r.value("name", ""),
                           r.value("kind", ""), r.value("namespaced", true)});
        break;
      }
    }
  }
  std::string spelled =
      id.group.empty() ? id.plural : id.plural + "." + id.group;
  if (matches.empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("fabric: the server has no resource type '{}' "
                            "(kubectl api-resources lists what it serves)",
                            spelled));
  }
  if (matches.size() > 1) {
    auto pick = [&](auto&& pred) -> std::optional<ResourceType> {
      std::vector<ResourceType> picked;
      std::copy_if(matches.begin(), matches.end(), std::back_inserter(picked),
                   pred);
      return picked.size() == 1 ? std::optional(picked[0]) : std::nullopt;
    };
    if (auto core = pick([](const auto& t) { return t.group.empty(); })) {
      return *core;
    }
    if (auto mine = pick([&](const auto& t) {
          return std::find(preferred.begin(), preferred.end(), t.group) !=
                 preferred.end();
        })) {
      return *mine;
    }
    std::vector<std::string> names;
    for (const auto& t : matches) {
      names.push_back(t.name());
    }
    return fail(ErrorKind::usage,
                fmt::format("fabric: '{}' is ambiguous: the server serves {} "
                            "(name one with its group, as {}/NAME)",
                            spelled, join_list(names, " and "), names[0]));
  }
  return matches[0];
}

Expected<ResourceType> Client::type_of(const std::string& api_version,
                                       const std::string& kind) {
  auto slash = api_version.find('/');
  std::string group =
      slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version =
      slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  // Words from an archive or an ownerReference never become a path unless
  // they can be a group, a version and a kind.
  if ((!group.empty() && !is_dns_subdomain(group)) || !is_dns_label(version) ||
      !is_kind_name(kind)) {
    return fail(ErrorKind::not_found,
                fmt::format("fabric: '{}' of '{}' cannot name a Kubernetes "
                            "kind",
                            kind, api_version));
  }
  const json* resources = SNAP_TRY(resources_of(group, version));
  for (const auto& r : *resources) {
    std::string name = r.value("name", "");
    if (r.value("kind", "") == kind && name.find('/') == std::string::npos) {
      return ResourceType{group, version, name, kind,
                          r.value("namespaced", true)};
    }
  }
  return fail(ErrorKind::not_found,
              fmt::format("fabric: the server does not serve kind {} in {}",
                          kind, api_version));
}

std::string Client::path(const ResourceType& t, const std::string& ns,
                         const std::string& name) const {
  // Every segment is escaped: a '/' in any of them stays inside it.
  std::string p = t.group.empty() ? "/api/" + url_escape(t.version)
                                  : "/apis/" + url_escape(t.group) + "/" +
                                        url_escape(t.version);
  if (t.namespaced && !ns.empty()) {
    p += "/namespaces/" + url_escape(ns);
  }
  p += "/" + url_escape(t.plural);
  if (!name.empty()) {
    p += "/" + url_escape(name);
  }
  return p;
}

Expected<json> Client::get(const ResourceType& t, const std::string& ns,
                           const std::string& name) {
  return SNAP_TRY(call("GET", path(t, ns, name), json())).body;
}

Expected<std::optional<json>> Client::get_if(const ResourceType& t,
                                             const std::string& ns,
                                             const std::string& name) {
  JsonAnswer got =
      SNAP_TRY(call("GET", path(t, ns, name), json(), {.missing_ok = true}));
  if (got.status == 404) {
    return std::optional<json>();
  }
  return std::optional<json>(std::move(got.body));
}

Expected<std::vector<json>> Client::list(const ResourceType& t,
                                         const std::string& ns,
                                         const std::string& label_selector) {
  std::vector<json> items;
  std::string cont;
  bool restarted = false;
  for (;;) {
    std::string query = "limit=500";
    if (!label_selector.empty()) {
      query += "&labelSelector=" + url_escape(label_selector);
    }
    if (!cont.empty()) {
      query += "&continue=" + url_escape(cont);
    }
    auto page = call("GET", path(t, ns), json(), {.query = query});
    if (!page) {
      // An expired continue token (410 Gone): start the list again, once.
      if (!cont.empty() && !restarted &&
          page.error().message.find(" 410 ") != std::string::npos) {
        restarted = true;
        items.clear();
        cont.clear();
        continue;
      }
      return tl::unexpected(page.error());
    }
    json& list = page->body;
    for (auto& item : list["items"]) {
      item["kind"] = t.kind;
      item["apiVersion"] = t.api_version();
      items.push_back(std::move(item));
    }
    cont = list["metadata"].value("continue", "");
    if (cont.empty()) {
      return items;
    }
  }
}

Expected<json> Client::create(const ResourceType& t, const std::string& ns,
                              const json& object) {
  return SNAP_TRY(call("POST", path(t, ns), object)).body;
}

Expected<json> Client::admit(const ResourceType& t, const std::string& ns,
                             const json& object) {
  return SNAP_TRY(call("POST", path(t, ns), object, {.query = "dryRun=All"}))
      .body;
}

Expected<json> Client::replace(const ResourceType& t, const std::string& ns,
                               const std::string& name, const json& object) {
  return SNAP_TRY(call("PUT", path(t, ns, name), object)).body;
}

Expected<json> Client::merge_patch(const ResourceType& t, const std::string& ns,
                                   const std::string& name, const json& patch,
                                   bool cleanup) {
  return SNAP_TRY(call("PATCH", path(t, ns, name), patch,
                       {.content_type = "application/merge-patch+json",
                        .cleanup = cleanup}))
      .body;
}

Expected<void> Client::remove(const ResourceType& t, const std::string& ns,
                              const std::string& name, Propagation p,
                              bool cleanup) {
  const char* policy = p == Propagation::orphan       ? "Orphan"
                       : p == Propagation::foreground ? "Foreground"
                                                      : "Background";
  json options = {{"kind", "DeleteOptions"},
                  {"apiVersion", "v1"},
                  {"propagationPolicy", policy}};
  SNAP_TRY(call("DELETE", path(t, ns, name), options,
                {.cleanup = cleanup, .missing_ok = true}));
  return {};
}

Expected<void> Client::wait_gone(const ResourceType& t, const std::string& ns,
                                 const std::string& name, double timeout_s) {
  return poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        auto obj = SNAP_TRY(get_if(t, ns, name));
        return !obj.has_value();
      },
      [&] {
        return fmt::format("fabric: {} {}/{} is still being deleted after "
                           "{:.0f} s (finalizers?); check kubectl describe",
                           t.name(), ns, name, timeout_s);
      },
      100, 1000);
}

} // namespace snap::adapters::kube
