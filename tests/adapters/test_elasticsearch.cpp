// SPDX-License-Identifier: MIT
// Elasticsearch end to end: the built snap against snap-emulator
// elasticsearch. Every request snap (and the test) sends is checked against
// Elastic's own REST API spec files.
#include <catch2/catch.hpp>
#include <chrono>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/adapters/suite.hpp"
#include "tests/support/archive_edit.hpp"
#include "tests/support/es_spec.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string> k_fast = {"--snapshot-ms", "300",
                                         "--recovery-ms", "200"};

json get_json(const std::string& url) {
  return json::parse(http("GET", url), nullptr, false);
}

// _bulk lines for documents [from, from + n) of `index`.
std::string bulk_lines(const std::string& index, int from, int n) {
  std::string out;
  for (int i = from; i < from + n; ++i) {
    out +=
        json{{"index", {{"_index", index}, {"_id", "d" + std::to_string(i)}}}}
            .dump() +
        "\n";
    json doc;
    if (index == "metrics") {
      doc = {{"cpu", i % 100 / 100.0}, {"host", "h" + std::to_string(i % 7)}};
    } else {
      doc = {{"n", i},
             {"msg", "document number " + std::to_string(i)},
             {"tags", json::array({"a", i % 2 ? "odd" : "even"})}};
    }
    out += doc.dump() + "\n";
  }
  return out;
}

// Three indices with explicit mappings, aliases and `per_index` documents.
void seed(const std::string& url, int per_index) {
  http("PUT", url + "/logs",
       R"({"settings":{"number_of_shards":2,"index":{"refresh_interval":"1s"}},
           "mappings":{"properties":{"n":{"type":"long"},
                                     "msg":{"type":"text"}}},
           "aliases":{"all-data":{},"logs-write":{"is_write_index":true}}})");
  http("PUT", url + "/metrics",
       R"({"mappings":{"dynamic":"strict",
                       "properties":{"cpu":{"type":"float"},
                                     "host":{"type":"keyword"}}},
           "aliases":{"all-data":{}}})");
  http("PUT", url + "/users", R"({})");
  for (const std::string index : {"logs", "metrics", "users"}) {
    for (int from = 0; from < per_index; from += 20000) {
      auto r = json::parse(
          http("POST", url + "/_bulk",
               bulk_lines(index, from, std::min(20000, per_index - from))));
      REQUIRE(r["errors"] == false);
    }
  }
  http("POST", url + "/_refresh");
}

// What an operator would compare: each index's mappings, aliases and
// documents.
std::string state(const std::string& url) {
  http("POST", url + "/_refresh");
  json out = json::object();
  for (const auto& row :
       get_json(url + "/_cat/indices?format=json&h=index,docs.count")) {
    std::string index = row["index"];
    json docs = json::object();
    json page = json::parse(http("POST", url + "/" + index + "/_search",
                                 R"({"size":10000,"sort":["_doc"]})"));
    for (const auto& h : page["hits"]["hits"]) {
      docs[h["_id"].get<std::string>()] = h["_source"];
    }
    out[index] = {{"count", row["docs.count"]},
                  {"mappings", get_json(url + "/" + index + "/_mapping")},
                  {"aliases", get_json(url + "/" + index + "/_alias")},
                  {"docs", docs}};
  }
  return out.dump();
}

void delete_docs(const std::string& url, const std::string& index,
                 std::vector<int> ids) {
  std::string body;
  for (int i : ids) {
    body +=
        json{{"delete", {{"_index", index}, {"_id", "d" + std::to_string(i)}}}}
            .dump() +
        "\n";
  }
  http("POST", url + "/_bulk?refresh=true", body);
}

void add_repository(const std::string& url) {
  auto r = http("PUT", url + "/_snapshot/backups",
                R"({"type":"fs","settings":{"location":"backups"}})");
  REQUIRE(r.find("acknowledged") != std::string::npos);
}

std::string only_archive(const TempDir& dir);

// An export, in `dir`, of a cluster seeded with `per_index` documents.
std::string seeded_export(const TempDir& dir, int per_index) {
  Emulator source("elasticsearch", k_fast);
  seed(source.url(), per_index);
  REQUIRE(snap({"save", "es", "--export", "--addr", source.url(), "-o",
                dir.path().string()})
              .exit_code == 0);
  return only_archive(dir);
}

std::string only_archive(const TempDir& dir) {
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  return (dir.path() / files[0]).string();
}

AdapterFixture export_fixture() {
  AdapterFixture f;
  f.adapter = "elasticsearch";
  f.token_flag_env = "SNAP_ELASTICSEARCH_TOKEN";
  f.save_flags = {"--export"};
  f.restore_flags = {"--replace"};
  f.emulator_flags = [] { return k_fast; };
  f.seed = [](const std::string& url) { seed(url, 30); };
  f.state = state;
  f.mutate = [](const std::string& url) {
    delete_docs(url, "logs", {1, 2, 3});
    http("PUT", url + "/users/_doc/d4?refresh=true", R"({"n":-1})");
  };
  return f;
}

std::string manifest_entries(const std::string& archive) {
  auto r = snap({"inspect", "--json", "--no-verify", archive});
  REQUIRE(r.exit_code == 0);
  json m = json::parse(r.out);
  json out = json::object();
  REQUIRE(m["archives"][0]["entries"].size() > 0);
  for (const auto& e : m["archives"][0]["entries"]) {
    if (e["path"].get<std::string>().starts_with("payload/documents/")) {
      out[e["path"].get<std::string>()] = e["sha256"];
    }
  }
  REQUIRE_FALSE(out.empty());
  return out.dump();
}

} // namespace

AdapterFixture conformance_elasticsearch() { return export_fixture(); }

TEST_CASE("elasticsearch passes the adapter conformance suite (export)",
          "[e2e][elasticsearch][suite]") {
  run_conformance(*conformance_fixture("elasticsearch"));
}

TEST_CASE("a snapshot round trip brings deleted documents back",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 50);
  add_repository(emu.url());
  std::string before = state(emu.url());
  TempDir dir;
  auto saved =
      snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
            "--snapshot", "nightly-1", "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.out.find("snapshot nightly-1 in backups, SUCCESS, 3 indices") !=
        std::string::npos);
  std::string archive = only_archive(dir);
  auto inspected = snap({"inspect", archive});
  CHECK(inspected.out.find("reference") != std::string::npos);
  CHECK(inspected.out.find("nightly-1") != std::string::npos);

  delete_docs(emu.url(), "logs", {0, 1, 2, 3, 4});
  delete_docs(emu.url(), "users", {7});
  REQUIRE(state(emu.url()) != before);

  auto refused = snap({"restore", "es", "--addr", emu.url(), archive, "--yes"});
  CHECK(refused.exit_code == 1);
  CHECK(
      refused.err.find("would overwrite open indices: logs, metrics, users") !=
      std::string::npos);
  CHECK_FALSE(emu.received("POST /_snapshot/backups/nightly-1/_restore"));

  auto plan = snap({"restore", "es", "--addr", emu.url(), archive, "--replace",
                    "--dry-run"});
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("close index logs") != std::string::npos);
  CHECK_FALSE(emu.received("POST /logs/_close"));

  auto restored = snap(
      {"restore", "es", "--addr", emu.url(), archive, "--replace", "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(emu.received("POST /logs,metrics,users/_close"));
  CHECK(emu.received("GET /logs,metrics,users/_recovery"));
  CHECK(state(emu.url()) == before);
  CHECK(first_off_spec(emu.requests(), "8.19") == "");
}

TEST_CASE("a restore under new names leaves the live indices alone",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 10);
  add_repository(emu.url());
  TempDir dir;
  REQUIRE(snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                "--indices", "logs", "-o", dir.path().string()})
              .exit_code == 0);
  auto r = snap({"restore", "es", "--addr", emu.url(), only_archive(dir),
                 "--rename-pattern", "(.+)", "--rename-replacement",
                 "restored-$1", "--yes"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json copy = get_json(emu.url() + "/restored-logs/_count");
  CHECK(copy["count"] == 10);
  // Aliases stay with the live index unless --include-aliases.
  CHECK(
      get_json(emu.url() + "/restored-logs/_alias")["restored-logs"]["aliases"]
          .empty());
  CHECK_FALSE(emu.received("POST /logs/_close"));
}

// RestoreService: index_settings change each restored index's settings,
// ignore_index_settings drop them, and the shard count or uuid can be
// neither changed nor removed.
TEST_CASE("a restore changes and drops index settings as asked",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 10);
  add_repository(emu.url());
  TempDir dir;
  REQUIRE(snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                "--indices", "logs,nosuch", "--ignore-unavailable", "-o",
                dir.path().string()})
              .exit_code == 0);
  std::vector<std::string> base = {"restore",
                                   "es",
                                   "--addr",
                                   emu.url(),
                                   only_archive(dir),
                                   "--rename-pattern",
                                   "(.+)",
                                   "--rename-replacement",
                                   "copy-$1",
                                   "--yes"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> a = base;
    a.insert(a.end(), more.begin(), more.end());
    return snap(a);
  };
  auto r = with({"--index-settings", R"({"index":{"number_of_replicas":0}})",
                 "--ignore-index-settings", "index.refresh_interval"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json s = get_json(emu.url() + "/copy-logs/_settings?flat_settings=true");
  json flat = s["copy-logs"]["settings"];
  CHECK(flat["index.number_of_replicas"] == "0");
  CHECK_FALSE(flat.contains("index.refresh_interval"));
  CHECK(flat["index.number_of_shards"] == "2");
  // The live index keeps its own.
  json live = get_json(emu.url() + "/logs/_settings?flat_settings=true");
  CHECK(live["logs"]["settings"]["index.refresh_interval"] == "1s");

  http("DELETE", emu.url() + "/copy-logs");
  auto shards = with({"--index-settings", R"({"index.number_of_shards":4})"});
  CHECK(shards.exit_code != 0);
  CHECK(shards.err.find("cannot modify setting [index.number_of_shards] on "
                        "restore") != std::string::npos);
  auto replicas = with({"--ignore-index-settings", "index.number_of_replicas"});
  CHECK(replicas.exit_code != 0);
  CHECK(replicas.err.find("cannot remove setting [index.number_of_replicas]") !=
        std::string::npos);
  auto not_json = with({"--index-settings", "replicas=0"});
  CHECK(not_json.exit_code == 2);
  CHECK(not_json.err.find("give a JSON object") != std::string::npos);
  CHECK(http("GET", emu.url() + "/copy-logs").find("index_not_found") !=
        std::string::npos);
}

TEST_CASE("a save's labels become the snapshot's metadata, within 1024 bytes",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 2);
  add_repository(emu.url());
  TempDir dir;
  auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                 "--snapshot", "nightly", "--label", "env=prod", "--label",
                 "ticket=OPS-42", "-o", dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json info = get_json(emu.url() + "/_snapshot/backups/nightly");
  json md = info["snapshots"][0]["metadata"];
  CHECK(md["env"] == "prod");
  CHECK(md["ticket"] == "OPS-42");
  CHECK(md["taken_by"] == "snap");
  auto big =
      snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
            "--snapshot", "big", "--label", "note=" + std::string(1100, 'x'),
            "-o", dir.path().string()});
  CHECK(big.exit_code == 2);
  CHECK(big.err.find("at most 1024") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /_snapshot/backups/big"));
  // The emulated cluster refuses it too, in Elasticsearch's words.
  json refused = json::parse(
      http("PUT", emu.url() + "/_snapshot/backups/direct",
           json{{"metadata", {{"k", std::string(1100, 'y')}}}}.dump(),
           {{"Content-Type", "application/json"}}));
  CHECK(refused["error"]["reason"] ==
        "Validation Failed: 1: metadata must be smaller than 1024 bytes, but "
        "was [1108];");
}

TEST_CASE("a save's --expand-wildcards decides whether a closed index is in",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 5);
  add_repository(emu.url());
  http("POST", emu.url() + "/metrics/_close");
  TempDir open_only, all;
  auto a = snap({"--json", "save", "es", "--addr", emu.url(), "--repository",
                 "backups", "--indices", "*", "--expand-wildcards", "open",
                 "--snapshot", "open-only", "-o", open_only.path().string()});
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  auto b =
      snap({"--json", "save", "es", "--addr", emu.url(), "--repository",
            "backups", "--indices", "*", "--expand-wildcards", "open,closed",
            "--snapshot", "with-closed", "-o", all.path().string()});
  INFO(b.out);
  REQUIRE(b.exit_code == 0);
  auto indices_of = [&](const std::string& out) {
    std::string name = json::parse(out)["backup_id"];
    json snap_info = get_json(emu.url() + "/_snapshot/backups/" + name);
    return snap_info["snapshots"][0]["indices"].dump();
  };
  CHECK(indices_of(a.out).find("metrics") == std::string::npos);
  CHECK(indices_of(b.out).find("metrics") != std::string::npos);
  auto bad = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                   "--expand-wildcards", "everything"});
  CHECK(bad.exit_code == 2);
}

TEST_CASE("a PARTIAL snapshot exits 3 and keeps the archive",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch",
               with(k_fast, {"--snapshot-outcome", "partial"}));
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  auto refused = snap({"save", "es", "--addr", emu.url(), "--repository",
                       "backups", "-o", dir.path().string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("Indices don't have primary shards") !=
        std::string::npos);
  CHECK(dir.list().empty());

  auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                 "--partial", "-o", dir.path().string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("is PARTIAL: 1 of 4 shards failed (users[0]") !=
        std::string::npos);
  CHECK(dir.list().size() == 1);
}

TEST_CASE("a PARTIAL snapshot restores with --partial and exit 3 naming the "
          "shards left out",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch",
               with(k_fast, {"--snapshot-outcome", "partial"}));
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  std::string archive = (dir.path() / "p.zip").string();
  REQUIRE(snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                "--snapshot", "part-1", "--partial", "-o", archive})
              .exit_code == 3);
  http("DELETE", emu.url() + "/logs,metrics,users");

  std::vector<std::string> restore = {"restore", "es",      archive,
                                      "--addr",  emu.url(), "--yes"};
  auto refused = snap(restore);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("not snapshotted whole: users (shard 0); add "
                         "--partial") != std::string::npos);
  CHECK(!emu.received("POST /_snapshot/backups/part-1/_restore"));

  restore.push_back("--partial");
  auto plan = snap(with(restore, {"--dry-run"}));
  CHECK(plan.out.find("restore users (shard 0) without the shards that "
                      "failed") != std::string::npos);
  auto r = snap(restore);
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("left out, and empty now, the shards that failed in it: "
                   "users (shard 0)") != std::string::npos);
  // The whole indices are back whole; the one-shard index with its shard
  // failed is back empty.
  CHECK(get_json(emu.url() + "/logs/_count")["count"] == 5);
  CHECK(get_json(emu.url() + "/metrics/_count")["count"] == 5);
  CHECK(get_json(emu.url() + "/users/_count")["count"] == 0);
}

TEST_CASE("a repository a node cannot reach is named before any snapshot",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch",
               with(k_fast, {"--unshared-repo-node", "es-data-2"}));
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                 "--snapshot", "never", "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("repository backups failed verification: node es-data-2 "
                   "cannot read or write it, so no snapshot was started") !=
        std::string::npos);
  CHECK(emu.received("POST /_snapshot/backups/_verify"));
  CHECK(!emu.received("PUT /_snapshot/backups/never"));
  CHECK(dir.list().empty());
}

TEST_CASE("status --deep checks the repository's integrity where the "
          "cluster can",
          "[e2e][elasticsearch]") {
  for (bool damaged : {false, true}) {
    INFO("damaged " << damaged);
    std::vector<std::string> flags = k_fast;
    if (damaged) {
      flags = with(flags, {"--repo-anomaly", "failed to load shard snapshot"});
    }
    Emulator emu("elasticsearch", flags);
    seed(emu.url(), 5);
    add_repository(emu.url());
    TempDir dir;
    REQUIRE(snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                  "--snapshot", "nightly", "-o", dir.path().string()})
                .exit_code == 0);
    auto r = snap({"--json", "status", "es", "--addr", emu.url(),
                   "--repository", "backups", "--deep"});
    INFO(r.out << r.err);
    CHECK(emu.received("POST /_snapshot/backups/_verify_integrity"));
    json integrity = json::parse(r.out)["repository_integrity"];
    if (!damaged) {
      CHECK(r.exit_code == 0);
      CHECK(integrity["result"] == "pass");
      CHECK(integrity["anomalies"] == 0);
    } else {
      CHECK(r.exit_code == 10);
      CHECK(integrity["result"] == "fail");
      auto text = snap({"status", "es", "--addr", emu.url(), "--repository",
                        "backups", "--deep"});
      CHECK(text.exit_code == 10);
      CHECK(text.err.find("repository backups failed its integrity check: "
                          "failed to load shard snapshot (snapshot nightly)") !=
            std::string::npos);
      CHECK(text.err.find("not every snapshot of logs (0 of 1 snapshots "
                          "restorable)") != std::string::npos);
    }
  }
  // Before 8.16 there is no such check, and status says so.
  Emulator old("elasticsearch", with(k_fast, {"--es-version", "8.15.3"}));
  add_repository(old.url());
  auto r = snap({"status", "es", "--addr", old.url(), "--repository", "backups",
                 "--deep"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("not checked: Elasticsearch 8.15.3 has no "
                   "_verify_integrity") != std::string::npos);
  CHECK_FALSE(old.received("POST /_snapshot/backups/_verify_integrity"));
}

TEST_CASE("restore --register-repository brings a fresh cluster its "
          "repository",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  std::string archive = (dir.path() / "a.zip").string();
  REQUIRE(snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                "--snapshot", "fresh-1", "-o", archive})
              .exit_code == 0);
  // As on a new cluster over the same storage: no repository, no indices.
  http("DELETE", emu.url() + "/_snapshot/backups");
  http("DELETE", emu.url() + "/logs,metrics,users");

  std::vector<std::string> restore = {"restore", "es",      archive,
                                      "--addr",  emu.url(), "--yes"};
  auto missing = snap(restore);
  CHECK(missing.exit_code == 6);
  CHECK(missing.err.find("--register-repository registers it") !=
        std::string::npos);

  restore.insert(restore.end(), {"--register-repository",
                                 "--repository-setting", "compress=true"});
  auto plan = snap(with(restore, {"--dry-run"}));
  CHECK(plan.out.find("PUT /_snapshot/backups "
                      "{\"settings\":{\"compress\":\"true\",\"location\":"
                      "\"backups\"},\"type\":\"fs\"}") != std::string::npos);
  auto bad = snap(with(restore, {"--repository-setting", "nonsense"}));
  CHECK(bad.exit_code == 2);
  auto r = snap(restore);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto repo = get_json(emu.url() + "/_snapshot/backups");
  CHECK(repo["backups"]["settings"]["compress"] == "true");
  CHECK(get_json(emu.url() + "/logs/_count")["count"] == 5);
}

TEST_CASE("a FAILED snapshot exits 1 and writes nothing",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", with(k_fast, {"--snapshot-outcome", "failed"}));
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                 "--json", "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("ended FAILED") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("a missing repository exits 6 with the server's reason",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  TempDir dir;
  auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "nope",
                 "-o", dir.path().string()});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("repository_missing_exception: [nope] missing") !=
        std::string::npos);
  CHECK(dir.list().empty());

  auto none = snap({"save", "es", "--addr", emu.url()});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("--repository is required") != std::string::npos);
}

TEST_CASE("an export of 100 000 documents re-imports whole into a new cluster",
          "[e2e][elasticsearch][slow]") {
  Emulator source("elasticsearch", k_fast);
  seed(source.url(), 34000);
  TempDir dir;
  // One reader a point in time keeps _doc order (slices interleave their
  // pages), so that the re-export below can be compared byte for byte.
  auto saved = snap({"save", "es", "--export", "--addr", source.url(), "-o",
                     dir.path().string(), "--parallel", "1"});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.out.find("export of 3 indices, 102000 documents") !=
        std::string::npos);
  std::string archive = only_archive(dir);
  CHECK(snap({"inspect", archive}).exit_code == 0);

  // One _bulk at a time keeps the archive's order, so a re-export is the
  // same bytes (several at once load the same documents in another order).
  Emulator target("elasticsearch", k_fast);
  auto restored = snap({"restore", "es", "--addr", target.url(), archive,
                        "--yes", "--parallel", "1"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  for (const std::string index : {"logs", "metrics", "users"}) {
    CHECK(get_json(target.url() + "/" + index + "/_count")["count"] == 34000);
    CHECK(get_json(target.url() + "/" + index + "/_mapping") ==
          get_json(source.url() + "/" + index + "/_mapping"));
    CHECK(get_json(target.url() + "/" + index + "/_alias") ==
          get_json(source.url() + "/" + index + "/_alias"));
  }
  auto settings = get_json(target.url() + "/logs/_settings");
  CHECK(settings["logs"]["settings"]["index"]["number_of_shards"] == "2");
  // Exported again from the new cluster, every document file is the same.
  TempDir again;
  REQUIRE(snap({"save", "es", "--export", "--addr", target.url(), "-o",
                again.path().string(), "--parallel", "1"})
              .exit_code == 0);
  CHECK(manifest_entries(only_archive(again)) == manifest_entries(archive));
  CHECK(first_off_spec(source.requests(), "8.19") == "");
  CHECK(first_off_spec(target.requests(), "8.19") == "");
}

TEST_CASE("an export restore refuses existing indices unless --replace",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 20);
  TempDir dir;
  REQUIRE(snap({"save", "es", "--export", "--addr", emu.url(), "--indices",
                "logs,users", "-o", dir.path().string()})
              .exit_code == 0);
  std::string archive = only_archive(dir);
  delete_docs(emu.url(), "logs", {0});
  auto r = snap({"restore", "es", "--addr", emu.url(), archive, "--yes"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("already exist: logs, users") != std::string::npos);
  CHECK_FALSE(emu.received("DELETE /logs"));
  CHECK(get_json(emu.url() + "/logs/_count")["count"] == 19);

  auto plan = snap({"restore", "es", "--addr", emu.url(), archive, "--replace",
                    "--dry-run"});
  CHECK(plan.out.find("delete index logs (it exists; --replace)") !=
        std::string::npos);
  CHECK_FALSE(emu.received("DELETE /logs"));

  auto ok = snap(
      {"restore", "es", "--addr", emu.url(), archive, "--replace", "--yes"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(get_json(emu.url() + "/logs/_count")["count"] == 20);
  // Each definition was tried on a probe index before anything was deleted,
  // and the probe is gone.
  CHECK(emu.received("PUT /snap-probe-logs-"));
  CHECK(http("GET", emu.url() + "/_cat/indices").find("snap-probe") ==
        std::string::npos);
  // metrics was not in the archive and is untouched.
  CHECK(get_json(emu.url() + "/metrics/_count")["count"] == 20);
}

TEST_CASE("refused _bulk items are reported with exit 3 and 429s are retried",
          "[e2e][elasticsearch]") {
  TempDir dir;
  std::string archive = seeded_export(dir, 30);

  Emulator busy("elasticsearch", with(k_fast, {"--reject-429", "25"}));
  auto retried =
      snap({"restore", "es", "--addr", busy.url(), archive, "--yes"});
  INFO(retried.err);
  CHECK(retried.exit_code == 0);
  CHECK(get_json(busy.url() + "/logs/_count")["count"] == 30);

  Emulator strict("elasticsearch",
                  with(k_fast, {"--reject-doc-ids", "d3,d17"}));
  auto r = snap({"restore", "es", "--addr", strict.url(), archive, "--yes"});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("6 of 90 documents were refused") != std::string::npos);
  CHECK(r.err.find("logs/d3: document_parsing_exception") != std::string::npos);
}

TEST_CASE("an export is imported by several _bulk requests at once",
          "[e2e][elasticsearch]") {
  TempDir dir;
  std::string archive = seeded_export(dir, 3000);
  // Small batches, four in flight, and the first items refused for load:
  // every document still arrives once.
  Emulator busy("elasticsearch", with(k_fast, {"--reject-429", "40"}));
  auto r = snap({"restore", "es", "--addr", busy.url(), archive, "--yes",
                 "--batch-size", "100", "--parallel", "4"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  for (const char* index : {"logs", "metrics", "users"}) {
    CHECK(get_json(busy.url() + "/" + index + "/_count")["count"] == 3000);
  }
  auto bulks = busy.requests();
  CHECK(std::count(bulks.begin(), bulks.end(), "POST /_bulk") >= 90);
  auto bad = snap({"restore", "es", "--addr", busy.url(), archive, "--yes",
                   "--replace", "--parallel", "0"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--parallel 0: give a number from 1 to 16") !=
        std::string::npos);
}

TEST_CASE("a _bulk answer of another shape ends an import in one line and "
          "never aborts snap",
          "[e2e][elasticsearch][hostile]") {
  TempDir dir;
  std::string archive = seeded_export(dir, 5);
  TempDir answers;
  // What a broken proxy or another server might answer to POST /_bulk. The
  // first five once threw out of a sending thread and aborted snap.
  const std::vector<std::pair<std::string, int>> cases = {
      {R"({"errors":true,"items":[{}]})", 3},
      {R"({"errors":true,"items":[{"index":{"status":"429"}}]})", 3},
      {R"({"errors":true,"items":{"a":1}})", 1},
      {R"({"errors":true,"items":[{"index":{"status":500,"_id":7,)"
       R"("error":"an old-style error"}}]})",
       3},
      {R"({"errors":true,"items":[null]})", 3},
      {R"({"errors":"yes"})", 1},
      {R"([])", 1},
  };
  for (const auto& [body, code] : cases) {
    fs::path file = answers.path() / "bulk.json";
    write_file(file, body);
    Emulator odd("elasticsearch",
                 with(k_fast, {"--answer", "POST /_bulk=" + file.string()}));
    auto r = snap({"restore", "es", "--addr", odd.url(), archive, "--yes",
                   "--parallel", "2"});
    INFO(body << "\n" << r.err);
    CHECK(r.exit_code == code);
    CHECK(r.err.find("internal error") == std::string::npos);
    CHECK(r.err.find("terminate") == std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    if (code == 3) {
      // Every index's batch was sent and answered: the emulator's early
      // answer left no unread body on a connection snap used again.
      CHECK(r.err.find("15 of 15 documents were refused") != std::string::npos);
    }
  }
}

TEST_CASE("an export reads an index by slices of its point in time",
          "[e2e][elasticsearch]") {
  Emulator source("elasticsearch", k_fast);
  seed(source.url(), 3000);
  TempDir dir;
  auto saved = snap({"--json", "save", "es", "--export", "--addr", source.url(),
                     "--batch-size", "500", "--parallel", "3", "-o",
                     dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json source_fields = json::parse(saved.out)["source"];
  CHECK(source_fields["read_with"] == "point in time, 3 slices at once");
  CHECK(source_fields["documents"] == 9000);
  std::string archive = only_archive(dir);
  // Every document once, in the fixed order of the slices' pages: page 0
  // of slice 0 (d0 to d499), then page 0 of slice 1, whose contiguous
  // range of doc ids starts at d1000 (users has one shard, which the three
  // slices share).
  ArchiveParts parts = unpack(archive);
  std::istringstream lines(parts.files.at("payload/documents/users.ndjson"));
  std::vector<std::string> ids;
  for (std::string action, doc;
       std::getline(lines, action) && std::getline(lines, doc);) {
    ids.push_back(json::parse(action)["index"]["_id"]);
  }
  REQUIRE(ids.size() == 3000);
  CHECK(ids[0] == "d0");
  CHECK(ids[500] == "d1000");
  CHECK(ids[1000] == "d2000");
  CHECK(ids[1500] == "d500");
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 3000);
  CHECK(first_off_spec(source.requests(), "8.19") == "");

  // Imported into a new cluster, it holds what the source holds.
  Emulator target("elasticsearch", k_fast);
  auto restored =
      snap({"restore", "es", "--addr", target.url(), archive, "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(state(target.url()) == state(source.url()));
}

TEST_CASE("elasticsearch emulator: slices of a scroll partition the index "
          "by _id",
          "[e2e][elasticsearch]") {
  Emulator es("elasticsearch", with(k_fast, {"--es-version", "7.14.2"}));
  seed(es.url(), 500);
  std::set<std::string> seen;
  std::size_t total = 0;
  for (int id = 0; id < 4; ++id) {
    json page = json::parse(http("POST", es.url() + "/users/_search?scroll=1m",
                                 json{{"size", 1000},
                                      {"sort", {"_doc"}},
                                      {"slice", {{"id", id}, {"max", 4}}}}
                                     .dump()));
    std::size_t hits = page["hits"]["hits"].size();
    CHECK(page["hits"]["total"]["value"] == hits);
    CHECK(hits > 50); // an _id hash spreads 500 documents over the slices
    total += hits;
    for (const auto& h : page["hits"]["hits"]) {
      seen.insert(h["_id"].get<std::string>());
    }
  }
  CHECK(total == 500);
  CHECK(seen.size() == 500);
  json too_many =
      json::parse(http("POST", es.url() + "/users/_search?scroll=1m",
                       json{{"slice", {{"id", 0}, {"max", 1025}}}}.dump()));
  CHECK(too_many["error"]["type"] == "illegal_argument_exception");
  // No slice without a scroll or a point in time.
  json plain =
      json::parse(http("POST", es.url() + "/users/_search",
                       json{{"slice", {{"id", 0}, {"max", 2}}}}.dump()));
  CHECK(plain["error"]["type"] == "action_request_validation_exception");
}

TEST_CASE("elasticsearch emulator: slices of a point in time partition it "
          "and bad slices are refused as Elasticsearch refuses them",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 1001);
  std::string pit = json::parse(
      http("POST", emu.url() + "/users/_pit?keep_alive=1m", ""))["id"];
  auto slice = [&](int id, int max) {
    json body = {{"size", 2000},
                 {"pit", {{"id", pit}}},
                 {"sort", json::array({{{"_shard_doc", "asc"}}})},
                 {"track_total_hits", true},
                 {"slice", {{"id", id}, {"max", max}}}};
    return json::parse(http("POST", emu.url() + "/_search", body.dump()));
  };
  std::set<std::string> seen;
  std::size_t sum = 0;
  for (int id = 0; id < 4; ++id) {
    json page = slice(id, 4);
    std::size_t n = page["hits"]["hits"].size();
    CHECK(page["hits"]["total"]["value"] == n);
    // 1001 doc ids in 4 contiguous ranges, the first one longer.
    CHECK(n == (id == 0 ? 251u : 250u));
    sum += n;
    for (const auto& h : page["hits"]["hits"]) {
      seen.insert(h["_id"].get<std::string>());
    }
  }
  CHECK(sum == 1001);
  CHECK(seen.size() == 1001);
  json one = slice(0, 1);
  CHECK(one["error"]["type"] == "x_content_parse_exception");
  CHECK(one["error"]["caused_by"]["reason"] == "max must be greater than 1");
  CHECK(slice(4, 4)["error"]["caused_by"]["reason"] ==
        "max must be greater than id");
  json no_pit = json::parse(http("POST", emu.url() + "/users/_search",
                                 R"({"slice":{"id":0,"max":2}})"));
  CHECK(no_pit["error"]["type"] == "action_request_validation_exception");
}

TEST_CASE("an export names the closed and hidden indices it leaves out, "
          "and takes them by flag",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 20);
  http("PUT", emu.url() + "/.internal",
       R"({"settings":{"index.hidden":true}})");
  http("PUT", emu.url() + "/old", "{}");
  http("POST", emu.url() + "/_bulk?refresh=true",
       bulk_lines(".internal", 0, 3) + bulk_lines("old", 0, 4));
  http("POST", emu.url() + "/old/_close");
  TempDir dir;
  auto plain = snap({"--json", "save", "es", "--export", "--addr", emu.url(),
                     "-o", dir.path().string()});
  INFO(plain.err);
  REQUIRE(plain.exit_code == 0);
  json left = json::parse(plain.out)["source"]["left_out"];
  CHECK(left["closed"] == json::array({"old"}));
  CHECK(left["hidden"] == json::array({".internal"}));
  CHECK(plain.err.find("warning: elasticsearch: the export leaves out closed "
                       "old (--open-closed") != std::string::npos);
  CHECK(json::parse(plain.out)["source"]["indices"].size() == 3);

  TempDir all;
  auto every =
      snap({"--json", "save", "es", "--export", "--addr", emu.url(),
            "--include-hidden", "--open-closed", "-o", all.path().string()});
  INFO(every.err);
  REQUIRE(every.exit_code == 0);
  json source = json::parse(every.out)["source"];
  CHECK(source["indices"]["old"] == 4);
  CHECK(source["indices"][".internal"] == 3);
  CHECK(source["opened_for_export"] == json::array({"old"}));
  CHECK_FALSE(source.contains("left_out"));
  // The closed index is closed again.
  CHECK(emu.received("POST /old/_open"));
  CHECK(emu.received("POST /old/_close"));
  auto rows =
      get_json(emu.url() + "/_cat/indices/old?format=json&h=index,status");
  CHECK(rows[0]["status"] == "close");
  CHECK(first_off_spec(emu.requests(), "8.19") == "");

  // Only a closed index matches: nothing to export, and why.
  auto none = snap({"save", "es", "--export", "--addr", emu.url(), "--indices",
                    "old", "-o", dir.path().string()});
  CHECK(none.exit_code == 6);
  CHECK(none.err.find("it matches closed old") != std::string::npos);
}

// _bulk create lines for documents [from, from + n) of data stream `ds`.
std::string stream_lines(const std::string& ds, int from, int n) {
  std::string out;
  for (int i = from; i < from + n; ++i) {
    out += json{{"create", {{"_index", ds}, {"_id", "e" + std::to_string(i)}}}}
               .dump() +
           "\n" +
           json{{"@timestamp",
                 "2026-12-0" + std::to_string(1 + i % 5) + "T10:00:00Z"},
                {"level", i % 3 == 0 ? "error" : "info"},
                {"n", i}}
               .dump() +
           "\n";
  }
  return out;
}

TEST_CASE("an export keeps a data stream a data stream with its templates",
          "[e2e][elasticsearch]") {
  Emulator source("elasticsearch", k_fast);
  seed(source.url(), 10);
  http("PUT", source.url() + "/_component_template/ct-logs",
       R"({"template":{"mappings":{"properties":{
            "@timestamp":{"type":"date"},"level":{"type":"keyword"}}}}})");
  http("PUT", source.url() + "/_index_template/logs-tmpl",
       R"({"index_patterns":["app-*"],"data_stream":{},
           "composed_of":["ct-logs"],"priority":200})");
  http("POST", source.url() + "/_bulk?refresh=true",
       stream_lines("app-web", 0, 5));
  http("POST", source.url() + "/app-web/_rollover");
  http("POST", source.url() + "/_bulk?refresh=true",
       stream_lines("app-web", 5, 4));
  REQUIRE(get_json(source.url() +
                   "/_data_stream/app-web")["data_streams"][0]["indices"]
              .size() == 2);
  TempDir dir;
  auto saved = snap({"--json", "save", "es", "--export", "--addr", source.url(),
                     "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json src = json::parse(saved.out)["source"];
  CHECK(src["data_streams"] == json::array({"app-web"}));
  CHECK(src["indices"]["app-web"] == 9);
  for (const auto& [name, n] : src["indices"].items()) {
    CHECK_FALSE(name.starts_with(".ds-")); // not loose backing indices
  }
  std::string archive = only_archive(dir);
  auto shown = snap({"inspect", archive});
  CHECK(shown.exit_code == 0);
  CHECK(shown.out.find("app-web") != std::string::npos);

  // Into an empty cluster: the component and index templates are made,
  // then the stream, and the documents go in by create.
  Emulator target("elasticsearch", k_fast);
  auto restored = snap({"restore", "es", "--addr", target.url(), archive,
                        "--indices", "app-*", "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  auto ds = get_json(target.url() + "/_data_stream/app-web");
  REQUIRE(ds["data_streams"].size() == 1);
  CHECK(ds["data_streams"][0]["template"] == "logs-tmpl");
  CHECK(get_json(target.url() + "/app-web/_count")["count"] == 9);
  CHECK(get_json(target.url() +
                 "/_component_template/ct-logs")["component_templates"]
            .size() == 1);
  CHECK(target.received("PUT /_data_stream/app-web"));
  CHECK(first_off_spec(source.requests(), "8.19") == "");
  CHECK(first_off_spec(target.requests(), "8.19") == "");

  // Again: it exists, so --replace is needed; a rename within the
  // template's patterns makes a second stream; one outside is refused
  // before anything changes.
  auto again = snap({"restore", "es", "--addr", target.url(), archive,
                     "--indices", "app-*", "--yes"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("already exist: app-web") != std::string::npos);
  auto copy = snap({"restore", "es", "--addr", target.url(), archive,
                    "--indices", "app-*", "--rename-pattern", "app-(.*)",
                    "--rename-replacement", "app-copy-$1", "--yes"});
  INFO(copy.err);
  CHECK(copy.exit_code == 0);
  CHECK(get_json(target.url() + "/app-copy-web/_count")["count"] == 9);
  auto outside = snap({"restore", "es", "--addr", target.url(), archive,
                       "--indices", "app-*", "--rename-pattern", "app-web",
                       "--rename-replacement", "web", "--yes"});
  CHECK(outside.exit_code == 2);
  CHECK(outside.err.find("do not match") != std::string::npos);
  CHECK_FALSE(target.received("PUT /_data_stream/web"));
  auto replaced = snap({"restore", "es", "--addr", target.url(), archive,
                        "--indices", "app-*", "--replace", "--yes"});
  INFO(replaced.err);
  CHECK(replaced.exit_code == 0);
  CHECK(target.received("DELETE /_data_stream/app-web"));
  CHECK(get_json(target.url() + "/app-web/_count")["count"] == 9);
}

TEST_CASE("an export with --query holds the matching documents alone",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 30);
  TempDir dir;
  // users: n 0..29; tags "odd"/"even". 10 <= n < 20 and even: 5 documents.
  std::string query =
      R"({"bool":{"filter":[{"range":{"n":{"gte":10,"lt":20}}},
                            {"term":{"tags":"even"}}]}})";
  auto saved = snap({"--json", "save", "es", "--export", "--addr", emu.url(),
                     "--indices", "users", "--query", query, "--batch-size",
                     "2", "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json src = json::parse(saved.out)["source"];
  CHECK(src["indices"]["users"] == 5);
  CHECK(src["query"]["bool"]["filter"].size() == 2);
  Emulator target("elasticsearch", k_fast);
  REQUIRE(snap({"restore", "es", "--addr", target.url(), only_archive(dir),
                "--yes"})
              .exit_code == 0);
  auto hits = get_json(target.url() + "/users/_search?size=10");
  std::set<int> ns;
  for (const auto& h : hits["hits"]["hits"]) {
    ns.insert(h["_source"]["n"].get<int>());
  }
  CHECK(ns == std::set<int>{10, 12, 14, 16, 18});

  // A query that is not JSON, or not one query, is refused before any
  // request; one the server refuses is its error; a snapshot has none.
  auto bad = snap({"save", "es", "--export", "--addr", emu.url(), "--query",
                   "{\"term\":", "-o", dir.path().string()});
  CHECK(bad.exit_code == 2);
  auto unknown = snap({"save", "es", "--export", "--addr", emu.url(), "--query",
                       R"({"no_such_query":{}})", "-o", dir.path().string()});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("unknown query [no_such_query]") != std::string::npos);
  auto snapshot =
      snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
            "--query", query, "-o", dir.path().string()});
  CHECK(snapshot.exit_code == 2);
  CHECK(snapshot.err.find("add --export") != std::string::npos);
}

// A restore of `archive`'s definitions and users index, as copy-users so
// that only the definitions can conflict.
std::vector<std::string> restore_as_copy(const std::string& url,
                                         const std::string& archive) {
  return {"restore",   "es",
          "--addr",    url,
          archive,     "--include-global-state",
          "--yes",     "--rename-pattern",
          "users",     "--rename-replacement",
          "copy-users"};
}

TEST_CASE("an export with --include-global-state carries templates policies "
          "pipelines and scripts",
          "[e2e][elasticsearch]") {
  Emulator source("elasticsearch", k_fast);
  seed(source.url(), 5);
  http("PUT", source.url() + "/_component_template/ct-base",
       R"({"template":{"settings":{"index.number_of_replicas":0}}})");
  http("PUT", source.url() + "/_index_template/it-logs",
       R"({"index_patterns":["logs-*"],"composed_of":["ct-base"],
           "template":{"settings":{"index.lifecycle.name":"hot-warm",
                                   "index.default_pipeline":"stamp"}}})");
  http("PUT", source.url() + "/_index_template/managed-by-es",
       R"({"index_patterns":["metrics-x-*"],"_meta":{"managed":true}})");
  http("PUT", source.url() + "/_ilm/policy/hot-warm",
       R"({"policy":{"phases":{"hot":{"actions":{"rollover":
           {"max_age":"7d"}}}}}})");
  http("PUT", source.url() + "/_ingest/pipeline/stamp",
       R"({"processors":[{"set":{"field":"seen","value":true}}]})");
  http("PUT", source.url() + "/_scripts/score-x",
       R"({"script":{"lang":"painless","source":"doc['n'].value * 2"}})");
  TempDir dir;
  auto saved = snap({"--json", "save", "es", "--export", "--addr", source.url(),
                     "--indices", "users", "--include-global-state", "-o",
                     dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json counts = json::parse(saved.out)["source"]["definitions"];
  CHECK(counts["component_templates"] == 1);
  CHECK(counts["index_templates"] == 1); // the managed one is left out
  CHECK(counts["lifecycle_policies"] == 1);
  CHECK(counts["ingest_pipelines"] == 1);
  CHECK(counts["stored_scripts"] == 1);
  std::string archive = only_archive(dir);

  Emulator target("elasticsearch", k_fast);
  // Without the flag only the documents come, and a note says what else
  // the archive holds.
  auto plain = snap({"restore", "es", "--addr", target.url(), archive, "--yes",
                     "--rename-pattern", "users", "--rename-replacement",
                     "plain-users"});
  CHECK(plain.exit_code == 0);
  CHECK(plain.err.find("--include-global-state restores them") !=
        std::string::npos);
  CHECK(http("GET", target.url() + "/_ilm/policy/hot-warm")
            .find("resource_not_found_exception") != std::string::npos);
  auto restored = snap({"restore", "es", "--addr", target.url(), archive,
                        "--include-global-state", "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(
      get_json(target.url() + "/_ilm/policy/hot-warm")["hot-warm"]["policy"] ==
      get_json(source.url() + "/_ilm/policy/hot-warm")["hot-warm"]["policy"]);
  CHECK(get_json(target.url() + "/_ingest/pipeline/stamp") ==
        get_json(source.url() + "/_ingest/pipeline/stamp"));
  CHECK(get_json(target.url() + "/_scripts/score-x")["found"] == true);
  CHECK(get_json(target.url() + "/_index_template/it-logs") ==
        get_json(source.url() + "/_index_template/it-logs"));
  CHECK(http("GET", target.url() + "/_index_template/managed-by-es")
            .find("resource_not_found_exception") != std::string::npos);

  // A definition that differs is refused before anything changes, unless
  // --replace.
  http("PUT", target.url() + "/_ingest/pipeline/stamp",
       R"({"processors":[{"set":{"field":"other","value":1}}]})");
  std::vector<std::string> again = restore_as_copy(target.url(), archive);
  auto refused = snap(again);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("ingest pipeline stamp") != std::string::npos);
  CHECK(http("GET", target.url() + "/copy-users")
            .find("index_not_found_exception") != std::string::npos);
  again.push_back("--replace");
  auto replaced = snap(again);
  INFO(replaced.err);
  CHECK(replaced.exit_code == 0);
  CHECK(get_json(target.url() + "/_ingest/pipeline/stamp") ==
        get_json(source.url() + "/_ingest/pipeline/stamp"));
  CHECK(first_off_spec(source.requests(), "8.19") == "");
  CHECK(first_off_spec(target.requests(), "8.19") == "");
}

std::vector<std::string> opensearch(const std::string& version) {
  std::vector<std::string> flags = k_fast;
  flags.insert(flags.end(),
               {"--distribution", "opensearch", "--es-version", version});
  return flags;
}

TEST_CASE("an export of OpenSearch 3.3 reads an index by slices of its "
          "point in time and older clusters by slices of a scroll",
          "[e2e][elasticsearch][opensearch]") {
  std::string version =
      GENERATE("opensearch 2.19.1", "opensearch 3.3.0", "elasticsearch 7.14.2");
  INFO(version);
  // OpenSearch's point in time takes a slice since 2.4, but snap reads
  // by a point in time only where it sorts by _shard_doc (3.3).
  bool pit = version == "opensearch 3.3.0";
  std::string number = version.substr(version.find(' ') + 1);
  Emulator source("elasticsearch",
                  version.starts_with("opensearch")
                      ? opensearch(number)
                      : with(k_fast, {"--es-version", number}));
  seed(source.url(), 3000);
  TempDir dir;
  auto saved = snap({"--json", "save", "es", "--export", "--addr", source.url(),
                     "--batch-size", "500", "--parallel", "3", "-o",
                     dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json fields = json::parse(saved.out)["source"];
  CHECK(fields["read_with"] ==
        (pit ? "point in time, 3 slices at once" : "scroll, 3 slices at once"));
  CHECK(fields["documents"] == 9000);
  auto reqs = source.requests();
  auto count = [&](const std::string& start) {
    return std::count_if(reqs.begin(), reqs.end(), [&](const std::string& r) {
      return r.starts_with(start);
    });
  };
  CHECK_FALSE(source.received("/_pit"));
  if (pit) {
    // One point in time an index, read by three slices, then closed.
    CHECK(count("POST /users/_search/point_in_time?keep_alive=") == 1);
    CHECK(count("DELETE /_search/point_in_time") == 3);
    CHECK_FALSE(source.received("scroll"));
  } else {
    // Three scrolls an index, each asking for its slice, each cleared.
    CHECK(count("POST /users/_search?scroll=") == 3);
    CHECK(count("DELETE /_search/scroll") == 9);
    CHECK_FALSE(source.received("/_search/point_in_time"));
  }
  // Every document once.
  ArchiveParts parts = unpack(only_archive(dir));
  for (const char* index : {"logs", "metrics", "users"}) {
    std::istringstream lines(
        parts.files.at(std::string("payload/documents/") + index + ".ndjson"));
    std::set<std::string> ids;
    std::size_t n = 0;
    for (std::string action, doc;
         std::getline(lines, action) && std::getline(lines, doc); ++n) {
      ids.insert(json::parse(action)["index"]["_id"].get<std::string>());
    }
    CHECK(n == 3000);
    CHECK(ids.size() == 3000);
  }
  Emulator target("elasticsearch", k_fast);
  auto restored = snap(
      {"restore", "es", "--addr", target.url(), only_archive(dir), "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(state(target.url()) == state(source.url()));
}

TEST_CASE("OpenSearch is known by its distribution and driven without what "
          "it lacks",
          "[e2e][elasticsearch][opensearch]") {
  for (const std::string version : {"1.3.20", "2.19.1", "3.1.0", "3.3.0"}) {
    INFO("OpenSearch " << version);
    Emulator os("elasticsearch", opensearch(version));
    REQUIRE(get_json(os.url())["version"]["distribution"] == "opensearch");
    seed(os.url(), 30);
    add_repository(os.url());
    // A snapshot: saved and restored as on Elasticsearch, without
    // feature states, which OpenSearch's parsers refuse.
    TempDir dir;
    auto saved =
        snap({"--json", "save", "es", "--addr", os.url(), "--repository",
              "backups", "--snapshot", "s1", "-o", dir.path().string()});
    INFO(saved.err);
    REQUIRE(saved.exit_code == 0);
    json src = json::parse(saved.out)["source"];
    CHECK(src["distribution"] == "opensearch");
    CHECK(json::parse(saved.out)["target"]["version"] == version);
    auto fs = snap({"save", "es", "--addr", os.url(), "--repository", "backups",
                    "--feature-states", "tasks", "-o", dir.path().string()});
    CHECK(fs.exit_code == 2);
    CHECK(fs.err.find("OpenSearch " + version + " has no feature states") !=
          std::string::npos);
    CHECK_FALSE(os.received("PUT /_snapshot/backups/snap-"));
    std::string archive = only_archive(dir);
    delete_docs(os.url(), "users", {0, 1, 2});
    auto restored = snap({"restore", "es", "--addr", os.url(), archive,
                          "--indices", "users", "--replace", "--yes"});
    INFO(restored.err);
    CHECK(restored.exit_code == 0);
    CHECK(get_json(os.url() + "/users/_count")["count"] == 30);
    // status --deep: the integrity check is Elasticsearch's alone.
    auto deep = snap({"status", "es", "--addr", os.url(), "--repository",
                      "backups", "--deep"});
    CHECK(deep.exit_code == 0);
    CHECK_FALSE(os.received("POST /_snapshot/backups/_verify_integrity"));

    // An export reads by scroll before 3.3 (OpenSearch has no _shard_doc
    // tiebreaker for search_after before), by its own point in time from
    // 3.3, and imports into Elasticsearch.
    TempDir out;
    auto exported = snap({"--json", "save", "es", "--export", "--addr",
                          os.url(), "--batch-size", "7", "--parallel", "1",
                          "-o", out.path().string()});
    INFO(exported.err);
    REQUIRE(exported.exit_code == 0);
    bool pit = version == "3.3.0";
    CHECK(json::parse(exported.out)["source"]["read_with"] ==
          (pit ? "point in time" : "scroll"));
    CHECK_FALSE(os.received("POST /users/_pit"));
    CHECK(os.received("POST /users/_search/point_in_time") == pit);
    CHECK(os.received("DELETE /_search/point_in_time") == pit);
    if (version == "2.19.1") {
      // What snap avoids: a point in time before 3.3 has no _shard_doc.
      json opened = json::parse(http(
          "POST", os.url() + "/users/_search/point_in_time?keep_alive=1m"));
      json body = {{"pit", {{"id", opened["pit_id"]}}},
                   {"sort", json::array({{{"_shard_doc", "asc"}}})}};
      CHECK(http("POST", os.url() + "/_search", body.dump())
                .find("No mapping found for [_shard_doc]") !=
            std::string::npos);
    }
    Emulator es("elasticsearch", k_fast);
    auto imported =
        snap({"restore", "es", "--addr", es.url(), only_archive(out), "--yes"});
    INFO(imported.err);
    CHECK(imported.exit_code == 0);
    CHECK(get_json(es.url() + "/users/_count")["count"] == 30);
    CHECK(get_json(es.url() + "/logs/_count")["count"] == 30);
  }
}

TEST_CASE("OpenSearch ISM policies travel with --include-global-state",
          "[e2e][elasticsearch][opensearch]") {
  Emulator source("elasticsearch", opensearch("2.19.1"));
  seed(source.url(), 3);
  const std::string policy =
      R"({"policy":{"description":"logs","default_state":"hot",
          "states":[{"name":"hot","actions":[],"transitions":[]}]}})";
  http("PUT", source.url() + "/_plugins/_ism/policies/logs-policy", policy);
  TempDir dir;
  auto saved = snap({"--json", "save", "es", "--export", "--addr", source.url(),
                     "--indices", "users", "--include-global-state", "-o",
                     dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(json::parse(saved.out)["source"]["definitions"]["ism_policies"] == 1);
  std::string archive = only_archive(dir);

  Emulator target("elasticsearch", opensearch("2.19.1"));
  auto restored = snap({"restore", "es", "--addr", target.url(), archive,
                        "--include-global-state", "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  auto got = get_json(target.url() + "/_plugins/_ism/policies/logs-policy");
  CHECK(got["policy"]["default_state"] == "hot");
  CHECK(got["policy"]["description"] == "logs");

  // Changed on the target: refused, then replaced with the seq_no read.
  http("PUT",
       target.url() +
           "/_plugins/_ism/policies/logs-policy?if_seq_no=0&if_primary_term=1",
       R"({"policy":{"description":"other","default_state":"hot",
           "states":[{"name":"hot","actions":[],"transitions":[]}]}})");
  std::vector<std::string> again = restore_as_copy(target.url(), archive);
  auto refused = snap(again);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("ISM policy logs-policy") != std::string::npos);
  again.push_back("--replace");
  auto replaced = snap(again);
  INFO(replaced.err);
  CHECK(replaced.exit_code == 0);
  CHECK(get_json(
            target.url() +
            "/_plugins/_ism/policies/logs-policy")["policy"]["description"] ==
        "logs");
  // Into Elasticsearch, which has no ISM: refused before any change.
  Emulator es("elasticsearch", k_fast);
  auto into_es = snap({"restore", "es", "--addr", es.url(), archive,
                       "--include-global-state", "--yes"});
  CHECK(into_es.exit_code == 2);
  CHECK(into_es.err.find("ISM policies") != std::string::npos);
  CHECK(http("GET", es.url() + "/users").find("index_not_found_exception") !=
        std::string::npos);
}

TEST_CASE("a connection cut during an export leaves nothing behind",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch", with(k_fast, {"--fail-after-bytes", "20000"}));
  seed(emu.url(), 500);
  TempDir dir;
  auto r = snap({"--retries", "1", "save", "es", "--export", "--addr",
                 emu.url(), "--batch-size", "100", "-o", dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 4);
  CHECK(dir.list().empty());
  // The point in time was closed on the way out.
  CHECK(emu.received("DELETE /_pit"));
}

TEST_CASE("7.x clusters use scroll before 7.12 and a point in time after",
          "[e2e][elasticsearch]") {
  for (std::string version : {"7.9.3", "7.17.25"}) {
    Emulator emu("elasticsearch", with(k_fast, {"--es-version", version}));
    seed(emu.url(), 120);
    TempDir dir;
    auto r = snap({"save", "es", "--export", "--batch-size", "50", "--addr",
                   emu.url(), "-o", dir.path().string()});
    INFO(version << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    bool scroll = version == "7.9.3";
    CHECK(emu.received("POST /_search/scroll") == scroll);
    CHECK(emu.received("DELETE /_search/scroll") == scroll);
    CHECK(emu.received("POST /logs/_pit") == !scroll);
    CHECK(first_off_spec(emu.requests(), "7.17") == "");
    Emulator target("elasticsearch", with(k_fast, {"--es-version", version}));
    auto back = snap(
        {"restore", "es", "--addr", target.url(), only_archive(dir), "--yes"});
    INFO(back.err);
    CHECK(back.exit_code == 0);
    CHECK(get_json(target.url() + "/users/_count")["count"] == 120);
  }
}

TEST_CASE("basic auth and API keys work and a wrong password exits 5",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch",
               with(k_fast, {"--require-user", "elastic:s3cret",
                             "--require-token", "a2V5aWQ6c2VjcmV0"}));
  TempDir dir;
  write_file(dir.path() / "pw", "s3cret\n");
  write_file(dir.path() / "bad", "guess\n");
  write_file(dir.path() / "key", "a2V5aWQ6c2VjcmV0\n");
  auto ok = snap({"status", "es", "--addr", emu.url(), "--user", "elastic",
                  "--password-file", (dir.path() / "pw").string()});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  auto key = snap({"status", "es", "--addr", emu.url(), "--api-key-file",
                   (dir.path() / "key").string()});
  CHECK(key.exit_code == 0);
  auto bad = snap({"status", "es", "--addr", emu.url(), "--user", "elastic",
                   "--password-file", (dir.path() / "bad").string()});
  CHECK(bad.exit_code == 5);
  CHECK(bad.err.find("security_exception") != std::string::npos);
  CHECK(bad.err.find("guess") == std::string::npos);
}

TEST_CASE("list status download and delete of snapshots",
          "[e2e][elasticsearch]") {
  Emulator emu("elasticsearch",
               {"--snapshot-ms", "1500", "--recovery-ms", "200"});
  seed(emu.url(), 5);
  add_repository(emu.url());
  http("PUT", emu.url() + "/_snapshot/backups/first", R"({"indices":"logs"})");
  auto running = snap({"status", "es", "--addr", emu.url()});
  CHECK(running.out.find("first") != std::string::npos);
  auto one = snap({"status", "es", "--addr", emu.url(), "--repository",
                   "backups", "first"});
  CHECK(one.out.find("IN_PROGRESS") != std::string::npos);
  CHECK(one.out.find("Stage:") != std::string::npos);
  // The backup's own state, the same word for every system; a backup still
  // being taken is not ready (exit 10).
  CHECK(one.exit_code == 10);
  auto one_json = snap({"--json", "status", "es", "--addr", emu.url(),
                        "--repository", "backups", "first"});
  CHECK(json::parse(one_json.out)["backup_state"] == "running");
  auto early = snap({"download", "es", "--addr", emu.url(), "--repository",
                     "backups", "first"});
  CHECK(early.exit_code == 1);
  CHECK(early.err.find("still IN_PROGRESS") != std::string::npos);

  auto watched = snap({"status", "es", "--addr", emu.url(), "--repository",
                       "backups", "first", "--watch", "--interval", "0.2"});
  CHECK(watched.exit_code == 0);
  CHECK(watched.out.find("SUCCESS") != std::string::npos);
  auto done = snap({"--json", "status", "es", "--addr", emu.url(),
                    "--repository", "backups", "first"});
  CHECK(done.exit_code == 0);
  CHECK(json::parse(done.out)["backup_state"] == "complete");

  TempDir dir;
  auto d = snap({"download", "es", "--addr", emu.url(), "--repository",
                 "backups", "first", "-o", dir.path().string()});
  INFO(d.err);
  CHECK(d.exit_code == 0);
  auto listed = snap(
      {"list", "es", "--addr", emu.url(), "--repository", "backups", "--json"});
  CHECK(json::parse(listed.out)["backups"][0]["id"] == "first");
  auto del = snap({"delete", "es", "--addr", emu.url(), "--repository",
                   "backups", "first", "--yes"});
  CHECK(del.exit_code == 0);
  auto gone = snap({"delete", "es", "--addr", emu.url(), "--repository",
                    "backups", "first", "--yes"});
  CHECK(gone.exit_code == 6);
  CHECK(first_off_spec(emu.requests(), "8.19") == "");
}

TEST_CASE("the spec check itself refuses what Elasticsearch would not route",
          "[unit][elasticsearch]") {
  if (!es_spec_available("8.19")) {
    return;
  }
  CHECK(check_against_es_spec("GET /_snapshot/r/s/_status", "8.19") == "");
  CHECK(check_against_es_spec("POST /logs/_pit?keep_alive=5m", "8.19") == "");
  CHECK_FALSE(
      check_against_es_spec("POST /logs/_pit?keepalive=5m", "8.19").empty());
  CHECK_FALSE(check_against_es_spec("PATCH /logs", "8.19").empty());
  CHECK_FALSE(check_against_es_spec("GET /_snapshots/x", "8.19").empty());
  CHECK_FALSE(check_against_es_spec(
                  "GET /logs/_recovery?ignore_unavailable=true", "7.17")
                  .empty());
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("150 long index names never make a request line over 4 KB",
          "[e2e][elasticsearch][target-truth]") {
  Emulator emu("elasticsearch", k_fast);
  add_repository(emu.url());
  std::string bulk;
  for (int i = 0; i < 150; ++i) {
    std::string index =
        fmt::format("application-logs-of-the-cluster-{:04d}", i);
    bulk += json{{"index", {{"_index", index}, {"_id", "1"}}}}.dump() + "\n" +
            json{{"n", i}}.dump() + "\n";
  }
  http("POST", emu.url() + "/_bulk?refresh=true", bulk);
  // The emulator refuses a longer line as Elasticsearch does.
  std::string all;
  for (int i = 0; i < 150; ++i) {
    all += fmt::format("{}application-logs-of-the-cluster-{:04d}", i ? "," : "",
                       i);
  }
  CHECK(http("GET", emu.url() + "/" + all).find("too_long_http_line") !=
        std::string::npos);
  TempDir dir;
  auto saved = snap({"save", "es", "--addr", emu.url(), "--repository",
                     "backups", "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  auto restored = snap({"restore", "es", "--addr", emu.url(), only_archive(dir),
                        "--replace", "--yes"});
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  for (const auto& r : emu.requests()) {
    if (r != "GET /" + all) { // the test's own, above
      CHECK(r.size() < 4000);
    }
  }
  TempDir out;
  auto exported = snap({"save", "es", "--addr", emu.url(), "--export", "-o",
                        out.path().string()});
  REQUIRE(exported.exit_code == 0);
  auto imported = snap({"restore", "es", "--addr", emu.url(), only_archive(out),
                        "--replace", "--yes"});
  INFO(imported.err);
  CHECK(imported.exit_code == 0);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("data streams come back as data streams, system indices through "
          "their feature state",
          "[e2e][elasticsearch][target-truth]") {
  Emulator emu("elasticsearch", k_fast);
  add_repository(emu.url());
  http("PUT", emu.url() + "/_index_template/logs-app",
       R"({"index_patterns":["logs-app*"],"data_stream":{},
           "template":{"mappings":{"properties":{"@timestamp":{"type":"date"}}}}})");
  std::string bulk;
  for (int i = 0; i < 5; ++i) {
    bulk += R"({"create":{"_index":"logs-app"}})"
            "\n" +
            json{{"@timestamp", "2026-12-04T10:00:0" + std::to_string(i) + "Z"},
                 {"n", i}}
                .dump() +
            "\n";
  }
  bulk += R"({"index":{"_index":"users","_id":"u1"}})"
          "\n"
          R"({"name":"ada"})"
          "\n";
  REQUIRE(http("POST", emu.url() + "/_bulk?refresh=true", bulk)
              .find("\"errors\":false") != std::string::npos);
  http("PUT", emu.url() + "/.tasks/_doc/t1?refresh=true", R"({"task":"x"})");
  TempDir dir;
  auto saved =
      snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
            "--feature-states", "tasks", "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  std::string archive = only_archive(dir);

  http("DELETE", emu.url() + "/_data_stream/logs-app");
  http("DELETE", emu.url() + "/users");
  http("PUT", emu.url() + "/.tasks/_doc/t2?refresh=true", R"({"task":"y"})");

  auto plan =
      snap({"restore", "es", "--addr", emu.url(), archive, "--dry-run"});
  INFO(plan.out << plan.err);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find(R"("indices":"logs-app,users")") != std::string::npos);
  CHECK(plan.out.find("leave out feature state tasks") != std::string::npos);

  auto restored =
      snap({"restore", "es", "--addr", emu.url(), archive, "--yes"});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  json streams = get_json(emu.url() + "/_data_stream/logs-app");
  REQUIRE(streams["data_streams"].size() == 1);
  CHECK(streams["data_streams"][0]["indices"].size() == 1);
  CHECK(get_json(emu.url() + "/logs-app/_count")["count"] == 5);
  CHECK(get_json(emu.url() + "/users/_count")["count"] == 1);
  // The system index was left as it is, until its feature state is asked.
  CHECK(get_json(emu.url() + "/.tasks/_count")["count"] == 2);
  auto feature = snap({"restore", "es", "--addr", emu.url(), archive, "--yes",
                       "--feature-states", "tasks", "--indices", "-*"});
  INFO(feature.err);
  CHECK(feature.exit_code == 0);
  CHECK(get_json(emu.url() + "/.tasks/_count")["count"] == 1);
  // Naming the system index is what Elasticsearch refuses, and what snap
  // once sent for every index of the snapshot.
  std::string snapshot = get_json(
      emu.url() + "/_snapshot/backups/_all")["snapshots"][0]["snapshot"];
  CHECK(http("POST", emu.url() + "/_snapshot/backups/" + snapshot + "/_restore",
             R"({"indices":".tasks"})")
            .find("system indices can only be restored as part of a feature "
                  "state") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {
namespace {

std::set<std::string> snapshots_in(const std::string& url) {
  std::set<std::string> out;
  const json all = get_json(url + "/_snapshot/backups/_all");
  for (const auto& s : all["snapshots"]) {
    out.insert(s["snapshot"].get<std::string>());
  }
  return out;
}

} // namespace

TEST_CASE("retention reaches the repository only with --prune-target, and "
          "only for snapshots snap's saves took",
          "[e2e][elasticsearch][retention]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  auto save = [&](const std::string& name, std::vector<std::string> extra) {
    auto r =
        snap(with({"save", "es", "--addr", emu.url(), "--repository", "backups",
                   "--snapshot", name, "-o", dir.path().string()},
                  extra));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  save("s1", {});
  // Without the flag the archive goes and its snapshot stays, as it says.
  std::string second = save("s2", {"--keep", "1"});
  CHECK(second.find("its snapshot s1 in repository backups stays on the "
                    "target (--prune-target deletes it)") != std::string::npos);
  CHECK(snapshots_in(emu.url()) == std::set<std::string>{"s1", "s2"});
  std::string third = save("s3", {"--keep", "1", "--prune-target"});
  CHECK(third.find("and its snapshot s2 in repository backups") !=
        std::string::npos);
  CHECK(snapshots_in(emu.url()) == std::set<std::string>{"s1", "s3"});
  CHECK(dir.list().size() == 1);

  // A snapshot someone else took (s1, downloaded) is never snap's to
  // delete; one a kept archive still refers to (s3, downloaded last) stays
  // too; s4, of a save and referred to by nothing kept, goes.
  auto downloaded =
      snap({"download", "es", "s1", "--addr", emu.url(), "--repository",
            "backups", "-o", dir.path().string()});
  REQUIRE(downloaded.exit_code == 0);
  save("s4", {});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto copy = snap({"download", "es", "s3", "--addr", emu.url(), "--repository",
                    "backups", "-o", dir.path().string()});
  REQUIRE(copy.exit_code == 0);
  auto pruned =
      snap({"--json", "prune", "es", dir.path().string(), "--keep-last", "1",
            "--prune-target", "--addr", emu.url()});
  INFO(pruned.err);
  REQUIRE(pruned.exit_code == 0);
  json doc = json::parse(pruned.out);
  CHECK(doc["removed"].size() == 3);
  REQUIRE(doc["target_backups_removed"].size() == 1);
  CHECK(doc["target_backups_removed"][0]["backup"] ==
        "snapshot s4 in repository backups");
  CHECK(snapshots_in(emu.url()) == std::set<std::string>{"s1", "s3"});
  CHECK_FALSE(emu.received("DELETE /_snapshot/backups/s1"));

  // An export leaves nothing on the cluster to delete.
  auto exported = snap({"save", "es", "--export", "--addr", emu.url(), "-o",
                        dir.path().string(), "--keep", "1", "--prune-target"});
  CHECK(exported.exit_code == 0);
  CHECK(snapshots_in(emu.url()) == std::set<std::string>{"s1", "s3"});
}

TEST_CASE("prune --prune-target needs the adapter, and keeps an archive "
          "whose snapshot cannot be deleted",
          "[e2e][elasticsearch][retention]") {
  Emulator emu("elasticsearch", k_fast);
  seed(emu.url(), 5);
  add_repository(emu.url());
  TempDir dir;
  for (std::string name : {"a1", "a2"}) {
    auto r = snap({"save", "es", "--addr", emu.url(), "--repository", "backups",
                   "--snapshot", name, "-o", dir.path().string()});
    REQUIRE(r.exit_code == 0);
  }
  auto no_adapter = snap(
      {"prune", dir.path().string(), "--keep-last", "1", "--prune-target"});
  CHECK(no_adapter.exit_code == 2);
  CHECK(no_adapter.err.find("name the adapter") != std::string::npos);
  auto plan = snap({"prune", "es", dir.path().string(), "--keep-last", "1",
                    "--prune-target", "--dry-run", "--addr", emu.url()});
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("would remove") != std::string::npos);
  CHECK(plan.out.find("and its snapshot a1 in repository backups") !=
        std::string::npos);
  CHECK_FALSE(emu.received("DELETE"));
  CHECK(dir.list().size() == 2);

  // The repository refuses: the archive stays and prune exits 3.
  http("DELETE", emu.url() + "/_snapshot/backups");
  auto refused = snap({"prune", "es", dir.path().string(), "--keep-last", "1",
                       "--prune-target", "--addr", emu.url()});
  CHECK(refused.exit_code == 3);
  CHECK(refused.err.find("could not be deleted") != std::string::npos);
  CHECK(dir.list().size() == 2);
}

} // namespace snap::test
