// SPDX-License-Identifier: MIT
// Camunda 8 whole-cluster backup end to end: snap against five emulators
// (Elasticsearch as the shared store, Zeebe, Operate, Tasklist, Optimize).
#include <catch2/catch.hpp>
#include <csignal>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/adapters/suite.hpp"
#include "tests/support/kube_rbac.hpp"

namespace snap::test {
namespace {

using nlohmann::json;

// Emulated Elasticsearch at test scale: a snapshot takes 150 ms, a restored
// index recovers in 40 ms (real clusters take longer; the waits are the same).
struct Cluster {
  explicit Cluster(std::vector<std::string> zeebe_flags = {},
                   std::vector<std::string> operate_flags = {},
                   std::vector<std::string> es_flags = {})
      : es("elasticsearch",
           with({"--snapshot-ms", "150", "--recovery-ms", "40"}, es_flags)),
        // A broker with its embedded gateway, whose partitions show the
        // exporter phase the tests check.
        zeebe("zeebe",
              with(std::find(zeebe_flags.begin(), zeebe_flags.end(),
                             "--zeebe-role") == zeebe_flags.end()
                       ? std::vector<std::string>{"--zeebe-role", "broker"}
                       : std::vector<std::string>{},
                   zeebe_flags.empty() || zeebe_flags[0] != "--backup-ms"
                       ? with({"--backup-ms", "300"}, zeebe_flags)
                       : zeebe_flags)),
        operate("operate", with({"--elasticsearch", es.url()}, operate_flags)),
        tasklist("tasklist", {"--elasticsearch", es.url()}),
        optimize("optimize", {"--elasticsearch", es.url()}) {
    http("PUT", es.url() + "/_snapshot/camunda",
         R"({"type":"fs","settings":{"location":"camunda"}})");
    for (std::string index : {"operate-list-view", "tasklist-task",
                              "optimize-report", "zeebe-record-job"}) {
      http("PUT", es.url() + "/" + index + "/_doc/1?refresh=true",
           R"({"seen":true})");
    }
  }
  std::vector<std::string> flags() const {
    return {"--zeebe",         zeebe.url(),    "--operate",    operate.url(),
            "--tasklist",      tasklist.url(), "--optimize",   optimize.url(),
            "--elasticsearch", es.url(),       "--repository", "camunda"};
  }
  // Each partition's exporter phase, e.g. "EXPORTING".
  std::set<std::string> phases() const {
    std::set<std::string> out;
    const json parts =
        json::parse(http("GET", zeebe.url() + "/actuator/partitions"));
    for (const auto& [p, st] : parts.items()) {
      out.insert(st["exporterPhase"].get<std::string>());
    }
    return out;
  }
  Emulator es, zeebe, operate, tasklist, optimize;
};

const std::set<std::string> k_exporting = {"EXPORTING"};

// The position of the first verbose log line holding all of `parts`.
std::size_t at(const std::string& log, const std::string& a,
               const std::string& b = "") {
  std::size_t pos = 0;
  while ((pos = log.find(a, pos)) != std::string::npos) {
    auto eol = log.find('\n', pos);
    if (b.empty() || log.substr(pos, eol - pos).find(b) != std::string::npos) {
      return pos;
    }
    pos = eol;
  }
  return std::string::npos;
}

// The suite's target: the five emulators, --addr naming Zeebe (where the
// suite's faults go), the documents of the application indices as state.
struct CamundaTarget : Target {
  explicit CamundaTarget(std::vector<std::string> faults)
      : c(with({"--backup-ms", "300"}, faults)) {}
  std::string url() const override { return c.zeebe.url(); }
  std::vector<std::string> flags() const override { return c.flags(); }
  std::string data_url() const override { return c.es.url(); }
  Cluster c;
};

const std::vector<std::string> k_indices = {"operate-list-view",
                                            "tasklist-task", "optimize-report",
                                            "zeebe-record-job"};

} // namespace

// Camunda's archive references a backup in every component; the round trip
// restores the Elasticsearch parts (--replace) and names Zeebe's offline
// step.
AdapterFixture conformance_camunda() {
  AdapterFixture f;
  f.adapter = "camunda";
  f.token_flag_env = "SNAP_CAMUNDA_TOKEN";
  f.streams_payload = false;
  f.status_needs_backup = true;
  f.restore_flags = {"--replace"};
  f.start = [](const std::vector<std::string>& faults) {
    return std::make_unique<CamundaTarget>(faults);
  };
  f.seed = [](const std::string& es) {
    http("PUT", es + "/operate-list-view/_doc/2?refresh=true",
         R"({"process":"order"})");
  };
  f.state = [](const std::string& es) {
    std::string out;
    for (const auto& index : k_indices) {
      for (const char* id : {"1", "2", "9"}) {
        out += index + "/" + id + ": " +
               http("GET", es + "/" + index + "/_doc/" + id) + "\n";
      }
    }
    return out;
  };
  f.mutate = [](const std::string& es) {
    http("DELETE", es + "/operate-list-view/_doc/2?refresh=true");
    http("PUT", es + "/tasklist-task/_doc/9?refresh=true",
         R"({"after":"the backup"})");
  };
  return f;
}

TEST_CASE("camunda passes the adapter conformance suite",
          "[e2e][camunda][suite]") {
  run_conformance(*conformance_fixture("camunda"));
}

namespace {} // namespace

TEST_CASE("the whole Camunda backup runs the documented steps in order",
          "[e2e][camunda]") {
  Cluster c;
  TempDir dir;
  auto r = snap(with({"-v", "save", "camunda", "--backup-id", "1000", "-o",
                      dir.path().string()},
                     c.flags()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("backup 1000 of 5 components, all COMPLETED") !=
        std::string::npos);
  const std::string& log = r.err;
  std::size_t take_optimize = at(log, "POST " + c.optimize.url());
  std::size_t take_operate = at(log, "POST " + c.operate.url());
  std::size_t take_tasklist = at(log, "POST " + c.tasklist.url());
  std::size_t pause = at(log, "exporting/pause?soft=true");
  std::size_t records = at(log, "PUT " + c.es.url() +
                                    "/_snapshot/camunda/"
                                    "camunda_zeebe_records_backup_1000");
  std::size_t take_zeebe =
      at(log, "POST " + c.zeebe.url() + "/actuator/backups");
  std::size_t zeebe_done =
      log.rfind("GET " + c.zeebe.url() + "/actuator/backups/1000");
  std::size_t resume = at(log, "exporting/resume");
  REQUIRE(resume != std::string::npos);
  CHECK(take_optimize < take_operate);
  CHECK(take_operate < take_tasklist);
  // Every web app is COMPLETED before exporting pauses.
  for (const auto& app :
       {c.optimize.url(), c.operate.url(), c.tasklist.url()}) {
    CHECK(log.rfind("GET " + app + "/actuator/backups/1000") < pause);
  }
  CHECK(pause < records);
  CHECK(records < take_zeebe);
  CHECK(take_zeebe < zeebe_done);
  CHECK(zeebe_done < resume);
  CHECK(c.phases() == k_exporting);

  auto files = dir.list();
  REQUIRE(files.size() == 1);
  std::string archive = (dir.path() / files[0]).string();
  auto inspected = snap({"inspect", archive});
  CHECK(inspected.out.find("zeebe: COMPLETED") != std::string::npos);
  CHECK(inspected.out.find("operate: COMPLETED") != std::string::npos);
  CHECK(inspected.out.find("camunda_zeebe_records_backup_1000") !=
        std::string::npos);

  auto status = snap(with({"status", "camunda", "1000"}, c.flags()));
  CHECK(status.out.find("Zeebe:          COMPLETED") != std::string::npos);
  auto listed = snap(with({"list", "camunda", "--json"}, c.flags()));
  CHECK(json::parse(listed.out)["backups"][0]["complete"] == true);

  // Restore: the Elasticsearch parts in order, then the Zeebe step.
  auto refused =
      snap(with({"restore", "camunda", archive, "--yes"}, c.flags()));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("operate-list-view") != std::string::npos);
  auto restored = snap(
      with({"restore", "camunda", archive, "--yes", "--replace"}, c.flags()));
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(restored.out.find("Next: restore Zeebe offline") != std::string::npos);
  CHECK(c.es.received(
      "POST "
      "/_snapshot/camunda/camunda_operate_1000_8.7.2_part_1_of_6/_restore"));
  CHECK(c.es.received(
      "POST /_snapshot/camunda/camunda_zeebe_records_backup_1000/_restore"));
}

TEST_CASE("a Zeebe failure after the pause exits 1 and exporting resumes",
          "[e2e][camunda]") {
  Cluster c({"--backup-outcome", "failed"});
  TempDir dir;
  auto r = snap(
      with({"save", "camunda", "--backup-id", "7", "-o", dir.path().string()},
           c.flags()));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("zeebe: backup 7 FAILED") != std::string::npos);
  CHECK(c.zeebe.received("POST /actuator/exporting/pause"));
  CHECK(c.zeebe.received("POST /actuator/exporting/resume"));
  CHECK(c.phases() == k_exporting);
  CHECK(dir.list().empty());
}

TEST_CASE("an INCOMPLETE Zeebe backup exits 3 and exporting resumes",
          "[e2e][camunda]") {
  Cluster c({"--backup-outcome", "incomplete"});
  TempDir dir;
  auto r = snap(
      with({"save", "camunda", "--backup-id", "8", "-o", dir.path().string()},
           c.flags()));
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("INCOMPLETE") != std::string::npos);
  CHECK(c.phases() == k_exporting);
}

TEST_CASE("a failing web app is named and Zeebe is never paused",
          "[e2e][camunda]") {
  Cluster c({}, {"--webapp-outcome", "failed"});
  TempDir dir;
  auto r = snap(
      with({"save", "camunda", "--backup-id", "9", "-o", dir.path().string()},
           c.flags()));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("operate: backup 9 FAILED") != std::string::npos);
  CHECK_FALSE(c.zeebe.received("POST /actuator/exporting/pause"));
  CHECK(dir.list().empty());
}

TEST_CASE("camunda --skip leaves out a web app the cluster does not run",
          "[e2e][camunda]") {
  Cluster c;
  TempDir dir;
  auto r = snap(with({"save", "camunda", "--backup-id", "12", "--skip",
                      "optimize", "-o", dir.path().string()},
                     c.flags()));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("backup 12 of 4 components, all COMPLETED") !=
        std::string::npos);
  CHECK_FALSE(c.optimize.received("POST /actuator/backups"));
  auto listed = snap(
      with({"list", "camunda", "--json", "--skip", "optimize"}, c.flags()));
  CHECK(json::parse(listed.out)["backups"][0]["complete"] == true);
}

TEST_CASE("SIGINT or SIGTERM during the Zeebe backup leaves exporting resumed",
          "[e2e][camunda]") {
  for (int sig : {SIGINT, SIGTERM}) {
    INFO("signal " << sig);
    Cluster c({"--backup-ms", "6000"});
    TempDir dir;
    // Once the Zeebe backup is under way, the signal comes.
    RunOptions opts{.signal = sig};
    opts.signal_when = [&] {
      return c.zeebe.received("POST /actuator/backups");
    };
    auto r = snap(with({"save", "camunda", "--backup-id", "11", "-o",
                        dir.path().string()},
                       c.flags()),
                  opts);
    CHECK(r.exit_code == 128 + sig); // 130 or 143
    CHECK(c.zeebe.received("POST /actuator/exporting/resume"));
    CHECK(c.phases() == k_exporting);
    CHECK(dir.list().empty());
  }
}

TEST_CASE("a backup id not above Zeebe's latest is refused before anything",
          "[e2e][camunda]") {
  Cluster c;
  http("POST", c.zeebe.url() + "/actuator/backups", R"({"backupId":500})");
  TempDir dir;
  auto r = snap(
      with({"save", "camunda", "--backup-id", "400", "-o", dir.path().string()},
           c.flags()));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not above Zeebe's latest backup 500") != std::string::npos);
  CHECK_FALSE(c.operate.received("POST /actuator/backups"));
  CHECK_FALSE(c.zeebe.received("POST /actuator/exporting/pause"));
  auto skipless = snap({"save", "camunda", "--repository", "camunda",
                        "--camunda-version", "8.7.2"});
  CHECK(skipless.exit_code == 2);
  CHECK(skipless.err.find("--operate is required") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {
namespace {

// Camunda 8.8: one orchestration cluster (Zeebe, Operate and Tasklist)
// whose management API also backs up the web apps, plus Optimize.
struct Cluster88 {
  explicit Cluster88(std::vector<std::string> zeebe_flags = {})
      : es("elasticsearch", {"--snapshot-ms", "150", "--recovery-ms", "40"}),
        orchestration("zeebe",
                      with({"--camunda-version", "8.8.0", "--backup-ms", "300",
                            "--elasticsearch", es.url()},
                           zeebe_flags)),
        optimize("optimize",
                 {"--elasticsearch", es.url(), "--camunda-version", "8.8.0"}) {
    http("PUT", es.url() + "/_snapshot/camunda",
         R"({"type":"fs","settings":{"location":"camunda"}})");
    for (std::string index :
         {"webapps-list-view", "optimize-report", "zeebe-record-job"}) {
      http("PUT", es.url() + "/" + index + "/_doc/1?refresh=true",
           R"({"seen":true})");
    }
  }
  std::vector<std::string> flags() const {
    return {"--zeebe",         orchestration.url(),
            "--optimize",      optimize.url(),
            "--elasticsearch", es.url(),
            "--repository",    "camunda"};
  }
  std::set<std::string> phases() const {
    std::set<std::string> out;
    const json parts =
        json::parse(http("GET", orchestration.url() + "/actuator/partitions"));
    for (const auto& [p, st] : parts.items()) {
      out.insert(st["exporterPhase"].get<std::string>());
    }
    return out;
  }
  Emulator es, orchestration, optimize;
};

} // namespace

TEST_CASE("Camunda 8.8: the orchestration cluster's procedure, pause first",
          "[e2e][camunda]") {
  Cluster88 c;
  TempDir dir;
  auto r = snap(with({"-v", "save", "camunda", "--backup-id", "2000", "-o",
                      dir.path().string()},
                     c.flags()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("backup 2000 of 4 components, all COMPLETED") !=
        std::string::npos);
  const std::string& log = r.err;
  const std::string& oc = c.orchestration.url();
  std::size_t pause =
      at(log, "POST " + oc + "/actuator/exporting/pause", "soft=true");
  std::size_t take_webapps = at(log, "POST " + oc + "/actuator/backupHistory");
  std::size_t take_optimize =
      at(log, "POST " + c.optimize.url() + "/actuator/backups");
  std::size_t webapps_done =
      log.rfind("GET " + oc + "/actuator/backupHistory/2000");
  std::size_t optimize_done =
      log.rfind("GET " + c.optimize.url() + "/actuator/backups/2000");
  std::size_t records = at(log, "PUT " + c.es.url() +
                                    "/_snapshot/camunda/"
                                    "camunda_zeebe_records_backup_2000");
  std::size_t take_zeebe = at(log, "POST " + oc + "/actuator/backupRuntime");
  std::size_t resume = at(log, "exporting/resume");
  REQUIRE(resume != std::string::npos);
  CHECK(pause < take_webapps);
  CHECK(take_webapps < take_optimize);
  CHECK(take_optimize < webapps_done);
  CHECK(webapps_done < records);
  CHECK(optimize_done < records);
  CHECK(records < take_zeebe);
  CHECK(take_zeebe < resume);
  CHECK(c.phases() == k_exporting);
  CHECK_FALSE(c.orchestration.received("POST /actuator/backups"));

  auto files = dir.list();
  REQUIRE(files.size() == 1);
  std::string archive = (dir.path() / files[0]).string();
  auto inspected = snap({"inspect", archive});
  CHECK(inspected.out.find("webapps: COMPLETED") != std::string::npos);
  auto listed = snap(with({"list", "camunda", "--json"}, c.flags()));
  INFO(listed.err);
  CHECK(json::parse(listed.out)["backups"][0]["complete"] == true);
  auto plan = snap(with(
      {"restore", "camunda", archive, "--dry-run", "--replace"}, c.flags()));
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("camunda_webapps_2000_8.8.0_part_1_of_5/_restore") <
        plan.out.find("camunda_optimize_2000_8.8.0_part_1_of_2/_restore"));
}

TEST_CASE("Camunda 8.8: a failing web-app backup after the pause resumes "
          "exporting",
          "[e2e][camunda]") {
  Cluster88 c({"--webapp-outcome", "failed"});
  TempDir dir;
  auto r = snap(
      with({"save", "camunda", "--backup-id", "21", "-o", dir.path().string()},
           c.flags()));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("webapps: backup 21 FAILED") != std::string::npos);
  CHECK(c.orchestration.received("POST /actuator/exporting/pause"));
  CHECK(c.orchestration.received("POST /actuator/exporting/resume"));
  CHECK(c.phases() == k_exporting);
  CHECK_FALSE(c.orchestration.received("POST /actuator/backupRuntime"));
  CHECK(dir.list().empty());
  auto half = snap(
      with({"save", "camunda", "--skip", "operate", "-o", dir.path().string()},
           c.flags()));
  CHECK(half.exit_code == 2);
  CHECK(half.err.find("--skip both or neither") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {
namespace {

// Camunda 8.1: the experimental APIs (Zeebe POST /actuator/backups/{id},
// the web apps' /actuator/backup with {"State"}), hard pause only.
struct Cluster81 {
  Cluster81()
      : es("elasticsearch", {"--snapshot-ms", "150", "--recovery-ms", "40"}),
        zeebe("zeebe", {"--camunda-version", "8.1.0", "--backup-ms", "300",
                        "--zeebe-role", "broker"}),
        operate("operate", web()), tasklist("tasklist", web()),
        optimize("optimize", web()) {
    http("PUT", es.url() + "/_snapshot/camunda",
         R"({"type":"fs","settings":{"location":"camunda"}})");
    http("PUT", es.url() + "/zeebe-record-job/_doc/1?refresh=true",
         R"({"seen":true})");
  }
  std::vector<std::string> web() const {
    return {"--elasticsearch", es.url(), "--camunda-version", "8.1.0"};
  }
  std::vector<std::string> flags() const {
    return {"--zeebe",           zeebe.url(),    "--operate",    operate.url(),
            "--tasklist",        tasklist.url(), "--optimize",   optimize.url(),
            "--elasticsearch",   es.url(),       "--repository", "camunda",
            "--camunda-version", "8.1.0"};
  }
  Emulator es, zeebe, operate, tasklist, optimize;
};

} // namespace

TEST_CASE("Camunda 8.1: the experimental APIs, named by --camunda-version",
          "[e2e][camunda]") {
  Cluster81 c;
  TempDir dir;
  auto r = snap(with({"-v", "save", "camunda", "--backup-id", "3000", "-o",
                      dir.path().string()},
                     c.flags()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("backup 3000 of 5 components, all COMPLETED") !=
        std::string::npos);
  const std::string& log = r.err;
  std::size_t take_operate =
      at(log, "POST " + c.operate.url() + "/actuator/backup ");
  std::size_t pause =
      at(log, "POST " + c.zeebe.url() + "/actuator/exporting/pause ");
  std::size_t take_zeebe =
      at(log, "POST " + c.zeebe.url() + "/actuator/backups/3000");
  std::size_t resume = at(log, "exporting/resume");
  CHECK(take_operate < pause);
  CHECK(pause < take_zeebe);
  CHECK(take_zeebe < resume);
  CHECK(resume != std::string::npos);
  CHECK_FALSE(c.zeebe.received("POST /actuator/exporting/pause?soft"));

  std::string archive = (dir.path() / dir.list()[0]).string();
  auto plan = snap(with(
      {"restore", "camunda", archive, "--dry-run", "--replace"}, c.flags()));
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("camunda_operate_3000_8.1.0_part_6_of_6/_restore") !=
        std::string::npos);
  auto status = snap(with({"status", "camunda", "3000"}, c.flags()));
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("Zeebe:          COMPLETED") != std::string::npos);
  CHECK(status.out.find("Operate:        COMPLETED") != std::string::npos);
  auto listed = snap(with({"list", "camunda"}, c.flags()));
  CHECK(listed.exit_code == 8);
  CHECK(listed.err.find("8.1") != std::string::npos);

  auto zeebe =
      snap({"save", "zeebe", "--addr", c.zeebe.url(), "--camunda-version",
            "8.1", "--backup-id", "3001", "-o", dir.path().string()});
  INFO(zeebe.err);
  CHECK(zeebe.exit_code == 0);
  CHECK(zeebe.out.find("COMPLETED") != std::string::npos);
  auto old =
      snap({"save", "zeebe", "--addr", c.zeebe.url(), "--camunda-version",
            "8.1", "--backup-id", "5", "-o", dir.path().string()});
  CHECK(old.exit_code == 1);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("camunda status works through a standalone 8.7 gateway",
          "[e2e][camunda][target-truth]") {
  Cluster c({"--zeebe-role", "gateway"});
  TempDir dir;
  auto saved = snap(
      with({"save", "camunda", "--backup-id", "42", "-o", dir.path().string()},
           c.flags()));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(http("GET", c.zeebe.url() + "/actuator/partitions").find("LEADER") ==
        std::string::npos);
  auto status = snap(with({"status", "camunda", "42"}, c.flags()));
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("COMPLETED") != std::string::npos);
  CHECK(status.out.find("complete\nReady:") != std::string::npos);
  CHECK(status.out.find("not shown by a standalone gateway") !=
        std::string::npos);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("camunda restore deletes every application index, as the "
          "documented procedure does",
          "[e2e][camunda][target-truth]") {
  Cluster c;
  TempDir dir;
  REQUIRE(snap(with({"save", "camunda", "--backup-id", "1200", "-o",
                     dir.path().string()},
                    c.flags()))
              .exit_code == 0);
  std::string archive = (dir.path() / dir.list().at(0)).string();
  // Made after the backup: a restore that kept it would leave Operate with
  // data the rest of the cluster does not know.
  http("PUT", c.es.url() + "/operate-incident-after/_doc/1?refresh=true",
       R"({"late":true})");
  http("PUT", c.es.url() + "/unrelated-app/_doc/1?refresh=true", R"({})");
  auto plan =
      snap(with({"restore", "camunda", archive, "--dry-run"}, c.flags()));
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("operate-incident-after") != std::string::npos);
  CHECK(plan.out.find("needs --replace") != std::string::npos);
  CHECK(plan.out.find("unrelated-app") == std::string::npos);
  auto refused =
      snap(with({"restore", "camunda", archive, "--yes"}, c.flags()));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("nothing was changed") != std::string::npos);
  auto restored = snap(
      with({"restore", "camunda", archive, "--yes", "--replace"}, c.flags()));
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(http("GET", c.es.url() + "/operate-incident-after")
            .find("index_not_found_exception") != std::string::npos);
  CHECK(http("GET", c.es.url() + "/unrelated-app/_count").find("\"count\":1") !=
        std::string::npos);
  CHECK(http("GET", c.es.url() + "/operate-list-view/_count")
            .find("\"count\":1") != std::string::npos);
}

TEST_CASE("camunda on OpenSearch: saved and restored as on Elasticsearch",
          "[e2e][camunda][opensearch]") {
  // Camunda documents OpenSearch as the web apps' store; the records
  // snapshot and the restore speak its snapshot API, without feature
  // states.
  Cluster c({}, {}, {"--distribution", "opensearch", "--es-version", "2.19.1"});
  TempDir dir;
  auto saved = snap(with({"--json", "save", "camunda", "--backup-id", "1300",
                          "-o", dir.path().string()},
                         c.flags()));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  std::string archive = (dir.path() / dir.list().at(0)).string();
  http("PUT", c.es.url() + "/operate-incident-after/_doc/1?refresh=true",
       R"({"late":true})");
  auto restored = snap(
      with({"restore", "camunda", archive, "--yes", "--replace"}, c.flags()));
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(http("GET", c.es.url() + "/operate-incident-after")
            .find("index_not_found_exception") != std::string::npos);
  for (const auto& index : k_indices) {
    CHECK(
        http("GET", c.es.url() + "/" + index + "/_count").find("\"count\":1") !=
        std::string::npos);
  }
}

TEST_CASE("camunda with Zeebe's continuous backups is refused before "
          "anything starts",
          "[e2e][camunda]") {
  Emulator es("elasticsearch", {"--snapshot-ms", "150", "--recovery-ms", "40"});
  Emulator oc("zeebe", {"--camunda-version", "8.9.0", "--backup-ms", "300",
                        "--continuous-backups", "--elasticsearch", es.url()});
  Emulator optimize(
      "optimize", {"--elasticsearch", es.url(), "--camunda-version", "8.9.0"});
  http("PUT", es.url() + "/_snapshot/camunda",
       R"({"type":"fs","settings":{"location":"camunda"}})");
  TempDir dir;
  auto r = snap({"save", "camunda", "-o", dir.path().string(), "--zeebe",
                 oc.url(), "--optimize", optimize.url(), "--elasticsearch",
                 es.url(), "--repository", "camunda"});
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("continuous backups") != std::string::npos);
  CHECK(r.err.find("Nothing was started") != std::string::npos);
  CHECK_FALSE(optimize.received("POST /actuator/backups"));
  CHECK_FALSE(oc.received("POST /actuator/exporting/pause"));
  CHECK_FALSE(oc.received("POST /actuator/backupHistory"));
  CHECK(dir.list().empty());
}

namespace {

// Namespace "camunda" of an emulated cluster as the Helm chart lays it
// out: the brokers' StatefulSet camunda-zeebe (3, running `container`,
// data volume from a claim template, configuration from ConfigMap
// `config`), the brokers' PVCs, and a Deployment of each (name,
// component, image).
void seed_camunda(
    const std::string& kube, const json& container, const std::string& config,
    const std::vector<std::tuple<std::string, std::string, std::string>>&
        deployments) {
  auto post = [&](const std::string& path, const json& body) {
    std::string r = http("POST", kube + path, body.dump());
    REQUIRE(r.find("\"kind\":\"Status\"") == std::string::npos);
  };
  post("/api/v1/namespaces", {{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", "camunda"}}}});
  auto labels = [](const std::string& component) {
    return json{{"app.kubernetes.io/name", "camunda-platform"},
                {"app.kubernetes.io/component", component}};
  };
  post("/apis/apps/v1/namespaces/camunda/statefulsets",
       {{"apiVersion", "apps/v1"},
        {"kind", "StatefulSet"},
        {"metadata",
         {{"name", "camunda-zeebe"}, {"labels", labels("zeebe-broker")}}},
        {"spec",
         {{"replicas", 3},
          {"serviceName", "camunda-zeebe"},
          {"selector", {{"matchLabels", labels("zeebe-broker")}}},
          {"template",
           {{"metadata", {{"labels", labels("zeebe-broker")}}},
            {"spec",
             {{"containers", json::array({container})},
              {"volumes",
               {{{"name", "config"}, {"configMap", {{"name", config}}}}}}}}}},
          {"volumeClaimTemplates",
           {{{"metadata", {{"name", "data"}}},
             {"spec",
              {{"accessModes", {"ReadWriteOnce"}},
               {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}}}}}}});
  for (int i = 0; i < 3; ++i) {
    post("/api/v1/namespaces/camunda/persistentvolumeclaims",
         {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", {{"name", "data-camunda-zeebe-" + std::to_string(i)}}},
          {"spec",
           {{"accessModes", {"ReadWriteOnce"}},
            {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}});
  }
  for (const auto& [name, c, image] : deployments) {
    post("/apis/apps/v1/namespaces/camunda/deployments",
         {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", labels(c)}}},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", labels(c)}}},
            {"template",
             {{"metadata", {{"labels", labels(c)}}},
              {"spec",
               {{"containers", {{{"name", c}, {"image", image}}}}}}}}}}});
  }
}

// Camunda 8.7: Zeebe's brokers from camunda/zeebe, the gateway and the web
// apps as Deployments, and the brokers' PVCs.
void seed_camunda_workloads(const std::string& kube) {
  json zeebe = {
      {"name", "zeebe"},
      {"image", "camunda/zeebe:8.7.2"},
      {"env",
       {{{"name", "ZEEBE_BROKER_CLUSTER_PARTITIONSCOUNT"}, {"value", "3"}},
        {{"name", "ZEEBE_BROKER_DATA_BACKUP_STORE"}, {"value", "S3"}}}},
      {"volumeMounts",
       {{{"name", "data"}, {"mountPath", "/usr/local/zeebe/data"}},
        {{"name", "config"}, {"mountPath", "/usr/local/zeebe/config"}}}}};
  std::vector<std::tuple<std::string, std::string, std::string>> apps;
  for (const std::string c :
       {"zeebe-gateway", "operate", "tasklist", "optimize"}) {
    apps.emplace_back("camunda-" + c, c, "camunda/" + c + ":8.7.2");
  }
  seed_camunda(kube, zeebe, "camunda-zeebe", apps);
}

// The startup.sh of the 8.8 chart's orchestration ConfigMap
// (configmap-unified.yaml), rendered with global.multiregion's `regions`
// and `regionId`.
std::string startup_88(int regions, int region_id) {
  return fmt::format(
      "# The Node ID depends on the StatefulSet Pod's name so it cannot be "
      "templated in the StatefulSet level.\n"
      "export VALUES_ORCHESTRATION_NODE_ID=\"${{VALUES_ORCHESTRATION_NODE_ID:-"
      "$[${{K8S_NAME##*-}} * {} + {}]}}\"\n"
      "echo \"export VALUES_ORCHESTRATION_NODE_ID=${{VALUES_ORCHESTRATION_"
      "NODE_ID}}\"\n\n"
      "if [ \"${{ZEEBE_RESTORE}}\" = \"true\" ]; then\n"
      "  exec /usr/local/camunda/bin/restore "
      "--backupId=${{ZEEBE_RESTORE_FROM_BACKUP_ID}}\n"
      "else\n  exec /usr/local/camunda/bin/camunda\nfi\n",
      regions, region_id);
}

// Camunda 8.8 (camunda-platform-helm charts/camunda-platform-8.8/
// templates/orchestration): one StatefulSet, still named and labelled as
// Zeebe's, running camunda/camunda from /usr/local/camunda through the
// startup.sh of its ConfigMap, and the importer Deployment beside it.
void seed_camunda_88(const std::string& kube, int regions = 1,
                     int region_id = 0) {
  json orchestration = {
      {"name", "orchestration"},
      {"image", "camunda/camunda:8.8.0"},
      {"command", {"bash", "/usr/local/bin/startup.sh"}},
      {"volumeMounts",
       {{{"name", "config"},
         {"mountPath", "/usr/local/bin/startup.sh"},
         {"subPath", "startup.sh"}},
        {{"name", "data"}, {"mountPath", "/usr/local/camunda/data"}},
        {{"name", "config"},
         {"mountPath", "/usr/local/camunda/config/application.yaml"},
         {"subPath", "application.yaml"}}}}};
  seed_camunda(kube, orchestration, "camunda-zeebe-configuration-unified",
               {{"camunda-zeebe-importer", "orchestration-importer",
                 "camunda/camunda:8.8.0"},
                {"camunda-optimize", "optimize", "camunda/optimize:8.8.0"}});
  std::string r =
      http("POST", kube + "/api/v1/namespaces/camunda/configmaps",
           json{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", "camunda-zeebe-configuration-unified"}}},
                {"data",
                 {{"startup.sh", startup_88(regions, region_id)},
                  {"application.yaml", "zeebe:\n  broker: {}\n"}}}}
               .dump());
  REQUIRE(r.find("\"kind\":\"Status\"") == std::string::npos);
}

std::string kubeconfig_for(const TempDir& dir, const std::string& server) {
  std::string path = (dir.path() / "kubeconfig").string();
  write_file(path, "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
                   "clusters:\n- name: lab\n  cluster:\n    server: " +
                       server +
                       "\ncontexts:\n- name: lab\n  context:\n    cluster: "
                       "lab\n    user: me\n    namespace: camunda\n"
                       "users:\n- name: me\n  user: {}\n");
  return path;
}

// The archive of a save of cluster `c` with backup id `id`, in `dir`.
std::string saved_archive(const Cluster& c, const TempDir& dir,
                          const std::string& id) {
  auto r = snap(
      with({"save", "camunda", "--backup-id", id, "-o", dir.path().string()},
           c.flags()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return (dir.path() / dir.list().at(0)).string();
}

// A Camunda cluster saved as backup `id`, and an emulated Kubernetes
// (started with `kube_flags`) that `seed` lays out as the chart does.
struct KubeCamunda {
  KubeCamunda(const std::vector<std::string>& kube_flags,
              const std::function<void(const std::string&)>& seed,
              const std::string& id)
      : kube("kubernetes", kube_flags) {
    seed(kube.url());
    archive = saved_archive(c, dir, id);
  }
  // snap restore camunda of the archive through the kubeconfig, with
  // --replace and `extra`.
  RunResult restore(const std::vector<std::string>& extra) const {
    return snap(
        with(with(with({"restore", "camunda", archive, "--replace"}, extra),
                  c.flags()),
             {"--kubeconfig", kubeconfig_for(cfg, kube.url())}));
  }
  // Whether every request Kubernetes got after the first `before` reads.
  bool only_read_since(std::size_t before) const {
    auto log = kube.requests();
    return std::all_of(
        log.begin() + static_cast<long>(before), log.end(),
        [](const std::string& l) { return l.starts_with("GET "); });
  }
  Cluster c;
  Emulator kube;
  TempDir dir, cfg;
  std::string archive;
};

} // namespace

TEST_CASE("camunda restore on Kubernetes stops everything, restores each "
          "broker with a Job and starts it again",
          "[e2e][camunda][kubernetes]") {
  std::string outcome = GENERATE("complete", "failed");
  KubeCamunda k({"--job-ms", "200", "--job-outcome", outcome},
                seed_camunda_workloads, "1400");
  const Cluster& c = k.c;
  const Emulator& kube = k.kube;
  auto plan = k.restore({"--dry-run"});
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("scale statefulsets.apps/camunda-zeebe to 0 (from 3)") !=
        std::string::npos);
  CHECK(plan.out.find("run Job snap-restore-1400-2 on PVC "
                      "data-camunda-zeebe-2") != std::string::npos);
  std::size_t before = kube.requests().size();
  auto r = k.restore({"--yes"});
  INFO(outcome << ": " << r.err);
  auto log = kube.requests();
  log.erase(log.begin(), log.begin() + static_cast<long>(before));
  auto first = [&](const std::string& prefix) {
    return first_starting(log, prefix);
  };
  const std::string sts =
      "PATCH /apis/apps/v1/namespaces/camunda/statefulsets/camunda-zeebe";
  const std::string jobs = "POST /apis/batch/v1/namespaces/camunda/jobs";
  CHECK(first(sts) < first(jobs));
  auto job = json::parse(http(
      "GET", kube.url() +
                 "/apis/batch/v1/namespaces/camunda/jobs/snap-restore-1400-1"));
  const json& pod = job["spec"]["template"]["spec"];
  CHECK(pod["volumes"].dump().find("data-camunda-zeebe-1") !=
        std::string::npos);
  CHECK(pod["containers"][0]["image"] == "camunda/zeebe:8.7.2");
  CHECK(pod["containers"][0]["command"][2].get<std::string>().find(
            "--backupId=1400") != std::string::npos);
  CHECK(pod["containers"][0]["env"].dump().find(
            R"({"name":"ZEEBE_BROKER_CLUSTER_NODEID","value":"1"})") !=
        std::string::npos);
  // 8.8's application.yaml takes the node id from this one.
  CHECK(pod["containers"][0]["env"].dump().find(
            R"({"name":"VALUES_ORCHESTRATION_NODE_ID","value":"1"})") !=
        std::string::npos);
  auto replicas = [&](const std::string& kind, const std::string& name) {
    return json::parse(http("GET", kube.url() +
                                       "/apis/apps/v1/namespaces/camunda/" +
                                       kind + "/" + name))["spec"]["replicas"]
        .get<int>();
  };
  if (outcome == "complete") {
    CHECK(r.exit_code == 0);
    CHECK(replicas("statefulsets", "camunda-zeebe") == 3);
    CHECK(replicas("deployments", "camunda-operate") == 1);
    for (const auto& index : k_indices) {
      CHECK(http("GET", c.es.url() + "/" + index + "/_count")
                .find("\"count\":1") != std::string::npos);
    }
  } else {
    // A broker's restore failed: the cluster stays stopped, and the error
    // says what is left and how to start it.
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("restore Job snap-restore-1400-") != std::string::npos);
    CHECK(r.err.find("kubectl scale -n camunda statefulsets.apps/camunda-zeebe "
                     "--replicas=3") != std::string::npos);
    CHECK(replicas("statefulsets", "camunda-zeebe") == 0);
  }
}

TEST_CASE("camunda restore on Kubernetes finds 8.8's orchestration cluster, "
          "its importer and its restore application",
          "[e2e][camunda][kubernetes]") {
  KubeCamunda k(
      {}, [](const std::string& url) { seed_camunda_88(url); }, "1500");
  auto plan = k.restore({"--dry-run"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  // The importer writes to the indices the restore replaces.
  CHECK(plan.out.find("scale deployments.apps/camunda-zeebe-importer to 0 "
                      "(from 1)") != std::string::npos);
  CHECK(plan.out.find("scale statefulsets.apps/camunda-zeebe to 0 (from 3)") !=
        std::string::npos);
  // camunda/camunda keeps Zeebe's restore application in its own home.
  CHECK(plan.out.find("empty /usr/local/camunda/data and run "
                      "/usr/local/camunda/bin/restore --backupId=1500 as "
                      "broker 2") != std::string::npos);
  // A data mount that says nothing of the home needs the flag, and
  // nothing is stopped.
  std::string sts =
      k.kube.url() +
      "/apis/apps/v1/namespaces/camunda/statefulsets/camunda-zeebe";
  json set = json::parse(http("GET", sts));
  set["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]
     ["mountPath"] = "/zeebe-state";
  http("PUT", sts, set.dump());
  std::size_t before = k.kube.requests().size();
  auto refused = k.restore({"--yes"});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("--restore-command") != std::string::npos);
  CHECK(k.only_read_since(before));
}

TEST_CASE("camunda restore on Kubernetes gives each broker of a "
          "multi-region install its own node id",
          "[e2e][camunda][kubernetes]") {
  // The chart numbers brokers across regions: broker n of region r of R
  // is node n × R + r. Region 1 of 2 holds nodes 1, 3 and 5.
  KubeCamunda k(
      {"--job-ms", "100"},
      [](const std::string& url) { seed_camunda_88(url, 2, 1); }, "1600");
  const Emulator& kube = k.kube;
  std::size_t start = kube.requests().size();
  auto plan = k.restore({"--dry-run"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("run Job snap-restore-1600-2 on PVC "
                      "data-camunda-zeebe-2") != std::string::npos);
  CHECK(plan.out.find("--backupId=1600 as broker 5 (region 1 of 2)") !=
        std::string::npos);
  auto r = k.restore({"--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // Every request of the plan and the restore is one the man page says
  // the kubeconfig's user needs.
  const json documented = {
      {{"apiGroups", {"apps"}},
       {"resources", {"statefulsets", "deployments"}},
       {"verbs", {"list", "get", "patch"}}},
      {{"apiGroups", {""}}, {"resources", {"configmaps"}}, {"verbs", {"get"}}},
      {{"apiGroups", {"batch"}},
       {"resources", {"jobs"}},
       {"verbs", {"create", "get"}}}};
  auto made = kube.requests();
  std::size_t checked = 0;
  for (std::size_t i = start; i < made.size(); ++i) {
    if (auto access = kube_access(made[i])) {
      INFO(made[i]);
      CHECK(access->namespaced);
      CHECK(grants(documented, *access));
      ++checked;
    }
  }
  CHECK(checked > 10);
  for (int i = 0; i < 3; ++i) {
    auto job =
        json::parse(http("GET", kube.url() +
                                    "/apis/batch/v1/namespaces/camunda/jobs/"
                                    "snap-restore-1600-" +
                                    std::to_string(i)));
    std::string env =
        job["spec"]["template"]["spec"]["containers"][0]["env"].dump();
    std::string id = std::to_string(2 * i + 1);
    CHECK(env.find(R"({"name":"VALUES_ORCHESTRATION_NODE_ID","value":")" + id +
                   "\"}") != std::string::npos);
    CHECK(env.find(R"({"name":"ZEEBE_BROKER_CLUSTER_NODEID","value":")" + id +
                   "\"}") != std::string::npos);
  }
  // A node id the script derives some other way is not guessed at:
  // nothing is stopped.
  std::string cm = kube.url() + "/api/v1/namespaces/camunda/configmaps/"
                                "camunda-zeebe-configuration-unified";
  json map = json::parse(http("GET", cm));
  map["data"]["startup.sh"] =
      "export ZEEBE_BROKER_CLUSTER_NODEID=$(( ${K8S_NAME##*-} + 3 ))\n"
      "exec /usr/local/camunda/bin/camunda\n";
  http("PUT", cm, map.dump());
  std::size_t before = kube.requests().size();
  auto refused = k.restore({"--yes"});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("cannot follow") != std::string::npos);
  CHECK(refused.err.find("nothing was changed") != std::string::npos);
  CHECK(k.only_read_since(before));
  // A line of a megabyte is refused the same way, not matched.
  map["data"]["startup.sh"] =
      "export ZEEBE_BROKER_CLUSTER_NODEID=${ZEEBE_BROKER_CLUSTER_NODEID:-$[${"
      "K8S_NAME##*-} *" +
      std::string(1 << 20, ' ') + "2 + 1]}\n";
  http("PUT", cm, map.dump());
  auto long_line = k.restore({"--yes"});
  CHECK(long_line.exit_code == 2);
  CHECK(long_line.err.find("cannot follow") != std::string::npos);
  CHECK(long_line.err.size() < 2000);
}

TEST_CASE("camunda restore with failed shards is partial, exit 3",
          "[e2e][camunda][target-truth]") {
  Cluster c({}, {}, {"--restore-failed-shards", "1"});
  TempDir dir;
  REQUIRE(snap(with({"save", "camunda", "--backup-id", "1300", "-o",
                     dir.path().string()},
                    c.flags()))
              .exit_code == 0);
  std::string archive = (dir.path() / dir.list().at(0)).string();
  auto r = snap(
      with({"restore", "camunda", archive, "--yes", "--replace"}, c.flags()));
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("not every shard was restored") != std::string::npos);
  CHECK(r.err.find("1 of") != std::string::npos);
}

TEST_CASE("camunda retention deletes a backup in every component, and "
          "delete does too",
          "[e2e][camunda][retention]") {
  Cluster c;
  TempDir dir;
  auto save = [&](const std::string& id, std::vector<std::string> extra) {
    auto r = snap(with(
        with({"save", "camunda", "--backup-id", id, "-o", dir.path().string()},
             extra),
        c.flags()));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  // Which components still hold backup `id`.
  auto holders = [&](const std::string& id) {
    std::set<std::string> out;
    auto listed = snap(with({"list", "camunda", "--json"}, c.flags()));
    const json doc = json::parse(listed.out);
    for (const auto& b : doc["backups"]) {
      if (b["id"] == id) {
        for (const auto& [comp, st] : b["components"].items()) {
          out.insert(comp);
        }
      }
    }
    if (http("GET", c.es.url() + "/_snapshot/camunda/_all")
            .find("camunda_zeebe_records_backup_" + id) != std::string::npos) {
      out.insert("records");
    }
    return out;
  };
  const std::set<std::string> everywhere = {"optimize", "operate", "tasklist",
                                            "zeebe", "records"};
  save("1000", {});
  REQUIRE(holders("1000") == everywhere);
  std::string second = save("1001", {"--keep", "1", "--prune-target"});
  CHECK(second.find("and its backup 1000 in every component") !=
        std::string::npos);
  CHECK(holders("1000").empty());
  CHECK(holders("1001") == everywhere);
  CHECK(dir.list().size() == 1);

  auto deleted = snap(with({"delete", "camunda", "1001", "--yes"}, c.flags()));
  INFO(deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK(holders("1001").empty());
  auto again = snap(with({"delete", "camunda", "1001", "--yes"}, c.flags()));
  CHECK(again.exit_code == 6);
  CHECK(c.phases() == k_exporting);
}

} // namespace snap::test
