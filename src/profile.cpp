// SPDX-License-Identifier: MIT
#include "snap/profile.hpp"

#include <sys/stat.h>

#include <set>

#include "snap/io.hpp"
#include "snap/json.hpp"

namespace snap {
namespace {

using nlohmann::json;

const std::set<std::string> k_keys = {
    "adapter",      "addr",          "token_file", "token",
    "user",         "password_file", "password",   "ca_file",
    "cert_file",    "key_file",      "insecure",   "flags",
    "metrics_file", "notify_url",    "ca_path",    "tls_server_name"};

std::optional<std::string> as_text(const json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "true" : "false";
  }
  if (v.is_number()) {
    return v.dump();
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> Profile::get(std::string_view key) const {
  auto it = values.find(std::string(key));
  return it == values.end() ? std::nullopt : as_text(*it);
}

std::optional<std::string> Profile::flag(std::string_view name) const {
  auto flags = values.find("flags");
  if (flags == values.end() || !flags->is_object()) {
    return std::nullopt;
  }
  auto it = flags->find(std::string(name));
  return it == flags->end() ? std::nullopt : as_text(*it);
}

std::string config_path(const std::string& explicit_path, const EnvFn& env) {
  if (!explicit_path.empty()) {
    return explicit_path;
  }
  if (auto p = env("SNAP_CONFIG")) {
    return *p;
  }
  if (auto xdg = env("XDG_CONFIG_HOME")) {
    return *xdg + "/snap/config.json";
  }
  return env("HOME").value_or(".") + "/.config/snap/config.json";
}

namespace {

// The config file's document, checked to hold a "profiles" object.
Expected<json> load_config(const std::string& path, const std::string& name,
                           const std::function<void(std::string)>& warn) {
  auto text = read_small_file(path, "config file", 1 << 20);
  if (!text) {
    return fail(ErrorKind::config,
                fmt::format("--profile {}: {} (name the file with --config "
                            "or SNAP_CONFIG)",
                            name, text.error().message));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    warn(fmt::format("config file {} can be read by other users (mode "
                     "{:04o}); run: chmod 600 {}",
                     path, st.st_mode & 0777, path));
  }
  std::string why;
  json doc = parse_untrusted_json(*text, &why);
  if (doc.is_discarded()) {
    return fail(ErrorKind::config, fmt::format("{}: not JSON: {}", path, why));
  }
  if (!doc.is_object() || !doc.contains("profiles") ||
      !doc["profiles"].is_object()) {
    return fail(ErrorKind::config,
                fmt::format("{}: expected a JSON object with a \"profiles\" "
                            "object",
                            path));
  }
  return doc;
}

} // namespace

Expected<std::vector<std::string>> profile_names(const std::string& path) {
  json doc = SNAP_TRY(load_config(path, "", [](const std::string&) {}));
  std::vector<std::string> names;
  for (const auto& [k, v] : doc["profiles"].items()) {
    names.push_back(k);
  }
  return names;
}

Expected<Profile> load_profile(const std::string& path, const std::string& name,
                               std::string_view adapter,
                               const std::vector<ProfileFlag>& flags,
                               const std::function<void(std::string)>& warn) {
  json doc = SNAP_TRY(load_config(path, name, warn));
  const json& profiles = doc["profiles"];
  if (!profiles.contains(name) || !profiles[name].is_object()) {
    std::string known;
    for (const auto& [k, v] : profiles.items()) {
      known += (known.empty() ? "" : ", ") + k;
    }
    return fail(ErrorKind::config,
                fmt::format("{}: no profile '{}' (it has: {})", path, name,
                            known.empty() ? "none" : known));
  }
  Profile p{name, path, profiles[name]};
  for (const auto& [key, value] : p.values.items()) {
    if (!k_keys.contains(key)) {
      return fail(ErrorKind::config,
                  fmt::format("{}: profile '{}' has an unknown key '{}'", path,
                              name, key));
    }
    // "insecure": "yes" must not turn verification off, nor "addr": 5 send
    // a request to host "5": each key has one type.
    bool ok = key == "insecure" ? value.is_boolean()
              : key == "flags"  ? value.is_object()
                                : value.is_string();
    if (!ok) {
      return fail(ErrorKind::config,
                  fmt::format("{}: profile '{}': \"{}\" must be {}, not {}",
                              path, name, key,
                              key == "insecure" ? "true or false"
                              : key == "flags"  ? "an object"
                                                : "a string",
                              value.type_name()));
    }
  }
  if (auto a = p.get("adapter"); a && *a != adapter) {
    return fail(ErrorKind::config,
                fmt::format("{}: profile '{}' is for {}, not {}", path, name,
                            *a, adapter));
  }
  if (p.values.contains("flags")) {
    if (!p.values["flags"].is_object()) {
      return fail(ErrorKind::config,
                  fmt::format("{}: profile '{}': \"flags\" must be an object",
                              path, name));
    }
    for (const auto& [flag, value] : p.values["flags"].items()) {
      const std::string& name_of_flag = flag; // clang 14 cannot capture
      auto spec = std::find_if(flags.begin(), flags.end(), [&](const auto& f) {
        return f.name == name_of_flag;
      });
      if (spec == flags.end()) {
        return fail(ErrorKind::config,
                    fmt::format("{}: profile '{}' sets '{}', which is not a "
                                "flag of {}",
                                path, name, flag, adapter));
      }
      bool ok = spec->takes_value ? value.is_string() || value.is_number()
                                  : value.is_boolean();
      if (!ok) {
        return fail(ErrorKind::config,
                    fmt::format("{}: profile '{}': flag \"{}\" must be {}, "
                                "not {}",
                                path, name, flag,
                                spec->takes_value ? "a string or a number"
                                                  : "true or false",
                                value.type_name()));
      }
    }
  }
  for (std::string_view secret : {"token", "password"}) {
    if (p.values.contains(std::string(secret))) {
      warn(fmt::format("profile '{}' in {} holds a {} inline; keep it in a "
                       "file of its own and name that with {}_file",
                       name, path, secret, secret));
    }
  }
  return p;
}

} // namespace snap
