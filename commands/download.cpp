// SPDX-License-Identifier: MIT
// snap download <adapter> <backup-id>: pack a backup that already exists on
// the target into a verified archive.
#include "commands/commands.hpp"

namespace snap::commands {
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
  SavedArchive a = SNAP_TRY(write_archive(
      *writer, target, *session, std::move(result), {}, "download", ctx));
  return archive_result(a);
}

} // namespace snap::commands
