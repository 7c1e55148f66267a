// SPDX-License-Identifier: MIT
// snap upload <adapter> <archive>: push a verified archive's payload into the
// target's backup store without restoring it.
#include "commands/commands.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

struct UploadOptions {
  AdapterArgs args;
  std::string archive;
  std::string id;
};

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

} // namespace

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

} // namespace snap::commands
