// SPDX-License-Identifier: MIT
// snap status <adapter> [id]: what the target is doing, or whether it is
// ready to be backed up; --watch repeats until nothing is left running.
#include "commands/commands.hpp"
#include "snap/signals.hpp"

namespace snap::commands {
Expected<CommandResult> run_status(const StatusOptions& opts, Context& ctx) {
  auto session = SNAP_TRY(open_session(opts.args, Capability::status, ctx));
  // An archive stands for the backup it holds: only its manifest is read
  // (checked against the header), not its payload.
  std::string id = opts.id;
  if (id.ends_with(".zip") &&
      (is_s3_url(id) || std::filesystem::is_regular_file(id))) {
    auto reader = SNAP_TRY(open_for(id, *session->adapter, ctx));
    id = reader->manifest().backup_id;
  }
  for (;;) {
    StatusResult s = SNAP_TRY(session->adapter->status(id));
    if (s.backup) {
      s.terminal = s.terminal && *s.backup != BackupState::running;
      if (*s.backup != BackupState::complete && s.not_ready.empty()) {
        s.not_ready =
            fmt::format("{}: backup {} is {}", session->adapter->info().name,
                        id, state_name(*s.backup));
      }
    }
    if (!opts.watch || s.terminal) {
      CommandResult r;
      r.json = s.fields;
      r.json["target"] = session->target_url;
      if (s.backup) {
        r.json["backup_state"] = state_name(*s.backup);
      }
      // Whether `snap status … && upgrade` goes on; why not is the error.
      r.json["ready"] = s.not_ready.empty();
      Fields text = r.json;
      if (!s.not_ready.empty()) {
        text["ready"] = "no: " + s.not_ready;
      }
      r.text = fields_to_text(text);
      if (!s.not_ready.empty()) {
        r.error = Error{ErrorKind::not_ready, s.not_ready};
      }
      return r;
    }
    if (!ctx.global.json) {
      std::fputs((fields_to_text(s.fields) + "\n").c_str(), stdout);
      std::fflush(stdout);
    }
    if (!sleep_unless_interrupted(static_cast<long>(opts.interval_s * 1000))) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
  }
}

} // namespace snap::commands
