// SPDX-License-Identifier: MIT
// Buffered libzip sources for the archive module (archive.cpp): libzip's own
// file I/O moves data in 8 KiB calls, which is most of the cost of copying a
// big payload into an archive. Part of the archive module, like its zip.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <zip.h>

#include "snap/archive.hpp"
#include "snap/error.hpp"

namespace snap::detail {

// A read/write source for a new archive at `path`: starts empty, buffers
// libzip's writes and follows its seeks back to patch local headers. nullptr
// on failure, with `error` set.
zip_source_t* make_output_source(const std::filesystem::path& path,
                                 zip_error_t* error);

// A seekable source over the `size` bytes at `offset` in the spooled entry
// file `path`, read in large blocks.
zip_source_t* make_spool_source(zip_t* za, const std::filesystem::path& path,
                                std::uint64_t offset, std::uint64_t size);

// libzip's text for the last error on `za`.
std::string zip_error_text(zip_t* za);

// Reads `member` of the open zip `za` whole, up to `max_bytes`; `what` names
// the zip in messages. Errors: `archive`.
Expected<std::string> read_member(zip_t* za, std::string_view what,
                                  std::string_view member,
                                  std::size_t max_bytes);

// Reads every member of the open zip `za` to its end, so libzip checks each
// one's CRC-32 (and decompresses it whole); `what` names the zip in
// messages. Memory stays at one buffer. Errors: `archive` naming the member.
Expected<ZipSummary> check_members(zip_t* za, std::string_view what);

} // namespace snap::detail
