// SPDX-License-Identifier: MIT
// The one table of adapters (adapters/registry.cpp): names, aliases and
// factories. No static self-registration.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "snap/adapter.hpp"

namespace snap {

struct AdapterEntry {
  const AdapterInfo& (*info)();
  std::unique_ptr<Adapter> (*make)(AdapterContext ctx);
  // Describes an archive's payload offline (inspect): no connection, no
  // adapter instance. With `opts.verify`, it also checks the payload's
  // own integrity. Errors: `archive`.
  Expected<Fields> (*describe)(ArchiveReader& in, const DescribeOptions& opts);
  std::string_view alias; // "" when none
  // The Kubernetes RBAC a save with `flags` needs when it runs in a pod of
  // the cluster it works on (snap schedule writes the Role and ClusterRole
  // from it); nullptr for an adapter that talks to its target over the
  // target's own API and needs no rights in the cluster.
  KubeAccess (*kube_access)(const AdapterFlags& flags) = nullptr;
};

// Every adapter, in the order `snap adapters` prints them.
std::span<const AdapterEntry> all_adapters();

// The adapter called `name` or aliased so; nullptr when none.
const AdapterEntry* find_adapter(std::string_view name);

// The `usage` error for an unknown adapter name, with "did you mean".
Error unknown_adapter(std::string_view name);

} // namespace snap
