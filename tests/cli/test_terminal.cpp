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

TEST_CASE("the progress line fits a 50-column terminal", "[cli][terminal]") {
  Emulator emu("consul",
               {"--snapshot-bytes", "20000000", "--delay-ms", "2500"});
  TempDir dir;
  auto tty = on_terminal("stty cols 50; " + std::string(SNAP_BIN) +
                             " save consul --addr " + emu.url() + " -o " +
                             dir.path().string(),
                         "");
  CHECK(tty.exit_code == 0);
  // A long first wait says what it waits for.
  CHECK(tty.out.find("waiting for consul to answer GET /v1/snapshot") !=
        std::string::npos);
  // Every drawn line fits in 49 columns, so none wraps.
  int drawn = 0;
  for (std::size_t at = tty.out.find("\r\033[K"); at != std::string::npos;
       at = tty.out.find("\r\033[K", at + 1)) {
    auto end = tty.out.find_first_of("\r\n", at + 4);
    // A drawn line is followed by the next redraw or the clearing; the
    // result printed after the clearing ends in a newline (\r\n on a pty).
    if (end == std::string::npos || tty.out.compare(end, 4, "\r\033[K") != 0) {
      continue;
    }
    std::string line = tty.out.substr(at + 4, end - at - 4);
    std::size_t columns = 0;
    for (unsigned char c : line) {
      columns += (c & 0xC0) != 0x80;
    }
    INFO(line);
    CHECK(columns <= 49);
    drawn += !line.empty();
  }
  CHECK(drawn > 0);
}

TEST_CASE("declining the prompt exits 2 on a line of its own",
          "[cli][terminal]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_archive(emu, dir);
  // Ctrl-D at the prompt: the error still starts on a new line.
  auto eof = on_terminal(std::string(SNAP_BIN) + " restore consul " + archive +
                             " --addr " + emu.url(),
                         "");
  CHECK(eof.exit_code == 2);
  CHECK(eof.out.find("continue: \r\nsnap: not confirmed") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

} // namespace snap::test
