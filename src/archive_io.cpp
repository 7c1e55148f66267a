// SPDX-License-Identifier: MIT
// The archive module's buffered libzip sources (see archive_io.hpp).
#include "src/archive_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "snap/signals.hpp"

namespace snap::detail {
namespace {

namespace fs = std::filesystem;

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
  zip_uint64_t offset = 0;
  zip_uint64_t size = 0;
  int fd = -1;
  zip_uint64_t pos = 0;
  std::vector<char> buf;
  std::size_t buf_pos = 0;
  zip_error_t error;

  SpoolInput(fs::path p, zip_uint64_t at, zip_uint64_t n)
      : path(std::move(p)), offset(at), size(n) {
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
      s->buf.resize(std::min<zip_uint64_t>(k_io_buffer, s->size - s->pos));
      ssize_t n = 0;
      do {
        if (s->buf.empty()) {
          break;
        }
        n = ::pread(s->fd, s->buf.data(), s->buf.size(),
                    static_cast<off_t>(s->offset + s->pos));
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

} // namespace

std::string zip_error_text(zip_t* za) {
  return zip_error_strerror(zip_get_error(za));
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

Expected<ZipSummary> check_members(zip_t* za, std::string_view what) {
  ZipSummary summary;
  std::vector<char> buf(256 * 1024);
  zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    if (is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    const char* raw = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    std::string name = raw != nullptr ? raw : "?";
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (zf == nullptr) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: cannot open member {}: {}", what, name,
                              zip_error_text(za)));
    }
    zip_int64_t n;
    while ((n = zip_fread(zf, buf.data(), buf.size())) > 0) {
      summary.bytes += static_cast<std::uint64_t>(n);
    }
    std::string why = n < 0 ? zip_error_strerror(zip_file_get_error(zf)) : "";
    zip_fclose(zf);
    if (n < 0) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: member {} is damaged: {}", what, name, why));
    }
    ++summary.members;
  }
  return summary;
}

zip_source_t* make_output_source(const fs::path& path, zip_error_t* error) {
  auto* out = new OutputFile(path);
  zip_source_t* src = zip_source_function_create(output_callback, out, error);
  if (src == nullptr) {
    delete out;
  }
  return src;
}

zip_source_t* make_spool_source(zip_t* za, const fs::path& path,
                                std::uint64_t offset, std::uint64_t size) {
  auto* in = new SpoolInput(path, offset, size);
  zip_source_t* src = zip_source_function(za, spool_callback, in);
  if (src == nullptr) {
    delete in;
  }
  return src;
}

} // namespace snap::detail
