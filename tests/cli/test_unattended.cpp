// SPDX-License-Identifier: MIT
// snap as cron and CI run it, with nobody watching: a server that stalls
// ends the run, two runs of one target never interleave, and status gates
// with its exit code.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <optional>
#include <unistd.h>
#include <utility>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

// A private lock folder, so parallel tests never share locks.
std::map<std::string, std::string> locks_in(const TempDir& dir) {
  return {{"XDG_RUNTIME_DIR", dir.path().string()}};
}

// A pids cgroup (v1) that lets at most `max` tasks run in it, to run snap
// where it may start few threads or none, as a container's pids limit or
// `ulimit -u` would. Empty where this machine has no such hierarchy that
// this user may write (then the test says so and checks nothing).
class PidsLimit {
public:
  static std::optional<PidsLimit> make(int max) {
    fs::path root = "/sys/fs/cgroup/pids";
    if (::access(root.c_str(), W_OK) != 0) {
      return std::nullopt;
    }
    fs::path dir = root / ("snap-test-" + std::to_string(::getpid()) + "-" +
                           std::to_string(max));
    std::error_code ec;
    fs::create_directory(dir, ec);
    std::ofstream limit(dir / "pids.max");
    if (ec || !(limit << max << "\n") || !limit.flush()) {
      fs::remove(dir, ec);
      return std::nullopt;
    }
    return PidsLimit(dir);
  }
  PidsLimit(PidsLimit&& o) noexcept : m_dir(std::exchange(o.m_dir, {})) {}
  PidsLimit& operator=(PidsLimit&&) = delete;
  ~PidsLimit() {
    std::error_code ec;
    if (!m_dir.empty()) {
      fs::remove(m_dir, ec); // empty once the process it held has ended
    }
  }
  // snap's arguments run inside the group: the shell moves itself in,
  // then becomes snap.
  std::vector<std::string> snap_argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv{
        "/bin/sh", "-c",
        "echo $$ > " + (m_dir / "cgroup.procs").string() + " && exec \"$@\"",
        "sh", SNAP_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

private:
  explicit PidsLimit(fs::path dir) : m_dir(std::move(dir)) {}
  fs::path m_dir;
};

} // namespace

TEST_CASE("under a pids limit a save runs its stages on one thread and an "
          "export that cannot start its slices reads on fewer",
          "[e2e][unattended][consul][elasticsearch]") {
  auto alone = PidsLimit::make(1); // snap itself and no thread
  if (!alone) {
    WARN("no writable pids cgroup here: not checked");
    return;
  }
  Emulator consul("consul", {"--snapshot-bytes", "3000000"});
  TempDir dir;
  auto r = run(alone->snap_argv({"save", "consul", "--addr", consul.url(), "-o",
                                 (dir.path() / "c.zip").string()}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(snap({"inspect", (dir.path() / "c.zip").string()}).exit_code == 0);

  // Slices of a point in time, each on a thread: where only one may start,
  // the one that did stops and the index is read on snap's own thread.
  Emulator es("elasticsearch");
  std::string bulk;
  for (int i = 0; i < 1200; ++i) {
    bulk += "{\"index\":{\"_index\":\"b\",\"_id\":\"" + std::to_string(i) +
            "\"}}\n{\"n\":" + std::to_string(i) + "}\n";
  }
  write_file(dir.path() / "bulk.ndjson", bulk);
  REQUIRE(run({"/usr/bin/curl", "-sf", "-o", "/dev/null", "-H",
               "Content-Type: application/x-ndjson", "--data-binary",
               "@" + (dir.path() / "bulk.ndjson").string(),
               es.url() + "/_bulk?refresh=true"})
              .exit_code == 0);
  auto two = PidsLimit::make(2);
  REQUIRE(two);
  r = run(two->snap_argv({"save", "es", "--addr", es.url(), "--export",
                          "--indices", "b", "--parallel", "4", "--batch-size",
                          "300", "-o", (dir.path() / "e.zip").string()}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(snap({"inspect", (dir.path() / "e.zip").string()}).exit_code == 0);
  // A limit that lets some of the four start: read by as many.
  auto four = PidsLimit::make(4);
  REQUIRE(four);
  r = run(four->snap_argv({"save", "es", "--addr", es.url(), "--export",
                           "--indices", "b", "--parallel", "4", "--batch-size",
                           "300", "-o", (dir.path() / "f.zip").string()}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // An import with four senders under it loads on fewer threads, and each
  // archive gives back all 1200 documents.
  for (const char* name : {"f.zip", "e.zip"}) {
    r = run(alone->snap_argv({"restore", "es", (dir.path() / name).string(),
                              "--addr", es.url(), "--replace", "--yes",
                              "--parallel", "4", "--batch-size", "300"}));
    INFO(name << ": " << r.err);
    CHECK(r.exit_code == 0);
    auto count = run({"/usr/bin/curl", "-sf", es.url() + "/b/_count"});
    REQUIRE(count.exit_code == 0);
    CHECK(nlohmann::json::parse(count.out, nullptr, false)["count"] == 1200);
  }
}

TEST_CASE("a server that never answers ends the run at --stall-timeout",
          "[cli][unattended]") {
  Emulator emu("consul", {"--delay-ms", "20000"});
  TempDir dir;
  auto start = std::chrono::steady_clock::now();
  auto r = snap({"--stall-timeout", "1", "--retries", "0", "save", "consul",
                 "--addr", emu.url(), "-o", dir.path().string()});
  double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("no byte came or went for 1 s") != std::string::npos);
  CHECK(took < 10);
  CHECK(dir.list().empty());
  CHECK(snap({"--stall-timeout", "nan", "status", "consul"}).exit_code == 2);
}

TEST_CASE(
    "the poll interval is checked from the flag and from SNAP_POLL_INTERVAL",
    "[cli][unattended]") {
  auto bad = snap({"--poll-interval", "-1", "status", "consul"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--poll-interval -1") != std::string::npos);
  auto from_env = snap({"status", "consul", "--addr", "http://127.0.0.1:1"},
                       {.env = {{"SNAP_POLL_INTERVAL", "inf"}}});
  CHECK(from_env.exit_code == 2);
  CHECK(from_env.err.find("--poll-interval") != std::string::npos);
}

TEST_CASE("a second run for the same target exits 9 naming the first, or "
          "waits with --wait-lock",
          "[cli][unattended]") {
  Emulator emu("consul", {"--delay-ms", "1500"});
  TempDir locks, out;
  http("PUT", emu.url() + "/v1/kv/a", "1");
  std::string save = std::string(SNAP_BIN) + " save consul --addr " +
                     emu.url() + " -o " + out.path().string();
  // The first holds the lock while the emulator delays its answers.
  auto r = run({"/bin/sh", "-c",
                save + " & first=$!; sleep 0.7; " + save +
                    "; echo \"second=$?\"; wait $first; echo \"first=$?\""},
               {.env = locks_in(locks)});
  INFO(r.out << r.err);
  CHECK(r.out.find("second=9") != std::string::npos);
  CHECK(r.out.find("first=0") != std::string::npos);
  CHECK(r.err.find("another snap is working on this target (pid ") !=
        std::string::npos);
  CHECK(r.err.find("snap save consul") != std::string::npos);
  auto waited =
      run({"/bin/sh", "-c",
           save + " & first=$!; sleep 0.7; " + std::string(SNAP_BIN) +
               " --wait-lock 30 save consul --addr " + emu.url() + " -o " +
               out.path().string() +
               "; echo \"second=$?\"; wait $first; echo \"first=$?\""},
          {.env = locks_in(locks)});
  INFO(waited.out << waited.err);
  CHECK(waited.out.find("second=0") != std::string::npos);
  CHECK(waited.out.find("first=0") != std::string::npos);
}

TEST_CASE("status exits 10 when the target is not ready, -q keeps the code",
          "[cli][unattended]") {
  Emulator leaderless("consul", {"--no-leader"});
  auto r = snap({"status", "consul", "--addr", leaderless.url()});
  CHECK(r.exit_code == 10);
  CHECK(r.out.find("no leader") != std::string::npos);
  CHECK(r.err.find("consul: the cluster has no leader") != std::string::npos);
  auto quiet = snap({"-q", "status", "consul", "--addr", leaderless.url()});
  CHECK(quiet.exit_code == 10);
  CHECK(quiet.out.empty());
  auto j = snap({"--json", "status", "consul", "--addr", leaderless.url()});
  CHECK(nlohmann::json::parse(j.out)["error"]["kind"] == "not_ready");
  Emulator healthy("consul");
  CHECK(snap({"status", "consul", "--addr", healthy.url()}).exit_code == 0);
}

TEST_CASE("status of a backup that is not complete exits 10",
          "[cli][unattended]") {
  Emulator emu("zeebe",
               {"--backup-ms", "100", "--backup-outcome", "incomplete"});
  TempDir dir;
  auto saved = snap({"save", "zeebe", "--addr", emu.url(), "--backup-id", "5",
                     "-o", dir.path().string()});
  CHECK(saved.exit_code == 3);
  auto r = snap({"status", "zeebe", "5", "--addr", emu.url()});
  CHECK(r.exit_code == 10);
  CHECK(r.err.find("zeebe: backup 5 is INCOMPLETE") != std::string::npos);
}

} // namespace snap::test
