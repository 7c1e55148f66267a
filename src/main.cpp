// SPDX-License-Identifier: MIT
// Entry point: parses the command line, runs the chosen command, prints its
// result or its one-line error, and exits with the code of docs/contract.md §4.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>

#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/poll.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace {

using snap::ErrorKind;

// The values given after secret-looking flags (--token S, --password=S),
// which snap takes from no flag: a mistyped command line must not echo them
// in its usage error.
std::vector<std::string> g_secret_values;

bool is_secret_flag(std::string_view flag) {
  if (!flag.starts_with("-") || flag.ends_with("-file")) {
    return false;
  }
  for (std::string_view word :
       {"token", "password", "passwd", "passphrase", "secret", "auth",
        "credential", "apikey", "api-key"}) {
    if (snap::to_lower(flag).find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void collect_secret_values(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto eq = a.find('=');
    std::string_view flag = a.substr(0, eq);
    if (!is_secret_flag(flag)) {
      continue;
    }
    if (eq != std::string_view::npos) {
      g_secret_values.emplace_back(a.substr(eq + 1));
    } else if (i + 1 < argc) {
      g_secret_values.emplace_back(argv[++i]);
    }
  }
  // Longest first, so a secret that holds another is masked whole.
  std::sort(g_secret_values.begin(), g_secret_values.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string without_secrets(std::string text) {
  for (const auto& secret : g_secret_values) {
    if (secret.empty()) {
      continue;
    }
    for (auto at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

int report(snap::commands::Context& ctx, std::string& error, snap::Error err) {
  err.message = without_secrets(std::move(err.message));
  error = err.message;
  ctx.output->print_error(err);
  return snap::exit_code(err.kind);
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Leaves the run's outcome where monitoring looks: the metrics file and
// the notify URL. Their own failures are warnings: the backup's exit code
// stays the backup's.
void record_run(snap::commands::Context& ctx, int code,
                const std::string& error) {
  snap::RunRecord& run = ctx.run;
  if (run.verb.empty() ||
      (ctx.global.metrics_file.empty() && ctx.global.notify_url.empty())) {
    return;
  }
  run.exit_code = code;
  run.duration_s = std::max(0.0, unix_now() - run.started_at);
  run.error = without_secrets(error);
  if (code != 0) {
    run.archive_bytes.reset();
  }
  if (!ctx.global.metrics_file.empty()) {
    if (auto done = snap::write_metrics(ctx.global.metrics_file, run); !done) {
      ctx.output->warn(done.error().message);
    }
  }
  if (!ctx.global.notify_url.empty()) {
    auto ping = code == 0 ? snap::Ping::success : snap::Ping::failure;
    if (auto sent = snap::notify(ctx.global.notify_url, ping, run, {}); !sent) {
      ctx.output->warn(
          fmt::format("could not notify: {}", sent.error().message));
    }
  }
}

int run_command(int argc, char** argv, snap::commands::Context& ctx,
                std::string& error) {
  auto parsed = snap::commands::parse_command_line(argc, argv, ctx);
  if (!parsed) {
    return report(ctx, error, parsed.error());
  }
  if (*parsed) {
    return **parsed;
  }
  if (ctx.global.retries < 0 || ctx.global.retries > 100) {
    return report(ctx, error,
                  {ErrorKind::usage, fmt::format("--retries {}: give 0 to 100",
                                                 ctx.global.retries)});
  }
  // NaN, infinity (1e400 reads as that) and the absurd are refused: the
  // value becomes milliseconds for curl.
  for (auto [flag, value] :
       {std::pair{"--timeout", ctx.global.timeout_s},
        std::pair{"--stall-timeout", ctx.global.stall_timeout_s},
        std::pair{"--wait-lock", ctx.global.wait_lock_s},
        std::pair{"--poll-interval", ctx.global.poll_interval_s}}) {
    if (!std::isfinite(value) || value < 0 || value > snap::k_max_timeout_s) {
      return report(ctx, error,
                    {ErrorKind::usage,
                     fmt::format("{} {}: give seconds from 0 (no limit) "
                                 "to {}",
                                 flag, value, snap::k_max_timeout_s)});
    }
  }
  snap::set_poll_interval_ms(
      static_cast<long>(ctx.global.poll_interval_s * 1000.0));
  // A server answer of the wrong shape (a number where a string belongs)
  // that an adapter did not check ends here, as the target's failure.
  auto result = snap::guard_json(
      ErrorKind::remote,
      "the target answered with a document of an unexpected shape (run with "
      "-v to see the requests)",
      [&] { return ctx.runner(); });
  if (!result) {
    return report(ctx, error, result.error());
  }
  if (result->error) {
    result->error->message = without_secrets(result->error->message);
  }
  if (result->error && ctx.global.json) {
    result->json["error"] = snap::error_json(*result->error);
  }
  ctx.output->print(*result);
  if (result->error) {
    error = result->error->message;
    if (!ctx.global.json) {
      // inspect reports one archive per line (each already made safe).
      std::fprintf(stderr, "snap: %s\n",
                   snap::terminal_safe(result->error->message, true).c_str());
    }
    return snap::exit_code(result->error->kind);
  }
  return 0;
}

int run(int argc, char** argv) {
  snap::commands::Context ctx;
  ctx.output = std::make_unique<snap::Output>(ctx.global);
  ctx.run.started_at = unix_now();
  ctx.run.run_id = snap::new_run_id();
  std::string error;
  int code = run_command(argc, argv, ctx, error);
  if (snap::is_interrupted() && code != 0) {
    code = snap::interrupt_exit_code();
  }
  record_run(ctx, code, error);
  return code;
}

} // namespace

int main(int argc, char** argv) {
  // snap holds tokens, passwords and passphrases in memory: no core file
  // may keep them, whatever `ulimit -c` says.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit no_core {};
  ::setrlimit(RLIMIT_CORE, &no_core);
  collect_secret_values(argc, argv);
  snap::install_signal_handlers();
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snap: internal error: %s (please report it)\n",
                 e.what());
    return 1;
  }
}
