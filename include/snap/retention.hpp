// SPDX-License-Identifier: MIT
// Which archives in a directory to keep, in the manner of restic's forget:
// groups by adapter, target and shape (an Elasticsearch export and a snapshot
// of one cluster are two series), and by labels when asked; keeps the union
// of what each rule keeps, and always keeps a group's newest archive.
#pragma once

#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "snap/error.hpp"
#include "snap/manifest.hpp"

namespace snap {

// A --keep-within span, in restic's form "1y2m3d4h" (calendar years,
// months, days, hours), counted back from a group's newest archive.
struct KeepWithin {
  int years = 0;
  int months = 0;
  int days = 0;
  int hours = 0;
  bool empty() const { return years + months + days + hours == 0; }
};

// Parses "1y2m3d4h" (any of the parts, each once, in that order).
// Errors: `usage`.
Expected<KeepWithin> parse_keep_within(std::string_view text);

struct RetentionPolicy {
  int last = 0;
  int hourly = 0;
  int daily = 0;
  int weekly = 0;
  int monthly = 0;
  int yearly = 0;
  KeepWithin within;
  // Besides adapter, target and shape: every label, or these label keys.
  bool group_by_labels = false;
  std::vector<std::string> group_by_label_keys;
};

// Errors: `usage` for a negative count or no rule at all.
Expected<void> check_policy(const RetentionPolicy& policy);

struct ArchiveRecord {
  std::filesystem::path path;
  std::string adapter;
  std::string target;     // the target's URL, and its subject when it has one
  std::string created_at; // RFC 3339 UTC
  std::string backup_id;
  // What kind of backup: the manifest's kind and source mode
  // ("reference/snapshot", "full/export"); "" when unknown (s3 listings).
  std::string shape;
  std::map<std::string, std::string> labels;
  // The manifest, for local archives: what target-side pruning reads.
  std::optional<Manifest> manifest;
  // The file's modification time: of two archives made in one second
  // (created_at's resolution), the one written later is the newer.
  std::filesystem::file_time_type written{};
};

// The record of an archive whose manifest is `m`, at `path`.
ArchiveRecord archive_record(const std::filesystem::path& path,
                             const Manifest& m);

struct RetentionDecision {
  ArchiveRecord archive;
  bool keep = false;
  std::vector<std::string> reasons; // rules that keep it ("last", "daily"…)
};

// The snap archives directly in `dir` whose structure opens cleanly; other
// files are ignored. Errors: `not_found` when `dir` is missing.
Expected<std::vector<ArchiveRecord>>
scan_archives(const std::filesystem::path& dir);

// Decides for every archive in `archives`, newest first within each group;
// reasons name the rules that keep one ("last", "hourly", "within" …).
std::vector<RetentionDecision>
apply_retention(std::vector<ArchiveRecord> archives,
                const RetentionPolicy& policy);

} // namespace snap
