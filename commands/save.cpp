// SPDX-License-Identifier: MIT
// snap save <adapter>: take a new backup now and keep it as a verified
// archive; --keep N then prunes older archives of the same target.
#include "commands/commands.hpp"
#include "snap/retention.hpp"
#include "snap/text.hpp"

namespace snap::commands {

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

namespace {

// Deletes archives in `dir` of the same series as the archive just written
// (`mine`: adapter, target, kind and labels) beyond the newest `keep`,
// never that one. With `prune_target`, the backup each one's save left on
// the target goes first, and the archive stays when it cannot. Returns the
// archives removed, each with its line for the operator.
std::vector<std::pair<std::string, std::string>>
keep_newest(const std::filesystem::path& dir, const ArchiveRecord& mine,
            int keep, bool prune_target, Session& session, Output& out) {
  std::vector<std::pair<std::string, std::string>> lines;
  auto all = scan_archives(dir);
  if (!all) {
    return lines;
  }
  RetentionPolicy policy{.last = keep, .group_by_labels = true};
  std::vector<ArchiveRecord> group;
  // What every archive that stays refers to on its target stays there.
  std::set<std::string> referenced;
  for (auto& a : *all) {
    if (a.target == mine.target && a.adapter == mine.adapter &&
        a.shape == mine.shape && a.labels == mine.labels) {
      group.push_back(std::move(a));
    } else {
      referenced.insert(backup_key(a));
    }
  }
  auto decisions = apply_retention(std::move(group), policy);
  auto going = [&](const RetentionDecision& d) {
    return !d.keep && !std::filesystem::equivalent(d.archive.path, mine.path);
  };
  for (const auto& d : decisions) {
    if (!going(d)) {
      referenced.insert(backup_key(d.archive));
    }
  }
  for (const auto& d : decisions) {
    if (!going(d)) {
      continue;
    }
    Removal gone =
        remove_archive(d.archive, &session, prune_target, false, referenced);
    if (gone.kept) {
      out.warn(fmt::format("--keep: {}", gone.kept->message));
      continue;
    }
    std::string line =
        fmt::format("Removed {} (--keep {})", d.archive.path.string(), keep);
    if (!gone.target.empty()) {
      line += fmt::format(" and its {}", gone.target);
    } else if (!gone.left.empty()) {
      line += fmt::format("; {}", gone.left);
    }
    lines.emplace_back(d.archive.path.string(), line);
  }
  return lines;
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
  if (opts.prune_target && opts.keep == 0) {
    return fail(ErrorKind::usage,
                "--prune-target goes with --keep N: it deletes on the target "
                "the backups of the archives --keep removes");
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
  session->labels = labels;
  SaveResult result = SNAP_TRY(session->adapter->save(*writer));
  ctx.output->end_progress();
  SavedArchive a = SNAP_TRY(write_archive(
      *writer, target, *session, std::move(result), labels, "save", ctx));
  std::vector<std::pair<std::string, std::string>> removed;
  if (opts.keep > 0) {
    removed =
        keep_newest(target.dir, archive_record(a.written.path, a.manifest),
                    opts.keep, opts.prune_target, *session, *ctx.output);
  }
  CommandResult r = archive_result(a);
  if (opts.keep > 0) {
    r.json["removed"] = nlohmann::json::array();
    for (const auto& [path, line] : removed) {
      r.text += "\n" + line;
      r.json["removed"].push_back(path);
    }
  }
  return r;
}

} // namespace snap::commands
