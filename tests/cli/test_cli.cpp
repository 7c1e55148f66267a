// SPDX-License-Identifier: MIT
// Tiny one-behaviour cases: argv in, exit code and output out.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "snap/archive.hpp"
#include "snap/sha256.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> k_adapter_verbs{
    "save", "restore", "download", "upload", "status", "list", "delete"};

// Builds a zip by hand (with the zip tool) holding a manifest and payload,
// so tests can make archives that snap itself would never write.
std::string craft(const TempDir& dir, nlohmann::json manifest,
                  const std::string& payload,
                  const std::string& header_version = "1") {
  fs::create_directories(dir.path() / "src/payload");
  write_file(dir.path() / "src/payload/consul.snap", payload);
  manifest["entries"] = {{{"path", "payload/consul.snap"},
                          {"size", payload.size()},
                          {"sha256", sha256_hex(payload)},
                          {"media_type", "application/gzip"}}};
  std::string text = manifest.dump(2) + "\n";
  write_file(dir.path() / "src/manifest.json", text);
  auto zip = (dir.path() / "crafted.zip").string();
  auto r =
      run({"/bin/sh", "-c",
           "cd '" + (dir.path() / "src").string() + "' && zip -q -X '" + zip +
               "' manifest.json payload/consul.snap && printf '%s' "
               "'snap-archive/" +
               header_version +
               " adapter=" + manifest["adapter"].get<std::string>() +
               " id=1 created=2026-11-21T00:00:00Z manifest-sha256=" +
               sha256_hex(text) + "' | zip -q -z '" + zip + "'"});
  REQUIRE(r.exit_code == 0);
  return zip;
}

nlohmann::json manifest_v(int version, const std::string& adapter = "consul") {
  return {{"format", "snap-archive"},
          {"format_version", version},
          {"snap_version", version == 1 ? "0.1.0" : "9.0.0"},
          {"adapter", adapter},
          {"adapter_payload_version", 1},
          {"kind", "full"},
          {"backup_id", "1"},
          {"created_at", "2026-11-21T00:00:00Z"},
          {"target", {{"url", "http://127.0.0.1:8500"}}},
          {"labels", nlohmann::json::object()},
          {"source", nlohmann::json::object()}};
}

} // namespace

TEST_CASE("the version flag names the version and the adapters", "[cli]") {
  auto r = snap({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.starts_with("snap " SNAP_VERSION));
  CHECK(r.out.find("consul") != std::string::npos);
}

TEST_CASE("adapters lists each adapter with its verbs", "[cli]") {
  auto r = snap({"--json", "adapters"});
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["adapters"][0]["name"] == "consul");
  CHECK(doc["adapters"][0]["verbs"] ==
        nlohmann::json({"save", "restore", "status", "import"}));
}

TEST_CASE("every verb and every verb-adapter pair has help", "[cli]") {
  for (const auto& verb : k_adapter_verbs) {
    auto r = snap({verb, "--help"});
    INFO(verb);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("consul") != std::string::npos);
    auto a = snap({verb, "consul", "--help"});
    CHECK(a.exit_code == 0);
    CHECK(a.out.find("--addr") != std::string::npos);
  }
  for (std::string verb : {"inspect", "prune", "adapters"}) {
    CHECK(snap({verb, "--help"}).exit_code == 0);
  }
}

TEST_CASE("a mistyped verb or adapter gets 'did you mean' and exit 2",
          "[cli]") {
  auto v = snap({"sav", "consul"});
  CHECK(v.exit_code == 2);
  CHECK(v.err.find("did you mean 'save'?") != std::string::npos);
  auto a = snap({"save", "consl"});
  CHECK(a.exit_code == 2);
  CHECK(a.err.find("did you mean 'consul'?") != std::string::npos);
  auto m = snap({"save"});
  CHECK(m.exit_code == 2);
  CHECK(m.err.find("missing adapter") != std::string::npos);
  auto bad = snap({"--json", "save", "consl"});
  CHECK(nlohmann::json::parse(bad.out)["error"]["kind"] == "usage");
}

TEST_CASE("every flag in the help is documented in the man page", "[cli]") {
  std::string man = read_file(SNAP_SOURCE_DIR "/man/snap.1");
  REQUIRE_FALSE(man.empty());
  std::set<std::string> flags;
  std::regex flag_re("--[a-z][a-z0-9-]+");
  auto collect = [&](const std::vector<std::string>& args) {
    auto r = snap(args);
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), flag_re), end;
         it != end; ++it) {
      flags.insert(it->str());
    }
  };
  collect({"--help"});
  auto adapters = nlohmann::json::parse(snap({"--json", "adapters"}).out);
  for (const auto& a : adapters["adapters"]) {
    for (const auto& verb : k_adapter_verbs) {
      collect({verb, a["name"].get<std::string>(), "--help"});
    }
  }
  for (std::string verb : {"inspect", "prune"}) {
    collect({verb, "--help"});
  }
  REQUIRE(flags.size() > 20);
  for (const auto& f : flags) {
    // roff may escape the dashes: \-\-addr
    std::string roff;
    for (char c : f) {
      roff += c == '-' ? std::string("\\-") : std::string(1, c);
    }
    INFO(f);
    CHECK((man.find(f) != std::string::npos ||
           man.find(roff) != std::string::npos));
  }
}

TEST_CASE("an archive of format version 3 is refused naming the version",
          "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(3), "payload", "3");
  auto r = snap({"inspect", zip});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("format version 3") != std::string::npos);
}

TEST_CASE("a manifest-only version bump is refused too", "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(3), "payload", "1");
  auto r =
      snap({"restore", "consul", zip, "--yes", "--addr", "http://127.0.0.1:1"});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("format version 3") != std::string::npos);
  CHECK(r.err.find("snap 9.0.0") != std::string::npos);
}

TEST_CASE("restore refuses an archive of another adapter", "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(1, "cloudify"), "payload");
  auto r =
      snap({"restore", "consul", zip, "--yes", "--addr", "http://127.0.0.1:1"});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("is a cloudify archive, not consul") != std::string::npos);
}

TEST_CASE("an archive with an unsafe entry name is refused", "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(1), "payload");
  fs::create_directories(dir.path() / "evil");
  write_file(dir.path() / "evil/x", "x");
  // zip stores the name as given, ../ included, from a subdirectory.
  auto r = run({"/bin/sh", "-c",
                "cd '" + (dir.path() / "evil").string() + "' && zip -q '" +
                    zip + "' ../evil/x"});
  REQUIRE(r.exit_code == 0);
  auto i = snap({"inspect", zip});
  CHECK(i.exit_code == 7);
  CHECK(i.err.find("unsafe entry name") != std::string::npos);
}

TEST_CASE("an archive with an entry the manifest does not list is refused",
          "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(1), "payload");
  write_file(dir.path() / "src/payload/extra.bin", "smuggled");
  auto r = run({"/bin/sh", "-c",
                "cd '" + (dir.path() / "src").string() + "' && zip -q '" + zip +
                    "' payload/extra.bin"});
  REQUIRE(r.exit_code == 0);
  auto i = snap({"inspect", zip});
  CHECK(i.exit_code == 7);
  CHECK(i.err.find("unexpected entry payload/extra.bin") != std::string::npos);
}

TEST_CASE("an archive missing an entry the manifest lists is refused",
          "[cli][archive]") {
  TempDir dir;
  auto zip = craft(dir, manifest_v(1), "payload");
  auto r = run({"/usr/bin/zip", "-q", "-d", zip, "payload/consul.snap"});
  REQUIRE(r.exit_code == 0);
  auto i = snap({"inspect", zip});
  CHECK(i.exit_code == 7);
  CHECK(i.err.find("entry payload/consul.snap is missing") !=
        std::string::npos);
}

TEST_CASE("the format 1 fixture still opens and restores", "[cli][fixture]") {
  std::string fixture = SNAP_SOURCE_DIR "/tests/fixtures/consul-format1.zip";
  auto r = snap({"--json", "inspect", fixture});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto a = nlohmann::json::parse(r.out)["archives"][0];
  CHECK(a["adapter"] == "consul");
  CHECK(a["format_version"] == 1);
  CHECK(a["verified"] == true);
  Emulator emu("consul");
  auto restored =
      snap({"restore", "consul", fixture, "--yes", "--addr", emu.url()});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(http("GET", emu.url() + "/v1/kv/fixture/greeting?raw") ==
        "hello from format 1");
}

TEST_CASE("inspect reports every archive, then fails once", "[cli]") {
  std::string fixture = SNAP_SOURCE_DIR "/tests/fixtures/consul-format1.zip";
  auto r = snap({"inspect", fixture, "/nonexistent.zip"});
  CHECK(r.exit_code == 6);
  CHECK(r.out.find("consul") != std::string::npos);
  CHECK(r.err.find("/nonexistent.zip") != std::string::npos);
}

TEST_CASE("prune keeps by rule, ignores foreign files, honours --dry-run",
          "[cli][prune]") {
  TempDir dir;
  for (std::string day : {"01", "02", "03", "04"}) {
    auto w = ArchiveWriter::create(dir.path());
    REQUIRE(w);
    auto sink = (*w)->add_entry("consul.snap", "application/gzip");
    REQUIRE((*sink)->write(as_bytes("x")));
    Manifest m;
    m.snap_version = "test";
    m.adapter = "consul";
    m.kind = "full";
    m.backup_id = day;
    m.created_at = "2026-11-" + day + "T03:00:00Z";
    m.target = {{"url", "http://127.0.0.1:8500"}};
    REQUIRE((*w)->commit(m, dir.path() / ("consul-" + day + ".zip")));
  }
  write_file(dir.path() / "other.zip", "not ours");
  auto dry =
      snap({"prune", dir.path().string(), "--keep-last", "2", "--dry-run"});
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("would remove consul-01.zip") != std::string::npos);
  CHECK(dir.list().size() == 5);
  auto real =
      snap({"--json", "prune", dir.path().string(), "--keep-last", "2"});
  REQUIRE(real.exit_code == 0);
  CHECK(nlohmann::json::parse(real.out)["removed"].size() == 2);
  CHECK(dir.list() == std::vector<std::string>{"consul-03.zip", "consul-04.zip",
                                               "other.zip"});
  CHECK(snap({"prune", dir.path().string()}).exit_code == 2);
}

} // namespace snap::test
