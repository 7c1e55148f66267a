// SPDX-License-Identifier: MIT
// The archive module's zip writer (see zip_writer.hpp). Record layouts are
// those of PKWARE's APPNOTE.TXT: local header 4.3.7, central directory
// header 4.3.12, zip64 extended information 4.5.3, zip64 end records
// 4.3.14-4.3.15, end record 4.3.16.
#include "src/zip_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "snap/scope.hpp"
#include "snap/signals.hpp"

namespace snap::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::uint16_t k_version = 45; // 4.5: zip64
constexpr std::uint16_t k_utf8_names = 1u << 11;
constexpr std::uint16_t k_zip64_extra = 0x0001;
// The padding extra field's ID, the one Android's zipalign pads with.
constexpr std::uint16_t k_padding_extra = 0xD935;
constexpr std::uint32_t k_unix_rw_owner = 0100600u << 16;
constexpr std::size_t k_local_fixed = 30;
constexpr std::size_t k_local_zip64 = 4 + 16;
constexpr std::size_t k_block = 1 << 20;

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}
void put64(std::string& out, std::uint64_t v) {
  put32(out, static_cast<std::uint32_t>(v & 0xffffffff));
  put32(out, static_cast<std::uint32_t>(v >> 32));
}

// MS-DOS date and time in local time, as zip tools show them.
std::pair<std::uint16_t, std::uint16_t> dos_time(std::time_t when) {
  std::tm tm{};
  ::localtime_r(&when, &tm);
  if (tm.tm_year < 80) {
    return {0, (1 << 5) | 1}; // 1980-01-01, the earliest DOS date
  }
  auto time = static_cast<std::uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) |
                                         (tm.tm_sec / 2));
  auto date = static_cast<std::uint16_t>(((tm.tm_year - 80) << 9) |
                                         ((tm.tm_mon + 1) << 5) | tm.tm_mday);
  return {time, date};
}

// The fields local and central headers share, from "version needed" to the
// 32-bit sizes (which always defer to the zip64 extra).
void put_common(std::string& out, const ZipRecord& r, std::time_t when) {
  auto [time, date] = dos_time(when);
  put16(out, k_version);
  put16(out, k_utf8_names);
  put16(out, r.deflated ? Z_DEFLATED : 0);
  put16(out, time);
  put16(out, date);
  put32(out, r.crc);
  put32(out, 0xffffffff);
  put32(out, 0xffffffff);
}

std::string deflate_text(std::string_view text) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
               Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::uint32_t crc_of(std::string_view text) {
  return static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(text.data()),
            static_cast<uInt>(text.size())));
}

} // namespace

std::uint64_t local_header_size(std::string_view name, std::size_t pad) {
  return k_local_fixed + name.size() + k_local_zip64 + pad;
}

std::string local_header(const ZipRecord& r, std::time_t when,
                         std::size_t pad) {
  std::string out;
  out.reserve(local_header_size(r.name, pad));
  put32(out, 0x04034b50);
  put_common(out, r, when);
  put16(out, static_cast<std::uint16_t>(r.name.size()));
  put16(out, static_cast<std::uint16_t>(k_local_zip64 + pad));
  out += r.name;
  put16(out, k_zip64_extra);
  put16(out, 16);
  put64(out, r.size);
  put64(out, r.compressed);
  if (pad > 0) {
    put16(out, k_padding_extra);
    put16(out, static_cast<std::uint16_t>(pad - 4));
    out.append(pad - 4, '\0');
  }
  return out;
}

namespace {

SmallEntry small_entry(std::string_view name, std::string_view text,
                       std::string_view data, bool deflated, std::time_t when,
                       std::size_t pad) {
  ZipRecord r{.name = std::string(name),
              .deflated = deflated,
              .crc = crc_of(text),
              .compressed = data.size(),
              .size = text.size(),
              .offset = 0};
  std::string bytes = local_header(r, when, pad);
  bytes += data;
  return {std::move(bytes), std::move(r)};
}

} // namespace

SmallEntry first_entry(std::string_view name, std::string_view text,
                       std::time_t when) {
  return small_entry(name, text, deflate_text(text), true, when, 0);
}

std::optional<SmallEntry>
region_entry(std::string_view name, std::string_view text, std::time_t when) {
  const std::uint64_t room = k_manifest_region - local_header_size(name);
  const std::uint64_t max_pad = 0xffff - k_local_zip64;
  const std::string deflated = deflate_text(text);
  for (bool deflate : {true, false}) {
    std::string_view data = deflate ? std::string_view(deflated) : text;
    if (data.size() > room) {
      continue;
    }
    std::uint64_t pad = room - data.size();
    if ((pad > 0 && pad < 4) || pad > max_pad) {
      continue; // no padding field is that small
    }
    return small_entry(name, text, data, deflate, when, pad);
  }
  return std::nullopt;
}

ZipFile::ZipFile(int fd, fs::path path, std::uint64_t end)
    : m_fd(fd), m_path(std::move(path)), m_end(end) {}

ZipFile::ZipFile(ZipFile&& other) noexcept
    : m_fd(other.m_fd), m_path(std::move(other.m_path)), m_end(other.m_end) {
  other.m_fd = -1;
}

ZipFile::~ZipFile() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

Error ZipFile::io_error(std::string_view what) const {
  if (is_interrupted()) {
    return {ErrorKind::interrupted, "interrupted"};
  }
  return {ErrorKind::internal,
          fmt::format("cannot {} {}: {}", what, m_path.string(),
                      std::strerror(errno))};
}

Expected<ZipFile> ZipFile::create(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorKind::internal,
                fmt::format("cannot create {}: {}", path.string(),
                            std::strerror(errno)));
  }
  return ZipFile(fd, path, 0);
}

Expected<ZipFile> ZipFile::reopen(const fs::path& path, std::uint64_t end) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(
        ErrorKind::internal,
        fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  }
  ZipFile f(fd, path, end);
  if (::ftruncate(fd, static_cast<off_t>(end)) != 0) {
    return tl::unexpected(f.io_error("truncate"));
  }
  return f;
}

Expected<void> ZipFile::write_at(std::uint64_t offset, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n =
        ::pwrite(m_fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR && !is_interrupted()) {
      continue;
    }
    if (n <= 0) {
      return tl::unexpected(io_error("write"));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Expected<void> ZipFile::append(std::string_view bytes) {
  SNAP_TRY(write_at(m_end, bytes));
  m_end += bytes.size();
  return {};
}

Expected<void> ZipFile::copy_range(int from, std::uint64_t offset,
                                   std::uint64_t size) {
  // copy_file_range moves the bytes inside the kernel (or shares blocks on
  // file systems that can); pread/pwrite where it is not available.
  bool in_kernel = true;
  std::vector<char> buf;
  while (size > 0) {
    if (is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    std::size_t want = std::min<std::uint64_t>(size, 64 * k_block);
    ssize_t n = -1;
    if (in_kernel) {
      auto in = static_cast<off_t>(offset);
      auto out = static_cast<off_t>(m_end);
      n = ::copy_file_range(from, &in, m_fd, &out, want, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                    errno == EOPNOTSUPP)) {
        in_kernel = false;
        continue;
      }
    } else {
      buf.resize(std::min<std::size_t>(want, k_block));
      n = ::pread(from, buf.data(), buf.size(), static_cast<off_t>(offset));
      if (n > 0) {
        SNAP_TRY(write_at(
            m_end, std::string_view(buf.data(), static_cast<std::size_t>(n))));
      }
    }
    if (n < 0 && errno == EINTR && !is_interrupted()) {
      continue;
    }
    if (n <= 0) {
      if (n == 0) {
        errno = EIO; // the source is shorter than it was when received
      }
      return tl::unexpected(io_error("copy into"));
    }
    offset += static_cast<std::uint64_t>(n);
    m_end += static_cast<std::uint64_t>(n);
    size -= static_cast<std::uint64_t>(n);
  }
  return {};
}

Expected<std::uint64_t> ZipFile::deflate_range(int from, std::uint64_t offset,
                                               std::uint64_t size) {
  z_stream z{};
  // Level 1: backups are large and written often; it deflates text two to
  // three times faster than the default level for a few percent in size.
  if (deflateInit2(&z, 1, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return fail(ErrorKind::internal, "cannot start deflate");
  }
  ScopeExit end([&z] { deflateEnd(&z); });
  std::vector<char> in(k_block);
  std::vector<char> out(k_block);
  const std::uint64_t start = m_end;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    int flush = Z_FINISH;
    if (size > 0) {
      ssize_t n =
          ::pread(from, in.data(), std::min<std::uint64_t>(size, k_block),
                  static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR && !is_interrupted()) {
        continue;
      }
      if (n <= 0) {
        if (n == 0) {
          errno = EIO;
        }
        return tl::unexpected(io_error("read the entry for"));
      }
      offset += static_cast<std::uint64_t>(n);
      size -= static_cast<std::uint64_t>(n);
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(n);
      flush = size > 0 ? Z_NO_FLUSH : Z_FINISH;
    }
    do {
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        return fail(ErrorKind::internal, "deflate failed");
      }
      SNAP_TRY(append(std::string_view(out.data(), out.size() - z.avail_out)));
    } while (z.avail_out == 0);
  }
  return m_end - start;
}

Expected<ZipRecord> ZipFile::append_entry(std::string name,
                                          const fs::path& from,
                                          std::uint64_t offset,
                                          std::uint64_t size, std::uint32_t crc,
                                          bool deflate, std::time_t when) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return fail(
        ErrorKind::internal,
        fmt::format("cannot open {}: {}", from.string(), std::strerror(errno)));
  }
  ScopeExit close([in] { ::close(in); });
  ZipRecord r{.name = std::move(name),
              .deflated = deflate,
              .crc = crc,
              .compressed = size,
              .size = size,
              .offset = m_end};
  SNAP_TRY(append(local_header(r, when)));
  const std::uint64_t data = m_end;
  if (deflate) {
    r.compressed = SNAP_TRY(deflate_range(in, offset, size));
    if (r.compressed >= size) {
      // Incompressible: stored is smaller, and as quick to read back.
      m_end = data;
      if (::ftruncate(m_fd, static_cast<off_t>(data)) != 0) {
        return tl::unexpected(io_error("truncate"));
      }
      r.deflated = false;
      r.compressed = size;
    }
  }
  if (!r.deflated) {
    SNAP_TRY(copy_range(in, offset, size));
  }
  SNAP_TRY(write_at(r.offset, local_header(r, when)));
  return r;
}

Expected<void> ZipFile::finish(std::span<const ZipRecord> records,
                               std::string_view comment, std::time_t when) {
  const std::uint64_t cd_offset = m_end;
  std::string cd;
  for (const auto& r : records) {
    put32(cd, 0x02014b50);
    put16(cd, (3u << 8) | k_version); // made by Unix
    put_common(cd, r, when);
    put16(cd, static_cast<std::uint16_t>(r.name.size()));
    put16(cd, 4 + 24);
    put16(cd, 0); // comment length
    put16(cd, 0); // disk
    put16(cd, 0); // internal attributes
    put32(cd, k_unix_rw_owner);
    put32(cd, 0xffffffff); // offset: in the zip64 extra
    cd += r.name;
    put16(cd, k_zip64_extra);
    put16(cd, 24);
    put64(cd, r.size);
    put64(cd, r.compressed);
    put64(cd, r.offset);
  }
  const std::uint64_t eocd64_offset = cd_offset + cd.size();
  const std::uint64_t count = records.size();
  std::string tail = cd;
  put32(tail, 0x06064b50);
  put64(tail, 44);
  put16(tail, (3u << 8) | k_version);
  put16(tail, k_version);
  put32(tail, 0);
  put32(tail, 0);
  put64(tail, count);
  put64(tail, count);
  put64(tail, cd.size());
  put64(tail, cd_offset);
  put32(tail, 0x07064b50);
  put32(tail, 0);
  put64(tail, eocd64_offset);
  put32(tail, 1);
  put32(tail, 0x06054b50);
  put16(tail, 0);
  put16(tail, 0);
  auto count16 =
      static_cast<std::uint16_t>(std::min<std::uint64_t>(count, 0xffff));
  put16(tail, count16);
  put16(tail, count16);
  put32(tail, static_cast<std::uint32_t>(
                  std::min<std::uint64_t>(cd.size(), 0xffffffff)));
  put32(tail, static_cast<std::uint32_t>(
                  std::min<std::uint64_t>(cd_offset, 0xffffffff)));
  put16(tail, static_cast<std::uint16_t>(comment.size()));
  tail += comment;
  SNAP_TRY(append(tail));
  int fd = m_fd;
  m_fd = -1;
  if (::close(fd) != 0) {
    return tl::unexpected(io_error("close"));
  }
  return {};
}

} // namespace snap::detail
