// SPDX-License-Identifier: MIT
// Test support: what a request to the Kubernetes API asks of RBAC, so a
// test can check every request snap made against the rules it documents
// or creates.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace snap::test {

// The API group, resource (a subresource as "pods/proxy"), verb and scope
// of one request.
struct KubeAccess {
  std::string group;
  std::string resource;
  std::string verb;
  bool namespaced = false;
};

// The access a request-log line ("GET /apis/apps/v1/namespaces/x/
// statefulsets/y?...") asks for, or nothing for discovery (/version, /api,
// /apis and a group's own document), which every account may read.
std::optional<KubeAccess> kube_access(const std::string& line);

// Whether the PolicyRules `rules` grant `verb` on `resource` of `group`
// ("*" matching anything, as RBAC's rule resolver does).
bool grants(const nlohmann::json& rules, const KubeAccess& access);

} // namespace snap::test
