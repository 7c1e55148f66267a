// SPDX-License-Identifier: MIT
// Retention rules. Time buckets come from the manifest's created_at (UTC), so
// renaming or copying files never changes what is kept.
#include "snap/retention.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "snap/archive.hpp"

namespace snap {
namespace fs = std::filesystem;

Expected<std::vector<ArchiveRecord>> scan_archives(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(ErrorKind::not_found,
                fmt::format("{}: no such directory", dir.string()));
  }
  std::vector<ArchiveRecord> out;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    if (!de.is_regular_file() || de.path().extension() != ".zip") {
      continue;
    }
    auto reader = ArchiveReader::open(de.path());
    if (!reader) {
      continue; // not a snap archive, or damaged: never ours to delete
    }
    const Manifest& m = (*reader)->manifest();
    std::string target = m.target.value("url", "");
    if (std::string subject = m.target.value("subject", ""); !subject.empty()) {
      target += " " + subject;
    }
    out.push_back({de.path(), m.adapter, target, m.created_at, m.backup_id});
  }
  return out;
}

std::vector<RetentionDecision>
apply_retention(std::vector<ArchiveRecord> archives,
                const RetentionPolicy& policy) {
  std::map<std::pair<std::string, std::string>, std::vector<ArchiveRecord>>
      groups;
  for (auto& a : archives) {
    groups[{a.adapter, a.target}].push_back(std::move(a));
  }
  std::vector<RetentionDecision> out;
  for (auto& [key, group] : groups) {
    std::sort(group.begin(), group.end(), [](const auto& a, const auto& b) {
      return a.created_at != b.created_at ? a.created_at > b.created_at
                                          : a.path > b.path;
    });
    std::vector<RetentionDecision> decided;
    for (auto& a : group) {
      decided.push_back({std::move(a), false, {}});
    }
    // Each bucket rule keeps the newest archive of its N newest buckets.
    auto bucket_rule = [&](int n, std::string_view name, auto bucket_of) {
      std::set<std::string> seen;
      for (auto& d : decided) {
        if (static_cast<int>(seen.size()) >= n) {
          break;
        }
        if (seen.insert(bucket_of(d.archive)).second) {
          d.keep = true;
          d.reasons.emplace_back(name);
        }
      }
    };
    bucket_rule(policy.last, "last",
                [](const ArchiveRecord& a) { return a.path.string(); });
    bucket_rule(policy.daily, "daily", [](const ArchiveRecord& a) {
      return a.created_at.substr(0, 10);
    });
    bucket_rule(policy.weekly, "weekly", [](const ArchiveRecord& a) {
      std::tm tm{};
      strptime(a.created_at.substr(0, 10).c_str(), "%Y-%m-%d", &tm);
      timegm(&tm);
      char buf[16];
      std::strftime(buf, sizeof buf, "%G-W%V", &tm);
      return std::string(buf);
    });
    bucket_rule(policy.monthly, "monthly", [](const ArchiveRecord& a) {
      return a.created_at.substr(0, 7);
    });
    if (!decided.empty() && !decided.front().keep) {
      decided.front().keep = true;
      decided.front().reasons.emplace_back("newest");
    }
    for (auto& d : decided) {
      out.push_back(std::move(d));
    }
  }
  return out;
}

} // namespace snap
