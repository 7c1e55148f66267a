// SPDX-License-Identifier: MIT
// Encrypted archives (format 2): AES-256 payload entries that standard zip
// readers open with the passphrase, a manifest readable without it, and a
// wrong passphrase refused (exit 7) before any request to the target.
#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "snap/sha256.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

const std::string k_fixture =
    SNAP_SOURCE_DIR "/tests/fixtures/consul-format2-encrypted.zip";
const std::string k_fixture_passphrase = "snap fixture passphrase";

// Reads `entry` of the zip at `path` with libarchive, as a standard tool.
std::string read_with_libarchive(const std::string& path,
                                 const std::string& entry,
                                 const std::string& passphrase) {
  struct archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  archive_read_add_passphrase(a, passphrase.c_str());
  std::string out;
  if (archive_read_open_filename(a, path.c_str(), 65536) == ARCHIVE_OK) {
    struct archive_entry* e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      if (entry != archive_entry_pathname(e)) {
        continue;
      }
      char buf[65536];
      la_ssize_t n = 0;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
      }
      if (n < 0) {
        out = "error: " + std::string(archive_error_string(a));
      }
    }
  }
  archive_read_free(a);
  return out;
}

} // namespace

TEST_CASE("an encrypted save keeps the manifest readable and the payload not",
          "[cli][encryption]") {
  Emulator emu("consul");
  http("PUT", emu.url() + "/v1/kv/app/secret", "top secret value");
  TempDir dir;
  write_file(dir.path() / "pw", "correct horse battery\n");
  auto none = snap({"save", "consul", "--addr", emu.url(), "--encrypt", "-o",
                    dir.path().string()});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("--encrypt needs a passphrase") != std::string::npos);
  CHECK(dir.list().size() == 1); // just the passphrase file

  std::filesystem::create_directories(dir.path() / "out");
  auto r = snap({"--passphrase-file", (dir.path() / "pw").string(), "save",
                 "consul", "--addr", emu.url(), "--encrypt", "-o",
                 (dir.path() / "out").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto files = std::filesystem::directory_iterator(dir.path() / "out");
  std::string archive = files->path().string();
  std::string bytes = read_file(archive);
  CHECK(bytes.find("correct horse") == std::string::npos);
  CHECK(bytes.find("snap-archive/2 adapter=consul") != std::string::npos);

  // Without the passphrase: the manifest, and a plain word on the payload.
  auto locked = snap({"--json", "inspect", archive});
  REQUIRE(locked.exit_code == 0);
  auto a = nlohmann::json::parse(locked.out)["archives"][0];
  CHECK(a["format_version"] == 2);
  CHECK(a["encryption"] == "aes-256");
  CHECK(a["verified"] == false);
  CHECK(a["not_verified_because"] == "encrypted");
  // With it: verified, through the environment this time.
  auto open = snap({"inspect", archive},
                   {.env = {{"SNAP_PASSPHRASE", "correct horse battery"}}});
  CHECK(open.exit_code == 0);
  CHECK(open.out.find("yes: every checksum matches") != std::string::npos);

  // A standard zip reader opens the payload with the passphrase, whole.
  std::string snap_bytes = read_with_libarchive(archive, "payload/consul.snap",
                                                "correct horse battery");
  std::string manifest = read_with_libarchive(archive, "manifest.json", "");
  auto m = nlohmann::json::parse(manifest);
  CHECK(m["encryption"]["method"] == "aes-256");
  CHECK(sha256_hex(snap_bytes) == m["entries"][0]["sha256"]);
  CHECK(manifest.find("correct horse") == std::string::npos);
}

TEST_CASE("a wrong passphrase exits 7 before any request to the target",
          "[cli][encryption]") {
  Emulator emu("consul");
  TempDir dir;
  write_file(dir.path() / "bad", "not the passphrase\n");
  auto r = snap({"--passphrase-file", (dir.path() / "bad").string(), "restore",
                 "consul", k_fixture, "--yes", "--addr", emu.url()});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("the passphrase is wrong") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
  auto missing =
      snap({"restore", "consul", k_fixture, "--yes", "--addr", emu.url()});
  CHECK(missing.exit_code == 2);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

TEST_CASE("the format 2 fixture still opens and restores",
          "[cli][fixture][encryption]") {
  Emulator emu("consul");
  auto r = snap({"restore", "consul", k_fixture, "--yes", "--addr", emu.url()},
                {.env = {{"SNAP_PASSPHRASE", k_fixture_passphrase}}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(http("GET", emu.url() + "/v1/kv/fixture/greeting?raw") ==
        "hello from format 2");
}

} // namespace snap::test
