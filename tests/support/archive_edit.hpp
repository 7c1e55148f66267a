// SPDX-License-Identifier: MIT
// Test support: take a snap archive apart and put it back together, as
// someone who rewrites an archive would, to test what snap does with
// archives it never wrote.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace snap::test {

struct ArchiveParts {
  std::string comment;                      // the one-line header
  std::string manifest_text;                // manifest.json as stored
  std::map<std::string, std::string> files; // "payload/…" -> bytes
  nlohmann::json manifest() const;
};

// Reads every member of the zip at `path`.
ArchiveParts unpack(const std::filesystem::path& path);

// Writes `parts` as a zip at `out`, manifest.json first, exactly as given.
void pack(const ArchiveParts& parts, const std::filesystem::path& out);

// Makes `parts` self-consistent after an edit: `manifest` becomes the
// manifest text, its entries get the files' sizes and sha256 (files it does
// not list are added), and the header gets the new manifest's sha256.
void reseal(ArchiveParts& parts, nlohmann::json manifest);

} // namespace snap::test
