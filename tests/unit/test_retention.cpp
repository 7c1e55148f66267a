// SPDX-License-Identifier: MIT
// Retention tables with archives of crafted dates.
#include <catch2/catch.hpp>
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
