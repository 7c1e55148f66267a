// SPDX-License-Identifier: MIT
// snap prune <dir>: delete old archives by retention rules, keeping the union
// of what each rule keeps and always each group's newest archive.
#include "commands/commands.hpp"
#include "snap/retention.hpp"

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
    out.push_back({"s3://" + url.bucket + "/" + key, meta["snap-adapter"],
                   meta["snap-target"], meta["snap-created"]});
  }
  return out;
}

} // namespace

Expected<CommandResult> run_prune(const PruneOptions& opts, Context& ctx) {
  const RetentionPolicy& p = opts.policy;
  if (p.last < 0 || p.daily < 0 || p.weekly < 0 || p.monthly < 0) {
    return fail(ErrorKind::usage, "--keep-* values must not be negative");
  }
  if (p.last + p.daily + p.weekly + p.monthly == 0) {
    return fail(ErrorKind::usage,
                "prune needs at least one rule (--keep-last N, --keep-daily "
                "N, --keep-weekly N or --keep-monthly N)");
  }
  std::unique_ptr<S3Store> store;
  std::optional<S3Url> s3;
  if (is_s3_url(opts.dir)) {
    s3 = SNAP_TRY(parse_s3_url(opts.dir));
    store = SNAP_TRY(s3_store(*s3, ctx));
  }
  // Two prunes of one place never interleave their deletions.
  std::error_code ec;
  std::string place =
      s3 ? opts.dir : std::filesystem::weakly_canonical(opts.dir, ec).string();
  auto lock = SNAP_TRY(RunLock::acquire("prune " + place, "snap prune " + place,
                                        ctx.global.wait_lock_s));
  auto archives =
      s3 ? SNAP_TRY(scan_s3(*s3, *store)) : SNAP_TRY(scan_archives(opts.dir));
  std::erase_if(archives, [&](const ArchiveRecord& a) {
    return !opts.adapter.empty() && a.adapter != opts.adapter;
  });
  CommandResult r;
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  nlohmann::ordered_json removed = nlohmann::ordered_json::array();
  for (const auto& d : apply_retention(std::move(archives), p)) {
    std::string name = d.archive.path.filename().string();
    if (d.keep) {
      std::string why;
      for (const auto& reason : d.reasons) {
        why += (why.empty() ? "" : ", ") + reason;
      }
      r.text += fmt::format("keep    {} ({})\n", name, why);
      kept.push_back(
          {{"archive", d.archive.path.string()}, {"reasons", d.reasons}});
      continue;
    }
    if (!opts.dry_run && s3) {
      std::string key = d.archive.path.string().substr(6 + s3->bucket.size());
      SNAP_TRY(store->remove(key));
    } else if (!opts.dry_run) {
      std::error_code ec;
      if (!std::filesystem::remove(d.archive.path, ec)) {
        return fail(ErrorKind::internal,
                    fmt::format("cannot remove {}: {}", d.archive.path.string(),
                                ec.message()));
      }
    }
    r.text +=
        fmt::format("{} {}\n", opts.dry_run ? "would remove" : "remove ", name);
    removed.push_back(d.archive.path.string());
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
            {"stale_temp_dirs", swept}};
  return r;
}

} // namespace snap::commands
