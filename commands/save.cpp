// SPDX-License-Identifier: MIT
// snap save <adapter>: take a new backup now and keep it as a verified
// archive; --keep N then prunes older archives of the same target.
#include "commands/commands.hpp"
#include "snap/retention.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

Expected<std::map<std::string, std::string>>
parse_labels(const std::vector<std::string>& given) {
  std::map<std::string, std::string> out;
  for (const auto& l : given) {
    auto eq = l.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return fail(ErrorKind::usage,
                  fmt::format("--label {}: expected key=value", l));
    }
    if (!is_utf8(l)) {
      return fail(ErrorKind::usage,
                  fmt::format("--label {}: is not UTF-8 text (the manifest is "
                              "JSON, which holds UTF-8 only)",
                              terminal_safe(l)));
    }
    out[l.substr(0, eq)] = l.substr(eq + 1);
  }
  return out;
}

// Deletes archives in `dir` of the same adapter and target as the archive
// just written (`mine`) beyond the newest `keep`, never that one; returns
// the removed paths. For an adapter whose backups live on the target too,
// that backup is deleted first, and the archive kept when it cannot be.
std::vector<std::string> keep_newest(const std::filesystem::path& dir,
                                     const ArchiveRecord& mine, int keep,
                                     Adapter& adapter, Output& out) {
  const AdapterInfo& info = adapter.info();
  bool with_target =
      info.prune_with_target && info.caps.has(Capability::remove);
  std::vector<std::string> removed;
  const std::filesystem::path& just_written = mine.path;
  auto all = scan_archives(dir);
  if (!all) {
    return removed;
  }
  std::vector<ArchiveRecord> group;
  for (auto& a : *all) {
    if (a.adapter == mine.adapter && a.target == mine.target) {
      group.push_back(std::move(a));
    }
  }
  for (const auto& d : apply_retention(group, {.last = keep})) {
    if (d.keep || std::filesystem::equivalent(d.archive.path, just_written)) {
      continue;
    }
    if (with_target) {
      auto gone = adapter.remove(d.archive.backup_id);
      if (!gone && gone.error().kind != ErrorKind::not_found) {
        out.warn(fmt::format("--keep: kept {}, as its backup on the target "
                             "could not be deleted: {}",
                             d.archive.path.string(), gone.error().message));
        continue;
      }
    }
    std::error_code ec;
    if (std::filesystem::remove(d.archive.path, ec)) {
      removed.push_back(d.archive.path.string());
    } else {
      out.warn(fmt::format("--keep: cannot remove {}: {}",
                           d.archive.path.string(), ec.message()));
    }
  }
  return removed;
}

} // namespace

Expected<CommandResult> run_save(const SaveOptions& opts, Context& ctx) {
  auto labels = SNAP_TRY(parse_labels(opts.labels));
  if (opts.keep_given && opts.keep < 1) {
    return fail(ErrorKind::usage,
                fmt::format("--keep {}: keep at least 1 archive (leave --keep "
                            "out to keep them all)",
                            opts.keep));
  }
  if (opts.keep > 0 && is_s3_url(opts.out)) {
    return fail(ErrorKind::usage,
                "--keep works on a local directory; for s3:// use the "
                "bucket's lifecycle rules");
  }
  // The output is checked before the target is asked anything.
  auto target_ptr = SNAP_TRY(archive_target(opts.out, opts.force));
  auto session = SNAP_TRY(open_session(opts.args, Capability::save, ctx));
  SNAP_TRY(lock_target(*session, "save", ctx));
  const ArchiveTarget& target = *target_ptr;
  auto writer = SNAP_TRY(ArchiveWriter::create(target.dir));
  if (opts.encrypt) {
    writer->encrypt_with(SNAP_TRY(encryption_passphrase(ctx)));
  }
  SaveResult result = SNAP_TRY(session->adapter->save(*writer));
  ctx.output->end_progress();
  CommandResult r = SNAP_TRY(
      finish_archive(*writer, target, *session, std::move(result), labels));
  SNAP_TRY(ship_archive(r, target, ctx));
  if (opts.keep > 0) {
    std::string group = r.json["target"].value("url", "");
    if (std::string subject = r.json["target"].value("subject", "");
        !subject.empty()) {
      group += " " + subject;
    }
    ArchiveRecord mine{r.json["archive"].get<std::string>(),
                       r.json["adapter"].get<std::string>(), group,
                       r.json["created_at"].get<std::string>()};
    auto removed = keep_newest(target.dir, mine, opts.keep, *session->adapter,
                               *ctx.output);
    const AdapterInfo& info = session->adapter->info();
    for (const auto& path : removed) {
      r.text += fmt::format(
          "\nRemoved {} (--keep {}){}", path, opts.keep,
          info.prune_with_target ? " and its backup on the target" : "");
    }
    r.json["removed"] = removed;
  }
  return r;
}

} // namespace snap::commands
