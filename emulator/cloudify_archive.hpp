// SPDX-License-Identifier: MIT
// Snapshot archives as the emulated Cloudify Manager writes and reads them:
// the new (7.x) layout, with the manager's secrets as a dump file.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace snap::emulator {

using Secrets = std::map<std::string, std::string>;

// What a snapshot carries of the manager's state: the secrets of a tenant,
// and the admin user's password hash (the mgmt/ users dump: a restore puts
// the snapshot's users back, so a password changed since no longer works).
struct ManagerState {
  Secrets secrets;
  std::string admin_password_sha256; // "" when the dump has none
  // The executions in status scheduled (Cloudify 5.1's scheduled_for),
  // kept by a legacy snapshot's database dump; the emulator writes them
  // to a stand-in file, emulator-db/executions.json.
  nlohmann::json scheduled = nlohmann::json::array();
};

// Writes a snapshot zip at `path`: every file under `sample_dir` (when set),
// metadata.json, mgmt/users/0.json and tenants/<tenant>/secrets/0.json.
// With `corrupt_member`, the secrets dump is stored and one of its bytes
// flipped after the CRC was computed (a damaged archive on the file
// server). Returns "" or the error the workflow would report.
std::string write_snapshot_zip(const std::filesystem::path& path,
                               const std::filesystem::path& sample_dir,
                               const nlohmann::json& metadata,
                               const std::string& tenant,
                               const ManagerState& state,
                               bool corrupt_member = false);

// Reads the state of `tenant` back from a snapshot zip, as a restore does;
// a zip without metadata.json fails as Cloudify's does. A legacy archive
// restores with no secrets (they live in its SQL dump).
std::variant<ManagerState, std::string>
read_snapshot_zip(const std::filesystem::path& path, const std::string& tenant);

} // namespace snap::emulator
