// SPDX-License-Identifier: MIT
// Shell completion: the generated scripts are valid bash and fish and
// complete verbs, adapters (by name or alias), each adapter's own flags
// after global options with values, and --profile's names.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

// What the bash completion function offers for the command line `words`
// (the last word is the one being completed).
std::string complete(const TempDir& dir, const std::string& words) {
  auto r = run({"/bin/bash", "-c",
                "source '" + (dir.path() / "snap.bash").string() +
                    "'; COMP_WORDS=(" + words +
                    "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _snap; "
                    "printf '%s\\n' \"${COMPREPLY[@]}\""});
  return r.out;
}

// The names fish offers for `line` (descriptions cut off).
std::string fish_complete(const TempDir& dir, const std::string& line) {
  auto r = run(
      {"/usr/bin/fish", "--no-config", "-c",
       "source '" + (dir.path() / "snap.fish").string() + "'; complete -C '" +
           line + "' | cut -f1"},
      {.env = {{"PATH", std::filesystem::path(SNAP_BIN).parent_path().string() +
                            ":/usr/bin:/bin"}}});
  return r.out;
}

void config_with_profiles(const TempDir& dir) {
  write_file(dir.path() / "config.json",
             nlohmann::json{{"profiles",
                             {{"prod", {{"adapter", "consul"}}},
                              {"staging", {{"adapter", "consul"}}}}}}
                 .dump());
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
  // An alias completes as its adapter; every global option with a value is
  // skipped with it.
  CHECK(complete(dir, "snap save es --kee") == "--keep\n");
  CHECK(complete(dir, "snap --config F save consul --st") == "--stale\n");
  CHECK(complete(dir, "snap --json -v save consul --st") == "--stale\n");
  CHECK(complete(dir, "snap --stall-timeout 9 --wait-lock 3 save consul "
                      "--en") == "--encrypt\n");
  // --profile offers the names in the config file that --config names.
  config_with_profiles(dir);
  CHECK(complete(dir, std::string(SNAP_BIN) + " --config " +
                          (dir.path() / "config.json").string() +
                          " save consul --profile ''") == "prod\nstaging\n");
  auto zsh = snap({"completion", "zsh"});
  CHECK(zsh.exit_code == 0);
  CHECK(zsh.out.starts_with("#compdef snap"));
  CHECK(snap({"completion", "tcsh"}).exit_code == 2);
  CHECK(snap({"completion"}).exit_code == 2);
}

TEST_CASE("fish completion is valid fish and completes the same places",
          "[cli][completion]") {
  REQUIRE(
      std::filesystem::exists("/usr/bin/fish")); // scripts/test.sh installs it
  TempDir dir;
  auto script = snap({"completion", "fish"});
  REQUIRE(script.exit_code == 0);
  write_file(dir.path() / "snap.fish", script.out);
  CHECK(run({"/usr/bin/fish", "--no-execute",
             (dir.path() / "snap.fish").string()})
            .exit_code == 0);
  CHECK(fish_complete(dir, "snap sa") == "save\n");
  CHECK(fish_complete(dir, "snap save es --kee") == "--keep\n");
  CHECK(fish_complete(dir, "snap --config F save consul --st") == "--stale\n");
  CHECK(fish_complete(dir, "snap --json save consul --st") == "--stale\n");
  CHECK(fish_complete(dir, "snap --timeout 5 restore cloudify --keep-m") ==
        "--keep-maintenance\n");
  config_with_profiles(dir);
  CHECK(fish_complete(dir, "snap --config " +
                               (dir.path() / "config.json").string() +
                               " save consul --profile ") == "prod\nstaging\n");
}

} // namespace snap::test
