// SPDX-License-Identifier: MIT
// The Prometheus textfile and the healthchecks-style pings (monitor.hpp).
// The textfile follows the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one
// "# HELP" and "# TYPE" per metric, then `name{label="value",...} number`,
// label values escaping \, " and newline.
#include "snap/monitor.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "snap/io.hpp"
#include "snap/scope.hpp"

namespace snap {

const MetricInfo k_metrics[5] = {
    {"snap_last_attempt_timestamp_seconds",
     "Unix time at which the last run of this verb on this target started."},
    {"snap_last_success_timestamp_seconds",
     "Unix time at which the last successful run started."},
    {"snap_last_exit_code",
     "Exit code of the last run (0 ok; see snap(1) for the others)."},
    {"snap_last_duration_seconds", "Wall time of the last run."},
    {"snap_last_archive_bytes",
     "Size of the archive the last successful run wrote."},
};

namespace {

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string labels_of(const RunRecord& run) {
  return fmt::format("{{verb=\"{}\",adapter=\"{}\",target=\"{}\"}}",
                     label_value(run.verb), label_value(run.adapter),
                     label_value(run.target));
}

std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{:.3f}", v);
}

// The series already in the file: metric -> labels -> value. Lines that are
// not one of snap's metrics are dropped (the file is snap's own).
using Series = std::map<std::string, std::map<std::string, std::string>>;

Series read_series(const std::filesystem::path& path) {
  Series out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    auto open = line.find('{');
    // Label values may hold '}' only inside quotes: the block ends at the
    // last '}' before the value.
    auto close = line.rfind("} ");
    if (open == std::string::npos || close == std::string::npos ||
        close < open) {
      continue;
    }
    std::string name = line.substr(0, open);
    bool known = false;
    for (const auto& m : k_metrics) {
      known |= m.name == name;
    }
    if (known) {
      out[name][line.substr(open, close + 1 - open)] = line.substr(close + 2);
    }
  }
  return out;
}

} // namespace

Expected<void> write_metrics(const std::string& path, const RunRecord& run) {
  namespace fs = std::filesystem;
  fs::path file(path);
  fs::path dir = file.parent_path().empty() ? "." : file.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(ErrorKind::config,
                fmt::format("--metrics-file {}: the directory {} does not "
                            "exist",
                            path, dir.string()));
  }
  // The lock file stays beside the metrics file: node_exporter reads only
  // *.prom, and a rename never moves the lock.
  std::string lock_path = path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return fail(ErrorKind::config,
                fmt::format("--metrics-file {}: cannot lock {}: {}", path,
                            lock_path, std::strerror(errno)));
  }
  ScopeExit unlock([fd] { ::close(fd); });

  Series series = read_series(file);
  std::string labels = labels_of(run);
  series["snap_last_attempt_timestamp_seconds"][labels] =
      number(run.started_at);
  series["snap_last_exit_code"][labels] = number(run.exit_code);
  series["snap_last_duration_seconds"][labels] = number(run.duration_s);
  if (run.exit_code == 0) {
    series["snap_last_success_timestamp_seconds"][labels] =
        number(run.started_at);
    if (run.archive_bytes) {
      series["snap_last_archive_bytes"][labels] =
          number(static_cast<double>(*run.archive_bytes));
    }
  }
  std::string text;
  for (const auto& m : k_metrics) {
    auto it = series.find(std::string(m.name));
    if (it == series.end()) {
      continue;
    }
    text +=
        fmt::format("# HELP {} {}\n# TYPE {} gauge\n", m.name, m.help, m.name);
    for (const auto& [l, v] : it->second) {
      text += fmt::format("{}{} {}\n", m.name, l, v);
    }
  }
  // node_exporter skips files that do not end in .prom, so the temporary
  // file it might see mid-write is never read.
  fs::path tmp =
      dir / fmt::format(".{}.{}.tmp", file.filename().string(), ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      return fail(ErrorKind::config,
                  fmt::format("--metrics-file {}: cannot write {}", path,
                              tmp.string()));
    }
  }
  ::chmod(tmp.c_str(), 0644);
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fail(ErrorKind::config,
                fmt::format("--metrics-file {}: cannot replace it: {}", path,
                            ec.message()));
  }
  return {};
}

std::string new_run_id() {
  std::random_device rd;
  std::array<unsigned char, 16> b{};
  for (auto& c : b) {
    c = static_cast<unsigned char>(rd());
  }
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  std::string out;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += fmt::format("{:02x}", b[i]);
  }
  return out;
}

Expected<void> notify(const std::string& url, Ping ping, const RunRecord& run,
                      const HttpConfig& base) {
  std::string target = url;
  while (!target.empty() && target.back() == '/') {
    target.pop_back();
  }
  if (ping == Ping::start) {
    target += "/start";
  } else if (ping == Ping::failure) {
    target += "/fail";
  }
  SNAP_TRY(check_url(target, "--notify-url"));
  nlohmann::ordered_json body = {
      {"verb", run.verb}, {"adapter", run.adapter}, {"target", run.target}};
  if (ping != Ping::start) {
    body["exit_code"] = run.exit_code;
    body["duration_s"] = run.duration_s;
    if (!run.archive.empty()) {
      body["archive"] = run.archive;
    }
    if (run.archive_bytes) {
      body["archive_bytes"] = *run.archive_bytes;
    }
    if (!run.error.empty()) {
      body["error"] = run.error;
    }
  }
  HttpConfig cfg = base;
  cfg.label = "--notify-url";
  cfg.base_url = target;
  cfg.headers.clear();
  cfg.basic_user.clear();
  cfg.basic_password.clear();
  cfg.aws_sigv4.clear();
  cfg.timeout_s = 10;
  cfg.stall_timeout_s = 10;
  cfg.retries = 2;
  HttpClient http(std::move(cfg));
  std::string text = body.dump();
  MemorySource src(text);
  Request req{.method = "POST",
              .path = "",
              .query = run.run_id.empty() ? "" : "rid=" + run.run_id,
              .body = &src,
              .content_type = "application/json",
              .cleanup = true,
              .cleanup_timeout_s = 10};
  // A ping URL is a capability (anyone who has it can ping): messages show
  // its scheme and host only.
  auto hidden = [&](Error e) {
    std::string shown = redact_url(target);
    if (auto host = shown.find("//"); host != std::string::npos) {
      if (auto path = shown.find('/', host + 2); path != std::string::npos) {
        shown = shown.substr(0, path) + "/…";
      }
    }
    for (auto at = e.message.find(target); at != std::string::npos;
         at = e.message.find(target, at + shown.size())) {
      e.message.replace(at, target.size(), shown);
    }
    return tl::unexpected(std::move(e));
  };
  std::string answer;
  auto resp = http.send_small(req, answer, 64 << 10);
  if (!resp) {
    return hidden(resp.error());
  }
  if (!resp->ok()) {
    return hidden(http.status_error(req, *resp, "check --notify-url"));
  }
  return {};
}

} // namespace snap
