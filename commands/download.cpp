// SPDX-License-Identifier: MIT
// snap download <adapter> <backup-id>: pack a backup that already exists on
// the target into a verified archive.
#include "commands/commands.hpp"

namespace snap::commands {
namespace {

struct DownloadOptions {
  AdapterArgs args;
  std::string id;
  std::string out;
  bool encrypt = false;
  bool force = false;
};

Expected<CommandResult> run_download(const DownloadOptions& opts,
                                     Context& ctx) {
  // The output is checked before the target is asked anything.
  auto target_ptr = SNAP_TRY(archive_target(opts.out, opts.force));
  auto session = SNAP_TRY(open_session(opts.args, Capability::download, ctx));
  const ArchiveTarget& target = *target_ptr;
  auto writer = SNAP_TRY(ArchiveWriter::create(target.dir));
  if (opts.encrypt) {
    writer->encrypt_with(SNAP_TRY(encryption_passphrase(ctx)));
  }
  SaveResult result = SNAP_TRY(session->adapter->download(opts.id, *writer));
  ctx.output->end_progress();
  CommandResult r = SNAP_TRY(
      finish_archive(*writer, target, *session, std::move(result), {}));
  SNAP_TRY(ship_archive(r, target, ctx));
  return r;
}

} // namespace

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
        sub.add_flag("--force", opts->force,
                     "replace the file -o names if it exists");
        sub.add_flag("--encrypt", opts->encrypt,
                     "encrypt the payload with AES-256 (passphrase from "
                     "--passphrase-file or SNAP_PASSPHRASE)");
      },
      [opts, &ctx] {
        ctx.runner = [opts, &ctx] { return run_download(*opts, ctx); };
      });
}

} // namespace snap::commands
