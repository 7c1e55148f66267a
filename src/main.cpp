// SPDX-License-Identifier: MIT
// Entry point: parses the command line, runs the chosen command, prints its
// result or its one-line error, and exits with the code of SPEC §4.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>

#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace {

using snap::ErrorKind;

constexpr std::string_view k_adapter_verbs[] = {
    "save", "restore", "download", "upload", "status", "list", "delete"};
constexpr std::string_view k_other_verbs[] = {"inspect", "prune", "adapters",
                                              "completion"};

bool takes_value(std::string_view opt) {
  return opt == "--timeout" || opt == "--stall-timeout" ||
         opt == "--wait-lock" || opt == "--retries" || opt == "--config" ||
         opt == "--passphrase-file" || opt == "--s3-endpoint";
}

// Catches an unknown verb or adapter before CLI11 does, so the message can
// say "did you mean".
std::optional<snap::Error> precheck(int argc, char** argv) {
  std::vector<std::string_view> words;
  for (int i = 1; i < argc && words.size() < 2; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      break;
    }
    if (a.starts_with("-")) {
      if (takes_value(a)) {
        ++i;
      }
      if (a == "-h" || a == "--help" || a == "--version") {
        return std::nullopt;
      }
      continue;
    }
    words.push_back(a);
  }
  if (words.empty()) {
    return std::nullopt;
  }
  std::vector<std::string> verbs;
  for (auto v : k_adapter_verbs) {
    verbs.emplace_back(v);
  }
  for (auto v : k_other_verbs) {
    verbs.emplace_back(v);
  }
  if (std::find(verbs.begin(), verbs.end(), words[0]) == verbs.end()) {
    std::string guess = snap::closest_match(words[0], verbs);
    return snap::Error{
        ErrorKind::usage,
        fmt::format("unknown command '{}' ({})", words[0],
                    guess.empty() ? "run 'snap --help'"
                                  : fmt::format("did you mean '{}'?", guess))};
  }
  bool adapter_verb =
      std::find(std::begin(k_adapter_verbs), std::end(k_adapter_verbs),
                words[0]) != std::end(k_adapter_verbs);
  if (adapter_verb && words.size() > 1 &&
      snap::find_adapter(words[1]) == nullptr) {
    return snap::unknown_adapter(words[1]);
  }
  return std::nullopt;
}

std::string version_text() {
  std::string out = fmt::format("snap {} (archive format {})\nadapters:\n",
                                SNAP_VERSION, snap::k_format_version);
  for (const auto& e : snap::all_adapters()) {
    out += fmt::format("  {:<14} {}\n", e.info().name, e.info().caps.names());
  }
  return out;
}

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

int report(snap::commands::Context& ctx, snap::Error err) {
  err.message = without_secrets(std::move(err.message));
  ctx.output->print_error(err);
  return snap::exit_code(err.kind);
}

int run(int argc, char** argv) {
  snap::commands::Context ctx;
  ctx.output = std::make_unique<snap::Output>(ctx.global);
  CLI::App app{"snap: back up and restore infrastructure systems through "
               "their own APIs, into verified archives",
               "snap"};
  app.footer("Exit status: 0 ok, 1 failed, 2 usage, 3 partial, 4 cannot "
             "reach target, 5 auth refused, 6 not found, 7 archive invalid, "
             "8 verb not supported, 9 target locked by another snap, 10 "
             "status: not ready, 130 interrupted. See snap(1).");
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--json", ctx.global.json, "print one JSON document on stdout");
  app.add_flag("-q,--quiet", ctx.global.quiet, "print only errors");
  app.add_flag("-v,--verbose", ctx.global.verbose,
               "log every request and retry on stderr");
  app.add_flag("--no-progress", ctx.global.no_progress,
               "never draw the progress bar");
  app.add_option("--timeout", ctx.global.timeout_s,
                 "give up on each request after SECONDS, retries included "
                 "(default: no limit)");
  app.add_option("--stall-timeout", ctx.global.stall_timeout_s,
                 "give up on a request in which no byte moves for SECONDS "
                 "(default 600; 0: never)");
  app.add_option("--wait-lock", ctx.global.wait_lock_s,
                 "when another snap works on the same target, wait up to "
                 "SECONDS for it (default 0: exit 9 at once)");
  app.add_option("--retries", ctx.global.retries,
                 "retries of a safe request after a connection error or "
                 "429/502/503/504 (default 3)");
  app.add_option("--config", ctx.global.config,
                 "config file with profiles (default: SNAP_CONFIG, else "
                 "$XDG_CONFIG_HOME/snap/config.json)");
  app.add_option("--passphrase-file", ctx.global.passphrase_file,
                 "file holding the passphrase of encrypted archives (or "
                 "SNAP_PASSPHRASE)");
  app.add_option("--s3-endpoint", ctx.global.s3_endpoint,
                 "S3-compatible store for s3:// archives, addressed path-style "
                 "(default: AWS, or AWS_ENDPOINT_URL_S3)");
  app.add_flag("--version", version, "print the version and adapters");

  using namespace snap::commands;
  add_save_command(app, ctx);
  add_inspect_command(app, ctx);
  add_restore_command(app, ctx);
  add_download_command(app, ctx);
  add_upload_command(app, ctx);
  add_status_command(app, ctx);
  add_list_command(app, ctx);
  add_delete_command(app, ctx);
  add_prune_command(app, ctx);
  add_adapters_command(app, ctx);
  add_completion_command(app, ctx);
  for (CLI::App* verb : app.get_subcommands({})) {
    std::string name = verb->get_name();
    if (std::find(std::begin(k_adapter_verbs), std::end(k_adapter_verbs),
                  name) != std::end(k_adapter_verbs)) {
      verb->require_subcommand(1);
    }
  }

  if (auto err = precheck(argc, argv)) {
    for (int i = 1; i < argc; ++i) {
      ctx.global.json |= std::string_view(argv[i]) == "--json";
    }
    return report(ctx, *err);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e) &&
        msg.find("subcommand") != std::string::npos) {
      msg = "missing adapter: say which system, e.g. 'snap save consul' (run "
            "'snap adapters' to list them)";
    }
    return report(
        ctx, {ErrorKind::usage, fmt::format("{} (see 'snap --help')", msg)});
  }
  if (version) {
    std::fputs(version_text().c_str(), stdout);
    return 0;
  }
  if (!ctx.runner) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (ctx.global.retries < 0 || ctx.global.retries > 100) {
    return report(
        ctx, {ErrorKind::usage,
              fmt::format("--retries {}: give 0 to 100", ctx.global.retries)});
  }
  // NaN, infinity (1e400 reads as that) and the absurd are refused: the
  // value becomes milliseconds for curl.
  for (auto [flag, value] :
       {std::pair{"--timeout", ctx.global.timeout_s},
        std::pair{"--stall-timeout", ctx.global.stall_timeout_s},
        std::pair{"--wait-lock", ctx.global.wait_lock_s}}) {
    if (!std::isfinite(value) || value < 0 || value > snap::k_max_timeout_s) {
      return report(ctx, {ErrorKind::usage,
                          fmt::format("{} {}: give seconds from 0 (no limit) "
                                      "to {}",
                                      flag, value, snap::k_max_timeout_s)});
    }
  }
  // A server answer of the wrong shape (a number where a string belongs)
  // that an adapter did not check ends here, as the target's failure.
  auto result = snap::guard_json(
      ErrorKind::remote,
      "the target answered with a document of an unexpected shape (run with "
      "-v to see the requests)",
      [&] { return ctx.runner(); });
  if (!result) {
    return report(ctx, result.error());
  }
  if (result->error) {
    result->error->message = without_secrets(result->error->message);
  }
  if (result->error && ctx.global.json) {
    result->json["error"] = {{"kind", snap::kind_name(result->error->kind)},
                             {"message", result->error->message}};
  }
  ctx.output->print(*result);
  if (result->error) {
    if (!ctx.global.json) {
      // inspect reports one archive per line (each already made safe).
      std::fprintf(stderr, "snap: %s\n",
                   snap::terminal_safe(result->error->message, true).c_str());
    }
    return snap::exit_code(result->error->kind);
  }
  return 0;
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
    int code = run(argc, argv);
    if (snap::is_interrupted() && code != 0) {
      return 130;
    }
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snap: internal error: %s (please report it)\n",
                 e.what());
    return 1;
  }
}
