// SPDX-License-Identifier: MIT
// Cloudify end to end: the built snap against snap-emulator cloudify.
#include <catch2/catch.hpp>
#include <csignal>
#include <nlohmann/json.hpp>

#include "tests/adapters/suite.hpp"

namespace snap::test {
namespace {

const std::string k_sample_tree =
    SNAP_SHARED_DIR "/samples/cloudify/newformat_fixture_snapshot_contents";
const std::string k_legacy_sample =
    SNAP_SHARED_DIR "/samples/cloudify/snap_with_scheduled_execs_20200310.zip";

std::string api(const std::string& url) { return url + "/api/v3.1"; }

void put_secret(const std::string& url, const std::string& key,
                const std::string& value) {
  auto r = run({"/usr/bin/curl", "-s", "-X", "PUT", "-H",
                "Content-Type: application/json", "--data",
                nlohmann::json{{"value", value}}.dump(),
                api(url) + "/secrets/" + key});
  REQUIRE(r.out.find("\"key\"") != std::string::npos);
}

std::string secret(const std::string& url, const std::string& key) {
  auto body = nlohmann::json::parse(http("GET", api(url) + "/secrets/" + key),
                                    nullptr, false);
  return body.is_object() ? body.value("value", "<none>") : "<none>";
}

std::string maintenance(const std::string& url) {
  return nlohmann::json::parse(http("GET", api(url) + "/maintenance"))
      .value("status", "");
}

AdapterFixture cloudify_fixture() {
  AdapterFixture f;
  f.adapter = "cloudify";
  f.token_flag_env = "CLOUDIFY_TOKEN";
  f.seed = [](const std::string& url) {
    put_secret(url, "db-password", "original");
    put_secret(url, "api-key", "k-1");
  };
  f.state = [](const std::string& url) {
    return "db-password=" + secret(url, "db-password") +
           " api-key=" + secret(url, "api-key");
  };
  f.mutate = [](const std::string& url) {
    put_secret(url, "db-password", "changed");
    http("DELETE", api(url) + "/secrets/api-key");
  };
  return f;
}

// Saves snapshot `id` from `emu` into `dir`; returns the archive's path.
std::string save_one(const Emulator& emu, const TempDir& dir,
                     const std::string& id = "nightly") {
  cloudify_fixture().seed(emu.url());
  auto r = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id", id,
                 "-o", dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return (dir.path() / dir.list().at(0)).string();
}

bool changed_anything(const Emulator& emu) {
  for (const auto& r : emu.requests()) {
    if (!r.starts_with("GET ")) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("cloudify passes the adapter conformance suite",
          "[e2e][cloudify][suite]") {
  run_conformance(cloudify_fixture());
}

TEST_CASE("cloudify save records the snapshot and its real layout",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--sample-dir", k_sample_tree});
  TempDir dir;
  auto archive = save_one(emu, dir, "nightly-0501");
  CHECK(std::filesystem::path(archive).filename().string().starts_with(
      "cloudify-nightly-0501-"));
  auto r = snap({"--json", "inspect", archive});
  REQUIRE(r.exit_code == 0);
  auto a = nlohmann::json::parse(r.out)["archives"][0];
  CHECK(a["cloudify"]["snapshot_version"] == "7.1.0");
  CHECK(a["cloudify"]["format"] == "new");
  CHECK(a["target_version"] == "7.1.0");
  // The payload is the manager's own zip, with the fixture's layout in it.
  auto listing = run({"/bin/sh", "-c",
                      "unzip -p '" + archive +
                          "' payload/cloudify.zip > /tmp/snap-cfy-$$.zip && "
                          "unzip -l /tmp/snap-cfy-$$.zip; rm -f "
                          "/tmp/snap-cfy-$$.zip"});
  CHECK(listing.out.find("metadata.json") != std::string::npos);
  CHECK(listing.out.find("mgmt/") != std::string::npos);
  CHECK(listing.out.find("tenants/default_tenant/secrets/0.json") !=
        std::string::npos);
}

TEST_CASE("a failed create workflow exits 1 with the manager's error",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--fail-workflow", "create"});
  TempDir dir;
  auto r = snap(
      {"save", "cloudify", "--addr", emu.url(), "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("create_snapshot execution") != std::string::npos);
  CHECK(r.err.find("RuntimeError") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("a workflow that never ends gives up after --wait-timeout",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--hang-workflow", "create"});
  TempDir dir;
  auto r = snap({"save", "cloudify", "--addr", emu.url(), "--wait-timeout", "1",
                 "-o", dir.path().string()});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("--wait-timeout") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("restore uploads a snapshot the manager lacks, then restores it",
          "[e2e][cloudify]") {
  TempDir dir;
  std::string archive;
  {
    Emulator old_manager("cloudify");
    archive = save_one(old_manager, dir);
  }
  Emulator fresh("cloudify", {"--restore-window-ms", "600"});
  CHECK(secret(fresh.url(), "db-password") == "<none>");
  auto r =
      snap({"restore", "cloudify", archive, "--addr", fresh.url(), "--yes"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(secret(fresh.url(), "db-password") == "original");
  CHECK(maintenance(fresh.url()) == "deactivated");
  auto log = fresh.requests();
  auto at = [&](const std::string& prefix) {
    return std::find_if(
               log.begin(), log.end(),
               [&](const std::string& l) { return l.starts_with(prefix); }) -
           log.begin();
  };
  CHECK(at("PUT /api/v3.1/snapshots/nightly/archive") <
        at("POST /api/v3.1/maintenance/activate"));
  CHECK(at("POST /api/v3.1/maintenance/activate") <
        at("POST /api/v3.1/snapshots/nightly/restore"));
  CHECK(at("POST /api/v3.1/snapshots/nightly/restore") <
        at("POST /api/v3.1/maintenance/deactivate"));
}

TEST_CASE("restore waits while maintenance mode is still activating",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--job-ms", "1500"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  // A create workflow is running: activation must wait for it to end.
  auto started = run({"/usr/bin/curl", "-s", "-X", "PUT", "-H",
                      "Content-Type: application/json", "--data", "{}",
                      api(emu.url()) + "/snapshots/busy"});
  REQUIRE(started.out.find("create_snapshot") != std::string::npos);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(maintenance(emu.url()) == "deactivated");
  auto snaps =
      nlohmann::json::parse(http("GET", api(emu.url()) + "/snapshots/busy"));
  CHECK(snaps["status"] == "created");
}

TEST_CASE("restore options map to the manager's fields", "[e2e][cloudify]") {
  Emulator emu("cloudify");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto bad = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes",
                   "--no-reboot"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--restore-certificates") != std::string::npos);
  auto dry =
      snap({"restore", "cloudify", archive, "--addr", emu.url(), "--dry-run",
            "--force", "--restore-certificates", "--no-reboot"});
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("\"force\":true") != std::string::npos);
  CHECK(dry.out.find("\"no_reboot\":true") != std::string::npos);
  CHECK(dry.out.find("\"restore_certificates\":true") != std::string::npos);
}

TEST_CASE("a failed restore exits 1 and leaves maintenance mode off",
          "[e2e][cloudify][safety]") {
  Emulator emu("cloudify", {"--fail-workflow", "restore"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("restore_snapshot execution") != std::string::npos);
  CHECK(maintenance(emu.url()) == "deactivated");
}

TEST_CASE("SIGINT during a restore leaves maintenance mode off, exit 130",
          "[e2e][cloudify][safety][signal]") {
  Emulator emu("cloudify", {"--hang-workflow", "restore"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"},
                {.signal_after_ms = 1200});
  CHECK(r.exit_code == 130);
  CHECK(emu.received("POST /api/v3.1/snapshots/nightly/restore"));
  CHECK(maintenance(emu.url()) == "deactivated");
}

TEST_CASE("keep-maintenance leaves maintenance mode on", "[e2e][cloudify]") {
  Emulator emu("cloudify");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes",
                 "--keep-maintenance"});
  CHECK(r.exit_code == 0);
  CHECK(maintenance(emu.url()) == "activated");
}

TEST_CASE("restore --dry-run and a corrupt archive change nothing",
          "[e2e][cloudify][verify]") {
  TempDir dir;
  std::string archive;
  {
    Emulator source("cloudify");
    archive = save_one(source, dir);
  }
  Emulator emu("cloudify");
  auto dry =
      snap({"restore", "cloudify", archive, "--addr", emu.url(), "--dry-run"});
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("upload payload/cloudify.zip") != std::string::npos);
  CHECK_FALSE(changed_anything(emu));

  std::string bytes = read_file(archive);
  auto payload = bytes.find("metadata.json", bytes.find("payload/cloudify"));
  REQUIRE(payload != std::string::npos);
  bytes[payload + 20] = static_cast<char>(bytes[payload + 20] ^ 0x01);
  write_file(archive, bytes);
  auto bad =
      snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"});
  CHECK(bad.exit_code == 7);
  CHECK_FALSE(changed_anything(emu));
}

TEST_CASE("download packs a snapshot already on the manager, legacy too",
          "[e2e][cloudify]") {
  Emulator emu("cloudify");
  auto up = run({"/usr/bin/curl", "-s", "-X", "PUT", "-H",
                 "Content-Type: application/octet-stream", "--data-binary",
                 "@" + k_legacy_sample,
                 api(emu.url()) + "/snapshots/legacy-2020/archive"});
  REQUIRE(up.out.find("uploaded") != std::string::npos);
  TempDir dir;
  auto r = snap({"--json", "download", "cloudify", "legacy-2020", "--addr",
                 emu.url(), "-o", dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["source"]["format"] == "legacy");
  CHECK(doc["source"]["snapshot_version"] == "5.1.0");
  auto missing = snap({"download", "cloudify", "nope", "--addr", emu.url()});
  CHECK(missing.exit_code == 6);
  CHECK(missing.err.find("was not found") != std::string::npos);
}

TEST_CASE("list, delete and upload speak to the manager's snapshots",
          "[e2e][cloudify]") {
  Emulator emu("cloudify");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto listed = snap({"--json", "list", "cloudify", "--addr", emu.url()});
  REQUIRE(listed.exit_code == 0);
  auto backups = nlohmann::json::parse(listed.out)["backups"];
  REQUIRE(backups.size() == 1);
  CHECK(backups[0]["id"] == "nightly");
  CHECK(backups[0]["status"] == "created");
  CHECK(
      snap({"delete", "cloudify", "nightly", "--addr", emu.url()}).exit_code ==
      2); // no terminal, no --yes
  CHECK(snap({"delete", "cloudify", "nightly", "--addr", emu.url(), "--yes"})
            .exit_code == 0);
  CHECK(snap({"upload", "cloudify", archive, "--addr", emu.url(), "--id",
              "copy-1"})
            .exit_code == 0);
  listed = snap({"--json", "list", "cloudify", "--addr", emu.url()});
  backups = nlohmann::json::parse(listed.out)["backups"];
  REQUIRE(backups.size() == 1);
  CHECK(backups[0]["id"] == "copy-1");
  CHECK(backups[0]["status"] == "uploaded");
}

TEST_CASE("an unknown tenant is refused with exit 5", "[e2e][cloudify]") {
  Emulator emu("cloudify");
  auto r = snap({"list", "cloudify", "--addr", emu.url(), "--tenant", "nope"});
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("invalid tenant name: nope") != std::string::npos);
  auto env = snap({"list", "cloudify", "--addr", emu.url()},
                  {.env = {{"CLOUDIFY_TENANT", "other"}}});
  CHECK(env.exit_code == 5);
}

} // namespace snap::test
