// SPDX-License-Identifier: MIT
// Cloudify end to end: the built snap against snap-emulator cloudify.
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/adapters/suite.hpp"

namespace snap::test {
namespace {

const std::string k_sample_tree =
    SNAP_UPSTREAM_DIR "/cloudify/newformat_fixture_snapshot_contents";
const std::string k_legacy_sample =
    SNAP_UPSTREAM_DIR "/cloudify/snap_with_scheduled_execs_20200310.zip";

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

AdapterFixture conformance_cloudify() { return cloudify_fixture(); }

TEST_CASE("cloudify passes the adapter conformance suite",
          "[e2e][cloudify][suite]") {
  run_conformance(*conformance_fixture("cloudify"));
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
  CHECK(a["payload"]["snapshot_version"] == "7.1.0");
  CHECK(a["payload"]["format"] == "new");
  CHECK(a["target"]["version"] == "7.1.0");
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

TEST_CASE("restore uploads the archive under a new id, restores and "
          "deletes it",
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
  // The archive's snapshot goes up as snap-restore-<time>-<hex>.
  auto upload = at("PUT /api/v3.1/snapshots/snap-restore-");
  REQUIRE(upload < static_cast<long>(log.size()));
  std::string id = log[upload].substr(24, log[upload].find("/archive") - 24);
  CHECK(upload < at("POST /api/v3.1/maintenance/activate"));
  CHECK(at("POST /api/v3.1/maintenance/activate") <
        at("POST /api/v3.1/snapshots/" + id + "/restore"));
  CHECK(at("POST /api/v3.1/snapshots/" + id + "/restore") <
        at("DELETE /api/v3.1/snapshots/" + id));
  CHECK(at("DELETE /api/v3.1/snapshots/" + id) <
        at("POST /api/v3.1/maintenance/deactivate"));
  CHECK(http("GET", api(fresh.url()) + "/snapshots").find(id) ==
        std::string::npos);
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

TEST_CASE("SIGINT while the manager restores leaves maintenance mode on and "
          "says how to finish, exit 130",
          "[e2e][cloudify][safety][signal]") {
  Emulator emu("cloudify", {"--hang-workflow", "restore"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"},
                {.signal_after_ms = 1200});
  CHECK(r.exit_code == 130);
  CHECK(emu.received("POST /api/v3.1/snapshots/snap-restore-"));
  // The manager is still restoring: leaving maintenance mode now would let
  // work in while its database is being replaced.
  CHECK(maintenance(emu.url()) == "activated");
  CHECK(r.err.find("the restore is still running on the manager") !=
        std::string::npos);
  CHECK(r.err.find("cfy maintenance-mode deactivate") != std::string::npos);
}

TEST_CASE("SIGINT before the restore starts leaves maintenance mode as it was",
          "[e2e][cloudify][safety][signal]") {
  Emulator emu("cloudify", {"--job-ms", "4000"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  // A create runs: maintenance mode stays 'activating' until it ends, and
  // snap is interrupted while it waits.
  http("PUT", api(emu.url()) + "/snapshots/busy", "{}");
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"},
                {.signal_after_ms = 1500});
  CHECK(r.exit_code == 130);
  CHECK_FALSE(emu.received("POST /api/v3.1/snapshots/snap-restore-"));
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

TEST_CASE("restore --install-new-agents runs the upgrade follow-up on "
          "started deployments",
          "[e2e][cloudify]") {
  TempDir dir;
  std::string archive;
  {
    Emulator old_manager("cloudify");
    archive = save_one(old_manager, dir);
  }
  Emulator fresh("cloudify", {"--deployments", "3", "--unstarted-deployment",
                              "dep-2", "--job-ms", "150"});
  auto r = snap({"--json", "restore", "cloudify", archive, "--addr",
                 fresh.url(), "--yes", "--install-new-agents"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json agents = nlohmann::json::parse(r.out)["details"]["agents"];
  CHECK(agents["installed"] == nlohmann::json::array({"dep-1", "dep-3"}));
  CHECK(agents["skipped"].size() == 1);
  CHECK(agents["failed"].empty());
  CHECK(r.err.find("dep-2 (node instance vm_2abc is not started)") !=
        std::string::npos);
  // Started after maintenance mode is off again, and followed to the end.
  auto log = fresh.requests();
  auto first = [&](const std::string& prefix) {
    return first_starting(log, prefix);
  };
  CHECK(first("POST /api/v3.1/maintenance/deactivate") <
        first("POST /api/v3.1/executions"));
  auto listed =
      nlohmann::json::parse(http("GET", api(fresh.url()) + "/executions"));
  REQUIRE(listed["items"].size() == 2);
  for (const auto& e : listed["items"]) {
    CHECK(e["workflow_id"] == "install_new_agents");
    CHECK(e["status"] == "terminated");
  }

  // A failing workflow is named, and the restore is partial.
  Emulator failing("cloudify", {"--deployments", "1", "--fail-workflow",
                                "agents", "--job-ms", "150"});
  auto f = snap({"restore", "cloudify", archive, "--addr", failing.url(),
                 "--yes", "--install-new-agents"});
  CHECK(f.exit_code == 3);
  CHECK(f.err.find("install_new_agents on dep-1 ended failed") !=
        std::string::npos);
  // It cannot run in maintenance mode, so --keep-maintenance is refused
  // before anything changes.
  auto kept = snap({"restore", "cloudify", archive, "--addr", failing.url(),
                    "--yes", "--install-new-agents", "--keep-maintenance"});
  CHECK(kept.exit_code == 2);
}

TEST_CASE("restore --update-plugins updates every blueprint's plugins and "
          "waits for each",
          "[e2e][cloudify]") {
  TempDir dir;
  std::string archive;
  {
    Emulator old_manager("cloudify");
    archive = save_one(old_manager, dir);
  }
  Emulator fresh("cloudify", {"--deployments", "2", "--job-ms", "150"});
  auto plan = snap({"restore", "cloudify", archive, "--addr", fresh.url(),
                    "--dry-run", "--install-new-agents", "--update-plugins"});
  CHECK(plan.out.find("update every blueprint's plugins") != std::string::npos);
  auto r =
      snap({"--json", "restore", "cloudify", archive, "--addr", fresh.url(),
            "--yes", "--install-new-agents", "--update-plugins"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto details = nlohmann::json::parse(r.out)["details"];
  CHECK(details["plugins"]["updated"] ==
        nlohmann::json::array({"bp-1", "bp-2"}));
  CHECK(details["plugins"]["failed"].empty());
  // One update per blueprint, as cfy plugins update asks for it, after
  // the agents; each update's workflow ran to its end.
  auto log = fresh.requests();
  auto first = [&](const std::string& prefix) {
    return first_starting(log, prefix);
  };
  CHECK(first("POST /api/v3.1/executions") <
        first("POST /api/v3.1/plugins-updates/bp-1/update/initiate"));
  CHECK(first("POST /api/v3.1/plugins-updates/bp-2/update/initiate") <
        static_cast<long>(log.size()));
  auto listed = nlohmann::json::parse(http(
      "GET", api(fresh.url()) + "/executions?_include_system_workflows=true"));
  int plugin_runs = 0;
  for (const auto& e : listed["items"]) {
    if (e["workflow_id"] == "update_plugin") {
      ++plugin_runs;
      CHECK(e["status"] == "terminated");
    }
  }
  CHECK(plugin_runs == 2);

  // Plugins already current: nothing to wait for.
  Emulator current("cloudify", {"--deployments", "1", "--plugins-current"});
  auto same = snap({"--json", "restore", "cloudify", archive, "--addr",
                    current.url(), "--yes", "--update-plugins"});
  INFO(same.err);
  REQUIRE(same.exit_code == 0);
  CHECK(nlohmann::json::parse(same.out)["details"]["plugins"]["unchanged"] ==
        nlohmann::json::array({"bp-1"}));

  // A failing update is named with its execution, and the restore is
  // partial.
  Emulator failing("cloudify", {"--deployments", "1", "--fail-workflow",
                                "plugins", "--job-ms", "150"});
  auto f = snap({"restore", "cloudify", archive, "--addr", failing.url(),
                 "--yes", "--update-plugins"});
  CHECK(f.exit_code == 3);
  CHECK(f.err.find("of blueprint bp-1 ended failed") != std::string::npos);
  auto kept = snap({"restore", "cloudify", archive, "--addr", failing.url(),
                    "--yes", "--update-plugins", "--keep-maintenance"});
  CHECK(kept.exit_code == 2);
  CHECK(kept.err.find("--update-plugins runs workflows") != std::string::npos);
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

namespace snap::test {

TEST_CASE("restore puts back the archive's state, not the manager's snapshot "
          "of the same id",
          "[e2e][cloudify][target-truth]") {
  Emulator emu("cloudify");
  TempDir dir;
  auto archive = save_one(emu, dir); // snapshot "nightly", state A
  // The manager's "nightly" becomes another snapshot, of state B.
  http("DELETE", api(emu.url()) + "/snapshots/nightly");
  put_secret(emu.url(), "db-password", "state B");
  auto r = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id",
                 "nightly", "-o", (dir.path() / "b.zip").string()});
  REQUIRE(r.exit_code == 0);
  put_secret(emu.url(), "db-password", "state C");
  auto restored =
      snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(secret(emu.url(), "db-password") == "original");
  // The manager's own "nightly" is left as it was.
  CHECK(nlohmann::json::parse(
            http("GET", api(emu.url()) + "/snapshots/nightly"))["status"] ==
        "created");
}

TEST_CASE("a snapshot zip from elsewhere is imported and checked before "
          "a restore and export gives it back",
          "[e2e][cloudify][verify]") {
  // A manager's snapshot zip from cfy snapshots download, or fetched from
  // a URL by hand, becomes a verified archive before anything uses it.
  TempDir dir;
  std::string archive;
  {
    Emulator old_manager("cloudify");
    archive = save_one(old_manager, dir);
  }
  std::string zip = (dir.path() / "native.zip").string();
  auto out = snap({"export", archive, "-o", zip});
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  TempDir imported;
  auto in = snap({"--json", "import", "cloudify", zip, "--snapshot-id",
                  "from-url", "-o", imported.path().string()});
  INFO(in.err);
  REQUIRE(in.exit_code == 0);
  auto doc = nlohmann::json::parse(in.out);
  std::string wrapped = doc["archive"].get<std::string>();
  CHECK(wrapped.find("cloudify-from-url-") != std::string::npos);
  CHECK(snap({"inspect", wrapped}).exit_code == 0);
  // The same bytes as the archive the manager gave.
  std::string again = (dir.path() / "again.zip").string();
  REQUIRE(snap({"export", wrapped, "-o", again}).exit_code == 0);
  CHECK(read_file(again) == read_file(zip));
  Emulator fresh("cloudify");
  auto r =
      snap({"restore", "cloudify", wrapped, "--addr", fresh.url(), "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(secret(fresh.url(), "db-password") == "original");
  // A damaged zip is refused and nothing is written.
  std::string bytes = read_file(zip);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  write_file(zip, bytes);
  TempDir none;
  auto bad = snap({"import", "cloudify", zip, "-o", none.path().string()});
  CHECK(bad.exit_code == 7);
  CHECK(bad.err.find("the snapshot file failed verification") !=
        std::string::npos);
  CHECK(none.list().empty());
}

TEST_CASE("a legacy restore says which scheduled executions were overdue "
          "and which were scheduled again",
          "[e2e][cloudify][target-truth]") {
  // Cloudify 5.1's scheduled executions live in a legacy snapshot's
  // database dump. Restoring it marks all of them failed and re-creates as
  // schedules only those still due (snapshot_restore.py
  // _restore_scheduled_executions): the overdue ones never run.
  TempDir dir;
  {
    Emulator old_manager(
        "cloudify",
        {"--scheduled-execution", "install:dep-1:2020-03-10T12:00:00.000Z",
         "--scheduled-execution", "uninstall:dep-1:2050-01-02T12:00:00.000Z"});
    cloudify_fixture().seed(old_manager.url());
    auto saved =
        snap({"save", "cloudify", "--addr", old_manager.url(), "--snapshot-id",
              "old-51", "--legacy", "-o", dir.path().string()});
    INFO(saved.err);
    REQUIRE(saved.exit_code == 0);
  }
  std::string archive = (dir.path() / dir.list().at(0)).string();
  Emulator fresh("cloudify");
  auto r = snap({"--json", "restore", "cloudify", archive, "--addr",
                 fresh.url(), "--yes"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("was due at 2020-03-10T12:00:00.000Z, before the "
                   "restore: the manager marked it failed and it will not "
                   "run") != std::string::npos);
  CHECK(r.err.find("cfy executions start install -d dep-1") !=
        std::string::npos);
  auto doc = nlohmann::json::parse(r.out);
  const auto& outcome = doc["details"]["scheduled_executions"];
  REQUIRE(outcome["overdue"].size() == 1);
  CHECK(outcome["overdue"][0]["workflow"] == "install");
  REQUIRE(outcome["rescheduled"].size() == 1);
  CHECK(outcome["rescheduled"][0]["workflow"] == "uninstall");
  std::string schedule = outcome["rescheduled"][0]["schedule"];
  CHECK(schedule.starts_with("uninstall_restored_"));
  // What the manager itself now holds.
  auto schedules = nlohmann::json::parse(
      http("GET", api(fresh.url()) + "/execution-schedules"))["items"];
  REQUIRE(schedules.size() == 1);
  CHECK(schedules[0]["id"] == schedule);
  CHECK(schedules[0]["next_occurrence"] == "2050-01-02T12:00:00.000Z");
  auto failed = nlohmann::json::parse(
      http("GET", api(fresh.url()) + "/executions?status=failed"))["items"];
  CHECK(failed.size() == 2);
  // A manager before execution schedules (5.2) requeues the one still
  // due and fails only the overdue one; it has no schedules to list.
  Emulator old_target("cloudify", {"--before-schedules"});
  auto r51 = snap({"--json", "restore", "cloudify", archive, "--addr",
                   old_target.url(), "--yes"});
  INFO(r51.err);
  REQUIRE(r51.exit_code == 0);
  auto outcome51 =
      nlohmann::json::parse(r51.out)["details"]["scheduled_executions"];
  CHECK(outcome51["overdue"].size() == 1);
  CHECK(outcome51["rescheduled"].empty());
  CHECK(
      nlohmann::json::parse(http(
          "GET", api(old_target.url()) + "/executions?status=failed"))["items"]
          .size() == 1);
  // A restore of the new format has no such executions, and asks nothing.
  Emulator newer("cloudify");
  TempDir dir2;
  auto plain = save_one(newer, dir2);
  Emulator fresh2("cloudify");
  REQUIRE(snap({"restore", "cloudify", plain, "--addr", fresh2.url(), "--yes"})
              .exit_code == 0);
  CHECK_FALSE(fresh2.received("GET /api/v3.1/execution-schedules"));
}

TEST_CASE("a snapshot zip with one damaged member is not saved",
          "[e2e][cloudify][verify]") {
  Emulator emu("cloudify", {"--corrupt-archive"});
  TempDir dir;
  cloudify_fixture().seed(emu.url());
  auto r = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id",
                 "nightly", "-o", dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("member tenants/default_tenant/secrets/0.json is damaged") !=
        std::string::npos);
  CHECK(r.err.find("nothing was saved") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("status and save work in maintenance mode; a save is refused "
          "while it activates",
          "[e2e][cloudify][maintenance]") {
  Emulator emu("cloudify", {"--job-ms", "2000"});
  TempDir dir;
  cloudify_fixture().seed(emu.url());
  http("POST", api(emu.url()) + "/maintenance/activate");
  REQUIRE(maintenance(emu.url()) == "activated");
  auto status = snap({"status", "cloudify", "--addr", emu.url()});
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("activated") != std::string::npos);
  auto saved = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id",
                     "in-maintenance", "-o", dir.path().string()});
  INFO(saved.err);
  CHECK(saved.exit_code == 0);
  CHECK(dir.list().size() == 1);
  // Maintenance mode that waits for a running create: a save now is refused
  // before anything is created.
  http("POST", api(emu.url()) + "/maintenance/deactivate");
  http("PUT", api(emu.url()) + "/snapshots/long", "{}");
  http("POST", api(emu.url()) + "/maintenance/activate");
  REQUIRE(maintenance(emu.url()) == "activating");
  auto refused = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id",
                       "while-activating", "-o", dir.path().string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("entering maintenance mode") != std::string::npos);
  CHECK(http("GET", api(emu.url()) + "/snapshots/while-activating")
            .find("not_found_error") != std::string::npos);
}

TEST_CASE("restore leaves the operator's maintenance mode on",
          "[e2e][cloudify][maintenance]") {
  Emulator emu("cloudify");
  TempDir dir;
  auto archive = save_one(emu, dir);
  http("POST", api(emu.url()) + "/maintenance/activate");
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(emu.received("POST /api/v3.1/maintenance/deactivate"));
  CHECK(maintenance(emu.url()) == "activated");
}

TEST_CASE("a restore past --wait-timeout keeps maintenance mode on while "
          "the manager restores",
          "[e2e][cloudify][maintenance]") {
  Emulator emu("cloudify", {"--hang-workflow", "restore"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "cloudify", archive, "--addr", emu.url(), "--yes",
                 "--wait-timeout", "1"});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("raise --wait-timeout") != std::string::npos);
  CHECK(r.err.find("the restore is still running on the manager") !=
        std::string::npos);
  CHECK(maintenance(emu.url()) == "activated");
}

TEST_CASE("credentials that changed with the restore are said, exit 3",
          "[e2e][cloudify][maintenance]") {
  Emulator emu("cloudify", {"--require-token", "first-password"});
  TempDir dir;
  write_file(dir.path() / "first", "first-password\n");
  write_file(dir.path() / "second", "second-password\n");
  fs::create_directories(dir.path() / "out");
  auto auth = [&](const std::string& file) {
    return std::vector<std::string>{
        "--addr", emu.url(),         "--user",
        "admin",  "--password-file", (dir.path() / file).string()};
  };
  REQUIRE(
      run({"/usr/bin/curl", "-s", "-u", "admin:first-password", "-X", "PUT",
           "-H", "Content-Type: application/json", "--data",
           R"({"value":"original"})", api(emu.url()) + "/secrets/db-password"})
          .out.find("\"key\"") != std::string::npos);
  auto saved = snap(with({"save", "cloudify", "--snapshot-id", "nightly", "-o",
                          (dir.path() / "out").string()},
                         auth("first")));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  // The admin's password changes after the backup; the restore brings the
  // old one back with the snapshot's users.
  REQUIRE(run({"/usr/bin/curl", "-s", "-u", "admin:first-password", "-X",
               "POST", "-H", "Content-Type: application/json", "--data",
               R"({"password":"second-password"})",
               api(emu.url()) + "/users/admin"})
              .out.find("sys_admin") != std::string::npos);
  std::string archive =
      fs::directory_iterator(dir.path() / "out")->path().string();
  auto r =
      snap(with({"restore", "cloudify", archive, "--yes"}, auth("second")));
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("no longer accepts these credentials") != std::string::npos);
  CHECK(r.err.find("as a user of the restored manager") != std::string::npos);
  CHECK(snap(with({"status", "cloudify"}, auth("first"))).exit_code == 0);
}

TEST_CASE("cloudify emulator: a restore answers with the Snapshot's fields, "
          "and a busy manager refuses it",
          "[emulator][cloudify]") {
  Emulator emu("cloudify", {"--job-ms", "1500"});
  TempDir dir;
  save_one(emu, dir);
  http("PUT", api(emu.url()) + "/snapshots/long", "{}");
  auto busy = nlohmann::json::parse(
      http("POST", api(emu.url()) + "/snapshots/nightly/restore",
           R"({"force":false,"recreate_deployments_envs":false})"));
  CHECK(busy["error_code"] == "existing_running_execution_error");
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  auto answer = nlohmann::json::parse(
      http("POST", api(emu.url()) + "/snapshots/nightly/restore",
           R"({"force":false,"recreate_deployments_envs":false})"));
  CHECK(answer.contains("id"));
  CHECK(answer.contains("status"));
  CHECK_FALSE(answer.contains("workflow_id"));
  CHECK_FALSE(answer.contains("parameters"));
}

TEST_CASE("list pages through more than 1,000 snapshots",
          "[e2e][cloudify][list]") {
  Emulator emu("cloudify", {"--seed-snapshots", "1234"});
  auto page = nlohmann::json::parse(
      http("GET", api(emu.url()) + "/snapshots?_sort=-id&_size=10&_offset=5"));
  CHECK(page["items"].size() == 10);
  CHECK(page["items"][0]["id"] == "seed-01228");
  CHECK(page["metadata"]["pagination"]["total"] == 1234);
  CHECK(http("GET", api(emu.url()) + "/snapshots?_size=x")
            .find("bad_parameters_error") != std::string::npos);
  auto r = snap({"--json", "list", "cloudify", "--addr", emu.url()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto ids = nlohmann::json::parse(r.out)["backups"];
  CHECK(ids.size() == 1234);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("cloudify save --keep --prune-target deletes the older snapshot on "
          "the manager, never one it did not make",
          "[e2e][cloudify][retention]") {
  Emulator emu("cloudify");
  TempDir dir;
  cloudify_fixture().seed(emu.url());
  auto ids = [&] {
    std::set<std::string> out;
    auto listed = snap({"--json", "list", "cloudify", "--addr", emu.url()});
    const auto doc = nlohmann::json::parse(listed.out);
    for (const auto& b : doc["backups"]) {
      out.insert(b["id"].get<std::string>());
    }
    return out;
  };
  auto save = [&](const std::string& id) {
    auto r = snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id", id,
                   "-o", dir.path().string(), "--keep", "1", "--prune-target"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  save("n1");
  std::string second = save("n2");
  CHECK(second.find("and its snapshot n1 on the manager") != std::string::npos);
  CHECK(ids() == std::set<std::string>{"n2"});
  // A snapshot made elsewhere and downloaded into the same series is pruned
  // as an archive only: snap did not make it there.
  TempDir elsewhere;
  REQUIRE(snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id",
                "theirs", "-o", elsewhere.path().string()})
              .exit_code == 0);
  auto made = snap({"download", "cloudify", "theirs", "--addr", emu.url(), "-o",
                    dir.path().string()});
  REQUIRE(made.exit_code == 0);
  REQUIRE(dir.list().size() == 2);
  save("n3");
  CHECK(dir.list().size() == 1);
  CHECK(ids() == std::set<std::string>{"theirs", "n3"});
  CHECK(ids().contains("n3"));
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("cloudify save --legacy --queue waits behind a running execution",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--job-ms", "900"});
  TempDir dir;
  auto save = [&](std::vector<std::string> extra, const std::string& id) {
    std::vector<std::string> args = {
        "-v",     "save",    "cloudify",
        "--addr", emu.url(), "--snapshot-id",
        id,       "-o",      (dir.path() / (id + ".zip")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return snap(args);
  };
  // Another execution runs: a legacy create is a blocking system workflow.
  int others = 0;
  auto busy = [&] {
    REQUIRE(
        http("PUT",
             api(emu.url()) + "/snapshots/other-" + std::to_string(++others),
             "{}")
            .find("create_snapshot") != std::string::npos);
  };
  busy();
  auto refused = save({"--legacy"}, "blocked");
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("existing_running_execution_error") !=
        std::string::npos);

  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  busy();
  auto queued = save({"--legacy", "--queue"}, "queued");
  INFO(queued.err);
  REQUIRE(queued.exit_code == 0);
  CHECK(queued.err.find("queued until the manager's running executions "
                        "end") != std::string::npos);
  auto r = snap({"--json", "inspect", (dir.path() / "queued.zip").string()});
  CHECK(nlohmann::json::parse(r.out)["archives"][0]["payload"]["format"] ==
        "legacy");

  // A new-format create runs beside other executions.
  busy();
  CHECK(save({}, "beside").exit_code == 0);
}

TEST_CASE("cloudify create options are checked as the manager checks them",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--job-ms", "30"});
  TempDir dir;
  auto save = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "save", "cloudify", "--addr", emu.url(), "-o", dir.path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return snap(args);
  };
  auto no_dir = save({"--tempdir-path", "/nonexistent/snap-tmp"});
  CHECK(no_dir.exit_code == 5);
  CHECK(no_dir.err.find("/nonexistent/snap-tmp") != std::string::npos);
  CHECK(save({"--tempdir-path", dir.path().string(), "--listener-timeout",
              "30.5"})
            .exit_code == 0);
  auto bad = save({"--listener-timeout", "soon"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--listener-timeout soon is not a number") !=
        std::string::npos);
}

TEST_CASE("cloudify list sorts by field and searches ids across tenants",
          "[e2e][cloudify]") {
  Emulator emu("cloudify", {"--job-ms", "30"});
  TempDir dir;
  for (const char* id : {"beta-1", "alpha-2", "beta-3"}) {
    REQUIRE(snap({"save", "cloudify", "--addr", emu.url(), "--snapshot-id", id,
                  "-o", dir.path().string()})
                .exit_code == 0);
  }
  auto ids = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--json", "list", "cloudify", "--addr",
                                     emu.url()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = snap(args);
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> out;
    auto doc = nlohmann::json::parse(r.out);
    for (const auto& b : doc["backups"]) {
      out.push_back(b["id"]);
    }
    return out;
  };
  CHECK(ids({"--sort", "id"}) ==
        std::vector<std::string>{"alpha-2", "beta-1", "beta-3"});
  CHECK(ids({"--sort", "-id", "--search", "beta"}) ==
        std::vector<std::string>{"beta-3", "beta-1"});
  auto all = snap(
      {"--json", "list", "cloudify", "--addr", emu.url(), "--all-tenants"});
  CHECK(nlohmann::json::parse(all.out)["backups"][0]["tenant"] ==
        "default_tenant");
  // The request log lists a query's parameters in name order.
  CHECK(emu.received("GET /api/v3.1/snapshots?_all_tenants=true&_offset=0&"
                     "_size=1000&_sort=-created_at"));
  auto wrong = snap({"list", "cloudify", "--addr", emu.url(), "--sort", "x"});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("Unknown field to sort by: x") != std::string::npos);
}

TEST_CASE("restore --from-url has the manager fetch the snapshot zip snap "
          "checked first",
          "[e2e][cloudify][target-truth]") {
  // cfy snapshots upload URL: the manager fetches snapshot_archive_url
  // itself and checks nothing; snap reads the URL through first.
  TempDir dir;
  std::string archive;
  {
    Emulator old_manager("cloudify");
    archive = save_one(old_manager, dir);
  }
  std::filesystem::path zip = dir.path() / "snapshot.zip";
  write_file(
      zip, run({"/usr/bin/unzip", "-p", archive, "payload/cloudify.zip"}).out);
  std::filesystem::path other = dir.path() / "other.zip";
  write_file(other, "not the snapshot");
  std::vector<std::string> files = {
      "--answer", "/s/snapshot.zip=" + zip.string(), "--answer",
      "/s/other.zip=" + other.string()};
  auto restore = [&](const Emulator& manager, const Emulator& server,
                     const std::string& name) {
    return snap(
        {"restore", "cloudify", archive, "--addr", manager.url(), "--from-url",
         server.url() + "/s/" + name + "?X-Amz-Signature=sekrit", "--yes"});
  };

  SECTION("the manager fetches it and restores it") {
    Emulator fresh("cloudify");
    Emulator server("consul", files);
    auto r = restore(fresh, server, "snapshot.zip");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(secret(fresh.url(), "db-password") == "original");
    CHECK(fresh.received("PUT /api/v3.1/snapshots/snap-restore-"));
    CHECK(r.err.find("sekrit") == std::string::npos);
    auto log = fresh.requests();
    CHECK(std::any_of(log.begin(), log.end(), [](const std::string& l) {
      return l.starts_with("PUT ") &&
             l.find("snapshot_archive_url=") != std::string::npos;
    }));
    auto got = server.requests();
    CHECK(std::count_if(got.begin(), got.end(), [](const std::string& l) {
            return l.starts_with("GET /s/snapshot.zip");
          }) == 2); // snap's check, then the manager's fetch
  }
  SECTION("a URL that serves other bytes is refused before any change") {
    Emulator fresh("cloudify");
    Emulator server("consul", files);
    auto r = restore(fresh, server, "other.zip");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("not the archive's payload/cloudify.zip") !=
          std::string::npos);
    CHECK(r.err.find("sekrit") == std::string::npos);
    CHECK_FALSE(changed_anything(fresh));
  }
  SECTION("a manager that cannot fetch it says so, and nothing is restored") {
    Emulator fresh("cloudify");
    auto flags = files;
    flags.insert(flags.end(), {"--status-sequence", "200,404"});
    Emulator server("consul", flags);
    auto r = restore(fresh, server, "snapshot.zip");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("Cannot fetch") != std::string::npos);
    CHECK(r.err.find("sekrit") == std::string::npos);
    CHECK(secret(fresh.url(), "db-password") == "<none>");
    CHECK(maintenance(fresh.url()) == "deactivated");
    CHECK_FALSE(fresh.received("POST /api/v3.1/maintenance/activate"));
  }
  SECTION("the same, for a URL without a query") {
    Emulator fresh("cloudify");
    auto flags = files;
    flags.insert(flags.end(), {"--status-sequence", "200,404"});
    Emulator server("consul", flags);
    auto r = snap({"restore", "cloudify", archive, "--addr", fresh.url(),
                   "--from-url", server.url() + "/s/snapshot.zip", "--yes"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("Cannot fetch " + server.url() + "/s/snapshot.zip") !=
          std::string::npos);
  }
}

} // namespace snap::test
