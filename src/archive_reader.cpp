// SPDX-License-Identifier: MIT
// Reading snap archives with libzip: structure first (header, manifest,
// names, entries), checksums on demand, entries streamed or opened in place.
#include "snap/archive.hpp"

#include "src/archive_io.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unistd.h>

#include <isa-l/crc.h>
#include <zip.h>
#include <zlib.h>

#include "snap/cores.hpp"
#include "snap/json.hpp"
#include "snap/sha256.hpp"
#include "snap/signals.hpp"

namespace snap {
namespace fs = std::filesystem;
using detail::zip_error_text;

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

// Why an entry would not open; a wrong passphrase says so plainly.
std::string open_failure(zip_t* za, std::string_view name) {
  int code = zip_error_code_zip(zip_get_error(za));
  if (code == ZIP_ER_WRONGPASSWD) {
    return "the passphrase is wrong (check --passphrase-file or "
           "SNAP_PASSPHRASE)";
  }
  if (code == ZIP_ER_NOPASSWD) {
    return "the payload is encrypted: give --passphrase-file or set "
           "SNAP_PASSPHRASE";
  }
  return fmt::format("cannot open {}: {}", name, zip_error_text(za));
}

// Reads entry `index` through, into `sink` when given, and returns its
// SHA-256 (hex; hashed on another core while libzip reads and checks the
// CRC), or "" with `raw`: then the stored bytes are read as they are and
// not hashed (libzip still checks them against the directory's CRC-32).
Expected<std::string> stream_entry(zip_t* za, zip_uint64_t index,
                                   std::string_view name, Sink* sink,
                                   const fs::path& path,
                                   const std::function<void(std::size_t)>& on,
                                   bool raw = false) {
  zip_file_t* zf = zip_fopen_index(za, index, raw ? ZIP_FL_COMPRESSED : 0);
  if (zf == nullptr) {
    return tl::unexpected(bad(path, open_failure(za, name)));
  }
  Sha256 hash;
  std::optional<ThreadedSink> hashing;
  if (!raw) {
    hashing.emplace(hash);
  }
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
    if (auto r = hashing ? hashing->write(chunk) : Expected<void>{}; !r) {
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
  if (!hashing) {
    return std::string();
  }
  SNAP_TRY(hashing->finish());
  return hash.hex();
}

// Reads manifest entry `e` (at `index`) through stream_entry and checks its
// SHA-256 against the manifest's.
Expected<void> checked_entry(zip_t* za, zip_uint64_t index,
                             const ManifestEntry& e, Sink* sink,
                             const fs::path& path,
                             const std::function<void(std::size_t)>& on) {
  std::string sha = SNAP_TRY(stream_entry(za, index, e.path, sink, path, on));
  if (sha != e.sha256) {
    return tl::unexpected(
        bad(path, fmt::format("checksum mismatch in {}", e.path)));
  }
  return {};
}

std::uint32_t le(const unsigned char* p, int n) {
  std::uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

// The CRC-32 of the `size` bytes of `path` from `at`; nullopt when the file
// ends first.
Expected<std::optional<std::uint32_t>>
crc_of_range(const fs::path& path, std::uint64_t at, std::uint64_t size) {
  auto opened = FileSource::open(path, at);
  if (!opened) {
    return tl::unexpected(bad(path, opened.error().message));
  }
  std::vector<std::byte> buf(1 << 20);
  std::uint32_t crc = 0;
  for (std::uint64_t left = size; left > 0;) {
    if (is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    auto got = opened->read(std::span(buf).first(n));
    if (!got) {
      return tl::unexpected(bad(path, got.error().message));
    }
    if (*got == 0) {
      return std::nullopt;
    }
    crc = crc32_gzip_refl(
        crc, reinterpret_cast<const unsigned char*>(buf.data()), *got);
    left -= *got;
  }
  return crc;
}

// The same, read in parts on threads of their own and joined with zlib's
// crc32_combine (ISA-L's gzip CRC is zlib's CRC-32): at the end of a save
// this check is all that is left to run, and the cores are otherwise idle.
// Parts of at least 64 MiB, so a small entry is read on this thread alone.
Expected<std::optional<std::uint32_t>>
crc_of_range_parallel(const fs::path& path, std::uint64_t at,
                      std::uint64_t size) {
  constexpr std::uint64_t k_min_part = 64ull << 20;
  const std::uint64_t cores = std::clamp<std::uint64_t>(usable_cores(), 1, 4);
  const std::uint64_t parts =
      std::clamp<std::uint64_t>(size / k_min_part, 1, cores);
  if (parts == 1) {
    return crc_of_range(path, at, size);
  }
  const std::uint64_t step = size / parts;
  // The last part takes what the division left over.
  auto length = [&](std::uint64_t i) {
    return i + 1 == parts ? size - i * step : step;
  };
  std::vector<Expected<std::optional<std::uint32_t>>> results(parts);
  auto read_part = [&](std::uint64_t i) {
    results[i] = crc_of_range(path, at + i * step, length(i));
  };
  {
    std::vector<std::jthread> threads;
    for (std::uint64_t i = 1; i < parts; ++i) {
      try {
        threads.emplace_back(read_part, i);
      } catch (const std::system_error&) {
        read_part(i); // no thread to be had (a process limit): read it here
      }
    }
    read_part(0);
  }
  std::uint32_t crc = 0;
  for (std::uint64_t i = 0; i < parts; ++i) {
    auto part = SNAP_TRY(std::move(results[i]));
    if (!part) {
      return std::nullopt;
    }
    crc = i == 0 ? *part
                 : static_cast<std::uint32_t>(crc32_combine(
                       crc, *part, static_cast<z_off_t>(length(i))));
  }
  return crc;
}

// The stored entry `st` whose local header is at `at`, read from the file:
// the header must be one (signature and name), and the bytes after it, as
// many as the directory says, must have the directory's CRC-32.
Expected<void> crc_in_place(const fs::path& path, const zip_stat_t& st,
                            std::uint64_t at) {
  constexpr std::size_t k_fixed = 30;
  const std::string_view name = st.name;
  auto head = FileSource::open(path, at);
  if (!head) {
    return tl::unexpected(bad(path, head.error().message));
  }
  std::vector<std::byte> buf(k_fixed + name.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(buf.data());
  std::size_t have = 0;
  while (have < buf.size()) {
    auto got = head->read(std::span(buf).subspan(have));
    if (!got) {
      return tl::unexpected(bad(path, got.error().message));
    }
    if (*got == 0) {
      break;
    }
    have += *got;
  }
  if (have < buf.size() || le(bytes, 4) != 0x04034b50 ||
      le(bytes + 26, 2) != name.size() ||
      std::string_view(reinterpret_cast<const char*>(bytes) + k_fixed,
                       name.size()) != name) {
    return tl::unexpected(
        bad(path,
            fmt::format("{} has no local header where it was written", name)));
  }
  // Past the extra field (at most 64 KiB), the data.
  const std::uint64_t data = at + k_fixed + name.size() + le(bytes + 28, 2);
  auto crc = SNAP_TRY(crc_of_range_parallel(path, data, st.comp_size));
  if (!crc) {
    return tl::unexpected(
        bad(path, fmt::format("{} is damaged: the file ends in it", name)));
  }
  if (*crc != st.crc) {
    return tl::unexpected(
        bad(path, fmt::format("{} is damaged: CRC error", name)));
  }
  return {};
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
  // A manifest of a million objects is a few hundred KiB; more is no
  // manifest snap wrote.
  constexpr std::size_t k_manifest_max = 4 << 20;
  zip_stat_t st;
  if (zip_stat_index(za, 0, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
      st.size > k_manifest_max) {
    return tl::unexpected(
        bad(path, fmt::format("manifest.json is larger than {} MiB (not a "
                              "manifest snap wrote)",
                              k_manifest_max >> 20)));
  }
  MemorySink manifest_text(k_manifest_max);
  std::string sha =
      SNAP_TRY(stream_entry(za, 0, k_manifest_name, &manifest_text, path, {})
                   .map_error([&](Error e) {
                     // The size in the directory can lie; the sink still stops.
                     return e.kind == ErrorKind::remote
                                ? bad(path, "manifest.json is larger than its "
                                            "directory entry says")
                                : e;
                   }));
  if (sha != r->m_header.manifest_sha256) {
    return tl::unexpected(
        bad(path, "manifest.json does not match the checksum in the header"));
  }
  r->m_manifest =
      SNAP_TRY(parse_manifest(manifest_text.str()).map_error([&](Error e) {
        return bad(path, e.message);
      }));
  const Manifest& m = r->m_manifest;
  SNAP_TRY(check_header_matches(r->m_header, m).map_error([&](Error e) {
    return bad(path, e.message);
  }));
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

void ArchiveReader::set_passphrase(const std::string& passphrase) {
  zip_set_default_password(m_impl->za, passphrase.c_str());
  m_has_passphrase = true;
}

Expected<void> ArchiveReader::need_passphrase() const {
  if (encrypted() && !m_has_passphrase) {
    return fail(ErrorKind::usage,
                fmt::format("{}: the payload is encrypted ({}): give "
                            "--passphrase-file or set SNAP_PASSPHRASE",
                            m_path.filename().string(), m_manifest.encryption));
  }
  return {};
}

Expected<void> ArchiveReader::verify(const ProgressFn& progress) {
  SNAP_TRY(need_passphrase());
  std::uint64_t total = 0, done = 0;
  for (const auto& e : m_manifest.entries) {
    total += e.size;
  }
  for (const auto& e : m_manifest.entries) {
    SNAP_TRY(checked_entry(m_impl->za, m_impl->index.at(e.path), e, nullptr,
                           m_path, [&](std::size_t n) {
                             done += n;
                             if (progress) {
                               progress(done, total);
                             }
                           }));
  }
  return {};
}

Expected<void> ArchiveReader::verify_crc(const HeaderOffsets& headers) {
  for (const auto& e : m_manifest.entries) {
    zip_uint64_t index = m_impl->index.at(e.path);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(m_impl->za, index, 0, &st) != 0) {
      return tl::unexpected(bad(m_path, open_failure(m_impl->za, e.path)));
    }
    bool plain = (st.valid & ZIP_STAT_COMP_METHOD) != 0 &&
                 st.comp_method == ZIP_CM_STORE &&
                 ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) == 0 ||
                  st.encryption_method == ZIP_EM_NONE);
    if (!plain) {
      SNAP_TRY(checked_entry(m_impl->za, index, e, nullptr, m_path, {}));
      continue;
    }
    if (auto at = headers.find(e.path);
        at != headers.end() && (st.valid & ZIP_STAT_CRC) != 0 &&
        (st.valid & ZIP_STAT_COMP_SIZE) != 0 && (st.valid & ZIP_STAT_NAME)) {
      if (st.comp_size != e.size) {
        return tl::unexpected(bad(
            m_path, fmt::format("{} is {} bytes, not the {} the manifest says",
                                e.path, st.comp_size, e.size)));
      }
      SNAP_TRY(crc_in_place(m_path, st, at->second));
      continue;
    }
    // The stored bytes as they are in the file; libzip checks them against
    // the directory's CRC-32 as they are read, and fails with "CRC error".
    std::uint64_t size = 0;
    SNAP_TRY(stream_entry(
        m_impl->za, index, e.path, nullptr, m_path,
        [&](std::size_t n) { size += n; }, true));
    if (size != e.size) {
      return tl::unexpected(bad(
          m_path, fmt::format("{} is {} bytes, not the {} the manifest says",
                              e.path, size, e.size)));
    }
  }
  return {};
}

Expected<void> ArchiveReader::read_entry(std::string_view path, Sink& sink) {
  SNAP_TRY(need_passphrase());
  auto it = m_impl->index.find(path);
  const ManifestEntry* entry = m_manifest.entry(path);
  if (it == m_impl->index.end() || entry == nullptr) {
    return fail(
        ErrorKind::archive,
        fmt::format("{}: no entry {}", m_path.filename().string(), path));
  }
  return checked_entry(m_impl->za, it->second, *entry, &sink, m_path, {});
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
        return fail(ErrorKind::archive, open_failure(m_za, "the entry"));
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

namespace {

// A zip opened from an entry of another zip; removes its spool file, if it
// needed one, when it goes.
struct InnerZip {
  zip_t* za = nullptr;
  fs::path spool;
  ~InnerZip() {
    if (za != nullptr) {
      zip_discard(za);
    }
    if (!spool.empty()) {
      std::error_code ec;
      fs::remove(spool, ec);
    }
  }
};

// A stored, unencrypted entry is a seekable window on the file, so libzip
// opens the inner zip in place. An encrypted one is only a stream of
// decrypted bytes: it is copied, checksum checked, into a private file
// under TMPDIR first (memory stays bounded whatever its size).
Expected<std::unique_ptr<InnerZip>> open_inner_zip(ArchiveReader& reader,
                                                   ArchiveReader::Impl& impl,
                                                   std::string_view path,
                                                   std::string& what) {
  zip_t* za = impl.za;
  auto it = impl.index.find(path);
  what = fmt::format("{}: {}", reader.path().filename().string(), path);
  if (it == impl.index.end()) {
    return fail(ErrorKind::archive,
                fmt::format("{}: no entry {}",
                            reader.path().filename().string(), path));
  }
  zip_uint64_t index = it->second;
  auto inner = std::make_unique<InnerZip>();
  zip_error_t zerr;
  zip_error_init(&zerr);
  if (!reader.encrypted()) {
    zip_source_t* src = zip_source_zip(za, za, index, 0, 0, -1);
    inner->za = src ? zip_open_from_source(src, ZIP_RDONLY, &zerr) : nullptr;
    if (inner->za == nullptr && src != nullptr) {
      zip_source_free(src);
    }
  } else {
    std::string pattern =
        (fs::temp_directory_path() / "snap-inner-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      zip_error_fini(&zerr);
      return fail(ErrorKind::internal,
                  fmt::format("cannot create a file in {} (set TMPDIR)",
                              fs::temp_directory_path().string()));
    }
    ::close(fd);
    inner->spool = pattern;
    auto sink = SNAP_TRY(FileSink::create(inner->spool));
    SNAP_TRY(reader.read_entry(path, sink));
    SNAP_TRY(sink.close(false));
    int err = 0;
    inner->za = zip_open(inner->spool.c_str(), ZIP_RDONLY, &err);
  }
  zip_error_fini(&zerr);
  if (inner->za == nullptr) {
    return fail(ErrorKind::archive,
                fmt::format("{} is not a readable zip", what));
  }
  return inner;
}

} // namespace

Expected<std::string> ArchiveReader::read_zip_member(std::string_view path,
                                                     std::string_view member,
                                                     std::size_t max_bytes) {
  SNAP_TRY(need_passphrase());
  std::string what;
  auto inner = SNAP_TRY(open_inner_zip(*this, *m_impl, path, what));
  return detail::read_member(inner->za, what, member, max_bytes);
}

Expected<ZipSummary> ArchiveReader::check_zip(std::string_view path) {
  SNAP_TRY(need_passphrase());
  std::string what;
  auto inner = SNAP_TRY(open_inner_zip(*this, *m_impl, path, what));
  return detail::check_members(inner->za, what);
}

Expected<nlohmann::json> ArchiveReader::read_json(std::string_view path) {
  constexpr std::size_t k_json_max = 64 << 20;
  MemorySink sink(k_json_max);
  SNAP_TRY(read_entry(path, sink).map_error([&](Error e) {
    return e.kind == ErrorKind::remote
               ? bad(m_path, fmt::format("{} is larger than {} MiB", path,
                                         k_json_max >> 20))
               : e;
  }));
  std::string why = "not an object";
  auto j = parse_untrusted_json(sink.str(), &why);
  if (!j.is_object()) {
    return tl::unexpected(
        bad(m_path, fmt::format("{} is not a JSON object: {}", path, why)));
  }
  return j;
}

Expected<std::unique_ptr<Source>>
ArchiveReader::open_entry(std::string_view path) {
  SNAP_TRY(need_passphrase());
  auto it = m_impl->index.find(path);
  if (const ManifestEntry* e = m_manifest.entry(path);
      e != nullptr && it != m_impl->index.end()) {
    return std::unique_ptr<Source>(
        new EntrySource(m_impl->za, it->second, e->size));
  }
  return fail(ErrorKind::archive,
              fmt::format("{}: no entry {}", m_path.filename().string(), path));
}

} // namespace snap
