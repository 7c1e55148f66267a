// SPDX-License-Identifier: MIT
// Checking a gzip-compressed tar stream is whole: every entry header and
// every data byte read to the end, as `tar -tzf` would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snap/io.hpp"

namespace snap {

struct TarSummary {
  std::uint64_t entries = 0;
  std::uint64_t files = 0; // regular files among the entries
  std::uint64_t bytes = 0; // file data, uncompressed
  // Members that would not stay inside the folder the tar is unpacked in,
  // or are not plain files and folders: an absolute name or one with a
  // ".." part, a symbolic or hard link, a device node, a FIFO or socket.
  // The first few, described ("../x (name leaves the folder)"), and how
  // many in all.
  std::vector<std::string> unsafe;
  std::uint64_t unsafe_count = 0;
};

// Reads all of `source` as tar.gz and checks every member's name and type.
// Errors: `archive` naming `what` and libarchive's reason (truncated, not
// gzip, bad header).
Expected<TarSummary> check_tar_gz(Source& source, std::string_view what);

// Fails with `archive` when `summary` lists unsafe members of `what`.
Expected<void> refuse_unsafe_members(const TarSummary& summary,
                                     std::string_view what);

} // namespace snap
