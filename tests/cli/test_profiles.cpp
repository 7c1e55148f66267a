// SPDX-License-Identifier: MIT
// Profiles: named targets in the config file, below flags and variables;
// warnings for a file others can read and for inline secrets, and no secret
// in any output or manifest.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

void write_config(const std::filesystem::path& path, const std::string& text,
                  mode_t mode) {
  write_file(path, text);
  ::chmod(path.c_str(), mode);
}

} // namespace

TEST_CASE("a profile supplies the address and token file and adapter flags",
          "[cli][profiles]") {
  Emulator emu("consul", {"--require-token", "s3cret-token"});
  TempDir dir;
  write_file(dir.path() / "token", "s3cret-token\n");
  auto config = dir.path() / "config.json";
  write_config(config,
               R"({"profiles":{"prod":{"adapter":"consul","addr":")" +
                   emu.url() + R"(","token_file":")" +
                   (dir.path() / "token").string() +
                   R"(","flags":{"stale":true}}}})",
               0600);
  std::filesystem::create_directories(dir.path() / "out");
  auto r = snap({"--config", config.string(), "save", "consul", "--profile",
                 "prod", "-o", (dir.path() / "out").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("warning") == std::string::npos);
  CHECK(emu.received("GET /v1/snapshot?stale"));

  // SNAP_CONFIG names the file too; a flag beats the profile's address.
  auto elsewhere = snap(
      {"status", "consul", "--profile", "prod", "--addr", "http://127.0.0.1:1"},
      {.env = {{"SNAP_CONFIG", config.string()}}});
  CHECK(elsewhere.exit_code == 4);
  auto same = snap({"status", "consul", "--profile", "prod"},
                   {.env = {{"SNAP_CONFIG", config.string()}}});
  CHECK(same.exit_code == 0);
}

TEST_CASE("inline secrets and a readable config file draw warnings and the "
          "secret goes nowhere",
          "[cli][profiles]") {
  Emulator emu("consul", {"--require-token", "inline-s3cret"});
  TempDir dir;
  auto config = dir.path() / "config.json";
  write_config(config,
               R"({"profiles":{"lab":{"addr":")" + emu.url() +
                   R"(","token":"inline-s3cret"}}})",
               0644);
  std::filesystem::create_directories(dir.path() / "out");
  auto r = snap({"-v", "--config", config.string(), "save", "consul",
                 "--profile", "lab", "-o", (dir.path() / "out").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("can be read by other users (mode 0644)") !=
        std::string::npos);
  CHECK(r.err.find("holds a token inline") != std::string::npos);
  CHECK(r.out.find("inline-s3cret") == std::string::npos);
  CHECK(r.err.find("inline-s3cret") == std::string::npos);
  for (const auto& f :
       std::filesystem::directory_iterator(dir.path() / "out")) {
    auto inspected = snap({"inspect", "--json", f.path().string()});
    CHECK(inspected.out.find("inline-s3cret") == std::string::npos);
    CHECK(read_file(f.path()).find("inline-s3cret") == std::string::npos);
  }
}

TEST_CASE("a missing profile or an unknown key is a usage error",
          "[cli][profiles]") {
  TempDir dir;
  auto config = dir.path() / "config.json";
  write_config(config,
               R"({"profiles":{"a":{"addr":"http://x"},
                   "b":{"adress":"http://x"},
                   "c":{"adapter":"cloudify"},
                   "d":{"flags":{"no-such-flag":1}}}})",
               0600);
  auto missing = snap(
      {"--config", config.string(), "status", "consul", "--profile", "prod"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("no profile 'prod' (it has: a, b, c, d)") !=
        std::string::npos);
  auto typo =
      snap({"--config", config.string(), "status", "consul", "--profile", "b"});
  CHECK(typo.exit_code == 2);
  CHECK(typo.err.find("unknown key 'adress'") != std::string::npos);
  auto other =
      snap({"--config", config.string(), "status", "consul", "--profile", "c"});
  CHECK(other.err.find("is for cloudify, not consul") != std::string::npos);
  auto flag =
      snap({"--config", config.string(), "status", "consul", "--profile", "d"});
  CHECK(flag.err.find("'no-such-flag', which is not a flag of consul") !=
        std::string::npos);
  auto nofile = snap({"--config", (dir.path() / "none.json").string(), "status",
                      "consul", "--profile", "a"});
  CHECK(nofile.exit_code == 2);
}

} // namespace snap::test
