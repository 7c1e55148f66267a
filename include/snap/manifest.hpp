// SPDX-License-Identifier: MIT
// The archive manifest and one-line header of docs/contract.md §5, format
// version 1.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/error.hpp"

namespace snap {

// The newest format this snap reads; it writes 1, or 2 for an archive
// whose payload is encrypted (so an older snap refuses it plainly).
inline constexpr int k_format_version = 2;
inline constexpr int k_plain_format_version = 1;
inline constexpr int k_encrypted_format_version = 2;
inline constexpr std::string_view k_manifest_name = "manifest.json";

struct ManifestEntry {
  std::string path; // under payload/
  std::uint64_t size = 0;
  std::string sha256;
  std::string media_type;
};

struct Manifest {
  int format_version = k_plain_format_version;
  std::string snap_version;
  std::string adapter;
  int adapter_payload_version = 1;
  std::string kind; // "full" or "reference"
  std::string backup_id;
  std::string created_at; // RFC 3339 UTC
  nlohmann::json target = nlohmann::json::object();
  std::map<std::string, std::string> labels;
  nlohmann::json source = nlohmann::json::object();
  std::vector<ManifestEntry> entries;
  std::string encryption; // "" or "aes-256": every payload entry (format 2)
  // How the archive came to be: "save" (snap took the backup on the target,
  // so retention may delete it there), "download" (it packed a backup made
  // by someone else), or "" in archives older than the field.
  std::string origin;

  // The entry at `path`, or nullptr (a manifest names each path once).
  const ManifestEntry* entry(std::string_view path) const;
};

struct ArchiveHeader {
  int format_version = 0;
  std::string adapter;
  std::string backup_id;
  std::string created_at;
  std::string manifest_sha256;
};

// The manifest as pretty JSON text ending in a newline.
std::string manifest_to_text(const Manifest& manifest);

// Parses manifest text; unknown fields are ignored, known ones must have
// their type. Errors: `archive` when it is not a snap manifest, a field is
// missing or of the wrong type, an entry is listed twice, `kind` is unknown,
// or format_version is not a whole number from 1 to the newest this snap
// reads (a newer one's message names the version and the snap that wrote
// it).
Expected<Manifest> parse_manifest(std::string_view text);

// The zip comment: "snap-archive/1 adapter=… id=… created=… manifest-sha256=…".
std::string format_header(const Manifest& manifest,
                          std::string_view manifest_sha256);

// Parses a zip comment; errors: `archive` when it is not a snap header or
// names a newer format version.
Expected<ArchiveHeader> parse_header(std::string_view comment);

// Checks that the header `h` agrees with manifest `m` on format version,
// adapter, backup id and creation time. Errors: `archive`.
Expected<void> check_header_matches(const ArchiveHeader& h, const Manifest& m);

// True when `name` is relative and has no "..", "." or empty component.
bool is_safe_entry_name(std::string_view name);

// The manifest's view as JSON (what `inspect --json` prints).
nlohmann::json manifest_to_json(const Manifest& manifest);

} // namespace snap
