// SPDX-License-Identifier: MIT
// snap completion bash|zsh: a completion script generated from the same
// command tree that --help prints, so it never falls behind the flags.
#include "commands/commands.hpp"

namespace snap::commands {
namespace {

// The long flags of `app` and of its option groups, each once.
void collect_flags(const CLI::App& app, std::vector<std::string>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& name : opt->get_lnames()) {
      if (std::find(out.begin(), out.end(), "--" + name) == out.end()) {
        out.push_back("--" + name);
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

std::string flags_of(const CLI::App& app) {
  std::vector<std::string> flags;
  collect_flags(app, flags);
  std::string out;
  for (const auto& f : flags) {
    out += (out.empty() ? "" : " ") + f;
  }
  return out;
}

std::vector<const CLI::App*> commands_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) {
    return dynamic_cast<const CLI::Option_group*>(sub) == nullptr;
  });
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
      cases += fmt::format("    \"{}/{}\") words=\"{}\"; files=1 ;;\n", v,
                           adapter->get_name(), flags_of(*adapter));
    }
    bool takes_files = adapters.empty() && v != "adapters";
    cases += fmt::format("    \"{}/\") words=\"{}\"; files={} ;;\n", v,
                         adapters.empty() ? flags_of(*verb) : adapters,
                         takes_files ? 1 : 0);
  }
  return fmt::format(
      R"(# bash completion for snap, made by 'snap completion bash'.
# Load it with: source <(snap completion bash)
_snap() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} verb="" adapter="" w i skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${{COMP_WORDS[i]}}
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      --timeout|--retries) skip=1; continue ;;
      -*) continue ;;
    esac
    if [[ -z $verb ]]; then verb=$w
    elif [[ -z $adapter ]]; then adapter=$w
    fi
  done
  local words="" files=0
  case "$verb/$adapter" in
    "/") words="{} {}" ;;
{}  esac
  if [[ $cur != -* && $files == 1 && -n $verb ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}}
complete -o default -F _snap snap
)",
      verbs, flags_of(root), cases);
}

struct CompletionOptions {
  std::string shell;
};

} // namespace

void add_completion_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<CompletionOptions>();
  CLI::App* verb = app.add_subcommand(
      "completion", "print a shell completion script (bash or zsh)");
  verb->fallthrough();
  verb->add_option("shell", opts->shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  verb->callback([opts, &ctx, &app] {
    ctx.runner = [opts, &app]() -> Expected<CommandResult> {
      CommandResult r;
      std::string script = bash_script(app);
      if (opts->shell == "zsh") {
        script = "#compdef snap\n# zsh completion for snap, made by 'snap "
                 "completion zsh'.\nautoload -U +X bashcompinit && "
                 "bashcompinit\n" +
                 script;
      }
      r.text = script;
      r.json = {{"shell", opts->shell}, {"script", script}};
      return r;
    };
  });
}

} // namespace snap::commands
