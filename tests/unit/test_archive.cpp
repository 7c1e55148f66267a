// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "snap/archive.hpp"
#include "snap/sha256.hpp"
#include "tests/support/process.hpp"

using namespace snap;
using snap::test::TempDir;

namespace {

Manifest base_manifest() {
  Manifest m;
  m.snap_version = "test";
  m.adapter = "consul";
  m.kind = "full";
  m.backup_id = "7";
  m.created_at = "2026-11-21T10:15:00Z";
  return m;
}

std::filesystem::path write_archive(const TempDir& dir,
                                    const std::string& payload) {
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("data.bin", "application/octet-stream");
  REQUIRE(sink);
  REQUIRE((*sink)->write(as_bytes(payload)));
  auto out = (*w)->commit(base_manifest(), dir.path() / "a.zip");
  REQUIRE(out);
  return out->path;
}

} // namespace

TEST_CASE("an archive is written, renamed into place and reads back",
          "[unit][archive]") {
  TempDir dir;
  std::string payload(100'000, 'x');
  auto path = write_archive(dir, payload);
  CHECK(dir.list() == std::vector<std::string>{"a.zip"});
  struct stat st {};
  ::stat(path.c_str(), &st);
  CHECK((st.st_mode & 0777) == 0600);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  CHECK((*r)->manifest().entries.at(0).path == "payload/data.bin");
  CHECK((*r)->manifest().entries.at(0).sha256 == sha256_hex(payload));
  CHECK((*r)->verify());
  MemorySink back;
  REQUIRE((*r)->read_entry("payload/data.bin", back));
  CHECK(back.str() == payload);
  auto src = (*r)->open_entry("payload/data.bin");
  REQUIRE(src);
  MemorySink twice;
  REQUIRE(copy_stream(**src, twice));
  REQUIRE((*src)->rewind());
  REQUIRE(copy_stream(**src, twice));
  CHECK(twice.str() == payload + payload);
}

TEST_CASE("an incompressible entry meant for deflate round-trips",
          "[unit][archive]") {
  // libzip deflates it, finds the result larger, and re-reads the spool to
  // store it instead; the bytes must come back the same.
  TempDir dir;
  std::string payload;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 3'000'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    payload.push_back(static_cast<char>(x & 0xff));
  }
  auto path = write_archive(dir, payload);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  REQUIRE((*r)->verify());
  MemorySink back;
  REQUIRE((*r)->read_entry("payload/data.bin", back));
  CHECK(back.str() == payload);
  CHECK(snap::test::run({"/usr/bin/unzip", "-tq", path.string()}).exit_code ==
        0);
}

TEST_CASE("a zip payload can be checked while saving and after",
          "[unit][archive]") {
  // The real legacy Cloudify snapshot from Cloudify's own test suite.
  std::string sample = snap::test::read_file(
      SNAP_SHARED_DIR
      "/samples/cloudify/snap_with_scheduled_execs_20200310.zip");
  REQUIRE(sample.size() == 59296);
  TempDir dir;
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("cloudify.zip", "application/zip");
  REQUIRE((*sink)->write(as_bytes(sample)));
  auto meta = (*w)->read_zip_member("cloudify.zip", "metadata.json");
  REQUIRE(meta);
  CHECK(nlohmann::json::parse(*meta)["snapshot_version"] == "5.1.0");
  CHECK_FALSE((*w)->read_zip_member("cloudify.zip", "no-such-member"));
  auto out = (*w)->commit(base_manifest(), dir.path() / "c.zip");
  REQUIRE(out);
  auto r = ArchiveReader::open(out->path);
  REQUIRE(r);
  auto again = (*r)->read_zip_member("payload/cloudify.zip", "metadata.json");
  REQUIRE(again);
  CHECK(*again == *meta);
}

TEST_CASE("a payload that is not a zip fails the zip check",
          "[unit][archive]") {
  TempDir dir;
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("cloudify.zip", "application/zip");
  REQUIRE((*sink)->write(as_bytes("<html>proxy error</html>")));
  auto meta = (*w)->read_zip_member("cloudify.zip", "metadata.json");
  REQUIRE_FALSE(meta);
  CHECK(meta.error().kind == ErrorKind::archive);
}

TEST_CASE("an abandoned writer leaves nothing behind", "[unit][archive]") {
  TempDir dir;
  {
    auto w = ArchiveWriter::create(dir.path());
    REQUIRE(w);
    auto sink = (*w)->add_entry("data.bin", "application/octet-stream");
    REQUIRE((*sink)->write(as_bytes("partial")));
    CHECK(dir.list().size() == 1); // its private temporary folder
  }
  CHECK(dir.list().empty());
}

TEST_CASE("a writer into a missing directory is a usage error",
          "[unit][archive]") {
  auto w = ArchiveWriter::create("/nonexistent/dir");
  REQUIRE_FALSE(w);
  CHECK(w.error().kind == ErrorKind::usage);
}

TEST_CASE("the reader refuses what is not a whole snap archive",
          "[unit][archive]") {
  TempDir dir;
  SECTION("a missing file is not_found") {
    auto r = ArchiveReader::open(dir.path() / "none.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::not_found);
  }
  SECTION("a file that is not a zip") {
    snap::test::write_file(dir.path() / "x.zip", "hello");
    auto r = ArchiveReader::open(dir.path() / "x.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::archive);
  }
  SECTION("a zip without the header") {
    snap::test::write_file(dir.path() / "f.txt", "x");
    snap::test::run({"/usr/bin/zip", "-q", "-j",
                     (dir.path() / "plain.zip").string(),
                     (dir.path() / "f.txt").string()});
    auto r = ArchiveReader::open(dir.path() / "plain.zip");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("no snap-archive header"));
  }
  SECTION("a truncated archive") {
    auto path = write_archive(dir, std::string(50'000, 'y'));
    auto bytes = snap::test::read_file(path);
    snap::test::write_file(path, bytes.substr(0, bytes.size() - 100));
    auto r = ArchiveReader::open(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::archive);
  }
}
