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

// Writes a snapshot zip at `path`: every file under `sample_dir` (when set),
// metadata.json, and tenants/<tenant>/secrets/0.json. Returns "" or the
// error the workflow would report.
std::string write_snapshot_zip(const std::filesystem::path& path,
                               const std::filesystem::path& sample_dir,
                               const nlohmann::json& metadata,
                               const std::string& tenant,
                               const Secrets& secrets);

// Reads the secrets of `tenant` back from a snapshot zip, as a restore
// does; a zip without metadata.json fails as Cloudify's does. A legacy
// archive restores with no secrets (they live in its SQL dump).
std::variant<Secrets, std::string>
read_snapshot_zip(const std::filesystem::path& path, const std::string& tenant);

} // namespace snap::emulator
