// SPDX-License-Identifier: MIT
// Process helpers for end-to-end tests: fork/exec with pipes, poll with a
// deadline, kill on timeout. Every loop here is bounded.
#include "tests/support/process.hpp"

#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

extern char** environ;

namespace snap::test {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<char*> c_args(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) {
    out.push_back(const_cast<char*>(s.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

// A minimal environment: PATH, HOME and the test's own variables (which
// win), so the developer's CONSUL_HTTP_* never leak into a test.
std::vector<std::string> make_env(const std::map<std::string, std::string>& e) {
  std::vector<std::string> out;
  for (const char* keep : {"PATH", "HOME", "TMPDIR", "LANG"}) {
    if (const char* v = std::getenv(keep); v != nullptr && !e.contains(keep)) {
      out.push_back(std::string(keep) + "=" + v);
    }
  }
  // Emulated tasks take a few hundred milliseconds: they are followed at
  // that scale, unless the test says otherwise.
  if (!e.contains("SNAP_POLL_INTERVAL")) {
    out.push_back("SNAP_POLL_INTERVAL=0.25");
  }
  for (const auto& [k, v] : e) {
    out.push_back(k + "=" + v);
  }
  return out;
}

} // namespace

RunResult run(const std::vector<std::string>& argv, const RunOptions& opts) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    throw std::runtime_error("pipe failed");
  }
  auto env = make_env(opts.env);
  auto cargv = c_args(argv);
  auto cenv = c_args(env);
  // The child must not run the test's own signal handlers (Catch's) if a
  // signal for it comes before execve: it starts with them blocked, resets
  // them to the default, then takes what is pending.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old_mask);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) {
      _exit(126);
    }
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult r;
  auto start = Clock::now();
  bool signalled = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                       Clock::now() - start)
                       .count();
    bool due = opts.signal_after_ms && elapsed >= *opts.signal_after_ms;
    due |= opts.signal_when && opts.signal_when();
    if (due && !signalled) {
      kill(pid, opts.signal);
      signalled = true;
    }
    if (elapsed > opts.timeout_ms) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, 50) <= 0) {
      continue;
    }
    for (auto& f : fds) {
      if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP))) {
        continue;
      }
      char buf[65536];
      ssize_t n = read(f.fd, buf, sizeof buf);
      if (n <= 0) {
        close(f.fd);
        f.fd = -1;
        --open_fds;
        continue;
      }
      (f.fd == out_pipe[0] ? r.out : r.err).append(buf, static_cast<size_t>(n));
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      close(f.fd);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

RunResult snap(const std::vector<std::string>& args, const RunOptions& opts) {
  std::vector<std::string> argv{SNAP_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, opts);
}

Emulator::Emulator(const std::string& system, std::vector<std::string> flags) {
  char tmpl[] = "/tmp/snap-emu-log-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  m_log = tmpl;
  std::vector<std::string> argv{EMULATOR_BIN, system,          "--port",
                                "0",          "--request-log", m_log.string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  start(argv);
}

Emulator::Emulator(std::vector<std::string> argv, External) { start(argv); }

void Emulator::start(const std::vector<std::string>& argv) {
  // Its output goes to a file, not a pipe: a server that keeps logging
  // (s3rver) must never block on, or die of, a pipe nobody reads.
  char tmpl[] = "/tmp/snap-emu-out-XXXXXX";
  int out_fd = mkstemp(tmpl);
  if (out_fd < 0) {
    throw std::runtime_error("mkstemp failed");
  }
  fs::path out_path = tmpl;
  auto cargv = c_args(argv);
  m_pid = fork();
  if (m_pid == 0) {
    dup2(out_fd, 1);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(out_fd);
  std::string line;
  const std::string marker = "listening on 127.0.0.1:";
  auto start = Clock::now();
  auto announced = [&] {
    auto at = line.find(marker);
    return at != std::string::npos && line.find('\n', at) != std::string::npos;
  };
  while (!announced() && Clock::now() - start < std::chrono::seconds(30)) {
    usleep(20'000);
    std::ifstream in(out_path);
    line.assign(std::istreambuf_iterator<char>(in), {});
    int status = 0;
    if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      break;
    }
  }
  std::error_code ec;
  fs::remove(out_path, ec); // the open file lives on for the server
  auto pos = line.find(marker);
  if (pos == std::string::npos || !announced()) {
    stop();
    throw std::runtime_error("emulator did not start: " + line);
  }
  m_port = std::stoi(line.substr(pos + marker.size()));
  m_url = "http://127.0.0.1:" + std::to_string(m_port);
}

Emulator::~Emulator() {
  stop();
  std::error_code ec;
  if (!m_log.empty()) {
    fs::remove(m_log, ec);
  }
}

void Emulator::stop() {
  if (m_pid > 0) {
    kill(m_pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        return;
      }
      usleep(20'000);
    }
    kill(m_pid, SIGKILL);
    waitpid(m_pid, &status, 0);
    m_pid = -1;
  }
}

std::vector<std::string> Emulator::requests() const {
  std::vector<std::string> out;
  std::ifstream in(m_log);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(line);
  }
  return out;
}

bool Emulator::received(std::string_view prefix) const {
  auto all = requests();
  return std::any_of(all.begin(), all.end(), [&](const std::string& r) {
    return r.starts_with(prefix);
  });
}

long first_starting(const std::vector<std::string>& log,
                    std::string_view prefix) {
  return std::find_if(
             log.begin(), log.end(),
             [&](const std::string& l) { return l.starts_with(prefix); }) -
         log.begin();
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  for (std::string seg; std::getline(in, seg, '/');) {
    if (!seg.empty()) {
      out.push_back(seg);
    }
  }
  return out;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/snap-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  m_path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

std::vector<std::string> TempDir::list() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(m_path)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string http(const std::string& method, const std::string& url,
                 const std::string& body, const Headers& headers) {
  TempDir dir;
  write_file(dir.path() / "body", body);
  std::vector<std::string> argv{"/usr/bin/curl", "-s", "-X", method};
  // A POST or PUT always says how long its (maybe empty) body is.
  if (!body.empty() || method == "PUT" || method == "POST") {
    argv.push_back("--data-binary");
    argv.push_back("@" + (dir.path() / "body").string());
    // Elasticsearch refuses bodies without a JSON content type (406);
    // Kubernetes takes a PATCH as a merge patch.
    argv.push_back("-H");
    argv.push_back(method == "PATCH"
                       ? "Content-Type: application/merge-patch+json"
                       : "Content-Type: application/json");
  }
  for (const auto& [name, value] : headers) {
    argv.push_back("-H");
    argv.push_back(name + ": " + value);
  }
  argv.push_back(url);
  return run(argv).out;
}

} // namespace snap::test
