// SPDX-License-Identifier: MIT
// tar.gz checks over libarchive, reading from any Source.
#include "snap/targz.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <vector>

#include "snap/text.hpp"

namespace snap {
namespace {

struct Feed {
  Source& source;
  std::vector<std::byte> buf = std::vector<std::byte>(256 * 1024);
  std::optional<Error> error;
};

extern "C" la_ssize_t feed_read(struct archive*, void* user,
                                const void** data) {
  auto* f = static_cast<Feed*>(user);
  auto n = f->source.read(f->buf);
  if (!n) {
    f->error = n.error();
    return -1;
  }
  *data = f->buf.data();
  return static_cast<la_ssize_t>(*n);
}

// Why member `e` would not stay a plain file or folder inside the folder
// it is unpacked in, or "" when it would.
std::string unsafe_reason(struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  std::string_view name = raw != nullptr ? raw : "";
  if (name.empty()) {
    return "a member without a name";
  }
  if (name.front() == '/') {
    return "an absolute name";
  }
  for (std::size_t start = 0; start <= name.size();) {
    auto slash = name.find('/', start);
    auto part =
        name.substr(start, slash == name.npos ? name.npos : slash - start);
    if (part == "..") {
      return "a name that leaves the folder";
    }
    if (slash == name.npos) {
      break;
    }
    start = slash + 1;
  }
  if (archive_entry_hardlink(e) != nullptr) {
    return "a hard link";
  }
  switch (archive_entry_filetype(e)) {
  case AE_IFREG:
  case AE_IFDIR:
    return "";
  case AE_IFLNK:
    return "a symbolic link";
  case AE_IFCHR:
  case AE_IFBLK:
    return "a device node";
  default:
    return "a FIFO or socket";
  }
}

constexpr std::size_t k_unsafe_listed = 5;

} // namespace

Expected<void> refuse_unsafe_members(const TarSummary& summary,
                                     std::string_view what) {
  if (summary.unsafe_count == 0) {
    return {};
  }
  std::string listed;
  for (const auto& u : summary.unsafe) {
    listed += (listed.empty() ? "" : "; ") + u;
  }
  return fail(
      ErrorKind::archive,
      fmt::format("{} holds {} member{} that would not stay plain "
                  "files inside the component's folder ({}{}); snap "
                  "does not restore it",
                  what, summary.unsafe_count,
                  summary.unsafe_count == 1 ? "" : "s", listed,
                  summary.unsafe_count > summary.unsafe.size() ? "; …" : ""));
}

Expected<TarSummary> check_tar_gz(Source& source, std::string_view what) {
  SNAP_TRY(source.rewind());
  Feed feed{source};
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  TarSummary summary;
  std::string problem;
  if (archive_read_open(a, &feed, nullptr, feed_read, nullptr) != ARCHIVE_OK) {
    problem =
        archive_error_string(a) ? archive_error_string(a) : "not a gzip tar";
  }
  struct archive_entry* entry = nullptr;
  while (problem.empty()) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc < ARCHIVE_WARN) {
      problem =
          archive_error_string(a) ? archive_error_string(a) : "bad tar header";
      break;
    }
    ++summary.entries;
    if (archive_entry_filetype(entry) == AE_IFREG) {
      ++summary.files;
    }
    if (std::string why = unsafe_reason(entry); !why.empty()) {
      if (summary.unsafe.size() < k_unsafe_listed) {
        const char* name = archive_entry_pathname(entry);
        summary.unsafe.push_back(
            fmt::format("{}: {}", terminal_safe(name ? name : ""), why));
      }
      ++summary.unsafe_count;
    }
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int drc;
    while ((drc = archive_read_data_block(a, &block, &size, &offset)) ==
           ARCHIVE_OK) {
      summary.bytes += size;
    }
    if (drc != ARCHIVE_EOF) {
      problem =
          archive_error_string(a) ? archive_error_string(a) : "truncated data";
    }
  }
  archive_read_free(a);
  if (feed.error) {
    return tl::unexpected(*feed.error);
  }
  if (!problem.empty()) {
    return fail(ErrorKind::archive,
                fmt::format("{} is not a whole tar.gz: {}", what, problem));
  }
  return summary;
}

} // namespace snap
