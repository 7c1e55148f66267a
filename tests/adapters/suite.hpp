// SPDX-License-Identifier: MIT
// The conformance suite every adapter runs (restic's backend tests): save ->
// inspect -> restore brings the target's state back, status answers,
// unsupported verbs exit 8, refused credentials exit 5, a stalled server
// times out with exit 4, and a body cut mid-way leaves no file behind. It
// runs against snap-emulator, and also against a real server when
// SNAP_E2E_<ADAPTER>_URL is set.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>

#include "tests/support/process.hpp"

namespace snap::test {

namespace fs = std::filesystem;

struct AdapterFixture {
  std::string adapter;
  std::string emulator; // the emulated system, when not named as the adapter
  const std::string& system() const {
    return emulator.empty() ? adapter : emulator;
  }
  std::vector<std::string> unsupported_verbs;
  std::vector<std::string> target_flags;  // flags save and status need
  std::vector<std::string> save_flags;    // flags for save only
  std::vector<std::string> restore_flags; // flags for restore only
  // Extra emulator flags (say, where it keeps its data).
  std::function<std::vector<std::string>()> emulator_flags = [] {
    return std::vector<std::string>{};
  };
  std::string token_flag_env; // env var that carries the token
  // Puts known state into the target at `url`.
  std::function<void(const std::string& url)> seed;
  // Reads the target's state as comparable text.
  std::function<std::string(const std::string& url)> state;
  // Changes the target's state.
  std::function<void(const std::string& url)> mutate;
};

inline std::vector<std::string> with(std::vector<std::string> a,
                                     const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// With `encrypted`, the save is --encrypt under SNAP_PASSPHRASE, which
// inspect and restore then need too.
inline void round_trip(const AdapterFixture& f, const std::string& url,
                       std::map<std::string, std::string> env = {},
                       bool encrypted = false) {
  TempDir dir;
  f.seed(url);
  std::string before = f.state(url);
  REQUIRE_FALSE(before.empty());
  std::vector<std::string> save_flags = f.save_flags;
  if (encrypted) {
    save_flags.push_back("--encrypt");
    env["SNAP_PASSPHRASE"] = "round trip passphrase";
  }
  auto saved = snap(
      with(with({"save", f.adapter, "--addr", url, "-o", dir.path().string()},
                f.target_flags),
           save_flags),
      {.env = env});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  REQUIRE(saved.out.starts_with("Saved and verified " + f.adapter + "-"));
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  auto archive = (dir.path() / files[0]).string();

  auto inspected = snap({"inspect", archive}, {.env = env});
  INFO(inspected.err);
  REQUIRE(inspected.exit_code == 0);
  REQUIRE(inspected.out.find("every checksum matches") != std::string::npos);
  if (encrypted) {
    auto locked =
        snap(with({"restore", f.adapter, archive, "--addr", url, "--yes"},
                  f.restore_flags));
    CHECK(locked.exit_code == 2);
    CHECK(locked.err.find("SNAP_PASSPHRASE") != std::string::npos);
  }

  f.mutate(url);
  REQUIRE(f.state(url) != before);
  auto restored =
      snap(with({"restore", f.adapter, archive, "--addr", url, "--yes"},
                f.restore_flags),
           {.env = env});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  REQUIRE(f.state(url) == before);
}

inline void run_conformance(const AdapterFixture& f) {
  SECTION("save, inspect and restore bring the state back") {
    Emulator emu(f.system(), f.emulator_flags());
    round_trip(f, emu.url());
  }
  SECTION("an encrypted save reads back and restores with its passphrase") {
    Emulator emu(f.system(), f.emulator_flags());
    round_trip(f, emu.url(), {}, true);
  }
  SECTION("a real server, when SNAP_E2E_<ADAPTER>_URL names one") {
    std::string var = "SNAP_E2E_" + f.adapter + "_URL";
    for (auto& c : var) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const char* real = std::getenv(var.c_str());
    if (real == nullptr) {
      SUCCEED("skipped: " + var + " is not set");
    } else {
      std::map<std::string, std::string> env;
      if (const char* tok =
              std::getenv((var.substr(0, var.size() - 3) + "TOKEN").c_str())) {
        env[f.token_flag_env] = tok;
      }
      round_trip(f, real, env);
    }
  }
  SECTION("status answers") {
    Emulator emu(f.system(), f.emulator_flags());
    auto r =
        snap(with({"status", f.adapter, "--addr", emu.url()}, f.target_flags));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.out.empty());
  }
  SECTION("verbs the adapter lacks exit 8 and name the ones it has") {
    for (const auto& verb : f.unsupported_verbs) {
      std::vector<std::string> args{verb, f.adapter};
      if (verb == "download" || verb == "delete") {
        args.push_back("1");
      } else if (verb == "upload") {
        args.push_back("x.zip");
      }
      auto r = snap(args);
      INFO(verb << ": " << r.err);
      CHECK(r.exit_code == 8);
      CHECK(r.err.find("is not supported (supported: ") != std::string::npos);
    }
  }
  SECTION("a refused token exits 5 and writes nothing") {
    Emulator emu(f.system(),
                 with(f.emulator_flags(), {"--require-token", "right-token"}));
    TempDir dir;
    write_file(dir.path() / "token", "wrong-token\n");
    fs::create_directories(dir.path() / "out");
    auto r = snap(with(with({"save", f.adapter, "--addr", emu.url(), "-o",
                             (dir.path() / "out").string(), "--token-file",
                             (dir.path() / "token").string()},
                            f.target_flags),
                       f.save_flags));
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("wrong-token") == std::string::npos);
    CHECK(fs::is_empty(dir.path() / "out"));
  }
  SECTION("a stalled server times out with exit 4") {
    Emulator emu(f.system(), with(f.emulator_flags(), {"--delay-ms", "5000"}));
    TempDir dir;
    auto r = snap(with(with({"--timeout", "1", "save", f.adapter, "--addr",
                             emu.url(), "-o", dir.path().string()},
                            f.target_flags),
                       f.save_flags));
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("--timeout") != std::string::npos);
    CHECK(dir.list().empty());
  }
  SECTION("a body cut mid-way fails and leaves no file at all") {
    Emulator emu(f.system(),
                 with(f.emulator_flags(), {"--fail-after-bytes", "100"}));
    TempDir dir;
    f.seed(emu.url());
    auto r = snap(with(with({"--retries", "1", "save", f.adapter, "--addr",
                             emu.url(), "-o", dir.path().string()},
                            f.target_flags),
                       f.save_flags));
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(dir.list().empty());
  }
}

} // namespace snap::test
