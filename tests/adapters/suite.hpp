// SPDX-License-Identifier: MIT
// The conformance suite every adapter runs (restic's backend tests): save ->
// inspect -> restore brings the target's state back (an adapter whose
// restore is offline prints its procedure for the saved backup instead),
// status answers, the verbs its capability bits lack exit 8, refused
// credentials exit 5, a stalled server times out with exit 4, and a body cut
// mid-way leaves no file behind. It runs against snap-emulator, and also
// against a real server when SNAP_E2E_<ADAPTER>_URL is set. Every adapter
// of the registry has a fixture (conformance_fixture), and a test checks
// that none is missing.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>

#include <nlohmann/json.hpp>

#include "snap/registry.hpp"
#include "tests/support/process.hpp"

namespace snap::test {

namespace fs = std::filesystem;

// What the suite runs against: the address --addr gets, the flags that
// name the target's other endpoints, and where its state is read.
struct Target {
  virtual ~Target() = default;
  virtual std::string url() const = 0;
  virtual std::vector<std::string> flags() const { return {}; }
  virtual std::string data_url() const { return url(); }
};

struct EmulatorTarget : Target {
  EmulatorTarget(const std::string& system, std::vector<std::string> flags)
      : emu(system, std::move(flags)) {}
  std::string url() const override { return emu.url(); }
  Emulator emu;
};

struct AdapterFixture {
  std::string adapter;
  std::string emulator; // the emulated system, when not named as the adapter
  const std::string& system() const {
    return emulator.empty() ? adapter : emulator;
  }
  // Starts the target, `faults` (emulator flags: --delay-ms, …) applied to
  // the endpoint --addr names; by default one snap-emulator of system().
  std::function<std::unique_ptr<Target>(const std::vector<std::string>&)> start;
  // A save streams a payload from the target, which a cut body must fail;
  // false where the archive is a reference to a backup the target keeps.
  bool streams_payload = true;
  // status takes a backup id (Camunda's): the suite saves one first.
  bool status_needs_backup = false;
  std::vector<std::string> target_flags;  // flags save and status need
  std::vector<std::string> save_flags;    // flags for save only
  std::vector<std::string> restore_flags; // flags for restore only
  // Extra emulator flags (say, where it keeps its data).
  std::function<std::vector<std::string>()> emulator_flags = [] {
    return std::vector<std::string>{};
  };
  std::string token_flag_env; // env var that carries the token
  // Puts known state into the target at `url` (Target::data_url).
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

inline std::unique_ptr<Target>
start_target(const AdapterFixture& f,
             const std::vector<std::string>& faults = {}) {
  if (f.start) {
    return f.start(faults);
  }
  return std::make_unique<EmulatorTarget>(f.system(),
                                          with(f.emulator_flags(), faults));
}

// The adapter as the registry declares it.
inline const AdapterInfo& info_of(const AdapterFixture& f) {
  const AdapterEntry* e = find_adapter(f.adapter);
  REQUIRE(e != nullptr);
  return e->info();
}

// The verbs the adapter's capability bits lack.
inline std::vector<std::string> unsupported_verbs(const AdapterFixture& f) {
  std::vector<std::string> out;
  for (Capability c : k_all_capabilities) {
    if (!info_of(f).caps.has(c)) {
      out.emplace_back(verb_name(c));
    }
  }
  return out;
}

// The fixture of every adapter in the registry, by name (each test file
// defines its adapter's); nullptr when an adapter has none.
const AdapterFixture* conformance_fixture(const std::string& adapter);

// With `encrypted`, the save is --encrypt under SNAP_PASSPHRASE, which
// inspect and restore then need too.
inline void round_trip(const AdapterFixture& f, const std::string& url,
                       const std::vector<std::string>& endpoints,
                       const std::string& data_url,
                       std::map<std::string, std::string> env = {},
                       bool encrypted = false) {
  TempDir dir;
  bool offline = info_of(f).offline_restore;
  std::vector<std::string> target = with(endpoints, f.target_flags);
  f.seed(data_url);
  std::string before = f.state(data_url);
  REQUIRE((offline || !before.empty()));
  std::vector<std::string> save_flags = f.save_flags;
  if (encrypted) {
    save_flags.push_back("--encrypt");
    env["SNAP_PASSPHRASE"] = "round trip passphrase";
  }
  auto saved = snap(
      with(with({"save", f.adapter, "--addr", url, "-o", dir.path().string()},
                target),
           save_flags),
      {.env = env});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  REQUIRE(saved.out.starts_with("Saved and verified " + f.adapter + "-"));
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  auto archive = (dir.path() / files[0]).string();

  auto inspected = snap({"inspect", archive, "--json"}, {.env = env});
  INFO(inspected.err);
  REQUIRE(inspected.exit_code == 0);
  const auto view = nlohmann::json::parse(inspected.out)["archives"][0];
  REQUIRE(view.value("verified", false));
  std::string backup_id = view.value("backup_id", "");
  if (encrypted) {
    auto locked = snap(with(
        with({"restore", f.adapter, archive, "--addr", url, "--yes"}, target),
        f.restore_flags));
    CHECK(locked.exit_code == 2);
    CHECK(locked.err.find("SNAP_PASSPHRASE") != std::string::npos);
  }
  if (offline) {
    // The target cannot restore over its API: the procedure printed is
    // that of the backup the archive holds, and changes nothing.
    std::string saved_state = f.state(data_url);
    auto plan = snap(with(with({"restore", f.adapter, archive, "--addr", url,
                                "--print-plan"},
                               target),
                          f.restore_flags),
                     {.env = env});
    INFO(plan.err);
    REQUIRE(plan.exit_code == 0);
    REQUIRE_FALSE(backup_id.empty());
    CHECK(plan.out.find(backup_id) != std::string::npos);
    CHECK(f.state(data_url) == saved_state);
    return;
  }
  f.mutate(data_url);
  REQUIRE(f.state(data_url) != before);
  auto restored =
      snap(with(with({"restore", f.adapter, archive, "--addr", url, "--yes"},
                     target),
                f.restore_flags),
           {.env = env});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  REQUIRE(f.state(data_url) == before);
}

inline void round_trip(const AdapterFixture& f, const Target& t,
                       bool encrypted = false) {
  round_trip(f, t.url(), t.flags(), t.data_url(), {}, encrypted);
}

inline void run_conformance(const AdapterFixture& f) {
  SECTION("save, inspect and restore bring the state back") {
    auto t = start_target(f);
    round_trip(f, *t);
  }
  SECTION("an encrypted save reads back and restores with its passphrase") {
    auto t = start_target(f);
    round_trip(f, *t, true);
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
      round_trip(f, real, {}, real, env);
    }
  }
  SECTION("status answers") {
    auto t = start_target(f);
    std::vector<std::string> args{"status", f.adapter, "--addr", t->url()};
    if (f.status_needs_backup) {
      TempDir dir;
      f.seed(t->data_url());
      auto saved = snap(with(with(with({"save", f.adapter, "--addr", t->url(),
                                        "-o", dir.path().string(), "--json"},
                                       t->flags()),
                                  f.target_flags),
                             f.save_flags));
      INFO(saved.err);
      REQUIRE(saved.exit_code == 0);
      args.push_back(
          nlohmann::json::parse(saved.out).value("backup_id", std::string()));
    }
    auto r = snap(with(with(args, t->flags()), f.target_flags));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.out.empty());
  }
  SECTION("verbs the capability bits lack exit 8 and name the ones it has") {
    for (const auto& verb : unsupported_verbs(f)) {
      std::vector<std::string> args{verb, f.adapter};
      if (verb == "download" || verb == "delete") {
        args.push_back("1");
      } else if (verb == "upload" || verb == "restore" || verb == "import") {
        args.push_back("x.zip");
      }
      auto r = snap(args);
      INFO(verb << ": " << r.err);
      CHECK(r.exit_code == 8);
      CHECK(r.err.find("is not supported (supported: ") != std::string::npos);
    }
  }
  SECTION("a refused token exits 5 and writes nothing") {
    auto t = start_target(f, {"--require-token", "right-token"});
    TempDir dir;
    write_file(dir.path() / "token", "wrong-token\n");
    fs::create_directories(dir.path() / "out");
    auto r = snap(with(with(with({"save", f.adapter, "--addr", t->url(), "-o",
                                  (dir.path() / "out").string(), "--token-file",
                                  (dir.path() / "token").string()},
                                 t->flags()),
                            f.target_flags),
                       f.save_flags));
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("wrong-token") == std::string::npos);
    CHECK(fs::is_empty(dir.path() / "out"));
  }
  SECTION("a stalled server times out with exit 4") {
    auto t = start_target(f, {"--delay-ms", "5000"});
    TempDir dir;
    auto r = snap(with(with(with({"--timeout", "1", "save", f.adapter, "--addr",
                                  t->url(), "-o", dir.path().string()},
                                 t->flags()),
                            f.target_flags),
                       f.save_flags));
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("--timeout") != std::string::npos);
    CHECK(dir.list().empty());
  }
  SECTION("a body cut mid-way fails and leaves no file at all") {
    if (!f.streams_payload) {
      SUCCEED("a reference backup streams no payload to cut");
      return;
    }
    auto t = start_target(f, {"--fail-after-bytes", "100"});
    TempDir dir;
    f.seed(t->data_url());
    auto r = snap(with(with(with({"--retries", "1", "save", f.adapter, "--addr",
                                  t->url(), "-o", dir.path().string()},
                                 t->flags()),
                            f.target_flags),
                       f.save_flags));
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(dir.list().empty());
  }
}

} // namespace snap::test
