// SPDX-License-Identifier: MIT
// The one table that maps adapter names to factories (restic's all.go). A new
// adapter adds one line here and nothing anywhere else.
#include "snap/registry.hpp"

#include "adapters/factories.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

constexpr AdapterEntry k_adapters[] = {
    {adapters::consul_info, adapters::make_consul, adapters::describe_consul,
     ""},
    {adapters::camunda_info, adapters::make_camunda, adapters::describe_camunda,
     ""},
    {adapters::cloudify_info, adapters::make_cloudify,
     adapters::describe_cloudify, ""},
    {adapters::elasticsearch_info, adapters::make_elasticsearch,
     adapters::describe_elasticsearch, "es"},
    {adapters::fabric_info, adapters::make_fabric, adapters::describe_fabric,
     "", adapters::fabric_kube_access},
    {adapters::flux_info, adapters::make_flux, adapters::describe_flux, ""},
    {adapters::zeebe_info, adapters::make_zeebe, adapters::describe_zeebe, ""},
};

} // namespace

std::span<const AdapterEntry> all_adapters() { return k_adapters; }

const AdapterEntry* find_adapter(std::string_view name) {
  for (const auto& e : k_adapters) {
    if (e.info().name == name || (!e.alias.empty() && e.alias == name)) {
      return &e;
    }
  }
  return nullptr;
}

Error unknown_adapter(std::string_view name) {
  std::vector<std::string> names;
  for (const auto& e : k_adapters) {
    names.emplace_back(e.info().name);
  }
  std::string guess = closest_match(name, names);
  std::string hint = guess.empty()
                         ? std::string("run 'snap adapters' to list them")
                         : fmt::format("did you mean '{}'?", guess);
  return {ErrorKind::usage,
          fmt::format("unknown adapter '{}' ({})", name, hint)};
}

} // namespace snap
