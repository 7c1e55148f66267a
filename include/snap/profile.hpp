// SPDX-License-Identifier: MIT
// Named profiles from the config file (--config, SNAP_CONFIG, else
// $XDG_CONFIG_HOME/snap/config.json): addresses, secret file paths, TLS
// files and adapter flags for `--profile NAME`, below flags and variables
// in the precedence of docs/contract.md §3.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/error.hpp"

namespace snap {

struct Profile {
  std::string name;
  std::string path; // the config file it came from
  nlohmann::json values = nlohmann::json::object();
  // A setting as text ("true" for true), or nothing when absent.
  std::optional<std::string> get(std::string_view key) const;
  // An adapter flag from the profile's "flags" object.
  std::optional<std::string> flag(std::string_view name) const;
};

using EnvFn = std::function<std::optional<std::string>(std::string_view)>;

// The config file snap reads: `explicit_path`, else SNAP_CONFIG, else
// $XDG_CONFIG_HOME (default ~/.config)/snap/config.json.
std::string config_path(const std::string& explicit_path, const EnvFn& env);

// An adapter flag a profile may set: a switch takes true or false, a flag
// with a value a string or a number.
struct ProfileFlag {
  std::string name;
  bool takes_value = true;
};

// Loads profile `name` for `adapter`, whose flags are `flags`. A config
// file others can read, or a profile holding a secret inline, is reported
// through `warn`. Errors: `config` for a missing file or profile, bad JSON,
// an unknown key, a value of the wrong type ("addr": 5, "insecure": "yes"),
// or a profile meant for another adapter.
Expected<Profile> load_profile(const std::string& path, const std::string& name,
                               std::string_view adapter,
                               const std::vector<ProfileFlag>& flags,
                               const std::function<void(std::string)>& warn);

// The names of the profiles in the config file at `path` (for completion).
// Errors: `config`, as load_profile.
Expected<std::vector<std::string>> profile_names(const std::string& path);

} // namespace snap
