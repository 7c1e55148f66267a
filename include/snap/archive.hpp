// SPDX-License-Identifier: MIT
// Writing and reading snap archives (docs/contract.md §5). Adapters see only
// these two classes; the zip library stays inside archive.cpp.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "snap/http.hpp"
#include "snap/manifest.hpp"

namespace snap {

// What a zip payload (a Cloudify snapshot) holds, read through to its end.
struct ZipSummary {
  std::uint64_t members = 0;
  std::uint64_t bytes = 0; // uncompressed
};

struct WrittenArchive {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::string manifest_sha256;
};

// What commit() does when the final name is taken.
enum class OnExisting {
  refuse,  // fail with `usage`: -o FILE named a file that exists
  replace, // -o FILE --force
  rename,  // a generated name: take the next free "<stem>-N.zip"
};

// Removes the temporary folders (".snap-tmp-*") that snaps killed before
// they could clean up left in `dir`: those no running snap holds (each
// holds an advisory lock on its own while it writes) and older than a few
// seconds. With `dry_run`, only names them. Returns their names.
std::vector<std::string> sweep_stale_temp_dirs(const std::filesystem::path& dir,
                                               bool dry_run = false);

class ArchiveReader;

// Where each entry's local header starts in an archive file, by entry name:
// the writer knows, and the read-back checks there (libzip does not say).
using HeaderOffsets = std::map<std::string, std::uint64_t, std::less<>>;

class ArchiveWriter {
public:
  // Prepares an archive to be written in `dir`; its entries spool into a
  // private temporary folder there, locked while it is in use, after
  // stale folders of killed runs are swept. Errors: `usage` when `dir` is
  // not a writable directory.
  static Expected<std::unique_ptr<ArchiveWriter>>
  create(const std::filesystem::path& dir);
  // Removes every temporary file unless commit() succeeded.
  ~ArchiveWriter();

  // A sink for payload entry `payload/<name>`; gzip and zip media types are
  // stored, others deflated. The sink lives as long as the writer. Each of
  // `taps` (a payload's own check, say) sees the same bytes on a thread of
  // its own, beside the file's write and the checksums: the bytes are
  // copied once for all of them. drain() waits for them.
  Expected<Sink*> add_entry(std::string_view name, std::string media_type,
                            std::vector<Sink*> taps = {});
  // Waits until everything written to entry `name` is in its file and its
  // taps have consumed it. Errors: the file's, the checksums', the taps'.
  Expected<void> drain(std::string_view name);
  // Adds payload entry `payload/<name>` holding `value` as indented JSON.
  Expected<void> add_json(std::string_view name, const nlohmann::json& value);

  // Fills the manifest's entries, writes the zip to a temporary file, flushes
  // and verifies it, then renames it to `final_path` (in the same directory)
  // with mode 0600, never over an existing file unless `existing` says
  // replace. Errors: `internal` on I/O, `archive` if verification fails,
  // `interrupted` on a signal, `usage` when the name is taken and
  // `existing` says refuse.
  // When the payload is encrypted, `read_back` (the adapter's describe
  // with verify) then reads the written archive as a user would, before
  // the rename.
  using ReadBack = std::function<Expected<void>(ArchiveReader&)>;
  Expected<WrittenArchive> commit(Manifest manifest,
                                  const std::filesystem::path& final_path,
                                  OnExisting existing = OnExisting::refuse,
                                  const ReadBack& read_back = {});

  // A source over what entry `name` has received so far, to check a payload
  // before commit. Errors: `internal`.
  Expected<std::unique_ptr<Source>> entry_source(std::string_view name);

  // Reads member `member` (at most `max_bytes`) of the zip file received so
  // far as entry `name`, to check a payload that is itself a zip. Errors:
  // `archive` when it is not a readable zip or lacks the member.
  Expected<std::string> read_zip_member(std::string_view name,
                                        std::string_view member,
                                        std::size_t max_bytes = 16 << 20);
  // Reads every member of the zip received so far as entry `name` to its
  // end, so each one's CRC-32 is checked. Errors: `archive` naming the
  // damaged member, `interrupted`.
  Expected<ZipSummary> check_zip(std::string_view name);

  const std::filesystem::path& dir() const { return m_dir; }

  // Encrypts every payload entry with AES-256 under `passphrase` (the
  // manifest stays readable); the archive is then format 2. Call it before
  // the first add_entry().
  void encrypt_with(std::string passphrase) {
    m_passphrase = std::move(passphrase);
  }

  struct Spool;

private:
  explicit ArchiveWriter(std::filesystem::path dir, std::filesystem::path tmp);
  // Writes the finished zip into the temporary folder and returns its path:
  // with our own zip writer, or with libzip when encrypting.
  Expected<std::filesystem::path> write_zip(const std::string& manifest_text,
                                            const std::string& comment);
  Expected<std::filesystem::path>
  write_encrypted_zip(const std::string& manifest_text,
                      const std::string& comment,
                      const std::filesystem::path& final_path);
  std::filesystem::path m_dir;
  std::filesystem::path m_tmp;
  int m_lock_fd = -1; // the temporary folder, flock()ed while in use
  std::vector<std::unique_ptr<Spool>> m_spools;
  std::string m_passphrase;
  // Where write_zip put each entry's local header, for the read-back.
  HeaderOffsets m_headers;
};

class ArchiveReader {
public:
  // Opens `path` and checks its structure: zip readable, snap header,
  // manifest first and matching the header's sha256, format version known,
  // safe names, exactly the manifest's entries with their sizes. Errors:
  // `not_found`, `archive`.
  static Expected<std::unique_ptr<ArchiveReader>>
  open(const std::filesystem::path& path);
  ~ArchiveReader();

  const Manifest& manifest() const { return m_manifest; }
  const ArchiveHeader& header() const { return m_header; }
  std::uint64_t file_size() const { return m_file_size; }
  const std::filesystem::path& path() const { return m_path; }

  // True when the payload entries are encrypted (format 2).
  bool encrypted() const { return !m_manifest.encryption.empty(); }
  // The passphrase reading an encrypted payload needs.
  void set_passphrase(const std::string& passphrase);

  // Re-reads every payload entry and checks size, CRC and sha256. Errors:
  // `archive` naming the entry, `interrupted`.
  Expected<void> verify(const ProgressFn& progress = {});
  // What a write can damage, checked fast: every payload entry is there,
  // as large as the manifest says, and its stored bytes match the CRC-32 in
  // the zip directory. The SHA-256s are not computed again; verify() does
  // that. An entry the reader cannot check this way
  // (compressed or encrypted) gets verify()'s full check. A stored entry
  // named in `headers` (the writer knows where it put them; libzip does not
  // say) is read from the file directly after its local header is checked,
  // and its CRC-32 computed with ISA-L, several times faster than libzip's
  // read through zlib's.
  Expected<void> verify_crc(const HeaderOffsets& headers = {});

  // Streams entry `path` (as named in the manifest) into `sink`, checking its
  // sha256 at the end. Errors: `archive`, `not_found`, the sink's.
  Expected<void> read_entry(std::string_view path, Sink& sink);

  // Reads entry `path`, a JSON object of at most 64 MiB. Errors: `archive`
  // when it is not one.
  Expected<nlohmann::json> read_json(std::string_view path);

  // A rewindable source over entry `path`, for uploads.
  Expected<std::unique_ptr<Source>> open_entry(std::string_view path);

  // Reads member `member` (at most `max_bytes`) of entry `path`, a zip file
  // stored in this archive. Errors: `archive`.
  Expected<std::string> read_zip_member(std::string_view path,
                                        std::string_view member,
                                        std::size_t max_bytes = 16 << 20);
  // Reads every member of entry `path`, a zip, to its end, so each one's
  // CRC-32 is checked. Errors: `archive` naming the damaged member.
  Expected<ZipSummary> check_zip(std::string_view path);

  struct Impl;

private:
  ArchiveReader() = default;
  std::filesystem::path m_path;
  std::uint64_t m_file_size = 0;
  Manifest m_manifest;
  ArchiveHeader m_header;
  std::unique_ptr<Impl> m_impl;
  bool m_has_passphrase = false;
  // Errors: `usage` when the payload is encrypted and no passphrase is set.
  Expected<void> need_passphrase() const;
};

} // namespace snap
