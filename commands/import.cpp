// SPDX-License-Identifier: MIT
// The system's own backup files in and out of archives. Disaster recovery
// often starts from a file `consul snapshot save` or the snapshot agent
// wrote: `snap import consul FILE.snap` checks it as a download is checked
// and wraps it into a verified archive (origin "import"); `snap restore
// consul FILE.snap` does the same into a private directory and restores
// that; `snap export ARCHIVE` verifies an archive and writes the native
// file back out, byte for byte, for the system's own tools.
#include <unistd.h>

#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/scope.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace fs = std::filesystem;

namespace {

// Whether `path` starts like a gzip stream (Consul's snapshot format) and
// not like a zip (an archive).
bool looks_native(const fs::path& path) {
  auto src = FileSource::open(path, 0, 2);
  if (!src) {
    return false;
  }
  std::array<std::byte, 2> magic{};
  auto n = src->read(magic);
  return n && *n == 2 && magic[0] == std::byte{0x1f} &&
         magic[1] == std::byte{0x8b};
}

} // namespace

Expected<SavedArchive>
import_into(Session& session, const fs::path& file, const ArchiveTarget& target,
            const std::map<std::string, std::string>& labels, bool encrypt,
            Context& ctx) {
  auto native = SNAP_TRY(FileSource::open(file));
  auto writer = SNAP_TRY(ArchiveWriter::create(target.dir));
  if (encrypt) {
    writer->encrypt_with(SNAP_TRY(encryption_passphrase(ctx)));
  }
  SaveResult result = SNAP_TRY(session.adapter->import_native(*writer, native));
  ctx.output->end_progress();
  result.source["imported_from"] = file.filename().string();
  return write_archive(*writer, target, session, std::move(result), labels,
                       "import", ctx);
}

Expected<CommandResult> run_import(const ImportOptions& opts, Context& ctx) {
  // The session refuses an adapter without import first (exit 8); an
  // importing adapter talks to no target here.
  auto session =
      SNAP_TRY(open_session(opts.args, Capability::import_native, ctx));
  auto labels = SNAP_TRY(parse_labels(opts.labels));
  auto target = SNAP_TRY(archive_target(opts.out, opts.force));
  if (!fs::is_regular_file(opts.file)) {
    return fail(ErrorKind::not_found,
                fmt::format("{}: no such file (give the backup file {}'s own "
                            "tools wrote)",
                            opts.file, session->adapter->info().name));
  }
  // The archive belongs to the cluster --addr names, when one is given;
  // else to the file it came from.
  if (opts.args.conn.addr.empty()) {
    session->target_url = "file:" + fs::path(opts.file).filename().string();
  }
  SavedArchive a = SNAP_TRY(
      import_into(*session, opts.file, *target, labels, opts.encrypt, ctx));
  return archive_result(a);
}

Expected<std::unique_ptr<ImportedArchive>>
imported_for_restore(Session& session, const std::string& path, Context& ctx) {
  if (!session.adapter->info().caps.has(Capability::import_native) ||
      !looks_native(path)) {
    return std::unique_ptr<ImportedArchive>();
  }
  auto out = std::make_unique<ImportedArchive>();
  out->target.dir = SNAP_TRY(private_tmp_dir());
  SavedArchive a =
      SNAP_TRY(import_into(session, path, out->target, {}, false, ctx));
  out->path = a.written.path;
  ctx.output->note(fmt::format("{} is a native snapshot: checked and wrapped "
                               "as {} to restore",
                               path, out->path.string()));
  return out;
}

ImportedArchive::~ImportedArchive() {
  std::error_code ec;
  if (!target.dir.empty()) {
    fs::remove_all(target.dir, ec);
  }
}

Expected<CommandResult> run_export(const ExportOptions& opts, Context& ctx) {
  auto local = SNAP_TRY(local_archive(opts.archive, ctx));
  auto reader = SNAP_TRY(ArchiveReader::open(local->path));
  const Manifest& m = reader->manifest();
  const AdapterEntry* entry = find_adapter(m.adapter);
  if (entry == nullptr) {
    return fail(ErrorKind::unsupported,
                fmt::format("{}: adapter {} is unknown to this snap",
                            opts.archive, m.adapter));
  }
  std::string native(entry->info().native_entry);
  if (native.empty()) {
    return fail(ErrorKind::unsupported,
                fmt::format("{}: a {} archive holds no single file of the "
                            "system's own format to export (see snap "
                            "inspect)",
                            opts.archive, m.adapter));
  }
  if (reader->encrypted()) {
    auto p = SNAP_TRY(passphrase(ctx));
    if (!p) {
      return fail(ErrorKind::usage,
                  "the archive is encrypted: give --passphrase-file or "
                  "SNAP_PASSPHRASE");
    }
    reader->set_passphrase(*p);
  }
  SNAP_TRY(reader->verify([&](std::uint64_t done, std::uint64_t total) {
    ctx.output->progress("verify", done, total);
  }));
  SNAP_TRY(
      guard_json(ErrorKind::archive,
                 fmt::format("{}: a payload document has the wrong shape",
                             local->path.filename().string()),
                 [&] { return entry->describe(*reader, DescribeOptions{}); }));
  ctx.output->end_progress();

  fs::path out = opts.out;
  if (out.empty() || fs::is_directory(out)) {
    out /= fmt::format("{}-{}.{}", m.adapter, safe_token(m.backup_id),
                       fs::path(native).extension().string().substr(1));
  }
  if (fs::exists(out) && !opts.force) {
    return fail(ErrorKind::usage,
                fmt::format("{} exists (--force replaces it)", out.string()));
  }
  // Written beside the destination and renamed into place: never half a
  // file under the final name.
  fs::path tmp = out;
  tmp += fmt::format(".snap-tmp-{}", ::getpid());
  ScopeExit remove_tmp([&] {
    std::error_code ec;
    fs::remove(tmp, ec);
  });
  {
    auto sink = SNAP_TRY(FileSink::create(tmp));
    SNAP_TRY(reader->read_entry("payload/" + native, sink));
    SNAP_TRY(sink.close(true));
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) {
    return fail(ErrorKind::internal,
                fmt::format("cannot rename {} to {}: {}", tmp.string(),
                            out.string(), ec.message()));
  }
  remove_tmp.release();
  std::uint64_t size = fs::file_size(out, ec);
  CommandResult r;
  r.text =
      fmt::format("Exported {} from {} (verified; {}, backup {})", out.string(),
                  opts.archive, human_bytes(size), terminal_safe(m.backup_id));
  r.json = {{"file", out.string()},
            {"archive", opts.archive},
            {"adapter", m.adapter},
            {"backup_id", m.backup_id},
            {"size", size}};
  return r;
}

} // namespace snap::commands
