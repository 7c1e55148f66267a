// SPDX-License-Identifier: MIT
// snap list <adapter>: the backups the target itself holds.
#include "commands/commands.hpp"

namespace snap::commands {
Expected<CommandResult> run_list(const AdapterArgs& args, Context& ctx) {
  auto session = SNAP_TRY(open_session(args, Capability::list, ctx));
  Fields backups = list_rows(SNAP_TRY(session->adapter->list()));
  CommandResult r;
  r.json = {{"target", session->target_url}, {"backups", backups}};
  r.text = backups.empty() ? "No backups on the target."
                           : fields_to_text(Fields{{"backups", backups}});
  return r;
}

} // namespace snap::commands
