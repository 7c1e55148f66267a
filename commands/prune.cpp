// SPDX-License-Identifier: MIT
// snap prune [<adapter>] <dir>: delete old archives by retention rules,
// keeping the union of what each rule keeps and always each group's newest
// archive; with --prune-target, the backups snap's saves left on the target
// go with their archives.
#include "commands/commands.hpp"
#include "snap/retention.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

// The snap archives directly under an s3:// prefix, known by the metadata
// snap gives its uploads; other objects are ignored.
Expected<std::vector<ArchiveRecord>> scan_s3(const S3Url& url, S3Store& store) {
  std::string prefix = url.key;
  if (!prefix.empty() && prefix.back() != '/') {
    prefix += '/';
  }
  std::vector<ArchiveRecord> out;
  for (const auto& key : SNAP_TRY(store.list(prefix))) {
    if (!key.ends_with(".zip")) {
      continue;
    }
    auto meta = SNAP_TRY(store.metadata(key));
    if (!meta.contains("snap-adapter") || !meta.contains("snap-created")) {
      continue;
    }
    ArchiveRecord a;
    a.path = "s3://" + url.bucket + "/" + key;
    a.adapter = meta["snap-adapter"];
    a.target = meta["snap-target"];
    a.created_at = meta["snap-created"];
    out.push_back(std::move(a));
  }
  return out;
}

// --group-by: "labels" (every label) or "label:KEY".
Expected<void> parse_group_by(const std::vector<std::string>& given,
                              RetentionPolicy& p) {
  for (const auto& list : given) {
    for (const auto& item : split_list(list)) {
      if (item == "labels") {
        p.group_by_labels = true;
      } else if (item.starts_with("label:") && item.size() > 6) {
        p.group_by_label_keys.push_back(item.substr(6));
      } else {
        return fail(ErrorKind::usage,
                    fmt::format("--group-by {}: expected labels or label:KEY "
                                "(adapter, target and kind always group)",
                                item));
      }
    }
  }
  return {};
}

std::string target_url_of(const ArchiveRecord& a) {
  return a.manifest ? a.manifest->target.value("url", "") : std::string();
}

} // namespace

std::string backup_key(const ArchiveRecord& a) {
  return a.adapter + '\n' + target_url_of(a) + '\n' + a.backup_id;
}

Removal remove_archive(const ArchiveRecord& a, Session* session,
                       bool prune_target, bool dry_run,
                       const std::set<std::string>& referenced) {
  Removal r;
  std::optional<std::string> backup;
  if (session != nullptr && a.manifest && a.manifest->origin == "save") {
    backup = session->adapter->target_backup(*a.manifest);
  }
  if (backup && !prune_target) {
    r.left = fmt::format("its {} stays on the target (--prune-target "
                         "deletes it)",
                         *backup);
    backup.reset();
  }
  if (backup && referenced.contains(backup_key(a))) {
    r.left = fmt::format("its {} stays: another archive refers to it", *backup);
    backup.reset();
  }
  if (backup && target_url_of(a) != session->target_url) {
    r.left = fmt::format("its {} is on {}, not this target; it stays", *backup,
                         target_url_of(a));
    backup.reset();
  }
  if (backup && !dry_run) {
    auto gone = session->adapter->remove_target_backup(*a.manifest);
    if (!gone && gone.error().kind != ErrorKind::not_found) {
      r.kept =
          Error{gone.error().kind,
                fmt::format("kept {}: its {} could not be deleted: {}",
                            a.path.string(), *backup, gone.error().message)};
      return r;
    }
    r.target = gone ? *backup : *backup + " (already gone)";
  } else if (backup) {
    r.target = *backup;
  }
  if (!dry_run) {
    std::error_code ec;
    if (!std::filesystem::remove(a.path, ec)) {
      r.kept = Error{
          ErrorKind::internal,
          fmt::format("cannot remove {}: {}", a.path.string(), ec.message())};
      return r;
    }
  }
  r.removed = true;
  return r;
}

Expected<CommandResult> run_prune(const PruneOptions& opts, Context& ctx) {
  RetentionPolicy p = opts.policy;
  if (!opts.keep_within.empty()) {
    p.within = SNAP_TRY(parse_keep_within(opts.keep_within));
  }
  SNAP_TRY(parse_group_by(opts.group_by, p));
  SNAP_TRY(check_policy(p));
  if (opts.dir.empty()) {
    return fail(ErrorKind::usage, "prune needs the directory of archives");
  }
  std::string adapter = opts.args.adapter != nullptr
                            ? std::string(opts.args.adapter->info().name)
                            : opts.adapter;
  if (opts.prune_target && opts.args.adapter == nullptr) {
    return fail(ErrorKind::usage,
                "--prune-target connects to the target: name the adapter "
                "and its connection (snap prune es DIR --prune-target "
                "--addr URL …)");
  }
  std::unique_ptr<S3Store> store;
  std::optional<S3Url> s3;
  if (is_s3_url(opts.dir)) {
    if (opts.prune_target) {
      return fail(ErrorKind::usage,
                  "--prune-target works on a local directory of archives");
    }
    s3 = SNAP_TRY(parse_s3_url(opts.dir));
    store = SNAP_TRY(s3_store(*s3, ctx));
  }
  std::unique_ptr<Session> session;
  if (opts.prune_target) {
    session = SNAP_TRY(open_session(opts.args, Capability::remove, ctx));
    SNAP_TRY(lock_target(*session, "prune", ctx));
  }
  // Two prunes of one place never interleave their deletions.
  std::error_code ec;
  std::string place =
      s3 ? opts.dir : std::filesystem::weakly_canonical(opts.dir, ec).string();
  auto lock = SNAP_TRY(RunLock::acquire("prune " + place, "snap prune " + place,
                                        ctx.global.wait_lock_s));
  auto archives =
      s3 ? SNAP_TRY(scan_s3(*s3, *store)) : SNAP_TRY(scan_archives(opts.dir));
  // Every archive that stays, another adapter's included, keeps what it
  // refers to on the target.
  std::set<std::string> referenced;
  std::erase_if(archives, [&](const ArchiveRecord& a) {
    bool other = !adapter.empty() && a.adapter != adapter;
    if (other) {
      referenced.insert(backup_key(a));
    }
    return other;
  });
  auto decisions = apply_retention(std::move(archives), p);
  for (const auto& d : decisions) {
    if (d.keep) {
      referenced.insert(backup_key(d.archive));
    }
  }
  CommandResult r;
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  nlohmann::ordered_json removed = nlohmann::ordered_json::array();
  nlohmann::ordered_json target_removed = nlohmann::ordered_json::array();
  std::vector<std::string> failures;
  for (const auto& d : decisions) {
    std::string name = d.archive.path.filename().string();
    if (d.keep) {
      r.text +=
          fmt::format("keep    {} ({})\n", name, join_list(d.reasons, ", "));
      kept.push_back(
          {{"archive", d.archive.path.string()}, {"reasons", d.reasons}});
      continue;
    }
    if (s3) {
      if (!opts.dry_run) {
        std::string key = d.archive.path.string().substr(6 + s3->bucket.size());
        SNAP_TRY(store->remove(key));
      }
      r.text += fmt::format("{} {}\n",
                            opts.dry_run ? "would remove" : "remove ", name);
      removed.push_back(d.archive.path.string());
      continue;
    }
    Removal gone = remove_archive(d.archive, session.get(), opts.prune_target,
                                  opts.dry_run, referenced);
    if (gone.kept) {
      r.text += fmt::format("keep    {} ({})\n", name, gone.kept->message);
      kept.push_back({{"archive", d.archive.path.string()},
                      {"reasons", {"target-backup-not-deleted"}},
                      {"error", error_json(*gone.kept)}});
      failures.push_back(gone.kept->message);
      continue;
    }
    r.text += fmt::format(
        "{} {}{}\n", opts.dry_run ? "would remove" : "remove ", name,
        !gone.target.empty()                      ? " and its " + gone.target
        : !gone.left.empty() && opts.prune_target ? "; " + gone.left
                                                  : "");
    removed.push_back(d.archive.path.string());
    if (!gone.target.empty()) {
      target_removed.push_back(
          {{"archive", d.archive.path.string()}, {"backup", gone.target}});
    }
  }
  // Temporary folders of saves that were killed outright hold no lock.
  std::vector<std::string> swept;
  if (!s3) {
    swept = sweep_stale_temp_dirs(opts.dir, opts.dry_run);
  }
  for (const auto& name : swept) {
    r.text += fmt::format("{} {} (left by a snap that was killed)\n",
                          opts.dry_run ? "would remove" : "remove ", name);
  }
  if (r.text.empty()) {
    r.text = fmt::format("No snap archives in {}.", opts.dir);
  }
  r.json = {{"dry_run", opts.dry_run},
            {"kept", kept},
            {"removed", removed},
            {"target_backups_removed", target_removed},
            {"stale_temp_dirs", swept}};
  if (!failures.empty()) {
    r.error = Error{ErrorKind::partial,
                    fmt::format("prune: {} archive(s) kept because their "
                                "backup on the target could not be deleted; "
                                "first: {}",
                                failures.size(), failures.front())};
  }
  return r;
}

} // namespace snap::commands
