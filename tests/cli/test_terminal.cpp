// SPDX-License-Identifier: MIT
// Behaviour on a terminal, through script(1), which gives the command a pty:
// the progress bar is drawn there, and a restore asks before it acts.
#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

// Runs `command` on a pty with `input` typed at it; returns what the
// terminal showed (stdout and stderr together) and the exit status.
RunResult on_terminal(const std::string& command, const std::string& input) {
  TempDir dir;
  write_file(dir.path() / "input", input);
  return run({"/bin/sh", "-c",
              "script -qec \"" + command + "\" /dev/null < '" +
                  (dir.path() / "input").string() + "'"});
}

std::string save_archive(const Emulator& emu, const TempDir& dir) {
  http("PUT", emu.url() + "/v1/kv/app/key", "original");
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  REQUIRE(r.exit_code == 0);
  return (dir.path() / dir.list().at(0)).string();
}

} // namespace

TEST_CASE("the progress bar is drawn on a terminal only", "[cli][terminal]") {
  Emulator emu("consul", {"--snapshot-bytes", "2000000"});
  TempDir dir;
  std::string cmd = std::string(SNAP_BIN) + " save consul --addr " + emu.url() +
                    " -o " + dir.path().string();
  auto tty = on_terminal(cmd, "");
  CHECK(tty.exit_code == 0);
  CHECK(tty.out.find("\033[K") != std::string::npos);
  CHECK(tty.out.find("download") != std::string::npos);
  auto quiet = on_terminal(cmd + " --no-progress", "");
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.out.find("\033[K") == std::string::npos);
}

TEST_CASE("restore on a terminal asks, and anything but yes changes nothing",
          "[cli][terminal]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_archive(emu, dir);
  std::string cmd = std::string(SNAP_BIN) + " restore consul " + archive +
                    " --addr " + emu.url();
  auto no = on_terminal(cmd, "no\n");
  CHECK(no.out.find("Type 'yes' to continue") != std::string::npos);
  CHECK(no.exit_code == 2);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
  http("PUT", emu.url() + "/v1/kv/app/key", "changed");
  auto yes = on_terminal(cmd, "yes\n");
  INFO(yes.out);
  CHECK(yes.exit_code == 0);
  CHECK(emu.received("PUT /v1/snapshot"));
  CHECK(http("GET", emu.url() + "/v1/kv/app/key?raw") == "original");
}

} // namespace snap::test
