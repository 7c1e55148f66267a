// SPDX-License-Identifier: MIT
// The command tree: every verb's flags and help, the completion scripts made
// from that tree, and the parse of a command line into a verb to run. This
// is the only file that includes CLI11 (each file that does costs several
// CPU-seconds to compile), so the verbs themselves build against plain
// option structs (commands.hpp).
#include <CLI/CLI.hpp>

#include <algorithm>

#include "commands/commands.hpp"
#include "snap/profile.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

void add_adapter_subcommands(CLI::App& verb, Capability cap, AdapterArgs& args,
                             const std::function<void(CLI::App&)>& extra,
                             const std::function<void()>& on_chosen) {
  for (const auto& entry : all_adapters()) {
    const AdapterInfo& info = entry.info();
    bool supported = info.caps.has(cap);
    std::string summary(info.summary);
    if (!supported) {
      summary += fmt::format(" [{} not supported]", verb_name(cap));
    }
    CLI::App* sub = verb.add_subcommand(std::string(info.name), summary);
    if (!entry.alias.empty()) {
      sub->alias(std::string(entry.alias));
    }
    // An adapter that lacks the verb takes the same arguments, so the
    // answer is always exit 8 naming the verbs it has, not a usage error.
    sub->fallthrough();
    extra(*sub);
    if (!info.operands.empty() &&
        (cap == Capability::save || cap == Capability::restore)) {
      std::string name(info.operands);
      sub->add_option(name, args.operands,
                      fmt::format("{}s to act on (see man snap)", name));
    }
    {
      auto* g = sub->add_option_group("Connection");
      g->add_option("--addr", args.conn.addr,
                    info.default_addr.empty()
                        ? std::string("address of the target (default: from "
                                      "the kubeconfig)")
                        : fmt::format("address of the target (default {})",
                                      info.default_addr));
      std::string names = "--token-file";
      if (!info.token_file_alias.empty()) {
        names += fmt::format(",--{}", info.token_file_alias);
      }
      g->add_option(names, args.conn.token_file,
                    "file holding the access token");
      g->add_option("--user", args.conn.user, "user name for basic auth");
      g->add_option("--password-file", args.conn.password_file,
                    "file holding the password for --user");
      g->add_option("--ca-file", args.conn.ca_file,
                    "CA bundle to verify the server's TLS certificate");
      g->add_option("--cert-file", args.conn.cert_file,
                    "client certificate for mutual TLS");
      g->add_option("--key-file", args.conn.key_file,
                    "client key for mutual TLS");
      g->add_option("--ca-path", args.conn.ca_path,
                    "directory of CA certificates (PEM files) to verify the "
                    "server's TLS certificate");
      g->add_option("--tls-server-name", args.conn.tls_server_name,
                    "name the server's TLS certificate must carry, when not "
                    "the address's host (server.dc1.consul)");
      g->add_flag("--insecure", args.conn.insecure,
                  "do not verify the server's TLS certificate");
      g->add_option("--profile", args.conn.profile,
                    "take unset connection settings and flags from this "
                    "profile of the config file");
    }
    if (supported) {
      for (const auto& flag : info.flags) {
        if (std::find(flag.verbs.begin(), flag.verbs.end(), cap) ==
            flag.verbs.end()) {
          continue;
        }
        if (flag.repeatable) {
          // One value an occurrence: a vector option would otherwise take
          // the operands after it too (--namespace a RESOURCE).
          sub->add_option("--" + flag.name, args.lists[flag.name],
                          flag.help + " (repeatable)")
              ->allow_extra_args(false);
        } else if (flag.takes_value) {
          sub->add_option("--" + flag.name, args.values[flag.name], flag.help);
        } else {
          sub->add_flag("--" + flag.name, args.switches[flag.name], flag.help);
        }
      }
    }
    const AdapterEntry* chosen = &entry;
    sub->callback([&args, chosen, on_chosen] {
      args.adapter = chosen;
      on_chosen();
    });
  }
}

// Shell completion: scripts made from this same tree, so they never fall
// behind the flags. Each finds the verb and adapter already typed (skipping
// the global options that take a value, with their value), then offers that
// place's flags, or files where it takes files.

struct FlagInfo {
  std::string name; // --long
  bool takes_value = false;
  std::string help;
};

// The long flags of `app` and of its option groups, each once.
void collect_flags(const CLI::App& app, std::vector<FlagInfo>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) {
      continue; // hidden
    }
    for (const auto& name : opt->get_lnames()) {
      if (std::none_of(out.begin(), out.end(), [&](const FlagInfo& f) {
            return f.name == "--" + name;
          })) {
        out.push_back(
            {"--" + name, opt->get_expected_max() > 0, opt->get_description()});
      }
    }
  }
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App*) { return true; })) {
    if (dynamic_cast<const CLI::Option_group*>(sub) != nullptr) {
      collect_flags(*sub, out);
    }
  }
}

std::vector<FlagInfo> flags_of(const CLI::App& app) {
  std::vector<FlagInfo> flags;
  collect_flags(app, flags);
  return flags;
}

std::string flag_words(const CLI::App& app) {
  std::string out;
  for (const auto& f : flags_of(app)) {
    out += (out.empty() ? "" : " ") + f.name;
  }
  return out;
}

std::vector<const CLI::App*> commands_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) {
    return dynamic_cast<const CLI::Option_group*>(sub) == nullptr;
  });
}

// A command's name and its aliases (elasticsearch, es).
std::vector<std::string> names_of(const CLI::App& app) {
  std::vector<std::string> out{app.get_name()};
  for (const auto& a : app.get_aliases()) {
    out.push_back(a);
  }
  return out;
}

// The global options that take a value, joined by `sep`.
std::string value_options(const CLI::App& root, std::string_view sep) {
  std::string out;
  for (const auto& f : flags_of(root)) {
    if (f.takes_value) {
      out += (out.empty() ? "" : std::string(sep)) + f.name;
    }
  }
  return out;
}

// Verbs whose words after the verb (or adapter) are files: archives, dirs.
bool takes_files(const CLI::App& verb) {
  const std::string& v = verb.get_name();
  return v == "restore" || v == "upload" || v == "inspect" || v == "prune" ||
         v == "status" || v == "diff" || v == "export";
}

std::string bash_script(const CLI::App& root) {
  std::string verbs;
  std::string cases;
  for (const CLI::App* verb : commands_of(root)) {
    const std::string& v = verb->get_name();
    verbs += (verbs.empty() ? "" : " ") + v;
    std::string adapters;
    for (const CLI::App* adapter : commands_of(*verb)) {
      adapters += (adapters.empty() ? "" : " ") + adapter->get_name();
      std::string pattern;
      for (const auto& name : names_of(*adapter)) {
        pattern +=
            fmt::format("{}\"{}/{}\"", pattern.empty() ? "" : "|", v, name);
      }
      cases += fmt::format("    {}) words=\"{}\"; files={} ;;\n", pattern,
                           flag_words(*adapter), takes_files(*verb) ? 1 : 0);
    }
    bool files = adapters.empty() && takes_files(*verb);
    cases += fmt::format("    \"{}/\") words=\"{}\"; files={} ;;\n", v,
                         adapters.empty() ? flag_words(*verb) : adapters,
                         files ? 1 : 0);
  }
  return fmt::format(
      R"SH(# bash completion for snap, made by 'snap completion bash'.
# Load it with: source <(snap completion bash)
_snap() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev="" verb="" adapter="" w i skip=0
  local -a cfg=()
  ((COMP_CWORD > 0)) && prev=${{COMP_WORDS[COMP_CWORD - 1]}}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${{COMP_WORDS[i]}}
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      --config) cfg=(--config "${{COMP_WORDS[i + 1]}}"); skip=1; continue ;;
      {}) skip=1; continue ;;
      -*) continue ;;
    esac
    if [[ -z $verb ]]; then verb=$w
    elif [[ -z $adapter ]]; then adapter=$w
    fi
  done
  if [[ $prev == --profile ]]; then
    COMPREPLY=($(compgen -W "$("${{COMP_WORDS[0]}}" "${{cfg[@]}}" completion --profile-names 2>/dev/null)" -- "$cur"))
    return
  fi
  local words="" files=0
  case "$verb/$adapter" in
    "/") words="{} {}" ;;
{}  esac
  if [[ $cur != -* && $files == 1 ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}}
complete -o default -F _snap snap
)SH",
      value_options(root, "|"), verbs, flag_words(root), cases);
}

// A single-quoted fish string.
std::string fish_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

std::string fish_flags(const CLI::App& app, const std::string& where) {
  std::string out;
  for (const auto& f : flags_of(app)) {
    out += fmt::format("complete -c snap -n {} -l {}{} -d {}\n",
                       fish_quote("__snap_at " + where), f.name.substr(2),
                       f.takes_value ? " -r" : "", fish_quote(f.help));
  }
  return out;
}

std::string fish_script(const CLI::App& root) {
  std::string body = fish_flags(root, "/");
  for (const CLI::App* verb : commands_of(root)) {
    const std::string& v = verb->get_name();
    body += fmt::format("complete -c snap -n '__snap_at /' -a {} -d {}\n", v,
                        fish_quote(verb->get_description()));
    auto adapters = commands_of(*verb);
    if (adapters.empty()) {
      body += fish_flags(*verb, v + "/");
      if (takes_files(*verb)) {
        body += fmt::format("complete -c snap -n '__snap_at {}/' -F\n", v);
      }
      continue;
    }
    for (const CLI::App* adapter : adapters) {
      body += fmt::format("complete -c snap -n '__snap_at {}/' -a {} -d {}\n",
                          v, adapter->get_name(),
                          fish_quote(adapter->get_description()));
      std::string where;
      for (const auto& name : names_of(*adapter)) {
        where += (where.empty() ? "" : " ") + v + "/" + name;
      }
      body += fish_flags(*adapter, where);
      if (takes_files(*verb)) {
        body += fmt::format("complete -c snap -n {} -F\n",
                            fish_quote("__snap_at " + where));
      }
    }
  }
  return fmt::format(
      R"SH(# fish completion for snap, made by 'snap completion fish'.
# Load it with: snap completion fish | source
function __snap_at --description 'is the command line at verb/adapter ARGV?'
    set -l words (commandline -opc)
    set -e words[1]
    set -l verb ''
    set -l adapter ''
    set -l skip 0
    for w in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $w
            case {}
                set skip 1
                continue
            case '-*'
                continue
        end
        if test -z "$verb"
            set verb $w
        else if test -z "$adapter"
            set adapter $w
        end
    end
    contains -- "$verb/$adapter" $argv
end
function __snap_profiles --description 'the profiles of the config file'
    set -l words (commandline -opc)
    set -l cfg
    if set -l i (contains -i -- --config $words)
        set cfg --config $words[(math $i + 1)]
    end
    $words[1] $cfg completion --profile-names 2>/dev/null
end
complete -c snap -f
complete -c snap -l profile -r -f -a '(__snap_profiles)'
{})SH",
      value_options(root, " "), body);
}

struct CompletionOptions {
  std::string shell;
  bool profile_names = false;
};

// The flags of a verb that writes an archive (save, download, import):
// --force and --encrypt, and --label where `labels` is given.
void add_archive_flags(CLI::App& sub, bool& force, bool& encrypt,
                       std::vector<std::string>* labels = nullptr) {
  if (labels != nullptr) {
    sub.add_option("--label", *labels,
                   "key=value recorded in the manifest (repeatable)")
        ->allow_extra_args(false);
  }
  sub.add_flag("--force", force, "replace the file -o names if it exists");
  sub.add_flag("--encrypt", encrypt,
               "encrypt the payload with AES-256 (passphrase from "
               "--passphrase-file or SNAP_PASSPHRASE)");
}

void add_save_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<SaveOptions>();
  CLI::App* verb = app.add_subcommand(
      "save", "take a new backup now and write a verified archive");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::save, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("-o,--output", opts->out,
                       "archive file, or directory for "
                       "<adapter>-<id>-<time>.zip (default: .)");
        sub.add_option("--keep", opts->keep,
                       "then keep only the newest N archives of this adapter, "
                       "target, kind and labels in that directory")
            ->each([opts](const std::string&) { opts->keep_given = true; });
        sub.add_flag("--prune-target", opts->prune_target,
                     "with --keep, also delete on the target the backups "
                     "snap's saves left there for the archives removed");
        add_archive_flags(sub, opts->force, opts->encrypt, &opts->labels);
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_save(*opts, ctx); };
      });
}

void add_schedule_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ScheduleOptions>();
  CLI::App* verb = app.add_subcommand(
      "schedule", "print (or --apply) a Kubernetes CronJob that runs a save "
                  "on a schedule, with its account, least RBAC and volume");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::save, opts->save.args,
      [opts](CLI::App& sub) {
        ScheduleOptions& o = *opts;
        sub.add_option("--cron", o.cron,
                       "when to run, as a five-field cron line "
                       "('0 3 * * *') or @daily, @hourly, …")
            ->required();
        sub.add_option("--image", o.image,
                       "the container image with snap in it")
            ->required();
        sub.add_option("--keep", o.save.keep,
                       "keep the newest N archives of this schedule on the "
                       "archive volume (required there)")
            ->each(
                [opts](const std::string&) { opts->save.keep_given = true; });
        sub.add_option("-o,--output", o.save.out,
                       "where the pod writes archives: under /backups/ (the "
                       "archive volume, default) or s3://");
        sub.add_flag("--prune-target", o.save.prune_target,
                     "also delete on the target the backups of archives "
                     "--keep removes");
        sub.add_option("--label", o.save.labels,
                       "key=value recorded in each manifest (repeatable)")
            ->allow_extra_args(false);
        sub.add_flag("--encrypt", o.save.encrypt,
                     "encrypt each archive (passphrase from --env-secret's "
                     "SNAP_PASSPHRASE or a --passphrase-file in --secret)");
        sub.add_option("--name", o.name,
                       "name of the CronJob and its objects (default "
                       "snap-<adapter>)");
        sub.add_option("--time-zone", o.time_zone,
                       "time zone of --cron (tz database name; default the "
                       "controller's)");
        sub.add_option("--secret", o.secret,
                       "Secret mounted read-only at /var/run/secrets/snap "
                       "for --token-file and the like");
        sub.add_option("--env-secret", o.env_secret,
                       "Secret whose keys become the pod's environment "
                       "(CONSUL_HTTP_TOKEN, SNAP_PASSPHRASE, AWS_…)");
        sub.add_option("--claim", o.claim,
                       "an existing PersistentVolumeClaim for the archives "
                       "(default: make <name>-archives)");
        sub.add_option("--storage", o.storage,
                       "size of the archive volume snap makes (default "
                       "10Gi)");
        sub.add_option("--storage-class", o.storage_class,
                       "storage class of the archive volume snap makes");
        sub.add_flag("--apply", o.apply,
                     "create or update the objects through the Kubernetes "
                     "API instead of printing them");
        // Where the schedule goes; an adapter that works in the cluster
        // declares these flags itself, and they mean the same cluster.
        const AdapterEntry* entry = find_adapter(sub.get_name());
        auto has = [&](const char* name) {
          for (const auto& f : entry->info().flags) {
            if (f.name == name) {
              return true;
            }
          }
          return false;
        };
        for (const auto& [flag, help] :
             std::vector<std::pair<const char*, const char*>>{
                 {"kubeconfig", "kubeconfig for --apply (default: "
                                "$KUBECONFIG, ~/.kube/config)"},
                 {"context", "kubeconfig context for --apply"},
                 {"namespace", "namespace of the CronJob (default: the "
                               "context's with --apply, else default)"}}) {
          if (!has(flag)) {
            sub.add_option(std::string("--") + flag, o.save.args.values[flag],
                           help);
          }
        }
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_schedule(*opts, ctx); };
      });
}

void add_inspect_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* verb = app.add_subcommand(
      "inspect", "show an archive's manifest and payload, verifying it");
  verb->fallthrough();
  verb->add_option("archive", opts->paths, "archive files")->required();
  verb->add_flag("--no-verify", opts->no_verify,
                 "skip re-hashing the payload (structure is still checked)");
  verb->add_flag("--kvdetails", opts->kv_details,
                 "Consul: break the KV store down by key prefix");
  verb->add_option("--kvdepth", opts->kv_depth,
                   "Consul: the key prefix depth, in '/' parts (default 2)")
      ->check(CLI::Range(1, 1000));
  verb->add_option("--kvfilter", opts->kv_filter,
                   "Consul: only keys that start with this prefix");
  verb->callback([opts, verb, &ctx] {
    // Either one asks for the breakdown (consul ignores them without it).
    if (verb->count("--kvdepth") > 0 || verb->count("--kvfilter") > 0) {
      opts->kv_details = true;
    }
    ctx.runner = [opts, &ctx] { return run_inspect(*opts, ctx); };
  });
}

void add_restore_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<RestoreOptions>();
  CLI::App* verb = app.add_subcommand(
      "restore", "verify an archive, then restore it into the target");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::restore, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("archive", opts->archive, "archive to restore")
            ->required();
        sub.add_flag("-y,--yes", opts->yes,
                     "do not ask; required when not on a terminal");
        sub.add_flag("--dry-run", opts->dry_run,
                     "verify and print the plan; change nothing");
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_restore(*opts, ctx); };
      });
}

void add_download_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<DownloadOptions>();
  CLI::App* verb = app.add_subcommand(
      "download", "pack a backup the target already holds into an archive");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::download, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("backup-id", opts->id, "the target's backup id")
            ->required();
        sub.add_option("-o,--output", opts->out,
                       "archive file, or directory (default: .)");
        add_archive_flags(sub, opts->force, opts->encrypt);
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_download(*opts, ctx); };
      });
}

void add_upload_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<UploadOptions>();
  CLI::App* verb = app.add_subcommand(
      "upload", "push an archive's payload to the target without restoring");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::upload, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("archive", opts->archive, "archive to upload")
            ->required();
        sub.add_option("--id", opts->id,
                       "backup id on the target (default: the archive's)");
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_upload(*opts, ctx); };
      });
}

void add_import_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ImportOptions>();
  CLI::App* verb = app.add_subcommand(
      "import", "wrap a backup file the system's own tools made (consul "
                "snapshot save) into a verified archive");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::import_native, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("file", opts->file, "the system's backup file")
            ->required();
        sub.add_option("-o,--output", opts->out,
                       "archive file, or directory (default: .)");
        add_archive_flags(sub, opts->force, opts->encrypt, &opts->labels);
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_import(*opts, ctx); };
      });
}

void add_export_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* verb = app.add_subcommand(
      "export", "verify an archive and write out the system's own backup "
                "file it holds (consul.snap)");
  verb->fallthrough();
  verb->add_option("archive", opts->archive, "archive file")->required();
  verb->add_option("-o,--output", opts->out,
                   "file, or directory for <adapter>-<id>.<ext> (default: .)");
  verb->add_flag("--force", opts->force,
                 "replace the file -o names if it exists");
  verb->callback([opts, &ctx] {
    ctx.runner = [opts, &ctx] { return run_export(*opts, ctx); };
  });
}

void add_diff_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<DiffOptions>();
  CLI::App* verb = app.add_subcommand(
      "diff", "what changed between two archives of one adapter, from their "
              "manifests (Consul: records and KV prefixes)");
  verb->fallthrough();
  verb->add_option("old", opts->old_archive, "the older archive")->required();
  verb->add_option("new", opts->new_archive, "the newer archive")->required();
  verb->callback([opts, &ctx] {
    ctx.runner = [opts, &ctx] { return run_diff(*opts, ctx); };
  });
}

void add_status_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<StatusOptions>();
  CLI::App* verb = app.add_subcommand(
      "status", "show what the target is doing, or whether it is ready");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::status, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("backup-id", opts->id,
                       "a backup to report on, by id or by its archive");
        sub.add_flag("--watch", opts->watch,
                     "repeat until the operation reaches a terminal state");
        sub.add_option("--interval", opts->interval_s,
                       "seconds between --watch polls (default 2)");
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_status(*opts, ctx); };
      });
}

void add_list_command(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<AdapterArgs>();
  CLI::App* verb =
      app.add_subcommand("list", "list the backups the target itself holds");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::list, *args, [](CLI::App&) {},
      [args, &ctx] {
        ctx.runner = [args, &ctx] { return run_list(*args, ctx); };
      });
}

void add_delete_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<DeleteOptions>();
  CLI::App* verb =
      app.add_subcommand("delete", "remove one backup that the target holds");
  verb->fallthrough();
  add_adapter_subcommands(
      *verb, Capability::remove, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("backup-id", opts->id, "the target's backup id")
            ->required();
        sub.add_flag("-y,--yes", opts->yes,
                     "do not ask; required when not on a terminal");
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_delete(*opts, ctx); };
      });
}

void add_prune_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<PruneOptions>();
  CLI::App* verb = app.add_subcommand(
      "prune", "delete old archives in a directory by retention rules");
  verb->fallthrough();
  verb->add_option("dir", opts->dir,
                   "directory of archives, or s3://bucket/prefix/");
  verb->add_option("--keep-last", opts->policy.last, "keep the newest N");
  verb->add_option("--keep-hourly", opts->policy.hourly,
                   "keep the newest of each of the last N hours");
  verb->add_option("--keep-daily", opts->policy.daily,
                   "keep the newest of each of the last N days");
  verb->add_option("--keep-weekly", opts->policy.weekly,
                   "keep the newest of each of the last N ISO weeks");
  verb->add_option("--keep-monthly", opts->policy.monthly,
                   "keep the newest of each of the last N months");
  verb->add_option("--keep-yearly", opts->policy.yearly,
                   "keep the newest of each of the last N years");
  verb->add_option("--keep-within", opts->keep_within,
                   "keep all made within this span of a group's newest "
                   "(e.g. 7d, 36h, 1y6m)");
  verb->add_option("--group-by", opts->group_by,
                   "also group by labels, or label:KEY (repeatable)")
      ->allow_extra_args(false);
  verb->add_option("--adapter", opts->adapter, "only archives of this adapter");
  verb->add_flag("--dry-run", opts->dry_run, "print the decisions only");
  // Given without an adapter: run_prune says how to name one.
  verb->add_flag("--prune-target", opts->prune_target)->group("");
  auto chosen = [opts, &ctx] {
    ctx.runner = [opts, &ctx] { return run_prune(*opts, ctx); };
  };
  verb->callback(chosen);
  // snap prune <adapter> DIR --prune-target: the delete verb's connection
  // and flags reach the target.
  add_adapter_subcommands(
      *verb, Capability::remove, opts->args,
      [opts](CLI::App& sub) {
        sub.add_option("dir", opts->dir, "directory of archives")->required();
        sub.add_flag("--prune-target", opts->prune_target,
                     "also delete on the target the backups snap's saves "
                     "left there for the archives removed");
      },
      chosen);
}

void add_completion_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<CompletionOptions>();
  CLI::App* verb = app.add_subcommand(
      "completion", "print a shell completion script (bash, zsh or fish)");
  verb->fallthrough();
  verb->add_option("shell", opts->shell, "bash, zsh or fish")
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  // What the scripts call to offer --profile's names; not for people.
  verb->add_flag("--profile-names", opts->profile_names)->group("");
  verb->callback([opts, &ctx, &app] {
    // The tree is gone once parsing returns: the script is made now.
    std::string script = opts->shell == "fish" ? fish_script(app)
                         : opts->shell.empty() ? ""
                                               : bash_script(app);
    ctx.runner = [opts, script, &ctx]() -> Expected<CommandResult> {
      CommandResult r;
      if (opts->profile_names) {
        auto names = SNAP_TRY(
            profile_names(config_path(ctx.global.config, process_env())));
        for (const auto& n : names) {
          r.text += (r.text.empty() ? "" : "\n") + n;
        }
        r.json = {{"profiles", names}};
        return r;
      }
      if (opts->shell.empty()) {
        return fail(ErrorKind::usage,
                    "completion: say which shell: bash, zsh or fish");
      }
      r.text = script;
      if (opts->shell == "zsh") {
        r.text = "#compdef snap\n# zsh completion for snap, made by 'snap "
                 "completion zsh'.\nautoload -U +X bashcompinit && "
                 "bashcompinit\n" +
                 script;
      }
      r.json = {{"shell", opts->shell}, {"script", r.text}};
      return r;
    };
  });
}

// The verbs of the tree, and whether each one takes an adapter.
// The verbs, each with whether its next word must be an adapter (prune's
// may be its directory instead).
std::vector<std::pair<std::string, bool>> verbs_of(const CLI::App& app) {
  std::vector<std::pair<std::string, bool>> out;
  for (const CLI::App* verb : commands_of(app)) {
    bool own_operands = !verb->get_options([](const CLI::Option* o) {
                               return o->get_positional();
                             })
                             .empty();
    out.emplace_back(verb->get_name(),
                     !commands_of(*verb).empty() && !own_operands);
  }
  return out;
}

// Whether `word` names a global option that takes a value (--timeout 5).
bool takes_value(const CLI::App& app, std::string_view word) {
  if (!word.starts_with("--") || word.find('=') != std::string_view::npos) {
    return false;
  }
  const CLI::Option* opt = nullptr;
  try {
    opt = app.get_option_no_throw(std::string(word));
  } catch (const CLI::Error&) {
  }
  return opt != nullptr && opt->get_expected_max() > 0;
}

// Catches an unknown verb or adapter before CLI11 does, so the message can
// say "did you mean".
std::optional<Error> precheck(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string_view> words;
  for (int i = 1; i < argc && words.size() < 2; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      break;
    }
    if (a.starts_with("-")) {
      if (a == "-h" || a == "--help" || a == "--version") {
        return std::nullopt;
      }
      if (takes_value(app, a)) {
        ++i;
      }
      continue;
    }
    words.push_back(a);
  }
  if (words.empty()) {
    return std::nullopt;
  }
  auto verbs = verbs_of(app);
  auto verb = std::find_if(verbs.begin(), verbs.end(),
                           [&](const auto& v) { return v.first == words[0]; });
  if (verb == verbs.end()) {
    std::vector<std::string> names;
    for (const auto& v : verbs) {
      names.push_back(v.first);
    }
    std::string guess = closest_match(words[0], names);
    return Error{ErrorKind::usage,
                 fmt::format("unknown command '{}' ({})", words[0],
                             guess.empty()
                                 ? "run 'snap --help'"
                                 : fmt::format("did you mean '{}'?", guess))};
  }
  if (verb->second && words.size() > 1 && find_adapter(words[1]) == nullptr) {
    return unknown_adapter(words[1]);
  }
  return std::nullopt;
}

std::string version_text() {
  std::string out = fmt::format("snap {} (archive format {})\nadapters:\n",
                                SNAP_VERSION, k_format_version);
  for (const auto& e : all_adapters()) {
    out += fmt::format("  {:<14} {}\n", e.info().name, e.info().caps.names());
  }
  return out;
}

void add_global_options(CLI::App& app, GlobalOptions& global, bool& version) {
  app.footer("Exit status: 0 ok, 1 failed, 2 usage, 3 partial, 4 cannot "
             "reach target, 5 auth refused, 6 not found, 7 archive invalid, "
             "8 verb not supported, 9 target locked by another snap, 10 "
             "status: not ready, 130 interrupted. See snap(1).");
  app.require_subcommand(0, 1);
  app.add_flag("--json", global.json, "print one JSON document on stdout");
  app.add_flag("-q,--quiet", global.quiet, "print only errors");
  app.add_flag("-v,--verbose", global.verbose,
               "log every request and retry on stderr");
  app.add_flag("--no-progress", global.no_progress,
               "never draw the progress bar");
  app.add_option("--timeout", global.timeout_s,
                 "give up on each request after SECONDS, retries included "
                 "(default: no limit)");
  app.add_option("--stall-timeout", global.stall_timeout_s,
                 "give up on a request in which no byte moves for SECONDS "
                 "(default 600; 0: never)");
  app.add_option("--wait-lock", global.wait_lock_s,
                 "when another snap works on the same target, wait up to "
                 "SECONDS for it (default 0: exit 9 at once)");
  app.add_option("--poll-interval", global.poll_interval_s,
                 "longest wait in SECONDS between two questions about a task "
                 "the target runs (default: up to 5, growing from 0.2)")
      ->envname("SNAP_POLL_INTERVAL");
  app.add_option("--retries", global.retries,
                 "retries of a safe request after a connection error or "
                 "429/502/503/504 (default 3)");
  app.add_option("--config", global.config,
                 "config file with profiles (default: SNAP_CONFIG, else "
                 "$XDG_CONFIG_HOME/snap/config.json)");
  app.add_option("--passphrase-file", global.passphrase_file,
                 "file holding the passphrase of encrypted archives (or "
                 "SNAP_PASSPHRASE)");
  app.add_option("--s3-endpoint", global.s3_endpoint,
                 "S3-compatible store for s3:// archives, addressed path-style "
                 "(default: AWS, or AWS_ENDPOINT_URL_S3)");
  app.add_option("--metrics-file", global.metrics_file,
                 "after a save, download, restore, upload or delete, merge "
                 "its result into this Prometheus textfile (node_exporter)");
  app.add_option("--notify-url", global.notify_url,
                 "POST the run's start (URL/start), success (URL) or failure "
                 "(URL/fail) there, as healthchecks.io takes them");
  app.add_flag("--version", version, "print the version and adapters");
}

void add_adapters_command(CLI::App& app, Context& ctx) {
  CLI::App* verb =
      app.add_subcommand("adapters", "list the adapters and their verbs");
  verb->fallthrough();
  verb->callback([&ctx] {
    ctx.runner = []() -> Expected<CommandResult> { return run_adapters(); };
  });
}

} // namespace

Expected<std::optional<int>> parse_command_line(int argc, char** argv,
                                                Context& ctx) {
  CLI::App app{"snap: back up and restore infrastructure systems through "
               "their own APIs, into verified archives",
               "snap"};
  bool version = false;
  add_global_options(app, ctx.global, version);
  add_save_command(app, ctx);
  add_inspect_command(app, ctx);
  add_restore_command(app, ctx);
  add_download_command(app, ctx);
  add_upload_command(app, ctx);
  add_import_command(app, ctx);
  add_export_command(app, ctx);
  add_diff_command(app, ctx);
  add_status_command(app, ctx);
  add_list_command(app, ctx);
  add_delete_command(app, ctx);
  add_prune_command(app, ctx);
  add_schedule_command(app, ctx);
  add_adapters_command(app, ctx);
  add_completion_command(app, ctx);
  for (const auto& [name, needs_adapter] : verbs_of(app)) {
    app.get_subcommand(name)->require_subcommand(needs_adapter ? 1 : 0,
                                                 needs_adapter ? 1 : 1);
  }

  if (auto err = precheck(app, argc, argv)) {
    for (int i = 1; i < argc; ++i) {
      ctx.global.json |= std::string_view(argv[i]) == "--json";
    }
    return tl::unexpected(*err);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return std::optional<int>(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return std::optional<int>(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e) &&
        msg.find("subcommand") != std::string::npos) {
      msg = "missing adapter: say which system, e.g. 'snap save consul' (run "
            "'snap adapters' to list them)";
    }
    return fail(ErrorKind::usage, fmt::format("{} (see 'snap --help')", msg));
  }
  // The verbs that monitoring records: those that copy or change backups.
  for (const CLI::App* verb : app.get_subcommands()) {
    for (std::string_view v :
         {"save", "download", "restore", "upload", "delete"}) {
      if (verb->get_name() == v) {
        ctx.run.verb = std::string(v);
      }
    }
  }
  if (version) {
    std::string text =
        ctx.global.json ? version_json().dump(2) + "\n" : version_text();
    std::fputs(text.c_str(), stdout);
    return std::optional<int>(0);
  }
  if (!ctx.runner) {
    std::fputs(app.help().c_str(), stdout);
    return std::optional<int>(0);
  }
  return std::optional<int>();
}

} // namespace snap::commands
