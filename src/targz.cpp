// SPDX-License-Identifier: MIT
// tar.gz checks over libarchive, reading from any Source.
#include "snap/targz.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <vector>

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

} // namespace

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
