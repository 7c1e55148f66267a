// SPDX-License-Identifier: MIT
// Retention tables with archives of crafted dates.
#include <catch2/catch.hpp>
#include <chrono>
#include <set>

#include "snap/retention.hpp"

using namespace snap;

namespace {

ArchiveRecord at(const std::string& created, const std::string& target = "t") {
  return {created + ".zip", "consul", target, created};
}

std::set<std::string> kept(const std::vector<RetentionDecision>& d) {
  std::set<std::string> out;
  for (const auto& x : d) {
    if (x.keep) {
      out.insert(x.archive.created_at);
    }
  }
  return out;
}

} // namespace

TEST_CASE("keep-last keeps the newest N", "[unit][retention]") {
  auto d =
      apply_retention({at("2026-11-01T00:00:00Z"), at("2026-11-03T00:00:00Z"),
                       at("2026-11-02T00:00:00Z")},
                      {.last = 2});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-11-03T00:00:00Z", "2026-11-02T00:00:00Z"});
}

TEST_CASE("daily keeps the newest of each of the last N days",
          "[unit][retention]") {
  auto d =
      apply_retention({at("2026-11-03T23:00:00Z"), at("2026-11-03T01:00:00Z"),
                       at("2026-11-02T12:00:00Z"), at("2026-11-01T12:00:00Z")},
                      {.daily = 2});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-11-03T23:00:00Z", "2026-11-02T12:00:00Z"});
}

TEST_CASE("weekly and monthly buckets, union of rules", "[unit][retention]") {
  auto d = apply_retention({at("2026-11-18T00:00:00Z"), // W47
                            at("2026-11-16T00:00:00Z"), // W47
                            at("2026-11-10T00:00:00Z"), // W46
                            at("2026-10-20T00:00:00Z"), // October
                            at("2026-09-20T00:00:00Z")},
                           {.last = 1, .weekly = 2, .monthly = 3});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-11-18T00:00:00Z", "2026-11-10T00:00:00Z",
                              "2026-10-20T00:00:00Z", "2026-09-20T00:00:00Z"});
  for (const auto& x : d) {
    if (x.archive.created_at == "2026-11-18T00:00:00Z") {
      CHECK(x.reasons == std::vector<std::string>{"last", "weekly", "monthly"});
    }
  }
}

TEST_CASE("groups are separate and the newest of each is always kept",
          "[unit][retention]") {
  auto d = apply_retention({at("2026-11-01T00:00:00Z", "a"),
                            at("2026-11-02T00:00:00Z", "a"),
                            at("2026-10-01T00:00:00Z", "b")},
                           {.daily = 1});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-11-02T00:00:00Z", "2026-10-01T00:00:00Z"});
}

TEST_CASE("hourly and yearly buckets", "[unit][retention]") {
  auto d =
      apply_retention({at("2026-11-03T23:50:00Z"),
                       at("2026-11-03T23:10:00Z"), // same hour
                       at("2026-11-03T22:00:00Z"), at("2025-06-01T00:00:00Z"),
                       at("2024-12-31T23:00:00Z"), at("2024-01-01T00:00:00Z")},
                      {.hourly = 2, .yearly = 3});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-11-03T23:50:00Z", "2026-11-03T22:00:00Z",
                              "2025-06-01T00:00:00Z", "2024-12-31T23:00:00Z"});
}

TEST_CASE("keep-within counts back from the group's newest by the calendar",
          "[unit][retention]") {
  auto w = parse_keep_within("1m");
  REQUIRE(w);
  // A month before 31 March is 3 March (Go's AddDate, as restic counts).
  auto d =
      apply_retention({at("2026-03-31T12:00:00Z"), at("2026-03-03T12:00:00Z"),
                       at("2026-03-03T11:59:59Z")},
                      {.within = *w});
  CHECK(kept(d) ==
        std::set<std::string>{"2026-03-31T12:00:00Z", "2026-03-03T12:00:00Z"});
  for (const auto& x : d) {
    if (x.keep) {
      CHECK(x.reasons == std::vector<std::string>{"within"});
    }
  }
  auto both = parse_keep_within("1y2m3d4h");
  REQUIRE(both);
  CHECK(both->years == 1);
  CHECK(both->months == 2);
  CHECK(both->days == 3);
  CHECK(both->hours == 4);
  for (const char* bad :
       {"", "7", "d", "3d2y", "1w", "7d7d", "-1d", "99999999h"}) {
    INFO(bad);
    auto r = parse_keep_within(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::usage);
  }
}

TEST_CASE("an export and a snapshot of one cluster are two groups; labels "
          "part them when asked",
          "[unit][retention]") {
  auto rec = [](const std::string& created, const std::string& shape,
                std::map<std::string, std::string> labels = {}) {
    ArchiveRecord a = at(created);
    a.shape = shape;
    a.labels = std::move(labels);
    return a;
  };
  std::vector<ArchiveRecord> all = {
      rec("2026-11-03T00:00:00Z", "full/export", {{"tier", "hourly"}}),
      rec("2026-11-02T00:00:00Z", "reference/snapshot", {{"tier", "daily"}}),
      rec("2026-11-01T00:00:00Z", "reference/snapshot", {{"tier", "hourly"}})};
  CHECK(kept(apply_retention(all, {.last = 1})) ==
        std::set<std::string>{"2026-11-03T00:00:00Z", "2026-11-02T00:00:00Z"});
  RetentionPolicy by_label{.last = 1, .group_by_label_keys = {"tier"}};
  CHECK(kept(apply_retention(all, by_label)).size() == 3);
  RetentionPolicy by_labels{.last = 1, .group_by_labels = true};
  CHECK(kept(apply_retention(all, by_labels)).size() == 3);
}

TEST_CASE("a policy needs a rule and no negative count", "[unit][retention]") {
  CHECK(check_policy({}).error().kind == ErrorKind::usage);
  CHECK(check_policy({.hourly = -1}).error().kind == ErrorKind::usage);
  CHECK(check_policy({.yearly = 1}));
  CHECK(check_policy({.within = {.days = 1}}));
}

TEST_CASE("of two archives made in one second, the one written later is the "
          "newer",
          "[unit][retention]") {
  ArchiveRecord older = at("2026-11-03T00:00:00Z");
  older.path = "z-older.zip";
  ArchiveRecord newer = at("2026-11-03T00:00:00Z");
  newer.path = "a-newer.zip";
  newer.written = older.written + std::chrono::seconds(1);
  auto d = apply_retention({older, newer}, {.last = 1});
  for (const auto& x : d) {
    CHECK(x.keep == (x.archive.path == "a-newer.zip"));
  }
}
