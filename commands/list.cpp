// SPDX-License-Identifier: MIT
// snap list <adapter>: the backups the target itself holds.
#include "commands/commands.hpp"

namespace snap::commands {
namespace {

Expected<CommandResult> run_list(const AdapterArgs& args, Context& ctx) {
  auto session = SNAP_TRY(open_session(args, Capability::list, ctx));
  Fields backups = SNAP_TRY(session->adapter->list());
  CommandResult r;
  r.json = {{"target", session->target_url}, {"backups", backups}};
  r.text = backups.empty() ? "No backups on the target."
                           : fields_to_text(Fields{{"backups", backups}});
  return r;
}

} // namespace

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

} // namespace snap::commands
