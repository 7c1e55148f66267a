// SPDX-License-Identifier: MIT
// Snap archives on libzip; the only file that includes zip.h. libzip reads its
// sources at zip_close(), so entries spool to files first and the zip is
// written once, at the end, into a temporary file that is verified before it
// is renamed into place.
#include "snap/archive.hpp"

#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <zip.h>

#include "snap/sha256.hpp"
#include "snap/signals.hpp"

namespace snap {
namespace fs = std::filesystem;
namespace {

bool is_precompressed(std::string_view media_type) {
  return media_type == "application/gzip" || media_type == "application/zip" ||
         media_type == "application/x-gzip";
}

std::string zip_error_text(zip_t* za) {
  return zip_error_strerror(zip_get_error(za));
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

// libzip's own file I/O moves data in 8 KiB calls; these two sources do the
// same work with large reads and writes, which is most of the cost of
// copying a big payload into the archive.
constexpr std::size_t k_io_buffer = 4 << 20;

// The archive being written: a read/write source that starts empty, takes
// libzip's writes into a buffer and writes them with pwrite, and follows its
// seeks back to patch local headers.
struct OutputFile {
  fs::path path;
  int fd = -1;
  std::vector<char> buf;
  zip_uint64_t buf_start = 0; // file offset of buf[0]
  zip_uint64_t pos = 0;       // next write offset
  zip_uint64_t end = 0;       // file size so far
  zip_error_t error;

  explicit OutputFile(fs::path p) : path(std::move(p)) {
    zip_error_init(&error);
  }
  ~OutputFile() {
    if (fd >= 0) {
      ::close(fd);
    }
    zip_error_fini(&error);
  }
  bool flush() {
    std::size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::pwrite(fd, buf.data() + done, buf.size() - done,
                           static_cast<off_t>(buf_start + done));
      if (n < 0 && errno == EINTR && !is_interrupted()) {
        continue;
      }
      if (n <= 0) {
        zip_error_set(&error, ZIP_ER_WRITE, errno);
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    buf_start += buf.size();
    buf.clear();
    return true;
  }
  zip_int64_t fail_with(int code) {
    zip_error_set(&error, code, errno);
    return -1;
  }
};

extern "C" zip_int64_t output_callback(void* user, void* data, zip_uint64_t len,
                                       zip_source_cmd_t cmd) {
  auto* f = static_cast<OutputFile*>(user);
  switch (cmd) {
  case ZIP_SOURCE_SUPPORTS:
    return zip_source_make_command_bitmap(
        ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
        ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
        ZIP_SOURCE_BEGIN_WRITE, ZIP_SOURCE_COMMIT_WRITE,
        ZIP_SOURCE_ROLLBACK_WRITE, ZIP_SOURCE_WRITE, ZIP_SOURCE_SEEK_WRITE,
        ZIP_SOURCE_TELL_WRITE, ZIP_SOURCE_REMOVE, -1);
  case ZIP_SOURCE_STAT: {
    auto* st = static_cast<zip_stat_t*>(data);
    zip_stat_init(st);
    st->size = 0; // a new, empty archive
    st->valid |= ZIP_STAT_SIZE;
    return sizeof(zip_stat_t);
  }
  case ZIP_SOURCE_OPEN:
  case ZIP_SOURCE_READ:
  case ZIP_SOURCE_CLOSE:
  case ZIP_SOURCE_SEEK:
  case ZIP_SOURCE_TELL:
    return 0;
  case ZIP_SOURCE_BEGIN_WRITE:
    f->fd =
        ::open(f->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0) {
      return f->fail_with(ZIP_ER_OPEN);
    }
    f->buf.reserve(k_io_buffer);
    f->buf_start = f->pos = f->end = 0;
    return 0;
  case ZIP_SOURCE_WRITE: {
    if (f->pos != f->buf_start + f->buf.size()) {
      if (!f->flush()) {
        return -1;
      }
      f->buf_start = f->pos;
    }
    const char* in = static_cast<const char*>(data);
    f->buf.insert(f->buf.end(), in, in + len);
    f->pos += len;
    f->end = std::max(f->end, f->pos);
    if (f->buf.size() >= k_io_buffer && !f->flush()) {
      return -1;
    }
    return static_cast<zip_int64_t>(len);
  }
  case ZIP_SOURCE_SEEK_WRITE: {
    auto* args =
        ZIP_SOURCE_GET_ARGS(zip_source_args_seek_t, data, len, &f->error);
    if (args == nullptr) {
      return -1;
    }
    zip_int64_t base = args->whence == SEEK_SET ? 0
                       : args->whence == SEEK_CUR
                           ? static_cast<zip_int64_t>(f->pos)
                           : static_cast<zip_int64_t>(f->end);
    zip_int64_t target = base + args->offset;
    if (target < 0) {
      zip_error_set(&f->error, ZIP_ER_INVAL, 0);
      return -1;
    }
    if (!f->flush()) {
      return -1;
    }
    f->pos = f->buf_start = static_cast<zip_uint64_t>(target);
    return 0;
  }
  case ZIP_SOURCE_TELL_WRITE:
    return static_cast<zip_int64_t>(f->pos);
  case ZIP_SOURCE_COMMIT_WRITE:
    if (!f->flush() || ::close(f->fd) != 0) {
      f->fd = -1;
      return f->fail_with(ZIP_ER_WRITE);
    }
    f->fd = -1;
    return 0;
  case ZIP_SOURCE_ROLLBACK_WRITE:
  case ZIP_SOURCE_REMOVE:
    if (f->fd >= 0) {
      ::close(f->fd);
      f->fd = -1;
    }
    ::unlink(f->path.c_str());
    return 0;
  case ZIP_SOURCE_ERROR:
    return zip_error_to_data(&f->error, data, len);
  case ZIP_SOURCE_FREE:
    delete f;
    return 0;
  default:
    zip_error_set(&f->error, ZIP_ER_OPNOTSUPP, 0);
    return -1;
  }
}

// A spooled entry, read with large reads; seekable so libzip can re-read it
// (it stores an entry whose deflated form would be larger).
struct SpoolInput {
  fs::path path;
  zip_uint64_t size = 0;
  int fd = -1;
  zip_uint64_t pos = 0;
  std::vector<char> buf;
  std::size_t buf_pos = 0;
  zip_error_t error;

  SpoolInput(fs::path p, zip_uint64_t n) : path(std::move(p)), size(n) {
    zip_error_init(&error);
  }
  ~SpoolInput() {
    if (fd >= 0) {
      ::close(fd);
    }
    zip_error_fini(&error);
  }
};

extern "C" zip_int64_t spool_callback(void* user, void* data, zip_uint64_t len,
                                      zip_source_cmd_t cmd) {
  auto* s = static_cast<SpoolInput*>(user);
  switch (cmd) {
  case ZIP_SOURCE_SUPPORTS:
    return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ,
                                          ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                          ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                          ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, -1);
  case ZIP_SOURCE_STAT: {
    auto* st = static_cast<zip_stat_t*>(data);
    zip_stat_init(st);
    st->size = s->size;
    st->valid |= ZIP_STAT_SIZE;
    return sizeof(zip_stat_t);
  }
  case ZIP_SOURCE_OPEN:
    s->fd = ::open(s->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
      zip_error_set(&s->error, ZIP_ER_OPEN, errno);
      return -1;
    }
    s->pos = 0;
    s->buf.clear();
    s->buf_pos = 0;
    return 0;
  case ZIP_SOURCE_READ: {
    if (s->buf_pos == s->buf.size()) {
      s->buf.resize(k_io_buffer);
      ssize_t n;
      do {
        n = ::pread(s->fd, s->buf.data(), s->buf.size(),
                    static_cast<off_t>(s->pos));
      } while (n < 0 && errno == EINTR && !is_interrupted());
      if (n < 0) {
        zip_error_set(&s->error, ZIP_ER_READ, errno);
        return -1;
      }
      s->buf.resize(static_cast<std::size_t>(n));
      s->buf_pos = 0;
    }
    std::size_t take = std::min<std::size_t>(len, s->buf.size() - s->buf_pos);
    std::memcpy(data, s->buf.data() + s->buf_pos, take);
    s->buf_pos += take;
    s->pos += take;
    return static_cast<zip_int64_t>(take);
  }
  case ZIP_SOURCE_SEEK: {
    zip_int64_t to =
        zip_source_seek_compute_offset(s->pos, s->size, data, len, &s->error);
    if (to < 0) {
      return -1;
    }
    s->pos = static_cast<zip_uint64_t>(to);
    s->buf.clear();
    s->buf_pos = 0;
    return 0;
  }
  case ZIP_SOURCE_TELL:
    return static_cast<zip_int64_t>(s->pos);
  case ZIP_SOURCE_CLOSE:
    if (s->fd >= 0) {
      ::close(s->fd);
      s->fd = -1;
    }
    return 0;
  case ZIP_SOURCE_ERROR:
    return zip_error_to_data(&s->error, data, len);
  case ZIP_SOURCE_FREE:
    delete s;
    return 0;
  default:
    zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
    return -1;
  }
}

// Reads `member` of the open zip `za` whole, up to `max_bytes`.
Expected<std::string> read_member(zip_t* za, std::string_view what,
                                  std::string_view member,
                                  std::size_t max_bytes) {
  zip_int64_t idx = zip_name_locate(za, std::string(member).c_str(), 0);
  if (idx < 0) {
    return fail(ErrorKind::archive, fmt::format("{} has no {}", what, member));
  }
  zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(idx), 0);
  if (zf == nullptr) {
    return fail(ErrorKind::archive, fmt::format("{}: cannot open {}: {}", what,
                                                member, zip_error_text(za)));
  }
  std::string out;
  char buf[65536];
  zip_int64_t n;
  while ((n = zip_fread(zf, buf, sizeof buf)) > 0) {
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      zip_fclose(zf);
      return fail(ErrorKind::archive,
                  fmt::format("{}: {} is larger than {} bytes", what, member,
                              max_bytes));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  std::string why = n < 0 ? zip_error_strerror(zip_file_get_error(zf)) : "";
  zip_fclose(zf);
  if (n < 0) {
    return fail(ErrorKind::archive,
                fmt::format("{}: {} is damaged: {}", what, member, why));
  }
  return out;
}

} // namespace

// An entry being received: bytes go to a temporary file while the hash is
// computed on another core. The file is scratch, so it is never fsynced;
// only the finished archive is.
struct ArchiveWriter::Spool : Sink {
  std::string name;
  std::string media_type;
  fs::path file;
  std::optional<FileSink> out;
  Sha256 hash;
  ThreadedSink hashing{hash};
  std::uint64_t size = 0;

  Expected<void> write(Bytes data) override {
    SNAP_TRY(out->write(data));
    SNAP_TRY(hashing.write(data));
    size += data.size();
    return {};
  }
  bool reset() override {
    size = 0;
    return out->reset() && hashing.reset();
  }
  Expected<void> flush() { return out->flush(); }
  Expected<std::string> finish() {
    SNAP_TRY(out->close(false));
    SNAP_TRY(hashing.finish());
    return hash.hex();
  }
};

ArchiveWriter::ArchiveWriter(fs::path dir, fs::path tmp)
    : m_dir(std::move(dir)), m_tmp(std::move(tmp)) {}

ArchiveWriter::~ArchiveWriter() {
  m_spools.clear();
  std::error_code ec;
  fs::remove_all(m_tmp, ec);
}

Expected<std::unique_ptr<ArchiveWriter>>
ArchiveWriter::create(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(ErrorKind::usage,
                fmt::format("output directory {} does not exist (create it, "
                            "or pass another -o)",
                            dir.string()));
  }
  std::string pattern = (dir / ".snap-tmp-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail(ErrorKind::usage,
                fmt::format("cannot write in {}: {} (pass another -o)",
                            dir.string(), std::strerror(errno)));
  }
  return std::unique_ptr<ArchiveWriter>(new ArchiveWriter(dir, pattern));
}

Expected<Sink*> ArchiveWriter::add_entry(std::string_view name,
                                         std::string media_type) {
  auto spool = std::make_unique<Spool>();
  spool->name = "payload/" + std::string(name);
  if (!is_safe_entry_name(spool->name)) {
    return fail(ErrorKind::internal,
                fmt::format("unsafe entry name {}", spool->name));
  }
  spool->media_type = std::move(media_type);
  spool->file = m_tmp / fmt::format("entry-{}", m_spools.size());
  spool->out.emplace(SNAP_TRY(FileSink::create(spool->file)));
  m_spools.push_back(std::move(spool));
  return m_spools.back().get();
}

Expected<std::unique_ptr<Source>>
ArchiveWriter::entry_source(std::string_view name) {
  std::string full = "payload/" + std::string(name);
  for (auto& s : m_spools) {
    if (s->name == full) {
      SNAP_TRY(s->flush());
      auto src = SNAP_TRY(FileSource::open(s->file));
      return std::unique_ptr<Source>(new FileSource(std::move(src)));
    }
  }
  return fail(ErrorKind::internal, fmt::format("no entry {}", name));
}

Expected<std::string> ArchiveWriter::read_zip_member(std::string_view name,
                                                     std::string_view member,
                                                     std::size_t max_bytes) {
  std::string full = "payload/" + std::string(name);
  for (auto& s : m_spools) {
    if (s->name != full) {
      continue;
    }
    SNAP_TRY(s->flush());
    int zerr = 0;
    zip_t* za = zip_open(s->file.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (za == nullptr) {
      return fail(ErrorKind::archive,
                  fmt::format("{} is not a readable zip (truncated or not a "
                              "zip at all)",
                              name));
    }
    auto r = read_member(za, name, member, max_bytes);
    zip_discard(za);
    return r;
  }
  return fail(ErrorKind::internal, fmt::format("no entry {}", name));
}

Expected<WrittenArchive> ArchiveWriter::commit(Manifest manifest,
                                               const fs::path& final_path) {
  manifest.entries.clear();
  for (auto& s : m_spools) {
    std::string sha = SNAP_TRY(s->finish());
    manifest.entries.push_back({s->name, s->size, sha, s->media_type});
  }
  const std::string manifest_text = manifest_to_text(manifest);
  const std::string manifest_sha = sha256_hex(manifest_text);
  const std::string comment = format_header(manifest, manifest_sha);
  const fs::path tmp_zip = m_tmp / "archive.zip";

  zip_error_t zerr;
  zip_error_init(&zerr);
  auto* out = new OutputFile(tmp_zip);
  zip_source_t* target =
      zip_source_function_create(output_callback, out, &zerr);
  zip_t* za =
      target ? zip_open_from_source(target, ZIP_CREATE, &zerr) : nullptr;
  if (za == nullptr) {
    std::string why = zip_error_strerror(&zerr);
    if (target != nullptr) {
      zip_source_free(target);
    } else {
      delete out;
    }
    zip_error_fini(&zerr);
    return fail(ErrorKind::internal,
                fmt::format("cannot create {}: {}", tmp_zip.string(), why));
  }
  zip_error_fini(&zerr);
  auto abandon = [&](std::string what) -> tl::unexpected<Error> {
    std::string why = zip_error_text(za);
    bool cancelled = zip_error_code_zip(zip_get_error(za)) == ZIP_ER_CANCELLED;
    zip_discard(za);
    if (cancelled || is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    return fail(ErrorKind::internal, fmt::format("{}: {}", what, why));
  };
  std::time_t now = std::time(nullptr);
  auto add = [&](zip_source_t* src, const std::string& name,
                 bool store) -> bool {
    if (src == nullptr) {
      return false;
    }
    zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      return false;
    }
    auto i = static_cast<zip_uint64_t>(idx);
    zip_set_file_compression(za, i, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
    zip_file_set_external_attributes(za, i, 0, ZIP_OPSYS_UNIX, 0100600u << 16);
    zip_file_set_mtime(za, i, now, 0);
    return true;
  };
  if (!add(zip_source_buffer(za, manifest_text.data(), manifest_text.size(), 0),
           std::string(k_manifest_name), false)) {
    return abandon("cannot add manifest.json");
  }
  for (auto& s : m_spools) {
    auto* in = new SpoolInput(s->file, s->size);
    zip_source_t* src = zip_source_function(za, spool_callback, in);
    if (src == nullptr) {
      delete in;
    }
    if (!add(src, s->name, is_precompressed(s->media_type))) {
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
  ::chmod(tmp_zip.c_str(), 0600);
  {
    // The flush to disk and the read-back check overlap; the rename waits
    // for both.
    Expected<void> synced;
    std::jthread syncer([&] { synced = fsync_path(tmp_zip); });
    auto reader = ArchiveReader::open(tmp_zip);
    auto verified = reader ? (*reader)->verify()
                           : Expected<void>(tl::unexpected(reader.error()));
    syncer.join();
    SNAP_TRY(verified);
    SNAP_TRY(synced);
  }
  for (auto& s : m_spools) {
    std::error_code ec;
    fs::remove(s->file, ec);
  }
  std::error_code ec;
  fs::rename(tmp_zip, final_path, ec);
  if (ec) {
    return fail(ErrorKind::internal,
                fmt::format("cannot rename into {}: {}", final_path.string(),
                            ec.message()));
  }
  SNAP_TRY(fsync_path(final_path.parent_path().empty()
                          ? fs::path(".")
                          : final_path.parent_path()));
  return WrittenArchive{final_path, fs::file_size(final_path, ec),
                        manifest_sha};
}

struct ArchiveReader::Impl {
  zip_t* za = nullptr;
  std::map<std::string, zip_uint64_t, std::less<>> index;
  ~Impl() {
    if (za != nullptr) {
      zip_discard(za);
    }
  }
};

ArchiveReader::~ArchiveReader() = default;

namespace {

Error bad(const fs::path& path, std::string_view why) {
  return {ErrorKind::archive,
          fmt::format("{}: {}", path.filename().string(), why)};
}

// Reads a whole entry into `sink`, returning its sha256 (hashed on another
// core while libzip reads and checks the CRC).
Expected<std::string> stream_entry(zip_t* za, zip_uint64_t index,
                                   std::string_view name, Sink* sink,
                                   const fs::path& path,
                                   const std::function<void(std::size_t)>& on) {
  zip_file_t* zf = zip_fopen_index(za, index, 0);
  if (zf == nullptr) {
    return tl::unexpected(
        bad(path, fmt::format("cannot open {}: {}", name, zip_error_text(za))));
  }
  Sha256 hash;
  ThreadedSink hashing(hash);
  std::vector<std::byte> buf(256 * 1024);
  for (;;) {
    if (is_interrupted()) {
      zip_fclose(zf);
      return fail(ErrorKind::interrupted, "interrupted");
    }
    zip_int64_t n = zip_fread(zf, buf.data(), buf.size());
    if (n < 0) {
      std::string why = zip_error_strerror(zip_file_get_error(zf));
      zip_fclose(zf);
      return tl::unexpected(
          bad(path, fmt::format("{} is damaged: {}", name, why)));
    }
    if (n == 0) {
      break;
    }
    Bytes chunk{buf.data(), static_cast<std::size_t>(n)};
    if (auto r = hashing.write(chunk); !r) {
      zip_fclose(zf);
      return tl::unexpected(r.error());
    }
    if (sink != nullptr) {
      auto r = sink->write(chunk);
      if (!r) {
        zip_fclose(zf);
        return tl::unexpected(r.error());
      }
    }
    if (on) {
      on(static_cast<std::size_t>(n));
    }
  }
  zip_fclose(zf);
  SNAP_TRY(hashing.finish());
  return hash.hex();
}

} // namespace

Expected<std::unique_ptr<ArchiveReader>>
ArchiveReader::open(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return fail(
        ErrorKind::not_found,
        fmt::format("{}: no such archive (check the path)", path.string()));
  }
  std::unique_ptr<ArchiveReader> r(new ArchiveReader());
  r->m_path = path;
  r->m_file_size = fs::file_size(path, ec);
  r->m_impl = std::make_unique<Impl>();
  int zerr = 0;
  r->m_impl->za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  zip_t* za = r->m_impl->za;
  if (za == nullptr) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    std::string why = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    return tl::unexpected(bad(
        path, fmt::format("not a readable zip ({}): truncated or not a snap "
                          "archive",
                          why)));
  }
  int comment_len = 0;
  const char* comment =
      zip_get_archive_comment(za, &comment_len, ZIP_FL_ENC_RAW);
  r->m_header = SNAP_TRY(
      parse_header(comment ? std::string_view(comment, comment_len) : "")
          .map_error([&](Error e) { return bad(path, e.message); }));

  zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    std::string n = name ? name : "";
    if (!is_safe_entry_name(n)) {
      return tl::unexpected(
          bad(path, fmt::format("unsafe entry name '{}'", n)));
    }
    if (!r->m_impl->index.emplace(n, static_cast<zip_uint64_t>(i)).second) {
      return tl::unexpected(bad(path, fmt::format("duplicate entry {}", n)));
    }
  }
  const char* first = count > 0 ? zip_get_name(za, 0, 0) : nullptr;
  if (first == nullptr || std::string_view(first) != k_manifest_name) {
    return tl::unexpected(bad(path, "manifest.json is not the first entry"));
  }
  MemorySink manifest_text(4 << 20);
  std::string sha =
      SNAP_TRY(stream_entry(za, 0, k_manifest_name, &manifest_text, path, {}));
  if (sha != r->m_header.manifest_sha256) {
    return tl::unexpected(
        bad(path, "manifest.json does not match the checksum in the header"));
  }
  r->m_manifest =
      SNAP_TRY(parse_manifest(manifest_text.str()).map_error([&](Error e) {
        return bad(path, e.message);
      }));
  const Manifest& m = r->m_manifest;
  if (m.adapter != r->m_header.adapter) {
    return tl::unexpected(
        bad(path, "the header and the manifest name different adapters"));
  }
  std::set<std::string, std::less<>> listed{std::string(k_manifest_name)};
  for (const auto& e : m.entries) {
    auto it = r->m_impl->index.find(e.path);
    if (it == r->m_impl->index.end()) {
      return tl::unexpected(
          bad(path, fmt::format("entry {} is missing", e.path)));
    }
    zip_stat_t st;
    zip_stat_index(za, it->second, 0, &st);
    if ((st.valid & ZIP_STAT_SIZE) && st.size != e.size) {
      return tl::unexpected(
          bad(path, fmt::format("entry {} has {} bytes, the manifest says {}",
                                e.path, st.size, e.size)));
    }
    listed.insert(e.path);
  }
  for (const auto& [name, idx] : r->m_impl->index) {
    if (!listed.contains(name)) {
      return tl::unexpected(
          bad(path, fmt::format("unexpected entry {}", name)));
    }
  }
  return r;
}

Expected<void> ArchiveReader::verify(const ProgressFn& progress) {
  std::uint64_t total = 0, done = 0;
  for (const auto& e : m_manifest.entries) {
    total += e.size;
  }
  for (const auto& e : m_manifest.entries) {
    std::string sha =
        SNAP_TRY(stream_entry(m_impl->za, m_impl->index.at(e.path), e.path,
                              nullptr, m_path, [&](std::size_t n) {
                                done += n;
                                if (progress) {
                                  progress(done, total);
                                }
                              }));
    if (sha != e.sha256) {
      return tl::unexpected(
          bad(m_path, fmt::format("checksum mismatch in {}", e.path)));
    }
  }
  return {};
}

Expected<void> ArchiveReader::read_entry(std::string_view path, Sink& sink) {
  auto it = m_impl->index.find(path);
  const ManifestEntry* entry = nullptr;
  for (const auto& e : m_manifest.entries) {
    if (e.path == path) {
      entry = &e;
    }
  }
  if (it == m_impl->index.end() || entry == nullptr) {
    return fail(
        ErrorKind::archive,
        fmt::format("{}: no entry {}", m_path.filename().string(), path));
  }
  std::string sha =
      SNAP_TRY(stream_entry(m_impl->za, it->second, path, &sink, m_path, {}));
  if (sha != entry->sha256) {
    return tl::unexpected(
        bad(m_path, fmt::format("checksum mismatch in {}", path)));
  }
  return {};
}

namespace {

class EntrySource : public Source {
public:
  EntrySource(zip_t* za, zip_uint64_t index, std::uint64_t size)
      : m_za(za), m_index(index), m_size(size) {}
  ~EntrySource() override { close(); }
  Expected<std::size_t> read(std::span<std::byte> buf) override {
    if (m_file == nullptr) {
      m_file = zip_fopen_index(m_za, m_index, 0);
      if (m_file == nullptr) {
        return fail(ErrorKind::archive, zip_error_text(m_za));
      }
    }
    zip_int64_t n = zip_fread(m_file, buf.data(), buf.size());
    if (n < 0) {
      return fail(ErrorKind::archive,
                  fmt::format("archive entry is damaged: {}",
                              zip_error_strerror(zip_file_get_error(m_file))));
    }
    return static_cast<std::size_t>(n);
  }
  Expected<void> rewind() override {
    close();
    return {};
  }
  std::optional<std::uint64_t> size() const override { return m_size; }

private:
  void close() {
    if (m_file != nullptr) {
      zip_fclose(m_file);
      m_file = nullptr;
    }
  }
  zip_t* m_za;
  zip_uint64_t m_index;
  std::uint64_t m_size;
  zip_file_t* m_file = nullptr;
};

} // namespace

Expected<std::string> ArchiveReader::read_zip_member(std::string_view path,
                                                     std::string_view member,
                                                     std::size_t max_bytes) {
  auto it = m_impl->index.find(path);
  if (it == m_impl->index.end()) {
    return fail(
        ErrorKind::archive,
        fmt::format("{}: no entry {}", m_path.filename().string(), path));
  }
  std::string what = fmt::format("{}: {}", m_path.filename().string(), path);
  zip_error_t zerr;
  zip_error_init(&zerr);
  // A stored entry is a seekable window on the file, so libzip can open
  // the inner zip in place.
  zip_source_t* src =
      zip_source_zip(m_impl->za, m_impl->za, it->second, 0, 0, -1);
  zip_t* inner = src ? zip_open_from_source(src, ZIP_RDONLY, &zerr) : nullptr;
  if (inner == nullptr) {
    if (src != nullptr) {
      zip_source_free(src);
    }
    zip_error_fini(&zerr);
    return fail(ErrorKind::archive,
                fmt::format("{} is not a readable zip", what));
  }
  zip_error_fini(&zerr);
  auto r = read_member(inner, what, member, max_bytes);
  zip_discard(inner);
  return r;
}

Expected<std::unique_ptr<Source>>
ArchiveReader::open_entry(std::string_view path) {
  auto it = m_impl->index.find(path);
  for (const auto& e : m_manifest.entries) {
    if (e.path == path && it != m_impl->index.end()) {
      return std::unique_ptr<Source>(
          new EntrySource(m_impl->za, it->second, e.size));
    }
  }
  return fail(ErrorKind::archive,
              fmt::format("{}: no entry {}", m_path.filename().string(), path));
}

} // namespace snap
