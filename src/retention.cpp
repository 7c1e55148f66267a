// SPDX-License-Identifier: MIT
// Retention rules. Time buckets come from the manifest's created_at (UTC), so
// renaming or copying files never changes what is kept.
#include "snap/retention.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "snap/archive.hpp"
#include "snap/text.hpp"

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
    out.push_back(archive_record(de.path(), (*reader)->manifest()));
    out.back().written = de.last_write_time(ec);
  }
  return out;
}

ArchiveRecord archive_record(const fs::path& path, const Manifest& m) {
  std::string target = m.target.value("url", "");
  if (std::string subject = m.target.value("subject", ""); !subject.empty()) {
    target += " " + subject;
  }
  std::string shape = m.kind;
  if (auto mode = m.source.find("mode");
      mode != m.source.end() && mode->is_string()) {
    shape += "/" + mode->get<std::string>();
  }
  return {path,        m.adapter, target,   m.created_at,
          m.backup_id, shape,     m.labels, m};
}

Expected<KeepWithin> parse_keep_within(std::string_view text) {
  KeepWithin w;
  std::string_view units = "ymdh";
  int* parts[] = {&w.years, &w.months, &w.days, &w.hours};
  std::size_t next_unit = 0;
  std::size_t i = 0;
  auto bad = [&] {
    return fail(ErrorKind::usage,
                fmt::format("--keep-within {}: expected a span such as 7d, "
                            "36h or 1y6m (y years, m months, d days, h hours)",
                            text));
  };
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    if (i == start || i == text.size() || i - start > 6) {
      return bad();
    }
    std::size_t unit = units.find(text[i], next_unit);
    if (unit == std::string_view::npos) {
      return bad();
    }
    *parts[unit] = std::stoi(std::string(text.substr(start, i - start)));
    next_unit = unit + 1;
    ++i;
  }
  if (w.empty()) {
    return bad();
  }
  return w;
}

Expected<void> check_policy(const RetentionPolicy& p) {
  for (int n : {p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly}) {
    if (n < 0) {
      return fail(ErrorKind::usage, "--keep-* values must not be negative");
    }
  }
  if (p.last + p.hourly + p.daily + p.weekly + p.monthly + p.yearly == 0 &&
      p.within.empty()) {
    return fail(ErrorKind::usage,
                "prune needs at least one rule (--keep-last, --keep-hourly, "
                "--keep-daily, --keep-weekly, --keep-monthly, --keep-yearly "
                "or --keep-within)");
  }
  return {};
}

namespace {

// Seconds since the epoch of an RFC 3339 UTC time; -1 when unreadable.
std::time_t epoch_of(const std::string& rfc3339) {
  return static_cast<std::time_t>(rfc3339_epoch_s(rfc3339));
}

// The instant `w` before `newest`, by the calendar (a month back from
// 31 March is 3 March, as Go's AddDate and so restic count).
std::time_t cutoff(const std::string& newest, const KeepWithin& w) {
  std::time_t t = epoch_of(newest);
  if (t < 0) {
    return t;
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  tm.tm_year -= w.years;
  tm.tm_mon -= w.months;
  tm.tm_mday -= w.days;
  tm.tm_hour -= w.hours;
  return timegm(&tm);
}

std::string group_key(const ArchiveRecord& a, const RetentionPolicy& p) {
  std::string key = a.adapter + '\n' + a.target + '\n' + a.shape;
  if (p.group_by_labels) {
    for (const auto& [k, v] : a.labels) {
      key += '\n' + k + '=' + v;
    }
  }
  for (const auto& k : p.group_by_label_keys) {
    auto it = a.labels.find(k);
    key += '\n' + k + (it == a.labels.end() ? "" : "=" + it->second);
  }
  return key;
}

} // namespace

std::vector<RetentionDecision>
apply_retention(std::vector<ArchiveRecord> archives,
                const RetentionPolicy& policy) {
  std::map<std::string, std::vector<ArchiveRecord>> groups;
  for (auto& a : archives) {
    std::string key = group_key(a, policy);
    groups[key].push_back(std::move(a));
  }
  std::vector<RetentionDecision> out;
  for (auto& [key, group] : groups) {
    std::sort(group.begin(), group.end(), [](const auto& a, const auto& b) {
      if (a.created_at != b.created_at) {
        return a.created_at > b.created_at;
      }
      return a.written != b.written ? a.written > b.written : a.path > b.path;
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
    bucket_rule(policy.hourly, "hourly", [](const ArchiveRecord& a) {
      return a.created_at.substr(0, 13);
    });
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
    bucket_rule(policy.yearly, "yearly", [](const ArchiveRecord& a) {
      return a.created_at.substr(0, 4);
    });
    if (!policy.within.empty() && !decided.empty()) {
      std::time_t from =
          cutoff(decided.front().archive.created_at, policy.within);
      for (auto& d : decided) {
        std::time_t t = epoch_of(d.archive.created_at);
        if (from >= 0 && t >= from) {
          d.keep = true;
          d.reasons.emplace_back("within");
        }
      }
    }
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
