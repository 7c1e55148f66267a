// SPDX-License-Identifier: MIT
// snap restore <adapter> <archive>: verify the archive completely, then (after
// confirmation) put it back. Nothing that changes the target is sent before
// the archive has passed every check.
#include "commands/commands.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace fs = std::filesystem;
namespace {

// A restore the target cannot take over its API: the verified archive's
// procedure is printed, with the adapter's verdict (exit 8 unless the plan
// was all that was asked for).
Expected<CommandResult> offline_plan(const RestoreOptions& opts,
                                     Session& session, Context& ctx) {
  Adapter& adapter = *session.adapter;
  auto reader = SNAP_TRY(open_verified(opts.archive, adapter, ctx));
  RestoreReport plan = SNAP_TRY(adapter.restore(*reader, true));
  CommandResult r;
  r.text = fmt::format("To restore {} (verified):\n", opts.archive);
  int n = 0;
  for (const auto& step : plan.plan) {
    r.text +=
        (n == 0 ? "" : fmt::format("  {}. ", n)) + terminal_safe(step) + "\n";
    ++n;
  }
  r.text.pop_back();
  r.json = {{"archive", opts.archive}, {"offline", true}, {"plan", plan.plan}};
  r.error = std::move(plan.verdict);
  return r;
}

} // namespace

Expected<CommandResult> run_restore(const RestoreOptions& opts, Context& ctx) {
  auto session = SNAP_TRY(open_session(opts.args, Capability::restore, ctx));
  if (session->adapter->info().offline_restore) {
    return offline_plan(opts, *session, ctx);
  }
  if (!opts.dry_run) {
    SNAP_TRY(require_yes_or_terminal("restore", opts.yes));
    SNAP_TRY(lock_target(*session, "restore", ctx));
  }
  Adapter& adapter = *session->adapter;
  // A native snapshot (consul snapshot save's) is checked and wrapped
  // first, then restored as an archive is.
  auto imported = SNAP_TRY(imported_for_restore(*session, opts.archive, ctx));
  auto reader = SNAP_TRY(open_verified(
      imported ? imported->path : fs::path(opts.archive), adapter, ctx));
  const Manifest& m = reader->manifest();
  CommandResult r;
  if (opts.dry_run) {
    RestoreReport plan = SNAP_TRY(adapter.restore(*reader, true));
    r.text = fmt::format("Dry run: restoring {} (verified) into {} would:\n",
                         opts.archive, session->target_url);
    for (const auto& step : plan.plan) {
      r.text += "  - " + terminal_safe(step) + "\n";
    }
    r.text += "Nothing was changed.";
    r.json = {{"dry_run", true},
              {"archive", opts.archive},
              {"target", session->target_url},
              {"plan", plan.plan}};
    return r;
  }
  SNAP_TRY(
      confirm(fmt::format("Restore {} backup {} (taken {}) into {}? "
                          "This replaces the target's state.",
                          m.adapter, terminal_safe(m.backup_id),
                          terminal_safe(m.created_at), session->target_url),
              opts.yes));
  RestoreReport done = SNAP_TRY(adapter.restore(*reader, false));
  ctx.output->end_progress();
  // An adapter that restores object by object reports each one; when some
  // failed, the verdict says so and the exit is 3.
  bool partial = done.verdict && done.verdict->kind == ErrorKind::partial;
  r.text = fmt::format("Restored {}{} into {} ({}, backup {})", opts.archive,
                       partial ? " in part" : "", session->target_url,
                       m.adapter, terminal_safe(m.backup_id));
  for (const auto& line : done.done) {
    r.text += "\n  " + terminal_safe(line);
  }
  // What the target needs done by hand afterwards (Zeebe's offline step).
  for (const auto& step : done.next_steps) {
    r.text += "\nNext: " + terminal_safe(step);
  }
  Fields details = done.details;
  if (!done.done.empty()) {
    details["report"] = done.done;
  }
  if (!done.next_steps.empty()) {
    details["next_steps"] = done.next_steps;
  }
  r.json = {{"restored", !partial},     {"partial", partial},
            {"archive", opts.archive},  {"target", session->target_url},
            {"backup_id", m.backup_id}, {"details", details}};
  r.error = std::move(done.verdict);
  return r;
}

} // namespace snap::commands
