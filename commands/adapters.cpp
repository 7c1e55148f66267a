// SPDX-License-Identifier: MIT
// snap adapters: the adapters this build has and the verbs each supports.
#include "commands/commands.hpp"

namespace snap::commands {

CommandResult run_adapters() {
  CommandResult r;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  std::size_t name_width = 0, verbs_width = 0;
  for (const auto& e : all_adapters()) {
    name_width = std::max(name_width, e.info().name.size());
    verbs_width = std::max(verbs_width, e.info().caps.names().size());
  }
  for (const auto& e : all_adapters()) {
    const AdapterInfo& info = e.info();
    r.text += fmt::format("{:<{}}  {:<{}}  {}\n", info.name, name_width,
                          info.caps.names(), verbs_width, info.summary);
    nlohmann::ordered_json verbs = nlohmann::ordered_json::array();
    for (Capability c : k_all_capabilities) {
      if (info.caps.has(c)) {
        verbs.push_back(verb_name(c));
      }
    }
    list.push_back({{"name", info.name},
                    {"verbs", verbs},
                    {"default_addr", info.default_addr},
                    {"payload_version", info.payload_version},
                    {"summary", info.summary}});
  }
  r.json = {{"adapters", list}};
  return r;
}

nlohmann::ordered_json version_json() {
  return {{"snap_version", SNAP_VERSION},
          {"archive_format_version", k_format_version},
          {"adapters", run_adapters().json["adapters"]}};
}

} // namespace snap::commands
