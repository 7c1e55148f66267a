// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "snap/archive.hpp"
#include "snap/sha256.hpp"
#include "src/zip_writer.hpp"
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

// `n` bytes that do not compress.
std::string noise(std::size_t n, std::uint64_t seed = 88172645463325252ull) {
  std::string out;
  out.reserve(n);
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out.push_back(static_cast<char>(x & 0xff));
  }
  return out;
}

// The 32-bit little-endian number at `at` in `bytes`.
std::uint32_t le32(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(bytes.at(at + i));
  }
  return v;
}

std::filesystem::path
write_archive(const TempDir& dir, const std::string& payload,
              const std::string& media = "application/octet-stream") {
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("data.bin", media);
  REQUIRE(sink);
  REQUIRE((*sink)->write(as_bytes(payload)));
  auto out = (*w)->commit(base_manifest(), dir.path() / "a.zip");
  REQUIRE(out);
  return out->path;
}

// Where the local header of entry `name` starts in the zip `bytes`.
std::size_t local_header(const std::string& bytes, const std::string& name) {
  auto header = bytes.find("PK\x03\x04");
  while (header != std::string::npos &&
         bytes.compare(header + 30, name.size(), name) != 0) {
    header = bytes.find("PK\x03\x04", header + 1);
  }
  return header;
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
  // The writer deflates it, finds the result larger, and copies the spool
  // again to store it instead; the bytes must come back the same.
  TempDir dir;
  std::string payload = noise(3'000'000);
  auto path = write_archive(dir, payload);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  REQUIRE((*r)->verify());
  MemorySink back;
  REQUIRE((*r)->read_entry("payload/data.bin", back));
  CHECK(back.str() == payload);
  CHECK(snap::test::run({"/usr/bin/unzip", "-tq", path.string()}).exit_code ==
        0);
  auto listing = snap::test::run({"/usr/bin/zipinfo", path.string()}).out;
  CHECK_THAT(listing, Catch::Contains("3000000 bx stor"));
}

TEST_CASE("a large compressed first payload is written once in place",
          "[unit][archive]") {
  // The payload streams into the archive file itself, after the region kept
  // for the manifest; the other entries are appended at commit.
  TempDir dir;
  const std::string payload = noise(20 << 20);
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("big.snap", "application/gzip");
  REQUIRE(sink);
  // A retried download starts over: what came before must not remain.
  REQUIRE((*sink)->write(as_bytes(std::string(3 << 20, 'a'))));
  REQUIRE((*sink)->reset());
  for (std::size_t at = 0; at < payload.size(); at += 100'000) {
    REQUIRE((*sink)->write(
        as_bytes(std::string_view(payload).substr(at, 100'000))));
  }
  auto early = (*w)->entry_source("big.snap");
  REQUIRE(early);
  MemorySink seen;
  REQUIRE(copy_stream(**early, seen));
  CHECK(seen.str() == payload);
  REQUIRE((*w)->add_json("notes.json", {{"note", std::string(5000, 'n')}}));
  auto out = (*w)->commit(base_manifest(), dir.path() / "a.zip");
  REQUIRE(out);
  w->reset();
  CHECK(dir.list() == std::vector<std::string>{"a.zip"});

  const std::string bytes = snap::test::read_file(out->path);
  CHECK(le32(bytes, 0) == 0x04034b50);
  CHECK(bytes.substr(30, 13) == "manifest.json");
  CHECK(le32(bytes, detail::k_manifest_region) == 0x04034b50);
  CHECK(bytes.find(payload.substr(0, 4096)) ==
        detail::k_manifest_region +
            detail::local_header_size("payload/big.snap"));
  CHECK(bytes.size() < payload.size() + detail::k_manifest_region + 4096);

  auto r = ArchiveReader::open(out->path);
  REQUIRE(r);
  REQUIRE((*r)->verify());
  MemorySink back;
  REQUIRE((*r)->read_entry("payload/big.snap", back));
  CHECK(back.str() == payload);
  auto notes = (*r)->read_json("payload/notes.json");
  REQUIRE(notes);
  CHECK((*notes)["note"] == std::string(5000, 'n'));
  CHECK(snap::test::run({"/usr/bin/unzip", "-tq", out->path.string()})
            .exit_code == 0);
}

TEST_CASE("a small first payload makes a compact archive", "[unit][archive]") {
  TempDir dir;
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("small.snap", "application/gzip");
  REQUIRE((*sink)->write(as_bytes("tiny")));
  auto out = (*w)->commit(base_manifest(), dir.path() / "a.zip");
  REQUIRE(out);
  CHECK(out->size < 4096);
  auto r = ArchiveReader::open(out->path);
  REQUIRE(r);
  CHECK((*r)->verify());
}

TEST_CASE("a manifest too large for its region is written compactly",
          "[unit][archive]") {
  TempDir dir;
  const std::string payload = noise(17 << 20);
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  auto sink = (*w)->add_entry("big.snap", "application/gzip");
  REQUIRE((*sink)->write(as_bytes(payload)));
  Manifest m = base_manifest();
  // Hex of noise deflates to about half: still larger than the region.
  std::string hex;
  for (unsigned char c : noise(90'000, 7)) {
    hex += fmt::format("{:02x}", c);
  }
  m.source = {{"blob", hex}};
  auto out = (*w)->commit(m, dir.path() / "a.zip");
  REQUIRE(out);
  auto r = ArchiveReader::open(out->path);
  REQUIRE(r);
  CHECK((*r)->manifest().source["blob"] == hex);
  REQUIRE((*r)->verify());
  CHECK(snap::test::run({"/usr/bin/unzip", "-tq", out->path.string()})
            .exit_code == 0);
}

TEST_CASE("the manifest region is filled exactly or not at all",
          "[unit][archive]") {
  // Around the region's size, deflate stops fitting first, then a padding
  // field of 1 to 3 bytes cannot exist, then nothing fits.
  const std::uint64_t room =
      detail::k_manifest_region - detail::local_header_size("manifest.json");
  int deflated = 0, stored = 0, none = 0;
  for (std::uint64_t n = room - 40; n <= room + 2; ++n) {
    std::string text = noise(n, n);
    auto e = detail::region_entry("manifest.json", text, 0);
    if (!e) {
      ++none;
      continue;
    }
    CHECK(e->bytes.size() == detail::k_manifest_region);
    CHECK(e->record.size == n);
    (e->record.deflated ? deflated : stored)++;
  }
  CHECK(deflated > 0);
  CHECK(stored > 0);
  CHECK(none >= 3 + 2);
}

TEST_CASE("a zip payload can be checked while saving and after",
          "[unit][archive]") {
  // The real legacy Cloudify snapshot from Cloudify's own test suite.
  std::string sample = snap::test::read_file(
      SNAP_UPSTREAM_DIR "/cloudify/snap_with_scheduled_execs_20200310.zip");
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

TEST_CASE("the read-back check finds a stored entry damaged after writing",
          "[unit][archive]") {
  TempDir dir;
  std::string payload = noise(300'000);
  auto path = write_archive(dir, payload);
  {
    auto r = ArchiveReader::open(path);
    REQUIRE(r);
    CHECK((*r)->verify_crc());
  }
  // One byte in the middle of the payload's data, as a bad disk block would
  // change it; the directory and manifest stay intact.
  std::string bytes = snap::test::read_file(path);
  auto at = bytes.find(payload.substr(150'000, 64));
  REQUIRE(at != std::string::npos);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  snap::test::write_file(path, bytes);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  auto crc = (*r)->verify_crc();
  REQUIRE(!crc);
  CHECK(crc.error().kind == ErrorKind::archive);
  INFO(crc.error().message);
  CHECK(crc.error().message.find("payload/data.bin is damaged: CRC error") !=
        std::string::npos);
  // The full check finds it too, by its SHA-256.
  CHECK(!(*r)->verify());
}

TEST_CASE("the read-back check reads a stored entry where the writer put it",
          "[unit][archive]") {
  TempDir dir;
  std::string payload = noise(3'000'000);
  auto path = write_archive(dir, payload, "application/gzip");
  std::string bytes = snap::test::read_file(path);
  const std::string name = "payload/data.bin";
  auto header = local_header(bytes, name);
  REQUIRE(header != std::string::npos);
  HeaderOffsets at{{name, header}};
  {
    auto r = ArchiveReader::open(path);
    REQUIRE(r);
    CHECK((*r)->verify_crc(at));
    // An offset that is not the entry's local header is refused, not read.
    auto wrong = (*r)->verify_crc({{name, header + 1}});
    REQUIRE(!wrong);
    CHECK(wrong.error().message.find(
              "payload/data.bin has no local header where it was written") !=
          std::string::npos);
  }
  // The last byte of the data changed, as a bad block would change it.
  auto last = bytes.find(payload.substr(payload.size() - 64));
  REQUIRE(last != std::string::npos);
  bytes[last + 63] = static_cast<char>(bytes[last + 63] ^ 0x01);
  snap::test::write_file(path, bytes);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  auto crc = (*r)->verify_crc(at);
  REQUIRE(!crc);
  CHECK(crc.error().kind == ErrorKind::archive);
  CHECK(crc.error().message.find("payload/data.bin is damaged: CRC error") !=
        std::string::npos);
}

TEST_CASE("the read-back check of a large entry reads it in parts and "
          "still finds one damaged byte",
          "[unit][archive]") {
  // Over 128 MiB: read back in parts on several threads where the machine
  // has two cores or more, their CRC-32s joined.
  TempDir dir;
  std::string payload(150u << 20, 'z');
  auto path = write_archive(dir, payload, "application/gzip");
  std::string bytes = snap::test::read_file(path);
  const std::string name = "payload/data.bin";
  HeaderOffsets headers{{name, local_header(bytes, name)}};
  REQUIRE(headers[name] != std::string::npos);
  {
    auto r = ArchiveReader::open(path);
    REQUIRE(r);
    CHECK((*r)->verify_crc(headers));
  }
  // A byte in the second half, another part than the first: after the
  // header's 30 bytes, the name and the extra field.
  auto extra = static_cast<unsigned char>(bytes[headers[name] + 28]) |
               static_cast<unsigned char>(bytes[headers[name] + 29]) << 8;
  auto at = headers[name] + 30 + name.size() + extra + (100u << 20);
  REQUIRE(bytes[at] == 'z');
  bytes[at] = 'Z';
  snap::test::write_file(path, bytes);
  auto r = ArchiveReader::open(path);
  REQUIRE(r);
  auto crc = (*r)->verify_crc(headers);
  REQUIRE(!crc);
  CHECK(crc.error().message.find("payload/data.bin is damaged: CRC error") !=
        std::string::npos);
}

namespace {

// Keeps what it is given; fails once it has more than `limit` bytes.
struct Collect : Sink {
  std::string seen;
  std::size_t limit = std::string::npos;
  Expected<void> write(Bytes data) override {
    seen.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (seen.size() > limit) {
      return fail(ErrorKind::remote, "the tap refused");
    }
    return {};
  }
  bool reset() override {
    seen.clear();
    return true;
  }
};

} // namespace

TEST_CASE("a tap of an entry sees the bytes the archive keeps",
          "[unit][archive]") {
  TempDir dir;
  std::string payload = noise(5'500'000);
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  Collect tap;
  auto sink = (*w)->add_entry("data.gz", "application/gzip", {&tap});
  REQUIRE(sink);
  for (std::size_t at = 0; at < payload.size(); at += 70'001) {
    REQUIRE((*sink)->write(as_bytes(payload.substr(at, 70'001))));
  }
  REQUIRE((*w)->drain("data.gz"));
  CHECK(tap.seen == payload);
  auto out = (*w)->commit(base_manifest(), dir.path() / "a.zip");
  REQUIRE(out);
  auto r = ArchiveReader::open(out->path);
  REQUIRE(r);
  CHECK((*r)->verify());
  CHECK((*r)->manifest().entries.at(0).sha256 == sha256_hex(payload));
}

TEST_CASE("a tap that fails fails the entry", "[unit][archive]") {
  TempDir dir;
  auto w = ArchiveWriter::create(dir.path());
  REQUIRE(w);
  Collect tap;
  tap.limit = 1 << 20;
  auto sink = (*w)->add_entry("data.gz", "application/gzip", {&tap});
  REQUIRE(sink);
  std::string payload = noise(12 << 20);
  bool refused = false;
  for (std::size_t at = 0; at < payload.size() && !refused; at += 1 << 16) {
    auto r = (*sink)->write(as_bytes(payload.substr(at, 1 << 16)));
    refused = !r && r.error().message == "the tap refused";
  }
  auto drained = (*w)->drain("data.gz");
  REQUIRE(!drained);
  CHECK(drained.error().message == "the tap refused");
  CHECK(!(*w)->drain("other.gz"));
}
