// SPDX-License-Identifier: MIT
// Writing snap archives (the archive module: archive.cpp, archive_reader.cpp,
// archive_io.cpp and zip_writer.cpp). The first payload entry, when it is
// already compressed, streams straight into the archive file; the others
// spool to files and are appended at commit (zip_writer.hpp). Encrypted
// archives are written by libzip, which reads its sources at zip_close(), so
// there every entry spools. Either way the zip is verified with
// ArchiveReader before it is renamed into place.
#include "snap/archive.hpp"

#include "src/archive_io.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

#include <isa-l/crc.h>
#include <zip.h>

#include "snap/sha256.hpp"
#include "snap/signals.hpp"
#include "src/zip_writer.hpp"

namespace snap {
namespace fs = std::filesystem;
namespace {

bool is_precompressed(std::string_view media_type) {
  return media_type == "application/gzip" || media_type == "application/zip" ||
         media_type == "application/x-gzip";
}

extern "C" int cancel_on_signal(zip_t*, void*) {
  return is_interrupted() ? 1 : 0;
}

Expected<void> fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return fail(ErrorKind::internal,
                fmt::format("cannot flush {}", path.string()));
  }
  ::close(fd);
  return {};
}

// An entry streamed in place smaller than this is copied into a compact
// archive at commit instead, so that small archives carry no reserved region.
constexpr std::uint64_t k_in_place_min = 16 << 20;
// How often an entry streamed in place starts its bytes to disk.
constexpr std::uint64_t k_write_back_bytes = 8 << 20;

// The manifest's sha256 and the zip's CRC-32 (ISA-L's, with carry-less
// multiplication: three times zlib's speed), computed in one pass.
struct Checksums : Sink {
  Sha256 sha;
  std::uint32_t crc = 0;
  Expected<void> write(Bytes data) override {
    sha.update(data);
    crc = crc32_gzip_refl(
        crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    return {};
  }
  bool reset() override {
    crc = 0;
    return sha.reset();
  }
};

constexpr std::string_view k_temp_prefix = ".snap-tmp-";
// A folder younger than this may be one a snap has made but not yet
// locked, so a sweep leaves it.
constexpr std::time_t k_temp_grace_s = 2;

std::string with_suffix(const fs::path& path, int n) {
  return (path.parent_path() / fmt::format("{}-{}{}", path.stem().string(), n,
                                           path.extension().string()))
      .string();
}

// Moves `tmp` to `final_path` without ever replacing a file there, unless
// `existing` says replace; returns the name it got.
Expected<fs::path> place(const fs::path& tmp, const fs::path& final_path,
                         OnExisting existing) {
  if (existing == OnExisting::replace) {
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      return fail(ErrorKind::internal,
                  fmt::format("cannot rename into {}: {}", final_path.string(),
                              std::strerror(errno)));
    }
    return final_path;
  }
  for (int n = 1;; ++n) {
    fs::path name = n == 1 ? final_path : fs::path(with_suffix(final_path, n));
    int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, name.c_str(),
                         RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
      // A file system without RENAME_NOREPLACE: a hard link fails on an
      // existing name just the same.
      rc = ::link(tmp.c_str(), name.c_str());
      if (rc == 0) {
        ::unlink(tmp.c_str());
      }
    }
    if (rc == 0) {
      return name;
    }
    if (errno == EEXIST && existing == OnExisting::rename && n < 1000) {
      continue;
    }
    if (errno == EEXIST) {
      return fail(ErrorKind::usage,
                  fmt::format("{} exists already and was left as it is (pass "
                              "--force to replace it, or name another file "
                              "with -o)",
                              name.string()));
    }
    return fail(ErrorKind::internal,
                fmt::format("cannot rename into {}: {}", name.string(),
                            std::strerror(errno)));
  }
}

} // namespace

std::vector<std::string> sweep_stale_temp_dirs(const fs::path& dir,
                                               bool dry_run) {
  std::vector<std::string> swept;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with(k_temp_prefix)) {
      continue;
    }
    int fd = ::open(it->path().c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    struct stat st {};
    bool stale = ::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() &&
                 std::time(nullptr) - std::max(st.st_mtime, st.st_ctime) >=
                     k_temp_grace_s &&
                 ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (stale) {
      std::error_code rm;
      if (!dry_run) {
        fs::remove_all(it->path(), rm);
      }
      if (!rm) {
        swept.push_back(name);
      }
    }
    ::close(fd);
  }
  return swept;
}

// An entry being received: bytes go to a file while the checksums are
// computed on another core. The file is either a scratch spool (never
// fsynced; only the finished archive is) or, for an entry streamed in place,
// the archive itself, whose first `offset` bytes are kept for the manifest
// and the entry's local header.
struct ArchiveWriter::Spool : Sink {
  std::string name;
  std::string media_type;
  fs::path file;
  std::uint64_t offset = 0;
  std::optional<FileSink> out;
  Checksums sums;
  // The file's write, the checksums and the taps, each on a thread.
  std::optional<FanOut> fan;
  std::uint64_t size = 0;
  std::string sha256;

  Expected<void> start() {
    static const std::vector<std::byte> zeros(4096);
    for (std::uint64_t left = offset; left > 0;) {
      auto n = std::min<std::uint64_t>(left, zeros.size());
      SNAP_TRY(out->write(Bytes(zeros.data(), n)));
      left -= n;
    }
    return {};
  }
  Expected<void> write(Bytes data) override {
    SNAP_TRY(fan->write(data));
    size += data.size();
    return {};
  }
  bool reset() override {
    size = 0;
    return fan->reset() && start();
  }
  Expected<void> flush() {
    SNAP_TRY(fan->finish());
    return out->flush();
  }
  Expected<void> finish() {
    SNAP_TRY(fan->finish());
    SNAP_TRY(out->close(false));
    sha256 = sums.sha.hex();
    return {};
  }
};

ArchiveWriter::ArchiveWriter(fs::path dir, fs::path tmp)
    : m_dir(std::move(dir)), m_tmp(std::move(tmp)) {}

ArchiveWriter::~ArchiveWriter() {
  m_spools.clear();
  std::error_code ec;
  fs::remove_all(m_tmp, ec);
  if (m_lock_fd >= 0) {
    ::close(m_lock_fd);
  }
}

Expected<std::unique_ptr<ArchiveWriter>>
ArchiveWriter::create(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    bool exists = fs::exists(dir, ec);
    return fail(ErrorKind::usage,
                fmt::format("output directory {} {} (pass another -o{})",
                            dir.string(),
                            exists ? "is not a directory" : "does not exist",
                            exists ? "" : ", or create it"));
  }
  sweep_stale_temp_dirs(dir);
  std::string pattern =
      (dir / (std::string(k_temp_prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail(ErrorKind::usage,
                fmt::format("cannot write in {}: {} (pass another -o)",
                            dir.string(), std::strerror(errno)));
  }
  std::unique_ptr<ArchiveWriter> w(new ArchiveWriter(dir, pattern));
  // Held until the writer is gone, so no sweep takes the folder from a
  // running snap; the kernel drops it when a killed one exits.
  w->m_lock_fd = ::open(pattern.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->m_lock_fd < 0 || ::flock(w->m_lock_fd, LOCK_EX) != 0) {
    return fail(ErrorKind::internal, fmt::format("cannot lock {}: {}", pattern,
                                                 std::strerror(errno)));
  }
  return w;
}

Expected<Sink*> ArchiveWriter::add_entry(std::string_view name,
                                         std::string media_type,
                                         std::vector<Sink*> taps) {
  // Entries are written one after another: the last one's threads stop
  // (they start again if it is written to again), so an archive of many
  // entries does not keep two threads for each.
  if (!m_spools.empty()) {
    SNAP_TRY(m_spools.back()->fan->park());
  }
  auto spool = std::make_unique<Spool>();
  spool->name = "payload/" + std::string(name);
  if (!is_safe_entry_name(spool->name)) {
    return fail(ErrorKind::internal,
                fmt::format("unsafe entry name {}", spool->name));
  }
  spool->media_type = std::move(media_type);
  if (m_spools.empty() && m_passphrase.empty() &&
      is_precompressed(spool->media_type)) {
    spool->file = m_tmp / "stream.zip";
    spool->offset =
        detail::k_manifest_region + detail::local_header_size(spool->name);
  } else {
    spool->file = m_tmp / fmt::format("entry-{}", m_spools.size());
  }
  spool->out.emplace(SNAP_TRY(FileSink::create(spool->file)));
  if (spool->offset > 0) {
    // Streamed into the archive itself, which is fsynced at the end: its
    // bytes go to disk while the rest is still arriving.
    spool->out->write_back_every(k_write_back_bytes);
  }
  SNAP_TRY(spool->start());
  taps.insert(taps.begin(), {&*spool->out, &spool->sums});
  spool->fan.emplace(std::move(taps));
  m_spools.push_back(std::move(spool));
  return m_spools.back().get();
}

// The spool of payload entry `payload/<name>`. Errors: `internal`.
Expected<ArchiveWriter::Spool*>
spool_named(std::vector<std::unique_ptr<ArchiveWriter::Spool>>& spools,
            std::string_view name) {
  std::string full = "payload/" + std::string(name);
  for (auto& s : spools) {
    if (s->name == full) {
      return s.get();
    }
  }
  return fail(ErrorKind::internal, fmt::format("no entry {}", name));
}

Expected<void> ArchiveWriter::drain(std::string_view name) {
  return SNAP_TRY(spool_named(m_spools, name))->fan->finish();
}

Expected<std::unique_ptr<Source>>
ArchiveWriter::entry_source(std::string_view name) {
  Spool* s = SNAP_TRY(spool_named(m_spools, name));
  SNAP_TRY(s->flush());
  auto src = SNAP_TRY(FileSource::open(s->file, s->offset, s->size));
  return std::unique_ptr<Source>(new FileSource(std::move(src)));
}

// Opens the zip received so far as entry `name` and runs `use` on it.
template <class F>
auto with_spooled_zip(
    std::vector<std::unique_ptr<ArchiveWriter::Spool>>& spools,
    std::string_view name, F&& use) -> decltype(use(nullptr)) {
  ArchiveWriter::Spool* s = SNAP_TRY(spool_named(spools, name));
  SNAP_TRY(s->flush());
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t* src = zip_source_file_create(
      s->file.c_str(), s->offset, static_cast<zip_int64_t>(s->size), &zerr);
  zip_t* za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)
                  : nullptr;
  zip_error_fini(&zerr);
  if (za == nullptr) {
    if (src != nullptr) {
      zip_source_free(src);
    }
    return fail(ErrorKind::archive,
                fmt::format("{} is not a readable zip (truncated or not a "
                            "zip at all)",
                            name));
  }
  auto r = use(za);
  zip_discard(za);
  return r;
}

Expected<std::string> ArchiveWriter::read_zip_member(std::string_view name,
                                                     std::string_view member,
                                                     std::size_t max_bytes) {
  return with_spooled_zip(m_spools, name, [&](zip_t* za) {
    return detail::read_member(za, name, member, max_bytes);
  });
}

Expected<ZipSummary> ArchiveWriter::check_zip(std::string_view name) {
  return with_spooled_zip(m_spools, name, [&](zip_t* za) {
    return detail::check_members(za, name);
  });
}

Expected<void> ArchiveWriter::add_json(std::string_view name,
                                       const nlohmann::json& value) {
  Sink* sink = SNAP_TRY(add_entry(name, "application/json"));
  std::string text = value.dump(2) + "\n";
  return sink->write(
      Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

Expected<WrittenArchive> ArchiveWriter::commit(Manifest manifest,
                                               const fs::path& final_path,
                                               OnExisting existing,
                                               const ReadBack& read_back) {
  manifest.entries.clear();
  if (!m_passphrase.empty()) {
    manifest.format_version = k_encrypted_format_version;
    manifest.encryption = "aes-256";
  }
  for (auto& s : m_spools) {
    SNAP_TRY(s->finish());
    manifest.entries.push_back({s->name, s->size, s->sha256, s->media_type});
  }
  const std::string manifest_text = manifest_to_text(manifest);
  const std::string manifest_sha = sha256_hex(manifest_text);
  const std::string comment = format_header(manifest, manifest_sha);
  const fs::path tmp_zip =
      SNAP_TRY(m_passphrase.empty()
                   ? write_zip(manifest_text, comment)
                   : write_encrypted_zip(manifest_text, comment, final_path));
  ::chmod(tmp_zip.c_str(), 0600);
  {
    // The flush to disk and the read-back check overlap; the rename waits
    // for both.
    Expected<void> synced;
    std::jthread syncer;
    try {
      syncer = std::jthread([&] { synced = fsync_path(tmp_zip); });
    } catch (const std::system_error&) {
      synced = fsync_path(tmp_zip); // no thread to be had: one after other
    }
    auto reader = ArchiveReader::open(tmp_zip);
    if (reader && !m_passphrase.empty()) {
      (*reader)->set_passphrase(m_passphrase);
    }
    // A plain archive is checked for what the write could have damaged
    // (structure, sizes, CRC-32s): its SHA-256s were computed over the same
    // bytes as they were written. An encrypted one is read back whole.
    auto verified = !reader ? Expected<void>(tl::unexpected(reader.error()))
                    : m_passphrase.empty() ? (*reader)->verify_crc(m_headers)
                                           : (*reader)->verify();
    // An encrypted payload is read back as a user will read it (the
    // adapter's own checks, through the decryption), since libzip reads
    // it other than the plain one: a Cloudify snapshot's inner zip was
    // once unreadable there while the checksums matched.
    if (verified && !m_passphrase.empty() && read_back) {
      verified = read_back(**reader);
    }
    if (syncer.joinable()) {
      syncer.join();
    }
    SNAP_TRY(verified);
    SNAP_TRY(synced);
  }
  for (auto& s : m_spools) {
    std::error_code ec;
    if (s->file != tmp_zip) {
      fs::remove(s->file, ec);
    }
  }
  fs::path placed = SNAP_TRY(place(tmp_zip, final_path, existing));
  SNAP_TRY(fsync_path(placed.parent_path().empty() ? fs::path(".")
                                                   : placed.parent_path()));
  std::error_code ec;
  return WrittenArchive{placed, fs::file_size(placed, ec), manifest_sha};
}

Expected<fs::path> ArchiveWriter::write_zip(const std::string& manifest_text,
                                            const std::string& comment) {
  const std::time_t now = std::time(nullptr);
  std::vector<detail::ZipRecord> records;
  Spool* in_place = nullptr;
  std::optional<detail::SmallEntry> region;
  if (!m_spools.empty() && m_spools.front()->offset > 0 &&
      m_spools.front()->size >= k_in_place_min) {
    region = detail::region_entry(k_manifest_name, manifest_text, now);
    in_place = region ? m_spools.front().get() : nullptr;
  }
  fs::path path;
  std::optional<detail::ZipFile> out;
  if (in_place != nullptr) {
    // The payload is in place: fill the region before it and append.
    path = in_place->file;
    out.emplace(SNAP_TRY(
        detail::ZipFile::reopen(path, in_place->offset + in_place->size)));
    SNAP_TRY(out->write_at(0, region->bytes));
    records.push_back(std::move(region->record));
    detail::ZipRecord r{.name = in_place->name,
                        .crc = in_place->sums.crc,
                        .compressed = in_place->size,
                        .size = in_place->size,
                        .offset = detail::k_manifest_region};
    SNAP_TRY(out->write_at(r.offset, detail::local_header(r, now)));
    records.push_back(std::move(r));
  } else {
    path = m_tmp / "archive.zip";
    out.emplace(SNAP_TRY(detail::ZipFile::create(path)));
    auto manifest = detail::first_entry(k_manifest_name, manifest_text, now);
    SNAP_TRY(out->append(manifest.bytes));
    records.push_back(std::move(manifest.record));
  }
  for (auto& s : m_spools) {
    if (s.get() == in_place) {
      continue;
    }
    records.push_back(SNAP_TRY(
        out->append_entry(s->name, s->file, s->offset, s->size, s->sums.crc,
                          !is_precompressed(s->media_type), now)));
  }
  SNAP_TRY(out->finish(records, comment, now));
  m_headers.clear();
  for (const auto& r : records) {
    m_headers[r.name] = r.offset;
  }
  return path;
}

Expected<fs::path>
ArchiveWriter::write_encrypted_zip(const std::string& manifest_text,
                                   const std::string& comment,
                                   const fs::path& final_path) {
  const fs::path tmp_zip = m_tmp / "archive.zip";
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t* target = detail::make_output_source(tmp_zip, &zerr);
  zip_t* za =
      target ? zip_open_from_source(target, ZIP_CREATE, &zerr) : nullptr;
  if (za == nullptr) {
    std::string why = zip_error_strerror(&zerr);
    if (target != nullptr) {
      zip_source_free(target);
    }
    zip_error_fini(&zerr);
    return fail(ErrorKind::internal,
                fmt::format("cannot create {}: {}", tmp_zip.string(), why));
  }
  zip_error_fini(&zerr);
  auto abandon = [&](std::string what) -> tl::unexpected<Error> {
    std::string why = detail::zip_error_text(za);
    bool cancelled = zip_error_code_zip(zip_get_error(za)) == ZIP_ER_CANCELLED;
    zip_discard(za);
    if (cancelled || is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    return fail(ErrorKind::internal, fmt::format("{}: {}", what, why));
  };
  std::time_t now = std::time(nullptr);
  auto add = [&](zip_source_t* src, const std::string& name, bool store,
                 bool encrypt = false) -> bool {
    if (src == nullptr) {
      return false;
    }
    zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      return false;
    }
    auto i = static_cast<zip_uint64_t>(idx);
    // Level 1: backups are large and written often; it deflates text two
    // to three times faster than the default level for a few percent size.
    zip_set_file_compression(za, i, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE,
                             store ? 0 : 1);
    zip_file_set_external_attributes(za, i, 0, ZIP_OPSYS_UNIX, 0100600u << 16);
    zip_file_set_mtime(za, i, now, 0);
    return !encrypt || zip_file_set_encryption(za, i, ZIP_EM_AES_256,
                                               m_passphrase.c_str()) == 0;
  };
  if (!add(zip_source_buffer(za, manifest_text.data(), manifest_text.size(), 0),
           std::string(k_manifest_name), false)) {
    return abandon("cannot add manifest.json");
  }
  for (auto& s : m_spools) {
    zip_source_t* src =
        detail::make_spool_source(za, s->file, s->offset, s->size);
    if (!add(src, s->name, is_precompressed(s->media_type),
             !m_passphrase.empty())) {
      return abandon(fmt::format("cannot add {}", s->name));
    }
  }
  zip_set_archive_comment(za, comment.c_str(),
                          static_cast<zip_uint16_t>(comment.size()));
  zip_register_cancel_callback_with_state(za, cancel_on_signal, nullptr,
                                          nullptr);
  if (zip_close(za) != 0) {
    return abandon(fmt::format("cannot write {}", final_path.string()));
  }
  return tmp_zip;
}

} // namespace snap
