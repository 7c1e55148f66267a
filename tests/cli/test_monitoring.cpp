// SPDX-License-Identifier: MIT
// What monitoring reads after an unattended run: the Prometheus textfile
// (--metrics-file, or a profile's "metrics_file") and healthchecks-style
// pings (--notify-url).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

// The textfile's samples as "name{labels}" -> value, after checking that
// every sample's metric has one HELP and one TYPE gauge line before it.
std::map<std::string, double> parse_textfile(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, int> help, type;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    if (line.starts_with("# HELP ")) {
      help[line.substr(7, line.find(' ', 7) - 7)]++;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(line.ends_with(" gauge"));
      type[name]++;
      continue;
    }
    auto brace = line.find('{');
    auto space = line.rfind(' ');
    REQUIRE(brace != std::string::npos);
    REQUIRE(space != std::string::npos);
    std::string name = line.substr(0, brace);
    CHECK(help[name] == 1);
    CHECK(type[name] == 1);
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

const char* k_check = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278";

nlohmann::json pings(const Emulator& hc) {
  return nlohmann::json::parse(
      http("GET", hc.url() + "/api/v3/checks/" + k_check + "/pings/", "",
           {{"X-Api-Key", "read-key"}}))["pings"];
}

} // namespace

TEST_CASE(
    "metrics file: --metrics-file records each run's result for node_exporter",
    "[cli][monitoring]") {
  Emulator consul("consul");
  TempDir dir;
  http("PUT", consul.url() + "/v1/kv/a", "1");
  auto metrics = (dir.path() / "snap.prom").string();
  fs::create_directory(dir.path() / "out");
  fs::create_directory(dir.path() / "other");
  auto before = std::time(nullptr);
  auto ok = snap({"--metrics-file", metrics, "save", "consul", "--addr",
                  consul.url(), "-o", (dir.path() / "out/").string()});
  REQUIRE(ok.exit_code == 0);
  auto text = read_file(metrics);
  INFO(text);
  auto s = parse_textfile(text);
  std::string labels =
      "{verb=\"save\",adapter=\"consul\",target=\"" + consul.url() + "\"}";
  REQUIRE(s.contains("snap_last_success_timestamp_seconds" + labels));
  double success = s["snap_last_success_timestamp_seconds" + labels];
  CHECK(success >= static_cast<double>(before));
  CHECK(s["snap_last_attempt_timestamp_seconds" + labels] == success);
  CHECK(s["snap_last_exit_code" + labels] == 0);
  CHECK(s["snap_last_duration_seconds" + labels] >= 0);
  std::vector<fs::path> archives;
  for (const auto& e : fs::directory_iterator(dir.path() / "out")) {
    archives.push_back(e.path());
  }
  REQUIRE(archives.size() == 1);
  CHECK(s["snap_last_archive_bytes" + labels] ==
        static_cast<double>(fs::file_size(archives[0])));

  // A failed run of the same target: its result and attempt change, its
  // last success stays; another target's series is added beside it.
  consul.stop();
  auto failed =
      snap({"--metrics-file", metrics, "--retries", "0", "save", "consul",
            "--addr", consul.url(), "-o", (dir.path() / "out/").string()});
  CHECK(failed.exit_code == 4);
  auto after = parse_textfile(read_file(metrics));
  CHECK(after["snap_last_exit_code" + labels] == 4);
  CHECK(after["snap_last_success_timestamp_seconds" + labels] == success);
  CHECK(after["snap_last_attempt_timestamp_seconds" + labels] >= success);
  Emulator other("consul");
  REQUIRE(snap({"--metrics-file", metrics, "save", "consul", "--addr",
                other.url(), "-o", (dir.path() / "other/").string()})
              .exit_code == 0);
  auto both = parse_textfile(read_file(metrics));
  CHECK(both["snap_last_exit_code" + labels] == 4);
  CHECK(both["snap_last_exit_code{verb=\"save\",adapter=\"consul\",target=\"" +
             other.url() + "\"}"] == 0);
  // No temporary file is left where node_exporter looks.
  for (const auto& name : dir.list()) {
    CHECK((name == "snap.prom" || name == "snap.prom.lock" || name == "out" ||
           name == "other"));
  }
  // Status and list are checks, not backups: they leave the file alone.
  auto unchanged = read_file(metrics);
  snap({"--metrics-file", metrics, "status", "consul", "--addr", other.url()});
  CHECK(read_file(metrics) == unchanged);
  // A directory that does not exist is a warning; the backup still counts.
  auto missing = snap({"--metrics-file", (dir.path() / "no/such.prom").string(),
                       "save", "consul", "--addr", other.url(), "-o",
                       (dir.path() / "other/").string()});
  CHECK(missing.exit_code == 0);
  CHECK(missing.err.find("--metrics-file") != std::string::npos);
}

TEST_CASE("a profile's metrics_file and notify_url apply to its runs",
          "[cli][monitoring]") {
  Emulator consul("consul");
  Emulator hc("healthchecks", {"--check", k_check});
  TempDir dir;
  auto metrics = (dir.path() / "prod.prom").string();
  fs::create_directory(dir.path() / "out");
  auto config = dir.path() / "config.json";
  write_file(
      config,
      nlohmann::json{{"profiles",
                      {{"prod",
                        {{"adapter", "consul"},
                         {"addr", consul.url()},
                         {"metrics_file", metrics},
                         {"notify_url", hc.url() + "/ping/" + k_check}}}}}}
          .dump());
  fs::permissions(config, fs::perms::owner_read | fs::perms::owner_write);
  auto r = snap({"--config", config.string(), "save", "consul", "--profile",
                 "prod", "-o", (dir.path() / "out/").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(parse_textfile(read_file(metrics))
            .contains("snap_last_exit_code{verb=\"save\",adapter=\"consul\","
                      "target=\"" +
                      consul.url() + "\"}"));
  auto p = pings(hc);
  REQUIRE(p.size() == 2);
  CHECK(p[1]["type"] == "start");
  CHECK(p[0]["type"] == "success");
  CHECK(p[0]["rid"] == p[1]["rid"]);
}

TEST_CASE(
    "notify: --notify-url pings start, success and failure as healthchecks "
    "takes them",
    "[cli][monitoring]") {
  Emulator consul("consul");
  Emulator hc("healthchecks", {"--check", k_check});
  TempDir dir;
  std::string url = hc.url() + "/ping/" + k_check;
  auto ok = snap({"--notify-url", url, "save", "consul", "--addr", consul.url(),
                  "-o", dir.path().string() + "/"});
  REQUIRE(ok.exit_code == 0);
  auto p = pings(hc);
  REQUIRE(p.size() == 2);
  CHECK(p[1]["type"] == "start");
  CHECK(p[1]["method"] == "POST");
  CHECK(p[0]["type"] == "success");
  auto body = nlohmann::json::parse(
      http("GET",
           hc.url() + "/api/v3/checks/" + k_check + "/pings/" +
               std::to_string(p[0]["n"].get<int>()) + "/body",
           "", {{"X-Api-Key", "read-key"}}));
  CHECK(body["verb"] == "save");
  CHECK(body["adapter"] == "consul");
  CHECK(body["exit_code"] == 0);
  CHECK(body["archive_bytes"].get<std::uint64_t>() > 0);

  // A failure: the ping goes to URL/fail and its body says why.
  consul.stop();
  auto failed = snap({"--notify-url", url, "--retries", "0", "save", "consul",
                      "--addr", consul.url(), "-o", dir.path().string() + "/"});
  CHECK(failed.exit_code == 4);
  p = pings(hc);
  REQUIRE(p.size() == 4);
  CHECK(p[0]["type"] == "fail");
  CHECK(p[0]["rid"] == p[1]["rid"]);
  CHECK(p[0]["rid"] != p[2]["rid"]);
  auto why = nlohmann::json::parse(
      http("GET",
           hc.url() + "/api/v3/checks/" + k_check + "/pings/" +
               std::to_string(p[0]["n"].get<int>()) + "/body",
           "", {{"X-Api-Key", "read-key"}}));
  CHECK(why["exit_code"] == 4);
  CHECK(why["error"].get<std::string>().find("consul") != std::string::npos);

  // A ping URL that the server does not know: a warning that shows no
  // more of the URL than its host, and the backup's own exit code.
  Emulator consul2("consul");
  std::string unknown = hc.url() + "/ping/00000000-0000-4000-8000-000000000000";
  auto warned = snap({"--notify-url", unknown, "save", "consul", "--addr",
                      consul2.url(), "-o", dir.path().string() + "/"});
  CHECK(warned.exit_code == 0);
  CHECK(warned.err.find("could not notify") != std::string::npos);
  CHECK(warned.err.find("00000000-0000-4000") == std::string::npos);
}

} // namespace snap::test
