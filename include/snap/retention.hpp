// SPDX-License-Identifier: MIT
// Which archives in a directory to keep, in the manner of restic's forget:
// groups by adapter and target, keeps the union of what each rule keeps, and
// always keeps a group's newest archive.
#pragma once

#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "snap/error.hpp"

namespace snap {

struct RetentionPolicy {
  int last = 0;
  int daily = 0;
  int weekly = 0;
  int monthly = 0;
};

struct ArchiveRecord {
  std::filesystem::path path;
  std::string adapter;
  std::string target;     // the target's URL, and its subject when it has one
  std::string created_at; // RFC 3339 UTC
  std::string backup_id;
};

struct RetentionDecision {
  ArchiveRecord archive;
  bool keep = false;
  std::vector<std::string> reasons; // rules that keep it ("last", "daily"…)
};

// The snap archives directly in `dir` whose structure opens cleanly; other
// files are ignored. Errors: `not_found` when `dir` is missing.
Expected<std::vector<ArchiveRecord>>
scan_archives(const std::filesystem::path& dir);

// Decides for every archive in `archives`, newest first within each group.
std::vector<RetentionDecision>
apply_retention(std::vector<ArchiveRecord> archives,
                const RetentionPolicy& policy);

} // namespace snap
