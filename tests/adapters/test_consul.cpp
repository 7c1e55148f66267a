// SPDX-License-Identifier: MIT
// Consul end to end: the built snap against snap-emulator consul.
#include <catch2/catch.hpp>
#include <csignal>
#include <nlohmann/json.hpp>

#include "snap/sha256.hpp"
#include "tests/adapters/suite.hpp"

namespace snap::test {
namespace {

void put_key(const std::string& url, const std::string& key,
             const std::string& value) {
  REQUIRE(http("PUT", url + "/v1/kv/" + key, value) == "true");
}

std::string kv_state(const std::string& url) {
  std::string keys = http("GET", url + "/v1/kv/?keys");
  if (keys.empty()) {
    return "";
  }
  std::string out;
  for (const auto& k : nlohmann::json::parse(keys)) {
    auto key = k.get<std::string>();
    out += key + "=" + http("GET", url + "/v1/kv/" + key + "?raw") + "\n";
  }
  return out;
}

AdapterFixture consul_fixture() {
  AdapterFixture f;
  f.adapter = "consul";
  f.token_flag_env = "CONSUL_HTTP_TOKEN";
  f.seed = [](const std::string& url) {
    put_key(url, "app/greeting", "hello");
    put_key(url, "app/config/limit", "42");
    put_key(url, "snap-test/binary", std::string("\x01\x02\xff", 3));
  };
  f.state = kv_state;
  f.mutate = [](const std::string& url) {
    put_key(url, "app/greeting", "changed");
    http("DELETE", url + "/v1/kv/app/config/limit");
    put_key(url, "app/new", "added after the backup");
  };
  return f;
}

// Saves one archive from a seeded emulator into `dir`; returns its path.
std::string save_one(Emulator& emu, const TempDir& dir) {
  consul_fixture().seed(emu.url());
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  return (dir.path() / files[0]).string();
}

} // namespace

AdapterFixture conformance_consul() { return consul_fixture(); }

TEST_CASE("consul passes the adapter conformance suite",
          "[e2e][consul][suite]") {
  run_conformance(*conformance_fixture("consul"));
}

TEST_CASE("consul save names the archive and records the snapshot",
          "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto name = std::filesystem::path(archive).filename().string();
  CHECK(name.starts_with("consul-"));
  CHECK(name.ends_with("Z.zip"));
  auto mode = std::filesystem::status(archive).permissions() &
              std::filesystem::perms::all;
  CHECK(mode == (std::filesystem::perms::owner_read |
                 std::filesystem::perms::owner_write));
  auto r = snap({"--json", "inspect", archive});
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  auto a = doc["archives"][0];
  CHECK(a["adapter"] == "consul");
  CHECK(a["kind"].get<std::string>().starts_with("full"));
  CHECK(a["payload"]["Index"].get<std::uint64_t>() > 0);
  CHECK(a["payload"]["Term"] == 2);
  CHECK(a["payload"]["Version"] == 1);
  CHECK(a["payload"]["ID"].get<std::string>().starts_with("2-"));
  // The archive is a standard zip that unzip can test.
  auto t = run({"/usr/bin/unzip", "-t", archive});
  CHECK(t.exit_code == 0);
}

TEST_CASE("consul save sends the token in a header, never in argv, URL or "
          "manifest",
          "[e2e][consul][secrets]") {
  Emulator emu("consul", {"--require-token", "s3cr3t-t0ken"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()},
           {.env = {{"CONSUL_HTTP_TOKEN", "s3cr3t-t0ken"}}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  auto bytes = read_file(dir.path() / files[0]);
  CHECK(bytes.find("s3cr3t-t0ken") == std::string::npos);
  for (const auto& req : emu.requests()) {
    CHECK(req.find("s3cr3t") == std::string::npos);
  }
}

TEST_CASE("consul save without the token is refused with exit 5",
          "[e2e][consul]") {
  Emulator emu("consul", {"--require-token", "t"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("403 Forbidden: Permission denied") != std::string::npos);
  CHECK(r.err.find("--token-file") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("consul save against a server that is gone exits 4",
          "[e2e][consul]") {
  Emulator emu("consul");
  std::string url = emu.url();
  emu.stop();
  TempDir dir;
  auto r = snap({"--retries", "1", "save", "consul", "--addr", url, "-o",
                 dir.path().string()});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("check --addr") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("the emulator makes a missing --data-dir and answers 500 when it "
          "cannot write a snapshot",
          "[e2e][consul][emulator]") {
  TempDir dir;
  auto data = dir.path() / "data" / "consul";
  Emulator emu("consul", {"--data-dir", data.string()});
  TempDir out;
  save_one(emu, out);
  CHECK(std::filesystem::is_directory(data));
  // The folder gone under a running server: the snapshot request fails with
  // a server error snap reports, not a crash that drops the connection.
  std::filesystem::remove_all(data);
  consul_fixture().seed(emu.url()); // a new index: a new snapshot file
  TempDir out2;
  auto r = snap({"--retries", "1", "save", "consul", "--addr", emu.url(), "-o",
                 out2.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("500") != std::string::npos);
  CHECK(out2.list().empty());
}

TEST_CASE("consul save cut mid-body leaves neither archive nor temp file",
          "[e2e][consul]") {
  Emulator emu("consul", {"--fail-after-bytes", "200"});
  TempDir dir;
  consul_fixture().seed(emu.url());
  auto r = snap({"--retries", "2", "save", "consul", "--addr", emu.url(), "-o",
                 dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("connection closed after") != std::string::npos);
  CHECK(dir.list().empty());
  // It was retried: a GET per attempt.
  int gets = 0;
  for (const auto& req : emu.requests()) {
    gets += req.starts_with("GET /v1/snapshot") ? 1 : 0;
  }
  CHECK(gets == 3);
}

TEST_CASE("consul save succeeds after 503, 503", "[e2e][consul][retry]") {
  Emulator emu("consul", {"--status-sequence", "503,503,200"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(dir.list().size() == 1);
}

TEST_CASE("verbose mode shows each attempt and retry, never the token",
          "[e2e][consul][retry]") {
  Emulator emu("consul",
               {"--status-sequence", "503,200", "--require-token", "tok-123"});
  TempDir dir;
  write_file(dir.path() / "t", "tok-123");
  auto r = snap({"-v", "save", "consul", "--addr", emu.url(), "--token-file",
                 (dir.path() / "t").string(), "-o", dir.path().string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("GET " + emu.url() + "/v1/snapshot -> 503") !=
        std::string::npos);
  CHECK(r.err.find("retrying GET") != std::string::npos);
  CHECK(r.err.find("-> 200") != std::string::npos);
  CHECK(r.err.find("tok-123") == std::string::npos);
}

TEST_CASE("consul save gives up after --retries", "[e2e][consul][retry]") {
  Emulator emu("consul", {"--status-sequence", "503,503,503,200"});
  TempDir dir;
  auto r = snap({"--retries", "1", "save", "consul", "--addr", emu.url(), "-o",
                 dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("503 Service Unavailable") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("consul save interrupted by SIGINT exits 130 and leaves nothing",
          "[e2e][consul][signal]") {
  Emulator emu("consul", {"--delay-ms", "3000"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()},
           {.signal_after_ms = 500});
  CHECK(r.exit_code == 130);
  CHECK(dir.list().empty());
}

TEST_CASE("consul save under SIGTERM exits 143 and leaves nothing",
          "[e2e][consul][signal]") {
  Emulator emu("consul", {"--delay-ms", "3000"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()},
           {.signal_after_ms = 500, .signal = SIGTERM});
  CHECK(r.exit_code == 143);
  CHECK(dir.list().empty());
}

TEST_CASE("a successful save is silent on stderr without a terminal",
          "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty()); // no progress bar under cron or CI
  auto q = snap(
      {"-q", "save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  CHECK(q.exit_code == 0);
  CHECK(q.out.empty());
}

TEST_CASE("inspect --no-verify reads only the head of the payload",
          "[e2e][consul][verify]") {
  Emulator emu("consul",
               {"--snapshot-bytes", "1000000", "--snapshot-content", "random"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  // Damage the end of the stored snapshot, just before the zip's central
  // directory: --no-verify still describes it, a full inspect refuses it.
  std::string bytes = read_file(archive);
  auto end = bytes.find("PK\x01\x02");
  REQUIRE(end != std::string::npos);
  bytes[end - 30] = static_cast<char>(bytes[end - 30] ^ 0x01);
  write_file(archive, bytes);
  auto quick = snap({"inspect", "--no-verify", archive});
  INFO(quick.err);
  CHECK(quick.exit_code == 0);
  CHECK(quick.out.find("Index:") != std::string::npos);
  CHECK(quick.out.find("--no-verify") != std::string::npos);
  CHECK(snap({"inspect", archive}).exit_code == 7);
}

TEST_CASE("consul with no leader: save fails with a hint, --stale works",
          "[e2e][consul]") {
  Emulator emu("consul", {"--no-leader"});
  TempDir dir;
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("No cluster leader") != std::string::npos);
  CHECK(r.err.find("--stale") != std::string::npos);
  auto s = snap({"--json", "save", "consul", "--stale", "--addr", emu.url(),
                 "-o", dir.path().string()});
  INFO(s.err);
  REQUIRE(s.exit_code == 0);
  auto doc = nlohmann::json::parse(s.out);
  CHECK(doc["source"]["stale"] == true);
  CHECK(doc["source"]["known_leader"] == false);
  CHECK(doc["source"]["last_contact_ms"].get<int>() > 0);
  // Not ready for a backup: status says so in its exit code (10).
  auto st = snap({"--json", "status", "consul", "--addr", emu.url()});
  REQUIRE(st.exit_code == 10);
  CHECK(nlohmann::json::parse(st.out)["leader"] == "none");
}

TEST_CASE("a large snapshot is written once in place and restores",
          "[e2e][consul]") {
  // Past 16 MiB the snapshot streams into the archive file itself, after the
  // region the manifest fills at commit.
  Emulator emu("consul", {"--snapshot-bytes", "20000000", "--snapshot-content",
                          "random"});
  TempDir dir;
  auto archive = save_one(emu, dir);
  std::string bytes = read_file(archive);
  CHECK(bytes.substr(65536, 4) == std::string("PK\x03\x04", 4));
  CHECK(bytes.substr(65536 + 30, 19) == "payload/consul.snap");
  CHECK(run({"/usr/bin/unzip", "-tq", archive}).exit_code == 0);
  auto i = snap({"inspect", archive});
  INFO(i.err);
  CHECK(i.exit_code == 0);
  std::string before = kv_state(emu.url());
  consul_fixture().mutate(emu.url());
  auto r = snap({"restore", "consul", archive, "--addr", emu.url(), "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(kv_state(emu.url()) == before);
}

TEST_CASE("a flipped byte is caught by inspect and restore, before any PUT",
          "[e2e][consul][verify]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_one(emu, dir);
  std::string bytes = read_file(archive);
  auto payload = bytes.find("\x1f\x8b\x08");
  REQUIRE(payload != std::string::npos);
  bytes[payload + 40] = static_cast<char>(bytes[payload + 40] ^ 0x01);
  write_file(archive, bytes);

  auto i = snap({"inspect", archive});
  CHECK(i.exit_code == 7);
  auto r = snap({"restore", "consul", archive, "--addr", emu.url(), "--yes"});
  CHECK(r.exit_code == 7);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

TEST_CASE("a truncated archive is refused with exit 7",
          "[e2e][consul][verify]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_one(emu, dir);
  std::string bytes = read_file(archive);
  write_file(archive, bytes.substr(0, bytes.size() / 2));
  auto r = snap({"restore", "consul", archive, "--addr", emu.url(), "--yes"});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("truncated") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

TEST_CASE("restore without --yes and without a terminal exits 2",
          "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r = snap({"restore", "consul", archive, "--addr", emu.url()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--yes") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

TEST_CASE("restore --dry-run prints the plan and sends no PUT",
          "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto archive = save_one(emu, dir);
  auto r =
      snap({"restore", "consul", archive, "--addr", emu.url(), "--dry-run"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("PUT ") != std::string::npos);
  CHECK(r.out.find("Nothing was changed") != std::string::npos);
  CHECK_FALSE(emu.received("PUT /v1/snapshot"));
}

TEST_CASE("restore refuses when the cluster has no leader", "[e2e][consul]") {
  TempDir dir;
  std::string archive;
  {
    Emulator emu("consul");
    archive = save_one(emu, dir);
  }
  Emulator leaderless("consul", {"--no-leader"});
  auto r =
      snap({"restore", "consul", archive, "--addr", leaderless.url(), "--yes"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no cluster leader") != std::string::npos);
  CHECK_FALSE(leaderless.received("PUT /v1/snapshot"));
}

TEST_CASE("an unknown datacenter is Consul's error, exit 1", "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto r = snap({"save", "consul", "--addr", emu.url(), "--datacenter", "dc9",
                 "-o", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("No path to datacenter") != std::string::npos);
  CHECK(r.err.find("dc=dc9") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("json output parses on success and on error", "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto ok = snap({"--json", "save", "consul", "--addr", emu.url(), "-o",
                  dir.path().string()});
  REQUIRE(ok.exit_code == 0);
  auto doc = nlohmann::json::parse(ok.out);
  CHECK(doc["adapter"] == "consul");
  CHECK(std::filesystem::exists(doc["archive"].get<std::string>()));
  CHECK(doc["manifest_sha256"].get<std::string>().size() == 64);
  auto st = snap({"--json", "status", "consul", "--addr", emu.url()});
  REQUIRE(st.exit_code == 0);
  CHECK(nlohmann::json::parse(st.out)["known_leader"] == true);
  auto bad = snap({"--json", "inspect", "/nonexistent.zip"});
  CHECK(bad.exit_code == 6);
  auto err = nlohmann::json::parse(bad.out);
  CHECK(err["error"]["kind"] == "not_found");
  auto unsupported = snap({"--json", "list", "consul"});
  CHECK(unsupported.exit_code == 8);
  CHECK(nlohmann::json::parse(unsupported.out)["error"]["kind"] ==
        "unsupported");
}

TEST_CASE("save --keep keeps the newest archives of the same target",
          "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  write_file(dir.path() / "notes.zip", "not a snap archive");
  for (int i = 0; i < 3; ++i) {
    put_key(emu.url(), "counter", std::to_string(i));
    auto r = snap({"save", "consul", "--addr", emu.url(), "-o",
                   dir.path().string(), "--keep", "2"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  auto files = dir.list();
  CHECK(files.size() == 3); // two archives and the foreign file
  CHECK(std::find(files.begin(), files.end(), "notes.zip") != files.end());
}

TEST_CASE("save -o FILE writes exactly that file", "[e2e][consul]") {
  Emulator emu("consul");
  TempDir dir;
  auto target = dir.path() / "nightly.zip";
  auto r = snap({"save", "consul", "--addr", emu.url(), "-o", target.string(),
                 "--label", "env=test"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(dir.list() == std::vector<std::string>{"nightly.zip"});
  auto i = snap({"--json", "inspect", target.string()});
  CHECK(nlohmann::json::parse(i.out)["archives"][0]["labels"]["env"] == "test");
}

TEST_CASE("CONSUL_HTTP_ADDR is honoured and --addr wins over it",
          "[e2e][consul][options]") {
  Emulator emu("consul");
  auto r = snap({"status", "consul"},
                {.env = {{"CONSUL_HTTP_ADDR",
                          "127.0.0.1:" + std::to_string(emu.port())}}});
  CHECK(r.exit_code == 0);
  auto r2 = snap(
      {"--retries", "0", "status", "consul", "--addr", "http://127.0.0.1:1"},
      {.env = {{"CONSUL_HTTP_ADDR", emu.url()}}});
  CHECK(r2.exit_code == 4);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("a cluster with no keys saves and restores", "[e2e][consul]") {
  // Consul's snapshot of an empty store is its FSM header alone.
  Emulator emu("consul");
  TempDir dir;
  auto saved =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  auto restored =
      snap({"restore", "consul", (dir.path() / dir.list().at(0)).string(),
            "--addr", emu.url(), "--yes"});
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
}

} // namespace snap::test

namespace snap::test {

// Disaster recovery from a file of `consul snapshot save`: snap checks it,
// wraps it, gives it back byte for byte, and restores it directly.
TEST_CASE("consul: a native snapshot file is imported, exported byte for "
          "byte and restored directly",
          "[e2e][consul]") {
  Emulator emu("consul");
  REQUIRE(http("PUT", emu.url() + "/v1/kv/app/greeting", "hello") == "true");
  TempDir dir;
  // What `consul snapshot save` writes: the body of GET /v1/snapshot.
  std::string native = (dir.path() / "backup.snap").string();
  write_file(native, http("GET", emu.url() + "/v1/snapshot"));

  auto imported =
      snap({"--json", "import", "consul", native, "-o",
            (dir.path() / "imported.zip").string(), "--label", "from=agent"});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  auto doc = nlohmann::json::parse(imported.out);
  CHECK(doc["origin"] == "import");
  CHECK(doc["source"]["imported_from"] == "backup.snap");
  CHECK(doc["backup_id"] == doc["source"]["index"].dump());
  auto inspected = snap({"inspect", (dir.path() / "imported.zip").string()});
  CHECK(inspected.exit_code == 0);
  CHECK(inspected.out.find("import: snap wrapped a file") != std::string::npos);

  auto exported = snap({"export", (dir.path() / "imported.zip").string(), "-o",
                        (dir.path() / "again.snap").string()});
  INFO(exported.err);
  REQUIRE(exported.exit_code == 0);
  CHECK(read_file(dir.path() / "again.snap") == read_file(native));
  auto twice = snap({"export", (dir.path() / "imported.zip").string(), "-o",
                     (dir.path() / "again.snap").string()});
  CHECK(twice.exit_code == 2);

  // Restored straight from the .snap file: the KV comes back.
  http("DELETE", emu.url() + "/v1/kv/app/greeting");
  auto restored =
      snap({"restore", "consul", native, "--yes", "--addr", emu.url()});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(emu.received("PUT /v1/snapshot"));
  CHECK(http("GET", emu.url() + "/v1/kv/app/greeting?raw") == "hello");

  // A cut file is refused before anything reaches the cluster, and
  // nothing is written.
  std::string whole = read_file(native);
  std::string cut = (dir.path() / "cut.snap").string();
  write_file(cut, whole.substr(0, whole.size() / 2));
  std::size_t puts = 0;
  for (const auto& r : emu.requests()) {
    puts += r.rfind("PUT /v1/snapshot", 0) == 0;
  }
  auto refused = snap({"restore", "consul", cut, "--yes", "--addr", emu.url()});
  CHECK(refused.exit_code == 7);
  CHECK(refused.err.find("truncated") != std::string::npos);
  std::size_t after = 0;
  for (const auto& r : emu.requests()) {
    after += r.rfind("PUT /v1/snapshot", 0) == 0;
  }
  CHECK(after == puts);
  TempDir empty;
  auto not_imported =
      snap({"import", "consul", cut, "-o", empty.path().string()});
  CHECK(not_imported.exit_code == 7);
  CHECK(empty.list().empty());
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("consul inspect prints the record and KV tables consul snapshot "
          "inspect does",
          "[e2e][consul]") {
  Emulator emu("consul");
  put_key(emu.url(), "vault/logical/a/1", std::string(2000, 'x'));
  put_key(emu.url(), "vault/logical/b/2", "two");
  put_key(emu.url(), "app/config/limit", "42");
  TempDir dir;
  std::string archive = (dir.path() / "a.zip").string();
  REQUIRE(
      snap({"save", "consul", "--addr", emu.url(), "-o", archive}).exit_code ==
      0);

  auto r = snap({"inspect", archive, "--kvdetails"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // The catalog and ACL records every server has, and the keys.
  for (const char* row :
       {"Register     3", "KVS          3", "ACLToken     1", "ACLPolicy    1",
        "Autopilot    1", "Index        7", "vault/logical    2        2.1KB",
        "app/config       1"}) {
    CHECK(r.out.find(row) != std::string::npos);
  }
  auto deep =
      snap({"inspect", archive, "--kvdepth", "3", "--kvfilter", "vault/"});
  CHECK(deep.out.find("vault/logical/a    1") != std::string::npos);
  CHECK(deep.out.find("app/config") == std::string::npos);
  // Without reading the payload, the manifest's counts.
  auto quick = snap({"inspect", archive, "--no-verify", "--kvdetails"});
  CHECK(quick.out.find("the manifest, as counted at save time") !=
        std::string::npos);
  CHECK(quick.out.find("vault/logical    2") != std::string::npos);
  auto refused = snap({"inspect", archive, "--no-verify", "--kvdepth", "3"});
  CHECK(refused.exit_code == 2);

  // A second save after changes: diff names them from the manifests.
  put_key(emu.url(), "vault/logical/c/3", "three");
  REQUIRE(http("DELETE", emu.url() + "/v1/kv/app/config/limit") == "true");
  std::string second = (dir.path() / "b.zip").string();
  REQUIRE(
      snap({"save", "consul", "--addr", emu.url(), "-o", second}).exit_code ==
      0);
  auto d = snap({"--json", "diff", archive, second});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  auto doc = nlohmann::json::parse(d.out);
  CHECK(doc["identical"] == false);
  REQUIRE(doc["kv"]["removed"].size() == 1);
  CHECK(doc["kv"]["removed"][0]["name"] == "app/config");
  REQUIRE(doc["kv"]["changed"].size() == 1);
  CHECK(doc["kv"]["changed"][0]["old_count"] == 2);
  CHECK(doc["kv"]["changed"][0]["new_count"] == 2 + 1);
  CHECK(doc["entries"]["changed"].size() == 1);

  // The restore into Consul takes the catalog records in its stride.
  auto back =
      snap({"restore", "consul", archive, "--addr", emu.url(), "--yes"});
  CHECK(back.exit_code == 0);
  CHECK(http("GET", emu.url() + "/v1/kv/app/config/limit?raw") == "42");
}

TEST_CASE("diff refuses archives of two adapters", "[e2e][consul]") {
  Emulator emu("consul");
  Emulator cfy("cloudify", {"--job-ms", "20"});
  TempDir dir;
  std::string a = (dir.path() / "a.zip").string();
  std::string b = (dir.path() / "b.zip").string();
  REQUIRE(snap({"save", "consul", "--addr", emu.url(), "-o", a}).exit_code ==
          0);
  REQUIRE(snap({"save", "cloudify", "--addr", cfy.url(), "-o", b}).exit_code ==
          0);
  auto r = snap({"diff", a, b});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("is a consul archive and") != std::string::npos);
}

} // namespace snap::test
