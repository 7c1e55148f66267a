// SPDX-License-Identifier: MIT
// Zeebe end to end: the built snap against snap-emulator zeebe.
#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "tests/adapters/suite.hpp"

namespace snap::test {
namespace {

using nlohmann::json;

const std::vector<std::string> k_fast = {"--backup-ms", "300"};

std::string only_archive(const TempDir& dir) {
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  return (dir.path() / files[0]).string();
}

} // namespace

// Zeebe keeps its backups in the brokers' store and restores offline: the
// suite's round trip checks the procedure printed for the saved backup.
AdapterFixture conformance_zeebe() {
  AdapterFixture f;
  f.adapter = "zeebe";
  f.token_flag_env = "SNAP_ZEEBE_TOKEN";
  f.streams_payload = false;
  f.emulator_flags = [] { return k_fast; };
  f.seed = [](const std::string&) {};
  f.state = [](const std::string& url) {
    return http("GET", url + "/actuator/backups");
  };
  f.mutate = [](const std::string&) {};
  return f;
}

TEST_CASE("zeebe passes the adapter conformance suite", "[e2e][zeebe][suite]") {
  run_conformance(*conformance_fixture("zeebe"));
}

TEST_CASE("zeebe save waits for every partition and keeps a reference",
          "[e2e][zeebe]") {
  Emulator emu("zeebe", k_fast);
  TempDir dir;
  auto before = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto r = snap({"save", "zeebe", "--addr", emu.url(), "--json", "-o",
                 dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json out = json::parse(r.out);
  // The default id is the UTC time in seconds.
  long long id = std::stoll(out["backup_id"].get<std::string>());
  CHECK(id >= before);
  CHECK(id <= before + 60);
  CHECK(out["kind"] == "reference");
  CHECK(out["source"]["state"] == "COMPLETED");
  CHECK(emu.received("POST /actuator/backups"));
  auto inspected = snap({"inspect", only_archive(dir)});
  CHECK(inspected.out.find("Partitions:") != std::string::npos);
  CHECK(inspected.out.find("1: COMPLETED, 2: COMPLETED, 3: COMPLETED") !=
        std::string::npos);
}

TEST_CASE("a zeebe backup id not above the latest is refused clearly",
          "[e2e][zeebe]") {
  Emulator emu("zeebe", k_fast);
  TempDir dir;
  REQUIRE(snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "200",
                "-o", dir.path().string()})
              .exit_code == 0);
  auto r = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "150",
                 "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("The latest backup has id 200") != std::string::npos);
  CHECK(r.err.find("pass a higher --backup-id") != std::string::npos);
  CHECK(dir.list().size() == 1);
  auto bad = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "x1"});
  CHECK(bad.exit_code == 2);
}

TEST_CASE("a FAILED zeebe backup exits 1 and an INCOMPLETE one exits 3",
          "[e2e][zeebe]") {
  {
    Emulator emu("zeebe", with(k_fast, {"--backup-outcome", "failed"}));
    TempDir dir;
    auto r = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "7",
                   "-o", dir.path().string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("backup 7 FAILED") != std::string::npos);
    CHECK(r.err.find("partition 1 FAILED: Failed to upload") !=
          std::string::npos);
    CHECK(dir.list().empty());
  }
  {
    Emulator emu("zeebe", with(k_fast, {"--backup-outcome", "incomplete"}));
    TempDir dir;
    auto r = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "8",
                   "-o", dir.path().string()});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("backup 8 is INCOMPLETE (partition 3 DOES_NOT_EXIST)") !=
          std::string::npos);
    CHECK(dir.list().size() == 1);
  }
}

TEST_CASE("zeebe restore prints the offline procedure and exits 8",
          "[e2e][zeebe]") {
  Emulator emu("zeebe", k_fast);
  TempDir dir;
  REQUIRE(snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "42", "-o",
                dir.path().string()})
              .exit_code == 0);
  std::string archive = only_archive(dir);
  auto r = snap({"restore", "zeebe", archive});
  CHECK(r.exit_code == 8);
  CHECK(r.out.find("bin/restore --backupId=42") != std::string::npos);
  CHECK(r.out.find("partitionCount (3)") != std::string::npos);
  CHECK(r.err.find("restore is offline") != std::string::npos);
  auto plan = snap({"restore", "zeebe", archive, "--print-plan", "--json"});
  CHECK(plan.exit_code == 0);
  CHECK(json::parse(plan.out)["plan"].size() == 5);
  // The archive is verified first, as for every restore.
  std::string bytes = read_file(archive);
  bytes[bytes.size() / 2] ^= 0x20;
  write_file(archive, bytes);
  CHECK(snap({"restore", "zeebe", archive, "--print-plan"}).exit_code == 7);
}

TEST_CASE("zeebe 8.8 uses backupRuntime, found through GET /actuator",
          "[e2e][zeebe]") {
  Emulator emu("zeebe", with(k_fast, {"--camunda-version", "8.8.1"}));
  TempDir dir;
  auto r = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "5", "-o",
                 dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(emu.received("GET /actuator"));
  CHECK(emu.received("POST /actuator/backupRuntime"));
  auto listed = snap({"list", "zeebe", "--addr", emu.url(), "--json"});
  CHECK(json::parse(listed.out)["backups"][0]["id"] == "5");
  auto status = snap({"status", "zeebe", "--addr", emu.url(), "5"});
  CHECK(status.out.find("COMPLETED") != std::string::npos);
  CHECK(status.out.find("partition 1: EXPORTING") != std::string::npos);
  CHECK(
      snap({"delete", "zeebe", "--addr", emu.url(), "5", "--yes"}).exit_code ==
      0);
  CHECK(snap({"status", "zeebe", "--addr", emu.url(), "5"}).exit_code == 6);
}

TEST_CASE("zeebe 8.9 with continuous backups: the id is Zeebe's own",
          "[e2e][zeebe]") {
  Emulator emu("zeebe", with(k_fast, {"--camunda-version", "8.9.0",
                                      "--continuous-backups"}));
  TempDir dir;
  // A given id is refused by Zeebe, and snap says what to do instead.
  auto given = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "5",
                     "-o", dir.path().string()});
  CHECK(given.exit_code == 2);
  CHECK(given.err.find("continuous backups") != std::string::npos);
  CHECK(dir.list().empty());
  // Without one, the backup takes the id Zeebe makes (milliseconds).
  auto r = snap({"--json", "save", "zeebe", "--addr", emu.url(), "-o",
                 dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::string id = json::parse(r.out)["backup_id"];
  CHECK(std::stoll(id) > 1'000'000'000'000LL);
  auto status = snap({"--json", "status", "zeebe", "--addr", emu.url()});
  INFO(status.err);
  CHECK(status.exit_code == 0);
  json ranges = json::parse(status.out)["backup_ranges"];
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].get<std::string>().find(id) != std::string::npos);

  // 8.9 without continuous backups: an id as before, and /state answers.
  Emulator plain("zeebe", with(k_fast, {"--camunda-version", "8.9.0"}));
  CHECK(snap({"save", "zeebe", "--addr", plain.url(), "--backup-id", "7", "-o",
              dir.path().string()})
            .exit_code == 0);
}

TEST_CASE("zeebe lacks upload and says which verbs it has", "[e2e][zeebe]") {
  auto r = snap({"upload", "zeebe", "x.zip"});
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("supported: save, restore, download, status, list, "
                   "delete") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("zeebe status works through a standalone 8.2-8.7 gateway",
          "[e2e][zeebe][target-truth]") {
  for (std::string version : {"8.2.10", "8.7.2"}) {
    Emulator emu("zeebe", {"--camunda-version", version, "--backup-ms", "100"});
    TempDir dir;
    auto saved = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "7",
                       "-o", dir.path().string()});
    INFO(version << ": " << saved.err);
    REQUIRE(saved.exit_code == 0);
    auto all = snap({"status", "zeebe", "--addr", emu.url()});
    INFO(all.err);
    CHECK(all.exit_code == 0);
    CHECK(all.out.find("not shown by a standalone gateway") !=
          std::string::npos);
    auto one = snap({"status", "zeebe", "7", "--addr", emu.url()});
    CHECK(one.exit_code == 0);
    CHECK(one.out.find("COMPLETED") != std::string::npos);
    CHECK(one.out.find("complete\nReady:") != std::string::npos);
    // The gateway has no partitions endpoint, as the real one.
    CHECK(
        http("GET", emu.url() + "/actuator/partitions").find("exporterPhase") ==
        std::string::npos);
  }
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("zeebe save --keep --prune-target deletes the older backup on the "
          "broker",
          "[e2e][zeebe][retention]") {
  Emulator emu("zeebe", k_fast);
  TempDir dir;
  for (std::string id : {"100", "101"}) {
    auto r = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", id,
                   "-o", dir.path().string(), "--keep", "1", "--prune-target"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  CHECK(emu.received("DELETE /actuator/backups/100"));
  CHECK_FALSE(emu.received("DELETE /actuator/backups/101"));
  auto listed = snap({"--json", "list", "zeebe", "--addr", emu.url()});
  auto backups = json::parse(listed.out)["backups"];
  REQUIRE(backups.size() == 1);
  CHECK(backups[0]["id"] == "101");
  CHECK(dir.list().size() == 1);
}

} // namespace snap::test
