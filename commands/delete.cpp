// SPDX-License-Identifier: MIT
// snap delete <adapter> <backup-id>: remove one backup the target holds, with
// the same confirmation rule as restore.
#include "commands/commands.hpp"

namespace snap::commands {
namespace {

struct DeleteOptions {
  AdapterArgs args;
  std::string id;
  bool yes = false;
};

Expected<CommandResult> run_delete(const DeleteOptions& opts, Context& ctx) {
  auto session = SNAP_TRY(open_session(opts.args, Capability::remove, ctx));
  SNAP_TRY(require_yes_or_terminal("delete", opts.yes));
  SNAP_TRY(confirm(
      fmt::format("Delete backup {} from {}?", opts.id, session->target_url),
      opts.yes));
  Fields done = SNAP_TRY(session->adapter->remove(opts.id));
  CommandResult r;
  r.text =
      fmt::format("Deleted backup {} from {}", opts.id, session->target_url);
  r.json = {{"deleted", opts.id}, {"details", done}};
  return r;
}

} // namespace

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

} // namespace snap::commands
