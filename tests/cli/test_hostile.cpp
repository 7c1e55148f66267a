// SPDX-License-Identifier: MIT
// Hostile and damaged input: archives rewritten by someone else, documents
// nested to overflow a stack, command lines that carry secrets or escape
// sequences, saves that race or die. Each case ends in one line and its exit
// code, never a crash, and changes nothing it should not.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

#include "snap/sha256.hpp"
#include "tests/support/archive_edit.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string k_fixture =
    SNAP_SOURCE_DIR "/tests/fixtures/consul-format1.zip";

// `depth` nested arrays: a few hundred KiB that overflow any recursive
// reader.
std::string nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// The fixture with its manifest replaced by `edit`'s result, resealed so
// that every checksum matches: only the checks on content can catch it.
std::string rewritten(const TempDir& dir,
                      const std::function<void(json&)>& edit,
                      const std::function<void(ArchiveParts&)>& header = {}) {
  ArchiveParts parts = unpack(k_fixture);
  json m = parts.manifest();
  edit(m);
  reseal(parts, m);
  if (header) {
    header(parts);
  }
  fs::path out = dir.path() / "crafted.zip";
  pack(parts, out);
  return out.string();
}

// `text` as the manifest, byte for byte, with a header that matches it.
std::string with_manifest_text(const TempDir& dir, const std::string& text) {
  ArchiveParts parts = unpack(k_fixture);
  parts.manifest_text = text;
  auto at = parts.comment.find("manifest-sha256=");
  parts.comment.replace(at + 16, 64, sha256_hex(text));
  fs::path out = dir.path() / "crafted.zip";
  pack(parts, out);
  return out.string();
}

bool one_line(const std::string& err) {
  return !err.empty() && err.find('\n') == err.size() - 1;
}

} // namespace

TEST_CASE("a manifest nested 100,000 deep is refused with exit 7, no crash",
          "[cli][hostile]") {
  TempDir dir;
  std::string text = R"({"format":"snap-archive","format_version":1,)"
                     R"("target":)" +
                     nested(100'000) + "}";
  auto r = snap({"inspect", with_manifest_text(dir, text)});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("nested deeper than 512 levels") != std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("a config file nested 100,000 deep is refused with exit 2",
          "[cli][hostile]") {
  TempDir dir;
  write_file(dir.path() / "config.json",
             R"({"profiles":{"p":{"flags":)" + nested(100'000) + "}}}");
  ::chmod((dir.path() / "config.json").c_str(), 0600);
  auto r = snap({"--config", (dir.path() / "config.json").string(), "status",
                 "consul", "--profile", "p"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nested deeper") != std::string::npos);
}

TEST_CASE("a kubeconfig nested 100,000 deep is refused with exit 2",
          "[cli][hostile]") {
  TempDir dir;
  std::string flow = "clusters: ";
  for (int i = 0; i < 100'000; ++i) {
    flow += "{a: ";
  }
  flow += "1" + std::string(100'000, '}') + "\n";
  write_file(dir.path() / "kubeconfig", flow);
  auto r = snap({"status", "fabric", "--kubeconfig",
                 (dir.path() / "kubeconfig").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is not valid YAML") != std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("a server answer nested 100,000 deep fails with exit 1, no crash",
          "[cli][hostile]") {
  TempDir dir;
  // The running snapshots of Elasticsearch's _snapshot/_status, which
  // status copies from: 0.2 MB that overflowed the stack when copied.
  write_file(dir.path() / "deep.json",
             R"({"snapshots":)" + nested(100'000) + "}");
  Emulator emu("elasticsearch",
               {"--answer",
                "/_snapshot/_status=" + (dir.path() / "deep.json").string()});
  auto r = snap({"status", "elasticsearch", "--addr", emu.url()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("nested deeper than 512 levels") != std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("a server answer of the wrong shape is the target's failure",
          "[cli][hostile]") {
  TempDir dir;
  // Elasticsearch's root answer with a number where its version is a string.
  write_file(dir.path() / "root.json", R"({"version":{"number":7}})");
  Emulator emu("elasticsearch",
               {"--answer", "/=" + (dir.path() / "root.json").string()});
  auto r = snap({"status", "elasticsearch", "--addr", emu.url()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("internal error") == std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("an answer larger than snap reads names the request",
          "[cli][hostile]") {
  TempDir dir;
  // The leader's address is a few bytes; 1 MiB is not Consul's answer.
  write_file(dir.path() / "big.json", "\"" + std::string(1 << 20, 'a') + "\"");
  Emulator emu("consul", {"--answer", "/v1/status/leader=" +
                                          (dir.path() / "big.json").string()});
  auto r = snap({"status", "consul", "--addr", emu.url()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("consul: GET " + emu.url() +
                   "/v1/status/leader answered more than 65536 bytes") !=
        std::string::npos);
  CHECK(one_line(r.err));
}

// A server on 127.0.0.1 that answers every connection with `answer` and
// closes it, for at most `seconds`: for answers no real server sends.
class RawServer {
public:
  RawServer(std::string answer, int seconds) {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(m_fd, 8) == 0);
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this, answer = std::move(answer), seconds] {
      auto end =
          std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      while (!m_stop && std::chrono::steady_clock::now() < end) {
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) {
          continue;
        }
        int c = ::accept(m_fd, nullptr, nullptr);
        if (c < 0) {
          continue;
        }
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0); // the request line and headers
        for (std::size_t at = 0; at < answer.size();) {
          auto n =
              ::send(c, answer.data() + at, answer.size() - at, MSG_NOSIGNAL);
          if (n <= 0) {
            break;
          }
          at += static_cast<std::size_t>(n);
        }
        ::close(c);
      }
    });
  }
  ~RawServer() {
    m_stop = true;
    m_thread.join();
    ::close(m_fd);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(m_port);
  }

private:
  int m_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

TEST_CASE("an answer whose headers are larger than libcurl takes says so",
          "[cli][hostile]") {
  // libcurl 7.88 refuses a header line past 100 KiB with
  // CURLE_OUT_OF_MEMORY, which is no shortage of memory here.
  RawServer server(
      "HTTP/1.1 200 OK\r\nX-Padding: " + std::string(200 * 1024, 'a') +
          "\r\nContent-Length: 2\r\n\r\n{}",
      30);
  auto r = snap({"status", "consul", "--addr", server.url()});
  INFO(r.err);
  CHECK(r.exit_code == 1); // it answered: the target failed, not unreachable
  CHECK(r.err.find("headers are larger than libcurl accepts") !=
        std::string::npos);
  CHECK(r.err.find("is --addr the right server?") != std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("a manager whose snapshot status is not JSON is not restoring",
          "[cli][hostile]") {
  TempDir dir;
  // A restarting manager's proxy answers 502; a 200 that is not JSON comes
  // from something that is not a manager, and is said as such.
  write_file(dir.path() / "page.html", "<html>welcome</html>");
  Emulator emu("cloudify",
               {"--answer", "/api/v3.1/snapshot-status=" +
                                (dir.path() / "page.html").string()});
  auto r = snap({"status", "cloudify", "--addr", emu.url()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("snapshot-status answered something snap does not read "
                   "as JSON") != std::string::npos);
  CHECK(r.err.find("restore is running") == std::string::npos);
  CHECK(one_line(r.err));
}

TEST_CASE("format_version must be a whole number the reader knows",
          "[cli][hostile][archive]") {
  for (json bad : {json(4294967297ULL), json(1e308), json(-1), json(0),
                   json(1.5), json(true), json("1")}) {
    TempDir dir;
    auto zip = rewritten(dir, [&](json& m) { m["format_version"] = bad; });
    auto r = snap({"inspect", zip});
    INFO(bad.dump() << ": " << r.err);
    CHECK(r.exit_code == 7);
    CHECK(one_line(r.err));
  }
}

TEST_CASE("a header version with trailing text is refused",
          "[cli][hostile][archive]") {
  TempDir dir;
  auto zip = rewritten(
      dir, [](json&) {},
      [](ArchiveParts& p) { p.comment.replace(0, 14, "snap-archive/1x"); });
  auto r = snap({"inspect", zip});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("'1x' is not a whole number") != std::string::npos);
}

TEST_CASE("header and manifest must agree on version, id and time",
          "[cli][hostile][archive]") {
  struct Case {
    std::function<void(ArchiveParts&)> edit;
    std::string says;
  };
  auto replace = [](std::string from, std::string to) {
    return [from, to](ArchiveParts& p) {
      auto at = p.comment.find(from);
      REQUIRE(at != std::string::npos);
      p.comment.replace(at, from.size(), to);
    };
  };
  for (const auto& c :
       {Case{replace("id=14 ", "id=99 "), "backup id"},
        Case{replace("created=2026-11-21T06:24:53Z",
                     "created=2030-01-01T00:00:00Z"),
             "creation time"},
        Case{replace("snap-archive/1 ", "snap-archive/2 "), "format version"},
        Case{replace(" id=14", " id=14 id=15"), "names id= twice"}}) {
    TempDir dir;
    auto zip = rewritten(
        dir, [](json&) {}, c.edit);
    auto r = snap({"inspect", zip});
    INFO(r.err);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find(c.says) != std::string::npos);
  }
}

TEST_CASE("duplicate entries, unknown kinds and wrong types are refused",
          "[cli][hostile][archive]") {
  std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& m) { m["kind"] = "partial"; }, "neither full nor reference"},
      {[](json& m) { m["target"] = "http://x"; }, "must be an object"},
      {[](json& m) {
         m["labels"] = {{"k", 5}};
       },
       "label k is not a string"},
      {[](json& m) { m["adapter_payload_version"] = "1"; }, "whole number"},
  };
  for (const auto& [edit, says] : cases) {
    TempDir dir;
    auto r = snap({"inspect", rewritten(dir, edit)});
    INFO(r.err);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find(says) != std::string::npos);
    CHECK(r.err.find("internal error") == std::string::npos);
  }
  // The same entry listed twice: resealing would drop it, so the manifest
  // is written by hand.
  TempDir dir;
  ArchiveParts parts = unpack(k_fixture);
  json m = parts.manifest();
  m["entries"].push_back(m["entries"][0]);
  auto r = snap({"inspect", with_manifest_text(dir, m.dump(2) + "\n")});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("is listed twice") != std::string::npos);
}

TEST_CASE("a manifest over 4 MiB is an invalid archive, named",
          "[cli][hostile][archive]") {
  TempDir dir;
  std::string big =
      R"({"format":"snap-archive","pad":")" + std::string(5 << 20, 'x') + "\"}";
  auto zip = with_manifest_text(dir, big);
  auto r = snap({"inspect", zip});
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("crafted.zip: manifest.json is larger than 4 MiB") !=
        std::string::npos);
}

TEST_CASE("inspect escapes control characters and redacts URLs",
          "[cli][hostile][archive]") {
  TempDir dir;
  auto zip = rewritten(dir, [](json& m) {
    m["labels"] = {{"note", "\x1b[2J\nSaved and verified evil.zip"}};
    m["target"] = {{"url", "https://admin:hunter2@consul:8501"}};
    m["snap_version"] = "0.1.0\x1b]0;owned\x07";
  });
  auto r = snap({"inspect", zip});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find('\x1b') == std::string::npos);
  CHECK(r.out.find('\x07') == std::string::npos);
  CHECK(r.out.find("\\x1b[2J\\x0aSaved and verified evil.zip") !=
        std::string::npos);
  CHECK(r.out.find("\nSaved and verified") == std::string::npos);
  CHECK(r.out.find("hunter2") == std::string::npos);
  CHECK(r.out.find("https://***@consul:8501") != std::string::npos);
}

TEST_CASE("a value given after a secret-looking flag is never echoed",
          "[cli][hostile][secrets]") {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"save", "consul", "--token", "s3cr3t-T0K3N"},
        {"save", "consul", "--password=s3cr3t-T0K3N"},
        {"--token", "s3cr3t-T0K3N", "save", "consul"}}) {
    auto r = snap(args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("s3cr3t-T0K3N") == std::string::npos);
    auto j = snap([&] {
      auto a = args;
      a.insert(a.begin(), "--json");
      return a;
    }());
    CHECK(j.out.find("s3cr3t-T0K3N") == std::string::npos);
  }
}

TEST_CASE("snap runs without core dumps while it holds secrets",
          "[cli][hostile][secrets]") {
  TempDir dir;
  write_file(dir.path() / "token", "core-secret\n");
  Emulator emu("consul", {"--delay-ms", "3000"});
  // Under `ulimit -c unlimited`, snap's own limit while it waits on the
  // delayed answer, token in hand.
  auto r = run({"/bin/sh", "-c",
                "ulimit -c unlimited; \"$0\" status consul --addr \"$1\" "
                "--token-file \"$2\" & pid=$!; sleep 1; "
                "grep 'Max core file size' /proc/$pid/limits; kill $pid; wait",
                SNAP_BIN, emu.url(), (dir.path() / "token").string()});
  INFO(r.out << r.err);
  CHECK(r.out.find("Max core file size        0                    0") !=
        std::string::npos);
}

TEST_CASE("bad global values and connection settings exit 2",
          "[cli][hostile][usage]") {
  TempDir dir;
  write_file(dir.path() / "empty-token", "\n");
  std::vector<std::vector<std::string>> cases = {
      {"save", "consul", "--addr", "not a url"},
      {"save", "consul", "--addr", "http://127.0.0.1:99999"},
      {"save", "consul", "--ca-file", (dir.path() / "missing.pem").string()},
      {"--timeout", "nan", "status", "consul"},
      {"--timeout", "inf", "status", "consul"},
      {"--timeout", "1e400", "status", "consul"},
      {"save", "consul", "--keep", "0"},
      {"save", "consul", "--label", "k=\xff\xfe"},
      {"save", "consul", "--token-file", (dir.path() / "empty-token").string()},
  };
  for (const auto& args : cases) {
    auto r = snap(args);
    INFO(args[args.size() - 1] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(one_line(r.err));
    CHECK(r.err.find("internal error") == std::string::npos);
  }
}

TEST_CASE("config values must have their types", "[cli][hostile][usage]") {
  for (std::string profile :
       {R"({"adapter":"consul","addr":5})", R"({"insecure":"yes"})",
        R"({"flags":{"stale":"yes"}})", R"({"flags":{"datacenter":[]}})"}) {
    TempDir dir;
    fs::path cfg = dir.path() / "config.json";
    write_file(cfg, R"({"profiles":{"p":)" + profile + "}}");
    ::chmod(cfg.c_str(), 0600);
    Emulator emu("consul");
    auto r = snap({"--config", cfg.string(), "status", "consul", "--profile",
                   "p", "--addr", emu.url()});
    INFO(profile << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("must be") != std::string::npos);
    CHECK(emu.requests().empty());
  }
}

TEST_CASE("save into something that is not a directory says so",
          "[cli][hostile][usage]") {
  auto r = snap({"save", "consul", "--addr", "http://127.0.0.1:1", "-o",
                 "/dev/null/x.zip"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("/dev/null is not a directory") != std::string::npos);
}

TEST_CASE("two saves into one directory in the same second both survive",
          "[cli][hostile][files]") {
  Emulator emu("consul");
  TempDir dir;
  http("PUT", emu.url() + "/v1/kv/a", "1");
  // The same index and second twice: the names would collide.
  auto first =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  auto second =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.exit_code == 0);
  auto files = dir.list();
  REQUIRE(files.size() == 2);
  for (const auto& f : files) {
    CHECK(snap({"inspect", (dir.path() / f).string()}).exit_code == 0);
  }
}

TEST_CASE("save onto an existing file is refused unless --force",
          "[cli][hostile][files]") {
  Emulator emu("consul");
  TempDir dir;
  fs::path target = dir.path() / "backup.zip";
  write_file(target, "precious");
  auto r = snap({"save", "consul", "--addr", emu.url(), "-o", target.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("exists already") != std::string::npos);
  CHECK(read_file(target) == "precious");
  CHECK(emu.requests().empty());
  auto forced = snap({"save", "consul", "--addr", emu.url(), "-o",
                      target.string(), "--force"});
  REQUIRE(forced.exit_code == 0);
  CHECK(snap({"inspect", target.string()}).exit_code == 0);
}

TEST_CASE("a killed save's temporary folder is swept by the next save and "
          "by prune, a live one is not",
          "[cli][hostile][files]") {
  Emulator emu("consul");
  TempDir dir;
  fs::path stale = dir.path() / ".snap-tmp-dead01";
  fs::path live = dir.path() / ".snap-tmp-live01";
  fs::create_directories(stale);
  fs::create_directories(live);
  write_file(stale / "entry-0", std::string(1 << 20, 'x'));
  write_file(live / "entry-0", "in use");
  // Old enough to be past the grace period of a folder being made.
  auto old = fs::file_time_type::clock::now() - std::chrono::minutes(5);
  for (const auto& d : {stale, live}) {
    fs::last_write_time(d, old);
  }
  // ctime cannot be set back: wait out the grace period instead.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  int held = ::open(live.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  auto r =
      snap({"save", "consul", "--addr", emu.url(), "-o", dir.path().string()});
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live / "entry-0"));
  ::close(held);
  auto pruned = snap({"prune", dir.path().string(), "--keep-last", "5"});
  CHECK(pruned.exit_code == 0);
  CHECK(pruned.out.find("remove  .snap-tmp-live01") != std::string::npos);
  CHECK_FALSE(fs::exists(live));
}

} // namespace snap::test
