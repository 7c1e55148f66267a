// SPDX-License-Identifier: MIT
// snap upload <adapter> <archive>: push a verified archive's payload into the
// target's backup store without restoring it.
#include "commands/commands.hpp"
#include "snap/text.hpp"

namespace snap::commands {
Expected<CommandResult> run_upload(const UploadOptions& opts, Context& ctx) {
  auto session = SNAP_TRY(open_session(opts.args, Capability::upload, ctx));
  auto reader = SNAP_TRY(open_verified(opts.archive, *session->adapter, ctx));
  std::string id = opts.id.empty() ? reader->manifest().backup_id : opts.id;
  Fields done = SNAP_TRY(session->adapter->upload(*reader, id));
  ctx.output->end_progress();
  CommandResult r;
  r.text = fmt::format("Uploaded {} to {} as {}", opts.archive,
                       session->target_url, terminal_safe(id));
  r.json = {{"uploaded", true},
            {"archive", opts.archive},
            {"backup_id", id},
            {"details", done}};
  return r;
}

} // namespace snap::commands
