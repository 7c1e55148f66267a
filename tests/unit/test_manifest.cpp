// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "snap/manifest.hpp"

using namespace snap;

namespace {

Manifest sample() {
  Manifest m;
  m.snap_version = "0.1.0";
  m.adapter = "consul";
  m.kind = "full";
  m.backup_id = "42";
  m.created_at = "2026-11-21T10:15:00Z";
  m.entries.push_back(
      {"payload/consul.snap", 10, std::string(64, 'a'), "application/gzip"});
  return m;
}

} // namespace

TEST_CASE("a manifest survives text and back", "[unit][manifest]") {
  auto m = parse_manifest(manifest_to_text(sample()));
  REQUIRE(m);
  CHECK(m->adapter == "consul");
  CHECK(m->backup_id == "42");
  REQUIRE(m->entries.size() == 1);
  CHECK(m->entries[0].size == 10);
}

TEST_CASE("unknown manifest fields are ignored", "[unit][manifest]") {
  auto j = nlohmann::json::parse(manifest_to_text(sample()));
  j["something_new"] = {{"x", 1}};
  auto m = parse_manifest(j.dump());
  CHECK(m);
}

TEST_CASE("a newer format version is refused, naming it", "[unit][manifest]") {
  auto j = nlohmann::json::parse(manifest_to_text(sample()));
  j["format_version"] = 3;
  j["snap_version"] = "3.0.0";
  auto m = parse_manifest(j.dump());
  REQUIRE_FALSE(m);
  CHECK(m.error().kind == ErrorKind::archive);
  CHECK_THAT(m.error().message, Catch::Contains("format version 3") &&
                                    Catch::Contains("snap 3.0.0"));
}

TEST_CASE("a manifest missing fields is an archive error", "[unit][manifest]") {
  auto m = parse_manifest(R"({"format":"snap-archive","format_version":1})");
  REQUIRE_FALSE(m);
  CHECK(m.error().kind == ErrorKind::archive);
  CHECK_FALSE(parse_manifest("not json"));
  CHECK_FALSE(parse_manifest(R"({"format":"other"})"));
}

TEST_CASE("the header line round-trips and is checked", "[unit][manifest]") {
  std::string sha(64, 'b');
  auto h = parse_header(format_header(sample(), sha));
  REQUIRE(h);
  CHECK(h->format_version == 1);
  CHECK(h->adapter == "consul");
  CHECK(h->backup_id == "42");
  CHECK(h->created_at == "2026-11-21T10:15:00Z");
  CHECK(h->manifest_sha256 == sha);
  CHECK(format_header(sample(), sha) ==
        "snap-archive/1 adapter=consul id=42 created=2026-11-21T10:15:00Z "
        "manifest-sha256=" +
            sha);
  CHECK_FALSE(parse_header(""));
  CHECK_FALSE(parse_header("hello world"));
  auto newer =
      parse_header("snap-archive/7 adapter=consul manifest-sha256=" + sha);
  REQUIRE_FALSE(newer);
  CHECK_THAT(newer.error().message, Catch::Contains("format version 7"));
}

TEST_CASE("entry names must be relative and plain", "[unit][manifest]") {
  CHECK(is_safe_entry_name("manifest.json"));
  CHECK(is_safe_entry_name("payload/kv/0001.json"));
  CHECK_FALSE(is_safe_entry_name("/etc/passwd"));
  CHECK_FALSE(is_safe_entry_name("payload/../../x"));
  CHECK_FALSE(is_safe_entry_name(".."));
  CHECK_FALSE(is_safe_entry_name("payload//x"));
  CHECK_FALSE(is_safe_entry_name("payload/./x"));
  CHECK_FALSE(is_safe_entry_name("a\\b"));
  CHECK_FALSE(is_safe_entry_name(""));
}
