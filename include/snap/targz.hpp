// SPDX-License-Identifier: MIT
// Checking a gzip-compressed tar stream is whole: every entry header and
// every data byte read to the end, as `tar -tzf` would.
#pragma once

#include <cstdint>
#include <string>

#include "snap/io.hpp"

namespace snap {

struct TarSummary {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0; // file data, uncompressed
};

// Reads all of `source` as tar.gz. Errors: `archive` naming `what` and
// libarchive's reason (truncated, not gzip, bad header).
Expected<TarSummary> check_tar_gz(Source& source, std::string_view what);

} // namespace snap
