// SPDX-License-Identifier: MIT
// snap inspect <archive>...: print the manifest and the adapter's view of the
// payload, re-verifying every checksum unless --no-verify. Offline. Every
// archive is reported before the command fails once.
#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

std::string kind_words(const std::string& kind) {
  if (kind == "full") {
    return "full: the archive holds the data itself";
  }
  if (kind == "reference") {
    return "reference: the data stays in the target's own backup store";
  }
  return kind;
}

// One archive as the operator reads it (`text`) and as a program does
// (`json`, docs/json.md): the same facts, words in one and codes in the
// other.
struct Inspected {
  Fields text = Fields::object();
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
};

Expected<Inspected> inspect_one(const std::string& path,
                                const InspectOptions& opts, Context& ctx) {
  bool verify = !opts.no_verify;
  auto local = SNAP_TRY(local_archive(path, ctx));
  auto reader = SNAP_TRY(ArchiveReader::open(local->path));
  const Manifest& m = reader->manifest();
  // Without the passphrase, an encrypted archive shows its manifest only.
  bool locked = false;
  if (reader->encrypted()) {
    if (auto p = SNAP_TRY(passphrase(ctx))) {
      reader->set_passphrase(*p);
    } else {
      locked = true;
      verify = false;
    }
  }
  if (verify) {
    SNAP_TRY(reader->verify([&](std::uint64_t done, std::uint64_t total) {
      ctx.output->progress("verify", done, total);
    }));
  }
  Fields view = Fields::object();
  std::string note;
  if (locked) {
  } else if (const AdapterEntry* a = find_adapter(m.adapter)) {
    view = SNAP_TRY(
        guard_json(ErrorKind::archive,
                   fmt::format("{}: a payload document has the wrong shape",
                               local->path.filename().string()),
                   [&] {
                     return a->describe(
                         *reader, DescribeOptions{.verify = verify,
                                                  .kv_details = opts.kv_details,
                                                  .kv_depth = opts.kv_depth,
                                                  .kv_filter = opts.kv_filter});
                   }));
  } else {
    note = fmt::format("adapter {} is unknown to this snap; only the "
                       "manifest was read",
                       m.adapter);
  }
  Fields entries = Fields::array();
  for (const auto& e : m.entries) {
    entries.push_back({{"path", e.path},
                       {"size", e.size},
                       {"sha256", e.sha256},
                       {"media_type", e.media_type}});
  }
  std::string target_url = redact_url(m.target.value("url", ""));
  Inspected out;
  Fields& f = out.text;
  f["archive"] = path;
  f["size"] = human_bytes(reader->file_size());
  f["size_bytes"] = reader->file_size();
  f["format"] = fmt::format("snap-archive/{} (written by snap {})",
                            m.format_version, m.snap_version);
  f["adapter"] = m.adapter;
  f["payload_version"] = m.adapter_payload_version;
  f["kind"] = kind_words(m.kind);
  f["backup_id"] = m.backup_id;
  f["created"] = m.created_at;
  if (!m.origin.empty()) {
    f["origin"] = m.origin == "save" ? "save: snap took this backup"
                  : m.origin == "import"
                      ? "import: snap wrapped a file the system's own tools "
                        "made"
                      : "download: snap packed a backup that was on the "
                        "target";
  }
  f["target"] = target_url;
  if (m.target.contains("version")) {
    f["target_version"] = m.target["version"];
  }
  if (!m.labels.empty()) {
    std::string labels;
    for (const auto& [k, v] : m.labels) {
      labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    }
    f["labels"] = labels;
  }
  f["entries"] = entries;
  f["manifest_sha256"] = reader->header().manifest_sha256;
  if (reader->encrypted()) {
    f["encryption"] = fmt::format("{}: the payload entries are encrypted; "
                                  "the manifest is not",
                                  m.encryption);
  }
  if (!view.empty()) {
    f[m.adapter] = view;
  }
  if (!note.empty()) {
    f["note"] = note;
  }
  f["verified"] = verify   ? "yes: every checksum matches"
                  : locked ? "no: the payload is encrypted; give "
                             "--passphrase-file or SNAP_PASSPHRASE to verify"
                           : "no (--no-verify): structure and manifest only";

  auto& j = out.json;
  nlohmann::ordered_json target = m.target;
  target["url"] = target_url;
  j["archive"] = path;
  j["size"] = reader->file_size();
  j["format_version"] = m.format_version;
  j["snap_version"] = m.snap_version;
  j["adapter"] = m.adapter;
  j["adapter_payload_version"] = m.adapter_payload_version;
  j["kind"] = m.kind;
  j["backup_id"] = m.backup_id;
  j["created_at"] = m.created_at;
  using ojson = nlohmann::ordered_json;
  j["origin"] = m.origin.empty() ? ojson() : ojson(m.origin);
  j["target"] = target;
  j["labels"] = m.labels;
  j["source"] = m.source;
  j["entries"] = entries;
  j["manifest_sha256"] = reader->header().manifest_sha256;
  j["encryption"] = m.encryption.empty() ? ojson() : ojson(m.encryption);
  j["payload"] = view.empty() ? ojson() : ojson(view);
  j["verified"] = verify;
  j["not_verified_because"] = verify   ? ojson()
                              : locked ? "encrypted"
                                       : "no-verify";
  ctx.output->end_progress();
  return out;
}

} // namespace

Expected<CommandResult> run_inspect(const InspectOptions& opts, Context& ctx) {
  CommandResult r;
  nlohmann::ordered_json archives = nlohmann::ordered_json::array();
  std::vector<Error> errors;
  for (const auto& path : opts.paths) {
    auto f = inspect_one(path, opts, ctx);
    if (!f) {
      archives.push_back({{"archive", path}, {"error", error_json(f.error())}});
      errors.push_back(f.error());
      continue;
    }
    r.text += (r.text.empty() ? "" : "\n") + fields_to_text(f->text);
    archives.push_back(f->json);
  }
  r.json = {{"archives", archives}};
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) {
      // One line per archive: each message is made safe on its own, so
      // only these joins are line breaks.
      message += (message.empty() ? "" : "\nsnap: ") + terminal_safe(e.message);
    }
    r.error = Error{errors.front().kind, message};
  }
  return r;
}

} // namespace snap::commands
