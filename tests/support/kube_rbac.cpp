// SPDX-License-Identifier: MIT
#include "tests/support/kube_rbac.hpp"

#include <vector>

#include "tests/support/process.hpp"

namespace snap::test {

std::optional<KubeAccess> kube_access(const std::string& line) {
  std::string method = line.substr(0, line.find(' '));
  std::string path = line.substr(line.find(' ') + 1);
  path = path.substr(0, path.find('?'));
  std::vector<std::string> seg = split_path(path);
  KubeAccess a;
  std::size_t at = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    at = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    a.group = seg[1];
    at = 3;
  } else {
    return std::nullopt; // discovery
  }
  if (seg.size() <= at) {
    return std::nullopt; // a group's discovery document
  }
  a.namespaced = seg[at] == "namespaces" && seg.size() > at + 2;
  std::size_t kind_at = a.namespaced ? at + 2 : at;
  a.resource = seg[kind_at];
  bool named = seg.size() > kind_at + 1;
  // A subresource (pods/proxy) is granted by its own name.
  if (seg.size() > kind_at + 2) {
    a.resource += "/" + seg[kind_at + 2];
  }
  a.verb = method == "GET"      ? (named ? "get" : "list")
           : method == "POST"   ? "create"
           : method == "PATCH"  ? "patch"
           : method == "PUT"    ? "update"
           : method == "DELETE" ? "delete"
                                : method;
  return a;
}

bool grants(const nlohmann::json& rules, const KubeAccess& access) {
  auto has = [](const nlohmann::json& list, const std::string& v) {
    for (const auto& x : list) {
      if (x == v || x == "*") {
        return true;
      }
    }
    return false;
  };
  for (const auto& r : rules) {
    if (has(r.value("apiGroups", nlohmann::json::array()), access.group) &&
        has(r.value("resources", nlohmann::json::array()), access.resource) &&
        has(r.value("verbs", nlohmann::json::array()), access.verb)) {
      return true;
    }
  }
  return false;
}

} // namespace snap::test
