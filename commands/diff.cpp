// SPDX-License-Identifier: MIT
// snap diff OLD NEW: what changed between two archives of the same adapter,
// from their manifests alone (no payload is read, no passphrase needed):
// the payload entries by checksum, the source fields the adapter recorded,
// and for Consul the records by type and the KV keys by prefix that the
// save counted (consul snapshot inspect's tables). Exits 0 whether or not
// they differ; the document says which.
#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

using ojson = nlohmann::ordered_json;

struct Tally {
  std::uint64_t count = 0;
  std::uint64_t size = 0;
};

// A manifest's source.records.<key> rows by name.
std::map<std::string, Tally> rows(const nlohmann::json& source,
                                  const char* key) {
  std::map<std::string, Tally> out;
  const auto& records = source.value("records", nlohmann::json::object());
  if (!records.is_object() || !records.contains(key) ||
      !records[key].is_array()) {
    return out;
  }
  for (const auto& r : records[key]) {
    if (r.is_object() && r.contains("name") && r["name"].is_string()) {
      out[r["name"].get<std::string>()] = {r.value("count", 0ull),
                                           r.value("size", 0ull)};
    }
  }
  return out;
}

std::string tally_text(const Tally& t) {
  return fmt::format("{} ({})", t.count, human_bytes(t.size));
}

// Names only in `a`, only in `b`, and in both with other values.
struct Changes {
  ojson added = ojson::array();
  ojson removed = ojson::array();
  ojson changed = ojson::array();
  bool empty() const {
    return added.empty() && removed.empty() && changed.empty();
  }
};

Changes compare(const std::map<std::string, Tally>& a,
                const std::map<std::string, Tally>& b, std::string& text,
                const char* what) {
  Changes c;
  for (const auto& [name, t] : b) {
    auto it = a.find(name);
    if (it == a.end()) {
      c.added.push_back({{"name", name}, {"count", t.count}, {"size", t.size}});
      text += fmt::format("  + {} {}: {}\n", what, terminal_safe(name),
                          tally_text(t));
    } else if (it->second.count != t.count || it->second.size != t.size) {
      c.changed.push_back({{"name", name},
                           {"old_count", it->second.count},
                           {"new_count", t.count},
                           {"old_size", it->second.size},
                           {"new_size", t.size}});
      text += fmt::format("  ~ {} {}: {} -> {}\n", what, terminal_safe(name),
                          tally_text(it->second), tally_text(t));
    }
  }
  for (const auto& [name, t] : a) {
    if (!b.contains(name)) {
      c.removed.push_back(
          {{"name", name}, {"count", t.count}, {"size", t.size}});
      text += fmt::format("  - {} {}: {}\n", what, terminal_safe(name),
                          tally_text(t));
    }
  }
  return c;
}

ojson changes_json(const Changes& c) {
  return {{"added", c.added}, {"removed", c.removed}, {"changed", c.changed}};
}

ojson side(const std::string& path, const Manifest& m) {
  return {{"archive", path},
          {"backup_id", m.backup_id},
          {"created_at", m.created_at},
          {"target", redact_url(m.target.value("url", ""))}};
}

} // namespace

Expected<CommandResult> run_diff(const DiffOptions& opts, Context& ctx) {
  auto old_local = SNAP_TRY(local_archive(opts.old_archive, ctx));
  auto new_local = SNAP_TRY(local_archive(opts.new_archive, ctx));
  auto old_reader = SNAP_TRY(ArchiveReader::open(old_local->path));
  auto new_reader = SNAP_TRY(ArchiveReader::open(new_local->path));
  const Manifest& a = old_reader->manifest();
  const Manifest& b = new_reader->manifest();
  if (a.adapter != b.adapter) {
    return fail(ErrorKind::archive,
                fmt::format("{} is a {} archive and {} a {} one; diff "
                            "compares archives of one adapter",
                            opts.old_archive, a.adapter, opts.new_archive,
                            b.adapter));
  }

  std::string text = fmt::format(
      "{} archives: {} (backup {}, {}) -> {} (backup {}, {})\n", a.adapter,
      terminal_safe(opts.old_archive), terminal_safe(a.backup_id), a.created_at,
      terminal_safe(opts.new_archive), terminal_safe(b.backup_id),
      b.created_at);

  // The payload entries, by checksum.
  std::map<std::string, Tally> old_entries, new_entries;
  std::map<std::string, std::string> old_sums;
  for (const auto& e : a.entries) {
    old_entries[e.path] = {1, e.size};
    old_sums[e.path] = e.sha256;
  }
  Changes entries;
  for (const auto& e : b.entries) {
    new_entries[e.path] = {1, e.size};
    auto it = old_sums.find(e.path);
    if (it == old_sums.end()) {
      entries.added.push_back({{"path", e.path}, {"size", e.size}});
      text += fmt::format("  + entry {} ({})\n", terminal_safe(e.path),
                          human_bytes(e.size));
    } else if (it->second != e.sha256) {
      entries.changed.push_back({{"path", e.path},
                                 {"old_size", old_entries[e.path].size},
                                 {"new_size", e.size}});
      text += fmt::format("  ~ entry {} ({} -> {})\n", terminal_safe(e.path),
                          human_bytes(old_entries[e.path].size),
                          human_bytes(e.size));
    }
  }
  for (const auto& [path, t] : old_entries) {
    if (!new_entries.contains(path)) {
      entries.removed.push_back({{"path", path}, {"size", t.size}});
      text += fmt::format("  - entry {} ({})\n", terminal_safe(path),
                          human_bytes(t.size));
    }
  }

  // The source's plain fields (Consul's index, an Elasticsearch snapshot's
  // name…); counts and lists are compared below or not at all.
  ojson fields = ojson::array();
  for (const auto& [k, v] : b.source.items()) {
    if (v.is_object() || v.is_array()) {
      continue;
    }
    nlohmann::json old = a.source.value(k, nlohmann::json());
    if (old != v) {
      fields.push_back({{"field", k}, {"old", old}, {"new", v}});
      text += fmt::format(
          "  ~ {}: {} -> {}\n", terminal_safe(k),
          terminal_safe(old.is_string() ? old.get<std::string>() : old.dump()),
          terminal_safe(v.is_string() ? v.get<std::string>() : v.dump()));
    }
  }

  // What the adapter counted inside the payload at save time (Consul).
  bool counted = a.source.contains("records") && b.source.contains("records");
  Changes types = compare(rows(a.source, "types"), rows(b.source, "types"),
                          text, "records");
  Changes kv =
      compare(rows(a.source, "kv"), rows(b.source, "kv"), text, "keys");

  bool same = entries.empty() && fields.empty() && types.empty() && kv.empty();
  if (same) {
    text += "  no differences in what the manifests record\n";
  }
  if (!counted && a.adapter == "consul") {
    text += "  (an archive made before snap counted Consul's records: only "
            "its entries and fields were compared)\n";
  }

  CommandResult r;
  r.text = text;
  r.json = {{"adapter", a.adapter},
            {"old", side(opts.old_archive, a)},
            {"new", side(opts.new_archive, b)},
            {"identical", same},
            {"entries", changes_json(entries)},
            {"fields", fields},
            {"records", counted ? changes_json(types) : ojson()},
            {"kv", counted ? changes_json(kv) : ojson()}};
  return r;
}

} // namespace snap::commands
