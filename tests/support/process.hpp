// SPDX-License-Identifier: MIT
// Test support: run the built binaries with bounded time, and start an
// emulator on a free port for the length of a test.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace snap::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::map<std::string, std::string> env; // added to a clean environment
  std::filesystem::path cwd;
  std::optional<int> signal_after_ms; // send `signal` after this long
  std::function<bool()> signal_when;  // or once this says so (polled)
  int signal = 2;                     // SIGINT
  int timeout_ms = 60'000;
};

// Runs `argv` with stdin from /dev/null (never a terminal) and returns its
// exit status (128+N for a signal) and output.
RunResult run(const std::vector<std::string>& argv,
              const RunOptions& opts = {});

// Runs the built snap binary with `args`.
RunResult snap(const std::vector<std::string>& args,
               const RunOptions& opts = {});

// A snap-emulator process; stopped (SIGTERM) when destroyed.
class Emulator {
public:
  Emulator(const std::string& system, std::vector<std::string> flags = {});
  // Another test server, started as `argv`, that prints "listening on
  // 127.0.0.1:<port>" (s3rver); it keeps no request log.
  struct External {};
  Emulator(std::vector<std::string> argv, External);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;
  const std::string& url() const { return m_url; }
  std::string https_url() const {
    return "https://127.0.0.1:" + std::to_string(m_port);
  }
  int port() const { return m_port; }
  // Every "METHOD /path?query" the emulator received, in order.
  std::vector<std::string> requests() const;
  // True when some request received starts with `prefix` ("PUT /v1/snapshot").
  bool received(std::string_view prefix) const;
  // Stops it now (the port then refuses connections).
  void stop();

private:
  void start(const std::vector<std::string>& argv);
  int m_pid = -1;
  int m_port = 0;
  std::string m_url;
  std::filesystem::path m_log;
};

// The index in `log` of the first line that starts with `prefix`, or
// log.size() when none does (orders requests an emulator received).
long first_starting(const std::vector<std::string>& log,
                    std::string_view prefix);

// The non-empty '/'-separated segments of a request path ("/a//b/" gives
// a, b).
std::vector<std::string> split_path(const std::string& path);

// A fresh empty directory, removed when destroyed.
class TempDir {
public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return m_path; }
  // Names of the entries in it, hidden ones included, sorted.
  std::vector<std::string> list() const;

private:
  std::filesystem::path m_path;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& data);

// Small HTTP helper for tests to set up and read target state (curl CLI).
using Headers = std::vector<std::pair<std::string, std::string>>;
std::string http(const std::string& method, const std::string& url,
                 const std::string& body = "", const Headers& headers = {});

} // namespace snap::test
