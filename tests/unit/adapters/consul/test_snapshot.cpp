// SPDX-License-Identifier: MIT
// The Consul snapshot checks, on snapshots built here with libarchive the way
// Consul's Go code lays them out, and on broken variants of them.
#include <archive.h>
#include <archive_entry.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "adapters/consul/snapshot.hpp"
#include "snap/sha256.hpp"
#include "tests/support/process.hpp"

using namespace snap;
using snap::adapters::ConsulSnapshotVerifier;

namespace {

struct File {
  std::string name;
  std::string data;
};

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A gzip tar of `files`, laid out as Go writes it; `pad` adds the 10 KiB
// record padding GNU tar writes inside the gzip stream, which Consul
// rejects.
std::string targz(const std::vector<File>& files, bool pad = false) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_ustar(a);
  if (!pad) {
    archive_write_set_bytes_in_last_block(a, 1);
  }
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf),
                                               n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& f : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, f.name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(f.data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_write_header(a, e);
    archive_write_data(a, f.data.data(), f.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return gzip(out);
}

std::string meta(std::size_t size, int version = 1) {
  return nlohmann::json{
             {"Version", version}, {"ID", "2-13-1602222343947"}, {"Index", 13},
             {"Term", 2},          {"ConfigurationIndex", 1},    {"Size", size}}
             .dump() +
         "\n";
}

std::vector<File> good_files(const std::string& state = "state bytes") {
  std::string m = meta(state.size());
  return {{"meta.json", m},
          {"state.bin", state},
          {"SHA256SUMS", sha256_hex(state) + "  state.bin\n" + sha256_hex(m) +
                             "  meta.json\n"}};
}

Expected<adapters::ConsulSnapshotMeta> verify(const std::string& data,
                                              std::size_t chunk = 7) {
  ConsulSnapshotVerifier v;
  for (std::size_t i = 0; i < data.size(); i += chunk) {
    REQUIRE(v.write(as_bytes(std::string_view(data).substr(i, chunk))));
  }
  return v.finish();
}

} // namespace

TEST_CASE("a well-formed snapshot verifies, in any chunking",
          "[unit][consul]") {
  auto data = targz(good_files(std::string(300'000, 's')));
  for (std::size_t chunk : {1u, 7u, 512u, 65536u, 1u << 20}) {
    auto m = verify(data, chunk);
    REQUIRE(m);
    CHECK(m->index == 13);
    CHECK(m->term == 2);
    CHECK(m->version == 1);
    CHECK(m->id == "2-13-1602222343947");
    CHECK(m->size == 300'000);
  }
}

TEST_CASE("the real meta.json from Consul's test data parses",
          "[unit][consul]") {
  // tests/fixtures/upstream/consul/raw_meta.json: Size 5141.
  std::string state(5141, 'z');
  std::string m =
      snap::test::read_file(SNAP_UPSTREAM_DIR "/consul/raw_meta.json");
  REQUIRE(m.size() == 246);
  auto data = targz({{"meta.json", m},
                     {"state.bin", state},
                     {"SHA256SUMS", sha256_hex(m) + "  meta.json\n" +
                                        sha256_hex(state) + "  state.bin\n"}});
  auto r = verify(data);
  REQUIRE(r);
  CHECK(r->index == 13);
  CHECK(r->id == "2-13-1602222343947");
}

TEST_CASE("broken snapshots are refused with Consul's reasons",
          "[unit][consul]") {
  auto files = good_files();
  SECTION("a changed state.bin") {
    files[1].data[0] ^= 1;
    auto r = verify(targz(files));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message,
               Catch::Contains("hash check failed for \"state.bin\""));
  }
  SECTION("an extra file") {
    files.push_back({"extra.txt", "x"});
    auto r = verify(targz(files));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message,
               Catch::Contains("unexpected file \"extra.txt\""));
  }
  SECTION("a missing file") {
    files.erase(files.begin() + 1);
    CHECK_FALSE(verify(targz(files)));
  }
  SECTION("GNU-tar record padding after the end") {
    auto r = verify(targz(files, true));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message,
               Catch::Contains("unread uncompressed bytes remain"));
  }
  SECTION("zero bytes after the gzip stream") {
    auto r = verify(targz(files) + std::string(100, '\0'));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("gzip: invalid header"));
  }
  SECTION("a second gzip member is read as Go's reader does") {
    for (std::size_t chunk : {1u, 3u, 65536u}) {
      CHECK(verify(targz(files) + gzip("") + gzip(""), chunk));
    }
  }
  SECTION("a gzip trailer whose CRC does not match") {
    auto data = targz(files);
    data[data.size() - 6] ^= 0x01; // in the trailer's CRC-32
    auto r = verify(data);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("gzip: invalid checksum"));
  }
  SECTION("damaged deflate data") {
    auto data = targz(files);
    for (std::size_t i = 20; i < 60; ++i) {
      data[i] = static_cast<char>(0xff);
    }
    auto r = verify(data);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::archive);
  }
  SECTION("a truncated stream") {
    auto data = targz(files);
    auto r = verify(data.substr(0, data.size() - 20));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::archive);
  }
  SECTION("not gzip at all") { CHECK_FALSE(verify("this is not a snapshot")); }
  SECTION("meta.json Size disagrees with state.bin") {
    files[0].data = meta(999);
    files[2].data = sha256_hex(files[1].data) + "  state.bin\n" +
                    sha256_hex(files[0].data) + "  meta.json\n";
    auto r = verify(targz(files));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("size didn't match"));
  }
  SECTION("an unsupported raft snapshot version") {
    files[0].data = meta(files[1].data.size(), 2);
    files[2].data = sha256_hex(files[1].data) + "  state.bin\n" +
                    sha256_hex(files[0].data) + "  meta.json\n";
    CHECK_FALSE(verify(targz(files)));
  }
}

TEST_CASE("reset lets a retried download start over", "[unit][consul]") {
  ConsulSnapshotVerifier v;
  REQUIRE(v.write(as_bytes("garbage that fails")));
  REQUIRE(v.reset());
  auto data = targz(good_files());
  REQUIRE(v.write(as_bytes(data)));
  CHECK(v.finish());
}
