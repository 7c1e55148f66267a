// SPDX-License-Identifier: MIT
// Archives in object storage, against s3rver (installed from the npm
// registry by scripts/test.sh) on loopback: save and download to s3://,
// inspect and restore from it, multipart uploads, and an interrupted upload
// that leaves no object behind.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <unistd.h>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

std::string s3rver_bin() {
  if (const char* p = std::getenv("SNAP_S3RVER")) {
    return p;
  }
  return SNAP_BINARY_DIR "/npm/node_modules/.bin/s3rver";
}

// s3rver on a free port with bucket "snapbk" in a private directory.
struct S3 {
  S3()
      : server(
            [this] {
              REQUIRE(fs::exists(s3rver_bin()));
              return std::vector<std::string>{"/usr/bin/env",
                                              "node",
                                              s3rver_bin(),
                                              "-d",
                                              data.path().string(),
                                              "-a",
                                              "127.0.0.1",
                                              "-p",
                                              "0",
                                              "--configure-bucket",
                                              "snapbk"};
            }(),
            Emulator::External{}) {}
  std::map<std::string, std::string> env(std::string part = "") const {
    std::map<std::string, std::string> e = {
        {"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"}};
    if (!part.empty()) {
      e["SNAP_S3_PART_SIZE"] = part;
    }
    return e;
  }
  // Object keys under `prefix` as s3rver keeps them on disk.
  std::vector<std::string> objects(const std::string& prefix) const {
    std::vector<std::string> out;
    fs::path dir = data.path() / "snapbk" / prefix;
    if (!fs::exists(dir)) {
      return out;
    }
    for (const auto& f : fs::directory_iterator(dir)) {
      std::string name = f.path().filename().string();
      if (name.ends_with("._S3rver_object")) {
        out.push_back(name.substr(0, name.size() - 15));
      }
    }
    return out;
  }
  // Multipart uploads begun and neither completed nor aborted.
  int open_uploads() const {
    fs::path dir = data.path() / "snapbk" / "._S3rver_uploads";
    int n = 0;
    if (fs::exists(dir)) {
      for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir)) {
        ++n;
      }
    }
    return n;
  }
  // True once some multipart upload has received a part.
  bool part_received() const {
    fs::path dir = data.path() / "snapbk" / "._S3rver_uploads";
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      return false;
    }
    for (const auto& u : fs::directory_iterator(dir, ec)) {
      int entries = 0;
      for ([[maybe_unused]] const auto& f : fs::directory_iterator(u, ec)) {
        ++entries;
      }
      if (entries > 2) {
        return true;
      }
    }
    return false;
  }
  TempDir data;
  Emulator server;
};

} // namespace

TEST_CASE("save to s3, then inspect and restore from it", "[cli][s3]") {
  S3 s3;
  Emulator consul("consul");
  http("PUT", consul.url() + "/v1/kv/app/colour", "blue");
  TempDir tmp;
  auto env = s3.env();
  env["TMPDIR"] = tmp.path().string();
  auto r = snap({"--s3-endpoint", s3.server.url(), "save", "consul", "--addr",
                 consul.url(), "-o", "s3://snapbk/consul/"},
                {.env = env});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("Saved and verified s3://snapbk/consul/consul-") !=
        std::string::npos);
  auto keys = s3.objects("consul");
  REQUIRE(keys.size() == 1);
  std::string url = "s3://snapbk/consul/" + keys[0];
  CHECK(tmp.list().empty()); // the local copy is gone

  auto inspected =
      snap({"--s3-endpoint", s3.server.url(), "inspect", url}, {.env = env});
  INFO(inspected.err);
  CHECK(inspected.exit_code == 0);
  CHECK(inspected.out.find("every checksum matches") != std::string::npos);

  http("PUT", consul.url() + "/v1/kv/app/colour", "red");
  auto restored = snap({"--s3-endpoint", s3.server.url(), "restore", "consul",
                        url, "--yes", "--addr", consul.url()},
                       {.env = env});
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(http("GET", consul.url() + "/v1/kv/app/colour?raw") == "blue");
  CHECK(tmp.list().empty());

  auto missing = snap({"--s3-endpoint", s3.server.url(), "inspect",
                       "s3://snapbk/consul/none.zip"},
                      {.env = env});
  CHECK(missing.exit_code == 6);
  auto nocreds =
      snap({"--s3-endpoint", s3.server.url(), "inspect", url}, {.env = {}});
  CHECK(nocreds.exit_code == 2);
  CHECK(nocreds.err.find("AWS_ACCESS_KEY_ID") != std::string::npos);
}

TEST_CASE("a large archive goes up in parts and comes back whole",
          "[cli][s3]") {
  S3 s3;
  Emulator consul("consul", {"--snapshot-bytes", "12000000",
                             "--snapshot-content", "random"});
  auto r = snap({"-v", "--s3-endpoint", s3.server.url(), "save", "consul",
                 "--addr", consul.url(), "-o", "s3://snapbk/big/nightly.zip"},
                {.env = s3.env("5242880")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("?uploads") != std::string::npos);
  CHECK(r.err.find("partNumber=3") != std::string::npos);
  CHECK(s3.objects("big") == std::vector<std::string>{"nightly.zip"});
  CHECK(s3.open_uploads() == 0);
  auto inspected = snap({"--s3-endpoint", s3.server.url(), "inspect",
                         "s3://snapbk/big/nightly.zip"},
                        {.env = s3.env()});
  CHECK(inspected.exit_code == 0);
}

TEST_CASE("an interrupted s3 upload leaves no object", "[cli][s3]") {
  S3 s3;
  Emulator consul("consul", {"--snapshot-bytes", "60000000",
                             "--snapshot-content", "random"});
  RunOptions opts{.env = s3.env("5242880")};
  opts.signal_when = [&] { return s3.part_received(); };
  opts.timeout_ms = 120'000;
  auto r = snap({"-v", "--s3-endpoint", s3.server.url(), "save", "consul",
                 "--addr", consul.url(), "-o", "s3://snapbk/cut/"},
                opts);
  CHECK(r.exit_code == 130);
  CHECK(s3.objects("cut").empty());
  // The upload is aborted so no parts are left to pay for. (s3rver 3 has
  // no AbortMultipartUpload and answers 405, so only the request is
  // checked here.)
  CHECK(r.err.find("DELETE " + s3.server.url() + "/snapbk/cut/") !=
        std::string::npos);
  CHECK(r.err.find("?uploadId=") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("prune keeps by rule under an s3 prefix and ignores other objects",
          "[cli][s3][prune]") {
  S3 s3;
  Emulator consul("consul");
  for (std::string name : {"a", "b", "c"}) {
    auto r = snap({"--s3-endpoint", s3.server.url(), "save", "consul", "--addr",
                   consul.url(), "-o", "s3://snapbk/nightly/" + name + ".zip"},
                  {.env = s3.env()});
    REQUIRE(r.exit_code == 0);
    usleep(1'100'000); // archives a second apart, so "newest" is plain
  }
  // An object that snap did not put there stays whatever the rules say.
  TempDir dir;
  write_file(dir.path() / "x", "not an archive");
  auto put = run({"/usr/bin/curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3",
                  "--user", "S3RVER:S3RVER", "-H",
                  "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T",
                  (dir.path() / "x").string(),
                  s3.server.url() + "/snapbk/nightly/foreign.zip"});
  REQUIRE(put.exit_code == 0);

  auto dry = snap({"--s3-endpoint", s3.server.url(), "prune",
                   "s3://snapbk/nightly/", "--keep-last", "1", "--dry-run"},
                  {.env = s3.env()});
  INFO(dry.err);
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("keep    c.zip (last)") != std::string::npos);
  CHECK(dry.out.find("would remove a.zip") != std::string::npos);
  CHECK(s3.objects("nightly").size() == 4);

  auto r = snap({"--s3-endpoint", s3.server.url(), "prune",
                 "s3://snapbk/nightly", "--keep-last", "1"},
                {.env = s3.env()});
  CHECK(r.exit_code == 0);
  auto left = s3.objects("nightly");
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"c.zip", "foreign.zip"});
}

} // namespace snap::test
