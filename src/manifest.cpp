// SPDX-License-Identifier: MIT
// Manifest (de)serialisation. Readers ignore unknown fields; anything a reader
// cannot safely ignore bumps k_format_version (STYLE §6).
#include "snap/manifest.hpp"

#include <sstream>

#include "snap/text.hpp"

namespace snap {
namespace {

Error newer_format(int version, std::string_view writer) {
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
  return j;
}

std::string manifest_to_text(const Manifest& m) {
  return manifest_to_json(m).dump(2) + "\n";
}

Expected<Manifest> parse_manifest(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || j.value("format", "") != "snap-archive") {
      return fail(ErrorKind::archive,
                  "manifest.json is not a snap-archive manifest");
    }
    Manifest m;
    m.format_version = j.at("format_version").get<int>();
    m.snap_version = j.value("snap_version", "");
    if (m.format_version > k_format_version) {
      return tl::unexpected(newer_format(m.format_version, m.snap_version));
    }
    m.adapter = j.at("adapter").get<std::string>();
    m.adapter_payload_version = j.value("adapter_payload_version", 1);
    m.kind = j.at("kind").get<std::string>();
    m.backup_id = j.at("backup_id").get<std::string>();
    m.created_at = j.at("created_at").get<std::string>();
    m.target = j.value("target", nlohmann::json::object());
    if (j.contains("encryption") && j["encryption"].is_object()) {
      m.encryption = j["encryption"].value("method", "");
    }
    m.labels = j.value("labels", std::map<std::string, std::string>{});
    m.source = j.value("source", nlohmann::json::object());
    for (const auto& e : j.at("entries")) {
      m.entries.push_back({e.at("path").get<std::string>(),
                           e.at("size").get<std::uint64_t>(),
                           e.at("sha256").get<std::string>(),
                           e.value("media_type", "application/octet-stream")});
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorKind::archive,
                fmt::format("manifest.json is malformed: {}", e.what()));
  }
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
  ArchiveHeader h;
  try {
    h.format_version = std::stoi(word.substr(prefix.size()));
  } catch (const std::exception&) {
    return fail(ErrorKind::archive, "not a snap archive: bad header version");
  }
  if (h.format_version > k_format_version) {
    return tl::unexpected(newer_format(h.format_version, ""));
  }
  while (in >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    if (key == "adapter") {
      h.adapter = value;
    } else if (key == "id") {
      h.backup_id = value;
    } else if (key == "created") {
      h.created_at = value;
    } else if (key == "manifest-sha256") {
      h.manifest_sha256 = value;
    }
  }
  if (h.adapter.empty() || h.manifest_sha256.size() != 64) {
    return fail(ErrorKind::archive,
                "not a snap archive: its header lacks adapter or "
                "manifest-sha256");
  }
  return h;
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
