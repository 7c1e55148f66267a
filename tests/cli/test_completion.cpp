// SPDX-License-Identifier: MIT
// Shell completion: the generated script is valid bash and completes verbs,
// adapters and each adapter's own flags.
#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

// What the completion function offers for the command line `words` (the
// last word is the one being completed).
std::string complete(const TempDir& dir, const std::string& words) {
  auto r = run({"/bin/bash", "-c",
                "source '" + (dir.path() / "snap.bash").string() +
                    "'; COMP_WORDS=(" + words +
                    "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _snap; "
                    "printf '%s\\n' \"${COMPREPLY[@]}\""});
  return r.out;
}

} // namespace

TEST_CASE("bash completion completes verbs, adapters and their flags",
          "[cli][completion]") {
  TempDir dir;
  auto script = snap({"completion", "bash"});
  REQUIRE(script.exit_code == 0);
  write_file(dir.path() / "snap.bash", script.out);
  CHECK(
      run({"/bin/bash", "-n", (dir.path() / "snap.bash").string()}).exit_code ==
      0);
  CHECK(complete(dir, "snap sa") == "save\n");
  CHECK(complete(dir, "snap save c") == "consul\ncamunda\ncloudify\n");
  CHECK(complete(dir, "snap save consul --st") == "--stale\n");
  CHECK(complete(dir, "snap --timeout 5 restore cloudify --keep-m") ==
        "--keep-maintenance\n");
  CHECK(complete(dir, "snap save flux --auth") == "--auth-file\n");
  auto zsh = snap({"completion", "zsh"});
  CHECK(zsh.exit_code == 0);
  CHECK(zsh.out.starts_with("#compdef snap"));
  CHECK(snap({"completion", "fish"}).exit_code == 2);
}

} // namespace snap::test
