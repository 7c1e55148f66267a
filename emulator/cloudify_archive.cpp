// SPDX-License-Identifier: MIT
// Zip handling for the emulated Cloudify Manager. Dump files are JSON
// {"type": ..., "items": [...]}, as the manager's snapshot_create.py writes
// them; the restorer finds them by their type under tenants/<tenant>/.
#include "emulator/cloudify_archive.hpp"

#include <fstream>

#include <fmt/format.h>
#include <zip.h>

namespace snap::emulator {

using nlohmann::json;

std::string write_snapshot_zip(const std::filesystem::path& path,
                               const std::filesystem::path& sample_dir,
                               const json& metadata, const std::string& tenant,
                               const ManagerState& state, bool corrupt_member) {
  const Secrets& secrets = state.secrets;
  std::map<std::string, std::string> files;
  if (!sample_dir.empty()) {
    for (const auto& f :
         std::filesystem::recursive_directory_iterator(sample_dir)) {
      if (f.is_regular_file()) {
        std::ifstream in(f.path(), std::ios::binary);
        files[std::filesystem::relative(f.path(), sample_dir).string()] =
            std::string(std::istreambuf_iterator<char>(in), {});
      }
    }
  }
  files["metadata.json"] = metadata.dump();
  json items = json::array();
  for (const auto& [k, v] : secrets) {
    items.push_back({{"key", k},
                     {"value", v},
                     {"visibility", "tenant"},
                     {"is_hidden_value", false}});
  }
  const std::string secrets_name =
      fmt::format("tenants/{}/secrets/0.json", tenant);
  files[secrets_name] = json{{"type", "secrets"}, {"items", items}}.dump();
  // snapshot_create.py dumps the users of mgmt/ with their password hashes.
  json users = json::array();
  if (!state.admin_password_sha256.empty()) {
    users.push_back({{"username", "admin"},
                     {"password", state.admin_password_sha256},
                     {"role", "sys_admin"}});
  }
  files["mgmt/users/0.json"] = json{{"type", "users"}, {"items", users}}.dump();
  if (!state.scheduled.empty()) {
    files["emulator-db/executions.json"] =
        json{{"type", "executions"}, {"items", state.scheduled}}.dump();
  }
  int zerr = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  if (za == nullptr) {
    return "cannot write the snapshot archive";
  }
  for (const auto& [name, data] : files) {
    zip_source_t* src = zip_source_buffer(za, data.data(), data.size(), 0);
    zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE);
    if (corrupt_member && name == secrets_name && idx >= 0) {
      zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE,
                               0);
    }
  }
  if (zip_close(za) != 0) {
    zip_discard(za);
    return "cannot write the snapshot archive";
  }
  if (corrupt_member) {
    // The stored dump's text is in the file as is: flip one of its bytes.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    auto at = bytes.find(R"("type":"secrets")");
    if (at != std::string::npos) {
      f.seekp(static_cast<std::streamoff>(at + 2));
      f.put('T');
    }
  }
  return "";
}

std::variant<ManagerState, std::string>
read_snapshot_zip(const std::filesystem::path& path,
                  const std::string& tenant) {
  int zerr = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &zerr);
  if (za == nullptr) {
    return std::string("zipfile.BadZipFile: File is not a zip file");
  }
  auto read = [&](zip_int64_t idx) {
    std::string out;
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(idx), 0);
    char buf[65536];
    zip_int64_t n;
    while (zf != nullptr && (n = zip_fread(zf, buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    }
    if (zf != nullptr) {
      zip_fclose(zf);
    }
    return out;
  };
  zip_int64_t meta_idx = zip_name_locate(za, "metadata.json", 0);
  json meta =
      meta_idx < 0 ? json() : json::parse(read(meta_idx), nullptr, false);
  ManagerState state;
  std::string prefix = fmt::format("tenants/{}/", tenant);
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); ++i) {
    std::string name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    bool dump_file = (name.starts_with(prefix) || name.starts_with("mgmt/") ||
                      name == "emulator-db/executions.json") &&
                     name.ends_with(".json");
    if (!dump_file) {
      continue;
    }
    json dump = json::parse(read(i), nullptr, false);
    if (!dump.is_object()) {
      continue;
    }
    if (dump.value("type", "") == "secrets") {
      for (const auto& item : dump["items"]) {
        state.secrets[item.value("key", "")] = item.value("value", "");
      }
    } else if (name == "emulator-db/executions.json" &&
               dump.value("items", json()).is_array()) {
      state.scheduled = dump["items"];
    } else if (dump.value("type", "") == "users") {
      for (const auto& user : dump["items"]) {
        if (user.value("username", "") == "admin") {
          state.admin_password_sha256 = user.value("password", "");
        }
      }
    }
  }
  zip_discard(za);
  if (!meta.is_object() || !meta.contains("snapshot_version")) {
    return std::string("No metadata found in snapshot");
  }
  return state;
}

} // namespace snap::emulator
