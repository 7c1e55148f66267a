// SPDX-License-Identifier: MIT
// Flux end to end: the built snap against snap-emulator flux, whose app data
// lives in a directory the test reads and changes directly.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include <archive.h>
#include <archive_entry.h>

#include "tests/adapters/suite.hpp"
#include "tests/support/archive_edit.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

// The app's files, as "component/path=content" lines.
std::string app_files(const fs::path& apps) {
  std::string out;
  std::vector<std::string> lines;
  for (std::string comp : {"web", "db"}) {
    fs::path data = apps / ("flux" + comp + "_myapp") / "appdata";
    if (!fs::exists(data)) {
      continue;
    }
    for (const auto& f : fs::recursive_directory_iterator(data)) {
      if (f.is_regular_file()) {
        lines.push_back(comp + "/" + fs::relative(f.path(), data).string() +
                        "=" + read_file(f.path()));
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) {
    out += l + "\n";
  }
  return out;
}

struct FluxWorld {
  std::shared_ptr<TempDir> apps = std::make_shared<TempDir>();
  fs::path data(const std::string& comp) const {
    return apps->path() / ("flux" + comp + "_myapp") / "appdata";
  }
};

AdapterFixture flux_fixture(const FluxWorld& w) {
  AdapterFixture f;
  f.adapter = "flux";
  f.token_flag_env = "SNAP_FLUX_AUTH";
  f.target_flags = {"--app", "myapp"};
  f.emulator_flags = [w] {
    return std::vector<std::string>{"--data-dir", w.apps->path().string()};
  };
  f.seed = [w](const std::string&) {
    fs::create_directories(w.data("web") / "uploads");
    write_file(w.data("web") / "uploads" / "logo.png", "\x89PNG fake");
    write_file(w.data("db") / "data.txt", "rows: 42\n");
  };
  f.state = [w](const std::string&) { return app_files(w.apps->path()); };
  f.mutate = [w](const std::string&) {
    write_file(w.data("db") / "data.txt", "rows: 0 (dropped by accident)\n");
    fs::remove_all(w.data("web") / "uploads");
    write_file(w.data("web") / "stray.tmp", "junk");
  };
  return f;
}

} // namespace

AdapterFixture conformance_flux() { return flux_fixture(FluxWorld{}); }

TEST_CASE("flux passes the adapter conformance suite", "[e2e][flux][suite]") {
  run_conformance(*conformance_fixture("flux"));
}

TEST_CASE("flux save records app, components and each tar.gz", "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  TempDir dir;
  auto r = snap({"--json", "save", "flux", "--addr", emu.url(), "--app",
                 "myapp", "-o", dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["backup_id"] == "myapp");
  CHECK(doc["source"]["app"] == "myapp");
  CHECK(doc["source"]["components"].size() == 2);
  CHECK(doc["source"]["components"][0]["entries"].get<int>() >= 2);
  CHECK(doc["target"]["version"] == "8.17.0");
  auto listing =
      run({"/usr/bin/unzip", "-l", doc["archive"].get<std::string>()});
  CHECK(listing.out.find("payload/web.tar.gz") != std::string::npos);
  CHECK(listing.out.find("payload/db.tar.gz") != std::string::npos);
}

TEST_CASE("an error line in the task stream exits 1 and writes nothing",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu(
      "flux", {"--data-dir", w.apps->path().string(), "--fail-task", "backup"});
  TempDir dir;
  auto r = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                 dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("Error: Failed to create backup archive for web") !=
        std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("a second concurrent backup gets the node's in-progress answer",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string(),
                        "--line-delay-ms", "400"});
  TempDir dir;
  std::string first =
      "curl -s -X POST -H 'Content-Type: application/json' --data "
      "'{\"appname\":\"myapp\",\"backup\":[{\"component\":\"web\","
      "\"backup\":true}]}' " +
      emu.url() + "/apps/appendbackuptask > /dev/null";
  auto r = run({"/bin/sh", "-c",
                first + " & sleep 0.3; " + std::string(SNAP_BIN) +
                    " save flux --addr " + emu.url() + " --app myapp -o " +
                    dir.path().string() + "; code=$?; wait; exit $code"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("Backup in progress...") != std::string::npos);
  CHECK(r.err.find("another task for this app is running") !=
        std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("a corrupt flux archive is refused before any request",
          "[e2e][flux][verify]") {
  FluxWorld w;
  TempDir dir;
  std::string archive;
  {
    Emulator emu("flux", {"--data-dir", w.apps->path().string()});
    auto r = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                   dir.path().string()});
    REQUIRE(r.exit_code == 0);
    archive = (dir.path() / dir.list().at(0)).string();
  }
  std::string bytes = read_file(archive);
  auto at = bytes.find("\x1f\x8b\x08");
  REQUIRE(at != std::string::npos);
  bytes[at + 30] = static_cast<char>(bytes[at + 30] ^ 0x20);
  write_file(archive, bytes);
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  auto before = app_files(w.apps->path());
  auto r = snap({"restore", "flux", archive, "--addr", emu.url(), "--yes"});
  CHECK(r.exit_code == 7);
  CHECK(emu.requests().empty());
  CHECK(app_files(w.apps->path()) == before);
}

TEST_CASE("flux upload, list, delete and --node", "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  TempDir dir;
  auto saved = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp",
                     "--component", "web", "--node",
                     "127.0.0.1:" + std::to_string(emu.port()), "-o",
                     dir.path().string()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  auto archive = (dir.path() / dir.list().at(0)).string();
  auto up = snap({"upload", "flux", archive, "--addr", emu.url()});
  INFO(up.err);
  CHECK(up.exit_code == 0);
  CHECK(fs::exists(w.apps->path() / "fluxweb_myapp" / "backup" / "upload" /
                   "backup_web.tar.gz"));
  auto listed =
      snap({"--json", "list", "flux", "--addr", emu.url(), "--app", "myapp"});
  REQUIRE(listed.exit_code == 0);
  auto rows = nlohmann::json::parse(listed.out)["backups"];
  CHECK(rows.size() == 2); // web: local and upload
  CHECK(snap({"delete", "flux", "web", "--addr", emu.url(), "--app", "myapp",
              "--yes"})
            .exit_code == 0);
  CHECK_FALSE(fs::exists(w.apps->path() / "fluxweb_myapp" / "backup" / "local" /
                         "backup_web.tar.gz"));
  auto wrong = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp",
                     "--node", "10.9.9.9", "-o", dir.path().string()});
  CHECK(wrong.exit_code == 6);
  auto no_app = snap({"save", "flux", "--addr", emu.url()});
  CHECK(no_app.exit_code == 2);
  auto two = snap({"--json", "save", "flux", "--addr", emu.url(), "--app",
                   "myapp", "--component", "web", "--component", "db", "-o",
                   dir.path().string()});
  REQUIRE(two.exit_code == 0);
  CHECK(nlohmann::json::parse(two.out)["source"]["components"].size() == 2);
}

TEST_CASE("flux --node sends the login given for --addr to the node",
          "[e2e][flux]") {
  FluxWorld w;
  const std::string login =
      R"({"zelid":"1Z","signature":"c2ln","loginPhrase":"1"})";
  Emulator emu("flux", {"--data-dir", w.apps->path().string(),
                        "--require-token", login});
  TempDir dir;
  write_file(dir.path() / "auth.json", login);
  std::vector<std::string> args = {
      "save",        "flux",
      "--addr",      emu.url(),
      "--app",       "myapp",
      "--component", "web",
      "--node",      "127.0.0.1:" + std::to_string(emu.port()),
      "-o",          (dir.path() / "out").string()};
  auto refused = snap(args);
  CHECK(refused.exit_code == 5);
  args.insert(args.end(), {"--auth-file", (dir.path() / "auth.json").string()});
  auto saved = snap(args);
  INFO(saved.err);
  CHECK(saved.exit_code == 0);
}

} // namespace snap::test

namespace snap::test {
namespace {

struct Member {
  std::string name;
  unsigned type = AE_IFREG;
  std::string data; // a file's bytes
  std::string link; // a symbolic or hard link's target
  bool hard = false;
};

// A tar.gz of `members`, written with libarchive as any tar could be.
std::string tar_gz(const std::vector<Member>& members) {
  std::vector<char> buf(1 << 20);
  std::size_t used = 0;
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_memory(a, buf.data(), buf.size(), &used) ==
          ARCHIVE_OK);
  for (const auto& m : members) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_filetype(e, m.type);
    archive_entry_set_perm(e, 0644);
    if (m.hard) {
      archive_entry_set_hardlink(e, m.link.c_str());
    } else if (m.type == AE_IFLNK) {
      archive_entry_set_symlink(e, m.link.c_str());
    }
    if (m.type == AE_IFCHR) {
      archive_entry_set_rdev(e, 0x0101);
    }
    archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!m.data.empty()) {
      archive_write_data(a, m.data.data(), m.data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

} // namespace

TEST_CASE("a component tar.gz whose members escape is refused before any "
          "request",
          "[e2e][flux][hostile]") {
  FluxWorld w;
  flux_fixture(w).seed("");
  TempDir dir;
  std::string archive;
  {
    Emulator emu("flux", {"--data-dir", w.apps->path().string()});
    auto r = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                   dir.path().string()});
    REQUIRE(r.exit_code == 0);
    archive = (dir.path() / dir.list().at(0)).string();
  }
  Member ok{"index.html", AE_IFREG, "<html>"};
  std::vector<std::pair<Member, std::string>> cases = {
      {{"../outside.txt", AE_IFREG, "x"}, "leaves the folder"},
      {{"a/../../outside.txt", AE_IFREG, "x"}, "leaves the folder"},
      {{"/etc/cron.d/evil", AE_IFREG, "x"}, "an absolute name"},
      {{"etc", AE_IFLNK, "", "/etc"}, "a symbolic link"},
      {{"passwd", AE_IFREG, "", "/etc/passwd", true}, "a hard link"},
      {{"null", AE_IFCHR}, "a device node"},
      {{"pipe", AE_IFIFO}, "a FIFO or socket"},
  };
  for (const auto& [bad, says] : cases) {
    ArchiveParts parts = unpack(archive);
    parts.files["payload/web.tar.gz"] = tar_gz({ok, bad});
    reseal(parts, parts.manifest());
    fs::path crafted = dir.path() / "crafted.zip";
    pack(parts, crafted);
    Emulator emu("flux", {"--data-dir", w.apps->path().string()});
    auto before = app_files(w.apps->path());
    auto r = snap(
        {"restore", "flux", crafted.string(), "--addr", emu.url(), "--yes"});
    INFO(bad.name << ": " << r.err);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find(says) != std::string::npos);
    CHECK(r.err.find("snap does not restore it") != std::string::npos);
    CHECK(emu.requests().empty());
    CHECK(app_files(w.apps->path()) == before);
  }
  // The same archive with only plain files restores.
  ArchiveParts parts = unpack(archive);
  parts.files["payload/web.tar.gz"] =
      tar_gz({{"uploads", AE_IFDIR}, {"uploads/logo.png", AE_IFREG, "png"}});
  reseal(parts, parts.manifest());
  fs::path clean = dir.path() / "clean.zip";
  pack(parts, clean);
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  auto r =
      snap({"restore", "flux", clean.string(), "--addr", emu.url(), "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(read_file(w.data("web") / "uploads" / "logo.png") == "png");
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("the ids list prints are the ids download and delete take",
          "[e2e][flux][target-truth]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  flux_fixture(w).seed("");
  TempDir dir;
  auto saved = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp",
                     "-o", dir.path().string()});
  REQUIRE(saved.exit_code == 0);
  auto archive = (dir.path() / dir.list().at(0)).string();
  REQUIRE(snap({"upload", "flux", archive, "--addr", emu.url()}).exit_code ==
          0);
  auto listed =
      snap({"--json", "list", "flux", "--addr", emu.url(), "--app", "myapp"});
  REQUIRE(listed.exit_code == 0);
  auto rows = nlohmann::json::parse(listed.out)["backups"];
  REQUIRE(rows.size() == 4); // web and db, each local and upload
  for (const auto& row : rows) {
    std::string id = row["id"];
    INFO(id);
    std::string parts = row["component"].get<std::string>() + "/" +
                        row["folder"].get<std::string>() + "/" +
                        row["name"].get<std::string>();
    CHECK(id == parts);
    TempDir out;
    auto got = snap({"--json", "download", "flux", id, "--addr", emu.url(),
                     "--app", "myapp", "-o", out.path().string()});
    INFO(got.err);
    REQUIRE(got.exit_code == 0);
    auto doc = nlohmann::json::parse(got.out);
    CHECK(doc["source"]["components"][0]["id"] == id);
    CHECK(snap({"inspect", doc["archive"].get<std::string>()}).exit_code == 0);
    auto gone = snap(
        {"delete", "flux", id, "--addr", emu.url(), "--app", "myapp", "--yes"});
    CHECK(gone.exit_code == 0);
  }
  auto after =
      snap({"--json", "list", "flux", "--addr", emu.url(), "--app", "myapp"});
  CHECK(nlohmann::json::parse(after.out)["backups"].empty());
  auto bad = snap({"download", "flux", "web/elsewhere/x", "--addr", emu.url(),
                   "--app", "myapp"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("is not a backup id") != std::string::npos);
  auto no_app = snap({"download", "flux", "web", "--addr", emu.url()});
  CHECK(no_app.exit_code == 2);
}

TEST_CASE("a backup the node already holds is restored through download "
          "and verified like any archive",
          "[e2e][flux][target-truth]") {
  // The node's UI restores from its own local backup; snap does that as
  // download (which packs and checks the node's tar.gz) then restore, so
  // nothing reaches the app's data that snap has not verified.
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  AdapterFixture f = flux_fixture(w);
  f.seed("");
  auto before = f.state("");
  TempDir dir;
  REQUIRE(snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                dir.path().string()})
              .exit_code == 0);
  f.mutate("");
  REQUIRE(f.state("") != before);
  TempDir out;
  auto got = snap({"--json", "download", "flux", "web,db", "--addr", emu.url(),
                   "--app", "myapp", "-o", out.path().string()});
  INFO(got.err);
  REQUIRE(got.exit_code == 0);
  std::string archive =
      nlohmann::json::parse(got.out)["archive"].get<std::string>();
  auto restored = snap({"restore", "flux", archive, "--addr", emu.url(),
                        "--app", "myapp", "--yes"});
  INFO(restored.err);
  CHECK(restored.exit_code == 0);
  CHECK(f.state("") == before);
}

TEST_CASE("restore honours --app, and refuses an app without the archive's "
          "components before any change",
          "[e2e][flux][target-truth]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string(), "--app",
                        "myapp:web,db", "--app", "otherapp:web,db"});
  flux_fixture(w).seed("");
  TempDir dir;
  auto saved = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp",
                     "-o", dir.path().string()});
  REQUIRE(saved.exit_code == 0);
  auto archive = (dir.path() / dir.list().at(0)).string();
  auto r = snap({"restore", "flux", archive, "--addr", emu.url(), "--app",
                 "otherapp", "--yes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("into app otherapp (--app)") != std::string::npos);
  CHECK(read_file(w.apps->path() / "fluxdb_otherapp" / "appdata" /
                  "data.txt") == "rows: 42\n");
  auto unknown = snap({"restore", "flux", archive, "--addr", emu.url(), "--app",
                       "nosuchapp", "--yes"});
  CHECK(unknown.exit_code == 6);
  for (const auto& req : emu.requests()) {
    bool changed =
        req.find("nosuchapp") != std::string::npos && !req.starts_with("GET ");
    CHECK_FALSE(changed);
  }
}

} // namespace snap::test

namespace snap::test {
namespace {

// The private key 1 (bitcoinjs-message's signing fixture) in WIF, and the
// address FluxOS knows its compressed public key by; the same key
// uncompressed is another Flux ID.
constexpr const char* k_key_wif =
    "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn";
constexpr const char* k_key_zelid = "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH";
constexpr const char* k_uncompressed_wif =
    "5HpHagT65TZzG1PH3CSu63k8DbpvD8s5ip4nEB3kEsreAnchuDf";

std::string key_file(const TempDir& dir, const char* wif,
                     const char* name = "flux.wif") {
  fs::path p = dir.path() / name;
  write_file(p, std::string(wif) + "\n");
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  return p.string();
}

long count_of(const Emulator& emu, std::string_view prefix) {
  auto reqs = emu.requests();
  return std::count_if(reqs.begin(), reqs.end(), [&](const std::string& r) {
    return r.starts_with(prefix);
  });
}

} // namespace

TEST_CASE("flux signs in with --key-file as FluxOS checks the signature",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux",
               {"--data-dir", w.apps->path().string(), "--owner", k_key_zelid});
  TempDir dir;
  std::vector<std::string> args = {
      "-v",     "save",    "flux",
      "--addr", emu.url(), "--app",
      "myapp",  "-o",      (dir.path() / "out").string()};
  auto anonymous = snap(args);
  CHECK(anonymous.exit_code == 5);
  CHECK(!emu.received("GET /id/loginphrase"));

  auto other = args;
  other.insert(other.end(),
               {"--key-file", key_file(dir, k_uncompressed_wif, "u.wif")});
  auto refused = snap(other);
  CHECK(refused.exit_code == 5);
  // It signed in (any Flux ID may), but is not the app's owner.
  CHECK(refused.err.find("Flux ID 1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm from "
                         "--key-file must own the app") != std::string::npos);

  args.insert(args.end(), {"--key-file", key_file(dir, k_key_wif)});
  auto saved = snap(args);
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.err.find(std::string("as Flux ID ") + k_key_zelid +
                       " (user), for 336 h") != std::string::npos);
  CHECK(count_of(emu, "POST /id/verifylogin") == 2);
  // Neither the key nor the signed login reaches the output.
  CHECK(saved.err.find(k_key_wif) == std::string::npos);
  CHECK(saved.err.find("signature") == std::string::npos);
  CHECK(fs::exists(dir.path() / "out"));
}

TEST_CASE("a flux login is renewed before it runs out", "[e2e][flux]") {
  FluxWorld w;
  // Logins last 2 s here (14 days on a node); the task's lines take longer.
  Emulator emu("flux",
               {"--data-dir", w.apps->path().string(), "--owner", k_key_zelid,
                "--session-ttl-s", "2", "--line-delay-ms", "500"});
  TempDir dir;
  auto r =
      snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "--key-file",
            key_file(dir, k_key_wif), "-o", (dir.path() / "out").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(count_of(emu, "POST /id/verifylogin") >= 2);
}

TEST_CASE("a node that gives no login phrase still takes the owner's own",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string(), "--owner",
                        k_key_zelid, "--unhealthy"});
  TempDir dir;
  auto r =
      snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "--key-file",
            key_file(dir, k_key_wif), "-o", (dir.path() / "out").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("gave no login phrase (Unable to check DOS state)") !=
        std::string::npos);
  CHECK(!emu.received("POST /id/verifylogin"));
}

TEST_CASE("a flux key file others can read or that holds no key is refused",
          "[e2e][flux]") {
  TempDir dir;
  std::string key = key_file(dir, k_key_wif);
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  auto open = snap({"list", "flux", "--addr", "http://127.0.0.1:9", "--app",
                    "myapp", "--key-file", key});
  CHECK(open.exit_code == 2);
  CHECK(open.err.find("can be read by others (mode 640); run chmod 600") !=
        std::string::npos);
  auto junk = snap(
      {"list", "flux", "--addr", "http://127.0.0.1:9", "--app", "myapp",
       "--key-file",
       key_file(dir, "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWm",
                "typo.wif")});
  CHECK(junk.exit_code == 2);
  CHECK(junk.err.find("does not hold a Flux ID private key") !=
        std::string::npos);
  CHECK(junk.err.find("KwDiBf89") == std::string::npos);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("a failed flux backup leaves the app stopped: snap starts it again",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu(
      "flux", {"--data-dir", w.apps->path().string(), "--fail-task", "backup"});
  TempDir dir;
  auto r = snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                 dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("the node had stopped myapp for the task and left it "
                   "stopped: snap started it again") != std::string::npos);
  CHECK(emu.received("GET /apps/appstart/myapp"));
  auto running =
      nlohmann::json::parse(http("GET", emu.url() + "/apps/listrunningapps"));
  CHECK(running["data"].dump().find("/fluxweb_myapp") != std::string::npos);
  CHECK(dir.list().empty());
}

TEST_CASE("a failed flux restore takes its uploads back off the node",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string(), "--fail-task",
                        "restore"});
  TempDir dir;
  std::string archive = (dir.path() / "a.zip").string();
  REQUIRE(snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                archive})
              .exit_code == 0);
  auto r = snap({"restore", "flux", archive, "--addr", emu.url(), "--yes"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("snap started it again; snap removed its uploads from the "
                   "node") != std::string::npos);
  for (std::string comp : {"web", "db"}) {
    CHECK(!fs::exists(w.apps->path() / ("flux" + comp + "_myapp") / "backup" /
                      "upload" / ("backup_" + comp + ".tar.gz")));
  }
}

TEST_CASE("flux restore --component sends only those and --node picks the "
          "node",
          "[e2e][flux]") {
  FluxWorld w;
  Emulator emu("flux", {"--data-dir", w.apps->path().string()});
  TempDir dir;
  std::string archive = (dir.path() / "a.zip").string();
  write_file(w.data("web") / "page.html", "v1");
  write_file(w.data("db") / "rows", "v1");
  REQUIRE(snap({"save", "flux", "--addr", emu.url(), "--app", "myapp", "-o",
                archive})
              .exit_code == 0);
  write_file(w.data("web") / "page.html", "v2");
  write_file(w.data("db") / "rows", "v2");

  auto unknown = snap({"restore", "flux", archive, "--addr", emu.url(),
                       "--component", "cache", "--yes"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("holds no such component (it holds: ") !=
        std::string::npos);

  std::string node = "127.0.0.1:" + std::to_string(emu.port());
  auto plan = snap({"restore", "flux", archive, "--addr", emu.url(),
                    "--component", "db", "--node", node, "--dry-run"});
  CHECK(plan.out.find("on node http://" + node) != std::string::npos);
  CHECK(plan.out.find("payload/web.tar.gz") == std::string::npos);

  auto r = snap({"restore", "flux", archive, "--addr", emu.url(), "--component",
                 "db", "--node", node, "--yes"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(w.data("db") / "rows") == "v1");
  CHECK(read_file(w.data("web") / "page.html") == "v2");
  CHECK(emu.received("GET /apps/location/myapp"));
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("flux save --all-nodes keeps every node's backups in one archive "
          "and restore picks one node's",
          "[e2e][flux]") {
  FluxWorld wa, wb, wc;
  for (auto* w : {&wa, &wb}) {
    fs::create_directories(w->data("db"));
    fs::create_directories(w->data("web"));
  }
  write_file(wa.data("db") / "rows", "from A");
  write_file(wb.data("db") / "rows", "from B");
  Emulator b("flux", {"--data-dir", wb.apps->path().string()});
  std::string b_ip = "127.0.0.1:" + std::to_string(b.port());
  Emulator a("flux", {"--data-dir", wa.apps->path().string(), "--peer", b_ip});
  std::string a_ip = "127.0.0.1:" + std::to_string(a.port());
  TempDir dir;
  std::string archive = (dir.path() / "all.zip").string();
  auto saved = snap({"--json", "save", "flux", "--addr", a.url(), "--app",
                     "myapp", "--all-nodes", "-o", archive});
  INFO(saved.out << saved.err);
  REQUIRE(saved.exit_code == 0);
  auto nodes = nlohmann::json::parse(saved.out)["source"]["nodes"];
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0]["ip"] == a_ip);
  CHECK(nodes[1]["ip"] == b_ip);
  // Both nodes ran the backup task; each node's files are in the archive.
  CHECK(a.received("POST /apps/appendbackuptask"));
  CHECK(b.received("POST /apps/appendbackuptask"));
  auto listing = run({"/usr/bin/unzip", "-l", archive});
  for (const auto& ip : {a_ip, b_ip}) {
    std::string label = ip;
    std::replace(label.begin(), label.end(), ':', '_');
    CHECK(listing.out.find("payload/nodes/" + label + "/db.tar.gz") !=
          std::string::npos);
  }
  CHECK(snap({"inspect", archive}).exit_code == 0);

  write_file(wa.data("db") / "rows", "v2");
  write_file(wb.data("db") / "rows", "v2");
  // Into a node of the archive: that node's own backups.
  auto own = snap({"restore", "flux", archive, "--addr", b.url(), "--yes"});
  INFO(own.err);
  REQUIRE(own.exit_code == 0);
  CHECK(read_file(wb.data("db") / "rows") == "from B");
  CHECK(read_file(wa.data("db") / "rows") == "v2");
  // --from-node gives another node's.
  auto other = snap({"restore", "flux", archive, "--addr", a.url(),
                     "--from-node", b_ip, "--yes"});
  INFO(other.err);
  REQUIRE(other.exit_code == 0);
  CHECK(read_file(wa.data("db") / "rows") == "from B");

  // A node the archive does not hold needs --from-node; nothing is sent.
  Emulator c("flux", {"--data-dir", wc.apps->path().string()});
  auto none = snap({"restore", "flux", archive, "--addr", c.url(), "--yes"});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("pick whose to restore with --from-node IP") !=
        std::string::npos);
  CHECK_FALSE(c.received("POST /ioutils/fileupload"));
  auto unknown = snap({"restore", "flux", archive, "--addr", c.url(),
                       "--from-node", "10.0.0.9", "--yes"});
  CHECK(unknown.exit_code == 2);
  CHECK(snap({"save", "flux", "--addr", a.url(), "--app", "myapp",
              "--all-nodes", "--node", a_ip, "-o", dir.path().string()})
            .exit_code == 2);
}

TEST_CASE("flux save --all-nodes leaves out a node whose backup fails, with "
          "exit 3",
          "[e2e][flux]") {
  FluxWorld wa, wb;
  Emulator b("flux",
             {"--data-dir", wb.apps->path().string(), "--fail-task", "backup"});
  std::string b_ip = "127.0.0.1:" + std::to_string(b.port());
  Emulator a("flux", {"--data-dir", wa.apps->path().string(), "--peer", b_ip});
  TempDir dir;
  std::string archive = (dir.path() / "all.zip").string();
  auto saved = snap({"--json", "save", "flux", "--addr", a.url(), "--app",
                     "myapp", "--all-nodes", "-o", archive});
  INFO(saved.out << saved.err);
  CHECK(saved.exit_code == 3);
  REQUIRE(fs::exists(archive));
  auto doc = nlohmann::json::parse(saved.out);
  CHECK(doc["source"]["nodes"].size() == 1);
  CHECK(doc["error"]["message"].get<std::string>().find(
            "the backup failed on 1 of 2 nodes (" + b_ip) != std::string::npos);
  CHECK(snap({"inspect", archive}).exit_code == 0);
}

} // namespace snap::test

namespace snap::test {

// A remote restore (FluxOS's "restore from URL"): the component files sit on
// a plain file server, and the node downloads them itself. FluxOS refuses
// URLs of private addresses, so the node here counts 127.0.0.1 as public
// (--public-address), as a real file server's address would be.
struct RemoteRestore {
  AdapterFixture f;
  TempDir dir;
  std::string archive = (dir.path() / "a.zip").string();
  std::string before;
  std::vector<std::string> files; // --answer PATH=FILE for each component

  RemoteRestore(const FluxWorld& w, const Emulator& node) : f(flux_fixture(w)) {
    f.seed("");
    before = f.state("");
    REQUIRE(snap({"save", "flux", "--addr", node.url(), "--app", "myapp", "-o",
                  archive})
                .exit_code == 0);
    for (std::string comp : {"web", "db"}) {
      auto bytes =
          run({"/usr/bin/unzip", "-p", archive, "payload/" + comp + ".tar.gz"});
      fs::path file = dir.path() / ("backup_" + comp + ".tar.gz");
      write_file(file, bytes.out);
      files.push_back("--answer");
      files.push_back("/files/backup_" + comp + ".tar.gz=" + file.string());
    }
    f.mutate("");
    REQUIRE(f.state("") != before);
    saved_at = node.requests().size();
  }
  std::size_t saved_at = 0; // the node's requests until the save was made
  // --from-url for both components; web's URL carries a signature (and a
  // comma), db's is read from a file.
  std::vector<std::string> restore(const Emulator& node, const Emulator& server,
                                   std::string web = "backup_web") const {
    fs::path db_url = dir.path() / "db.url";
    write_file(db_url, server.url() + "/files/backup_db.tar.gz\n");
    return {"restore",
            "flux",
            archive,
            "--addr",
            node.url(),
            "--from-url",
            "web=" + server.url() + "/files/" + web +
                ".tar.gz?X-Amz-Signature=sekrit&part=1,2",
            "--from-url",
            "db=@" + db_url.string(),
            "--yes"};
  }
};

// Whether the node received a request that changes something after the
// first `since`.
bool changed_anything(const Emulator& node, std::size_t since) {
  auto reqs = node.requests();
  for (std::size_t i = since; i < reqs.size(); ++i) {
    const std::string& r = reqs[i];
    if (!r.starts_with("GET ") || r.starts_with("GET /apps/appstart") ||
        r.starts_with("GET /backup/removebackupfile")) {
      return true;
    }
  }
  return false;
}

TEST_CASE("flux restore --from-url has the node fetch files snap checked "
          "first",
          "[e2e][flux][target-truth]") {
  FluxWorld w;
  Emulator node("flux", {"--data-dir", w.apps->path().string(),
                         "--public-address", "127.0.0.1"});
  RemoteRestore rr(w, node);
  Emulator server("consul", rr.files);

  auto args = rr.restore(node, server);
  args.back() = "--dry-run";
  auto dry = snap(args);
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("\"type\":\"remote\"") != std::string::npos);
  CHECK(dry.out.find("sekrit") == std::string::npos);
  auto plan = snap(rr.restore(node, server));
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(rr.f.state("") == rr.before);
  CHECK(plan.err.find("sekrit") == std::string::npos);
  CHECK(plan.out.find("sekrit") == std::string::npos);
  // The node fetched the files: nothing was uploaded, its size check came
  // first, and snap itself read each URL before the node did.
  CHECK_FALSE(node.received("POST /ioutils/fileupload"));
  CHECK(node.received("GET /backup/getremotefilesize/"));
  auto got = server.requests();
  auto web = std::count_if(got.begin(), got.end(), [](const std::string& r) {
    return r.starts_with("GET /files/backup_web.tar.gz");
  });
  CHECK(web == 2); // snap's check, then the node's download
  long head = first_starting(got, "HEAD /files/backup_web.tar.gz");
  REQUIRE(head < static_cast<long>(got.size()));
  CHECK(first_starting(got, "GET /files/backup_web.tar.gz") < head);
  CHECK(std::count_if(got.begin() + head, got.end(), [](const auto& r) {
          return r.starts_with("GET /files/backup_web.tar.gz");
        }) == 1);
}

TEST_CASE("flux restore --from-url refuses before any change what the node "
          "could not restore",
          "[e2e][flux][target-truth]") {
  FluxWorld w;
  Emulator strict("flux", {"--data-dir", w.apps->path().string()});
  RemoteRestore rr(w, strict);
  Emulator server("consul", rr.files);

  SECTION("a node that may not fetch a private address") {
    auto r = snap(rr.restore(strict, server));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("the node cannot fetch") != std::string::npos);
    CHECK(r.err.find("Error fetching file size") != std::string::npos);
    CHECK(r.err.find("sekrit") == std::string::npos);
  }
  SECTION("a URL that serves other bytes than the archive's") {
    auto r = snap(rr.restore(strict, server, "backup_db"));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("not the archive's payload/web.tar.gz") !=
          std::string::npos);
  }
  SECTION("a URL for one component of two") {
    auto args = rr.restore(strict, server);
    args.erase(args.begin() + 7, args.begin() + 9);
    auto r = snap(args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no URL for component db") != std::string::npos);
  }
  CHECK_FALSE(changed_anything(strict, rr.saved_at));
  CHECK(rr.f.state("") != rr.before);
}

TEST_CASE("a node that cannot download after wiping the data gets the "
          "archive's copy uploaded",
          "[e2e][flux][target-truth]") {
  // FluxOS v8.17.0 wipes every component's data before it downloads
  // (appendRestoreTask), so a download that fails leaves the app stopped
  // and empty; snap then restores the verified archive's own copy.
  FluxWorld w;
  Emulator node("flux", {"--data-dir", w.apps->path().string(),
                         "--public-address", "127.0.0.1"});
  RemoteRestore rr(w, node);
  // snap's and the node's checks of both files pass; the node's 4 tries
  // of the first download fail.
  auto flags = rr.files;
  flags.insert(flags.end(),
               {"--status-sequence", "200,200,200,200,500,500,500,500"});
  Emulator server("consul", flags);
  auto r = snap(rr.restore(node, server));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("Error: Failed to download") != std::string::npos);
  CHECK(r.err.find("uploading the archive's copy") != std::string::npos);
  CHECK(r.err.find("sekrit") == std::string::npos);
  CHECK(node.received("POST /ioutils/fileupload/backup/myapp/web"));
  CHECK(rr.f.state("") == rr.before);
}

} // namespace snap::test
