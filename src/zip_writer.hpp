// SPDX-License-Identifier: MIT
// A zip writer of our own for the archive module (archive.cpp): libzip copies
// every entry into the zip at zip_close(), which for a large backup means
// writing the payload to disk twice. This writer lets the first payload
// stream straight into the archive file: it starts after a reserved region
// that the manifest fills at commit (padded by an extra field, as zipalign
// pads), and the rest is appended. Every record carries zip64 fields, so the
// same code serves 1 KiB and 100 GiB. libzip still writes encrypted archives
// and reads every archive back.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "snap/error.hpp"

namespace snap::detail {

// The bytes reserved at the start of a streamed archive for the manifest
// entry (local header, padding and data).
constexpr std::uint64_t k_manifest_region = 64 * 1024;

// One entry as the central directory describes it.
struct ZipRecord {
  std::string name;
  bool deflated = false;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0; // of the local header
};

// Size of the local header of `name` with `pad` bytes of padding extra.
std::uint64_t local_header_size(std::string_view name, std::size_t pad = 0);

// The local header of `r` stamped `when`, with a zip64 extra holding the
// sizes and, when `pad` > 0 (it must then be at least 4), a padding extra
// field of `pad` bytes.
std::string local_header(const ZipRecord& r, std::time_t when,
                         std::size_t pad = 0);

// A small entry made whole in memory: its local header and data.
struct SmallEntry {
  std::string bytes;
  ZipRecord record;
};

// Entry `name` holding `text` deflated, at offset 0.
SmallEntry first_entry(std::string_view name, std::string_view text,
                       std::time_t when);

// The same entry filling the reserved region exactly: a padding extra field
// takes up the room, and `text` is stored when only that leaves a room a
// padding field can fill. nullopt when `text` is too large for the region.
std::optional<SmallEntry> region_entry(std::string_view name,
                                       std::string_view text, std::time_t when);

// A zip file being written at its end (appends) or patched (pwrite). Errors
// are `internal` naming the file, or `interrupted` on a signal.
class ZipFile {
public:
  // Creates `path` (mode 0600, must not exist).
  static Expected<ZipFile> create(const std::filesystem::path& path);
  // Opens the existing `path` to append after its `end` first bytes.
  static Expected<ZipFile> reopen(const std::filesystem::path& path,
                                  std::uint64_t end);
  ZipFile(ZipFile&& other) noexcept;
  ZipFile& operator=(ZipFile&&) = delete;
  ~ZipFile();

  std::uint64_t end() const { return m_end; }
  Expected<void> append(std::string_view bytes);
  Expected<void> write_at(std::uint64_t offset, std::string_view bytes);

  // Appends entry `name` whose `size` bytes are at `offset` in `from`, with
  // the `crc` already known: stored (copied in the kernel where it can be),
  // or deflated at level 1 and stored after all when that is not smaller.
  Expected<ZipRecord> append_entry(std::string name,
                                   const std::filesystem::path& from,
                                   std::uint64_t offset, std::uint64_t size,
                                   std::uint32_t crc, bool deflate,
                                   std::time_t when);

  // Appends the central directory of `records`, the zip64 end records and
  // the end record with `comment`, then closes the file.
  Expected<void> finish(std::span<const ZipRecord> records,
                        std::string_view comment, std::time_t when);

private:
  ZipFile(int fd, std::filesystem::path path, std::uint64_t end);
  Expected<void> copy_range(int from, std::uint64_t offset, std::uint64_t size);
  Expected<std::uint64_t> deflate_range(int from, std::uint64_t offset,
                                        std::uint64_t size);
  Error io_error(std::string_view what) const;
  int m_fd;
  std::filesystem::path m_path;
  std::uint64_t m_end;
};

} // namespace snap::detail
