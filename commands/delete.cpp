// SPDX-License-Identifier: MIT
// snap delete <adapter> <backup-id>: remove one backup the target holds, with
// the same confirmation rule as restore.
#include "commands/commands.hpp"

namespace snap::commands {
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

} // namespace snap::commands
