// SPDX-License-Identifier: MIT
// Manifest (de)serialisation. Readers ignore unknown fields; anything a reader
// cannot safely ignore bumps k_format_version (STYLE §6).
#include "snap/manifest.hpp"

#include <set>
#include <sstream>

#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

Error newer_format(std::string_view version, std::string_view writer) {
  std::string by = writer.empty()
                       ? std::string()
                       : fmt::format(" (written by snap {})", writer);
  return {ErrorKind::archive,
          fmt::format("archive format version {}{} is newer than this snap "
                      "reads (up to {}) (upgrade snap to a release that reads "
                      "format version {})",
                      version, by, k_format_version, version)};
}

} // namespace

nlohmann::json manifest_to_json(const Manifest& m) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : m.entries) {
    entries.push_back({{"path", e.path},
                       {"size", e.size},
                       {"sha256", e.sha256},
                       {"media_type", e.media_type}});
  }
  nlohmann::json j = {{"format", "snap-archive"},
                      {"format_version", m.format_version},
                      {"snap_version", m.snap_version},
                      {"adapter", m.adapter},
                      {"adapter_payload_version", m.adapter_payload_version},
                      {"kind", m.kind},
                      {"backup_id", m.backup_id},
                      {"created_at", m.created_at},
                      {"target", m.target},
                      {"labels", m.labels},
                      {"source", m.source},
                      {"entries", entries}};
  if (!m.encryption.empty()) {
    j["encryption"] = {{"method", m.encryption}, {"applies_to", "payload/"}};
  }
  if (!m.origin.empty()) {
    j["origin"] = m.origin;
  }
  return j;
}

const ManifestEntry* Manifest::entry(std::string_view path) const {
  for (const auto& e : entries) {
    if (e.path == path) {
      return &e;
    }
  }
  return nullptr;
}

std::string manifest_to_text(const Manifest& m) {
  return manifest_to_json(m).dump(2) + "\n";
}

namespace {

using nlohmann::json;

Error malformed(std::string_view why) {
  return {ErrorKind::archive,
          fmt::format("manifest.json is malformed: {}", why)};
}

// The string at `key`; "" when absent and not `required`.
Expected<std::string> string_at(const json& j, const char* key,
                                bool required = true) {
  auto it = j.find(key);
  if (it == j.end() && !required) {
    return std::string();
  }
  if (it == j.end() || !it->is_string()) {
    return tl::unexpected(
        malformed(fmt::format("\"{}\" must be a string", key)));
  }
  return it->get<std::string>();
}

// A whole number from `low` to `high` at `key`, or `fallback` when absent
// and not required. Floats, booleans and strings are refused: 1.5 or true
// is no version.
Expected<std::int64_t> integer_at(const json& j, const char* key,
                                  std::int64_t low, std::int64_t high,
                                  std::optional<std::int64_t> fallback) {
  auto it = j.find(key);
  if (it == j.end() && fallback) {
    return *fallback;
  }
  if (it == j.end() || !it->is_number_integer()) {
    return tl::unexpected(
        malformed(fmt::format("\"{}\" must be a whole number", key)));
  }
  bool fits = it->is_number_unsigned()
                  ? it->get<std::uint64_t>() <= static_cast<std::uint64_t>(high)
                  : it->get<std::int64_t>() <= high;
  if (!fits || it->get<std::int64_t>() < low) {
    return tl::unexpected(malformed(fmt::format(
        "\"{}\" is {}, outside {} to {}", key, it->dump(), low, high)));
  }
  return it->get<std::int64_t>();
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == s.npos;
}

Expected<std::vector<ManifestEntry>> entries_of(const json& j) {
  auto it = j.find("entries");
  if (it == j.end() || !it->is_array()) {
    return tl::unexpected(malformed("\"entries\" must be an array"));
  }
  std::vector<ManifestEntry> out;
  std::set<std::string, std::less<>> seen;
  for (const auto& e : *it) {
    if (!e.is_object()) {
      return tl::unexpected(malformed("an entry is not an object"));
    }
    ManifestEntry entry;
    entry.path = SNAP_TRY(string_at(e, "path"));
    if (!entry.path.starts_with("payload/") ||
        !is_safe_entry_name(entry.path)) {
      return tl::unexpected(malformed(fmt::format(
          "entry path '{}' is not a name under payload/", entry.path)));
    }
    if (!seen.insert(entry.path).second) {
      return tl::unexpected(
          malformed(fmt::format("entry {} is listed twice", entry.path)));
    }
    entry.size = static_cast<std::uint64_t>(
        SNAP_TRY(integer_at(e, "size", 0, INT64_MAX, std::nullopt)));
    entry.sha256 = SNAP_TRY(string_at(e, "sha256"));
    if (!is_sha256_hex(entry.sha256)) {
      return tl::unexpected(malformed(
          fmt::format("entry {} has no sha256 of 64 hex digits", entry.path)));
    }
    entry.media_type = SNAP_TRY(string_at(e, "media_type", false));
    if (entry.media_type.empty()) {
      entry.media_type = "application/octet-stream";
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// An object at `key`, or an empty one when absent.
Expected<json> object_at(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) {
    return json::object();
  }
  if (!it->is_object()) {
    return tl::unexpected(
        malformed(fmt::format("\"{}\" must be an object", key)));
  }
  return *it;
}

} // namespace

Expected<Manifest> parse_manifest(std::string_view text) {
  std::string why;
  json j = parse_untrusted_json(text, &why);
  if (j.is_discarded()) {
    return tl::unexpected(malformed(why));
  }
  auto format = j.is_object() ? j.find("format") : j.end();
  if (!j.is_object() || format == j.end() || *format != "snap-archive") {
    return fail(ErrorKind::archive,
                "manifest.json is not a snap-archive manifest");
  }
  Manifest m;
  m.snap_version = SNAP_TRY(string_at(j, "snap_version", false));
  auto version = j.find("format_version");
  if (version != j.end() && version->is_number_integer() &&
      (version->is_number_unsigned() || version->get<std::int64_t>() > 0) &&
      version->get<std::uint64_t>() > k_format_version) {
    return tl::unexpected(newer_format(version->dump(), m.snap_version));
  }
  m.format_version = static_cast<int>(SNAP_TRY(
      integer_at(j, "format_version", 1, k_format_version, std::nullopt)));
  m.adapter = SNAP_TRY(string_at(j, "adapter"));
  m.adapter_payload_version = static_cast<int>(
      SNAP_TRY(integer_at(j, "adapter_payload_version", 1, INT32_MAX, 1)));
  m.kind = SNAP_TRY(string_at(j, "kind"));
  if (m.kind != "full" && m.kind != "reference") {
    return tl::unexpected(malformed(
        fmt::format("\"kind\" is '{}', neither full nor reference", m.kind)));
  }
  m.backup_id = SNAP_TRY(string_at(j, "backup_id"));
  m.created_at = SNAP_TRY(string_at(j, "created_at"));
  m.target = SNAP_TRY(object_at(j, "target"));
  if (m.target.contains("url") && !m.target["url"].is_string()) {
    return tl::unexpected(malformed("\"target.url\" must be a string"));
  }
  const json labels = SNAP_TRY(object_at(j, "labels"));
  for (const auto& [k, v] : labels.items()) {
    if (!v.is_string()) {
      return tl::unexpected(
          malformed(fmt::format("label {} is not a string", k)));
    }
    m.labels[k] = v.get<std::string>();
  }
  m.source = SNAP_TRY(object_at(j, "source"));
  m.origin = SNAP_TRY(string_at(j, "origin", false));
  if (j.contains("encryption")) {
    const json encryption = SNAP_TRY(object_at(j, "encryption"));
    m.encryption = SNAP_TRY(string_at(encryption, "method"));
  }
  if (!m.encryption.empty() && m.encryption != "aes-256") {
    return tl::unexpected(malformed(fmt::format(
        "encryption method '{}' is unknown (this snap knows aes-256)",
        m.encryption)));
  }
  if ((m.format_version == k_encrypted_format_version) !=
      (m.encryption == "aes-256")) {
    return tl::unexpected(
        malformed(fmt::format("format_version {} does not match its "
                              "encryption ('{}')",
                              m.format_version, m.encryption)));
  }
  m.entries = SNAP_TRY(entries_of(j));
  return m;
}

std::string format_header(const Manifest& m, std::string_view sha) {
  return fmt::format("snap-archive/{} adapter={} id={} created={} "
                     "manifest-sha256={}",
                     m.format_version, m.adapter, safe_token(m.backup_id),
                     m.created_at, sha);
}

Expected<ArchiveHeader> parse_header(std::string_view comment) {
  std::istringstream in{std::string(comment)};
  std::string word;
  in >> word;
  constexpr std::string_view prefix = "snap-archive/";
  if (!word.starts_with(prefix)) {
    return fail(ErrorKind::archive,
                "not a snap archive: its zip comment has no snap-archive "
                "header");
  }
  std::string digits = word.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 || digits[0] == '0' ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return fail(ErrorKind::archive,
                fmt::format("not a snap archive: header version '{}' is not "
                            "a whole number",
                            digits));
  }
  ArchiveHeader h;
  h.format_version = std::stoi(digits);
  if (h.format_version > k_format_version) {
    return tl::unexpected(newer_format(digits, ""));
  }
  std::set<std::string> seen;
  while (in >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    std::string* field = key == "adapter"           ? &h.adapter
                         : key == "id"              ? &h.backup_id
                         : key == "created"         ? &h.created_at
                         : key == "manifest-sha256" ? &h.manifest_sha256
                                                    : nullptr;
    if (field == nullptr) {
      continue; // a later format's field
    }
    if (!seen.insert(key).second) {
      return fail(ErrorKind::archive,
                  fmt::format("not a snap archive: its header names {}= "
                              "twice",
                              key));
    }
    *field = value;
  }
  if (h.adapter.empty() || !is_sha256_hex(h.manifest_sha256)) {
    return fail(ErrorKind::archive,
                "not a snap archive: its header lacks adapter or "
                "manifest-sha256");
  }
  return h;
}

Expected<void> check_header_matches(const ArchiveHeader& h, const Manifest& m) {
  std::string_view differs;
  if (h.format_version != m.format_version) {
    differs = "format version";
  } else if (h.adapter != m.adapter) {
    differs = "adapter";
  } else if (h.backup_id != safe_token(m.backup_id)) {
    differs = "backup id";
  } else if (h.created_at != m.created_at) {
    differs = "creation time";
  }
  if (!differs.empty()) {
    return fail(ErrorKind::archive,
                fmt::format("the header and the manifest name different {}s "
                            "(the archive was altered after it was written)",
                            differs));
  }
  return {};
}

bool is_safe_entry_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != name.npos ||
      name.find('\0') != name.npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    auto end = name.find('/', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    auto part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

} // namespace snap
