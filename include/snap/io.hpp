// SPDX-License-Identifier: MIT
// Byte streams: every payload moves through a Sink or a Source, never a whole
// string, so memory stays bounded whatever the backup size (docs/contract.md
// §6.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "snap/error.hpp"

namespace snap {

using Bytes = std::span<const std::byte>;

// Where streamed bytes go.
struct Sink {
  virtual ~Sink() = default;
  // Consumes `data`; errors: whatever the destination reports.
  virtual Expected<void> write(Bytes data) = 0;
  // Drops everything written so far so a retried download can start over;
  // returns false where the sink cannot do that.
  virtual bool reset() { return false; }
};

// Where streamed bytes come from; rewindable so a retry can resend them.
struct Source {
  virtual ~Source() = default;
  // Fills up to `buf.size()` bytes; 0 means the end.
  virtual Expected<std::size_t> read(std::span<std::byte> buf) = 0;
  virtual Expected<void> rewind() = 0;
  virtual std::optional<std::uint64_t> size() const = 0;
};

// Appends to a file opened for writing, through a 1 MiB buffer: close() must
// be called, or the tail is dropped. Errors: `internal` on I/O failure.
class FileSink : public Sink {
public:
  static Expected<FileSink> create(const std::filesystem::path& path);
  FileSink(FileSink&& other) noexcept;
  FileSink& operator=(FileSink&&) = delete;
  ~FileSink() override;
  Expected<void> write(Bytes data) override;
  bool reset() override;
  // Writes out the buffer (the file stays open). Errors: `internal`.
  Expected<void> flush();
  // Starts the kernel writing each further `bytes` written to disk at once
  // (sync_file_range WRITE, which does not wait), so a later fsync of a
  // file that will be kept has little left to do. 0: never.
  void write_back_every(std::uint64_t bytes) { m_write_back = bytes; }
  // Writes out the buffer and closes, first flushing to stable storage when
  // `durable`. Errors: `internal`.
  Expected<void> close(bool durable = true);

private:
  FileSink(int fd, std::filesystem::path path);
  Expected<void> write_out(const std::byte* data, std::size_t size);
  int m_fd;
  std::filesystem::path m_path;
  std::vector<std::byte> m_buffer;
  std::uint64_t m_write_back = 0;
  std::uint64_t m_written = 0; // bytes written to the file
  std::uint64_t m_hinted = 0;  // of which handed to write-back
};

// Reads a whole file, or the `length` bytes at `offset` in it; errors:
// `not_found` when it is missing.
class FileSource : public Source {
public:
  static Expected<FileSource>
  open(const std::filesystem::path& path, std::uint64_t offset = 0,
       std::optional<std::uint64_t> length = std::nullopt);
  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&&) = delete;
  ~FileSource() override;
  Expected<std::size_t> read(std::span<std::byte> buf) override;
  Expected<void> rewind() override;
  std::optional<std::uint64_t> size() const override { return m_size; }

private:
  FileSource(int fd, std::uint64_t offset, std::uint64_t size);
  int m_fd;
  std::uint64_t m_offset;
  std::uint64_t m_size;
  std::uint64_t m_pos = 0;
};

// Collects bytes in memory, up to `limit` (then `remote`): for tests and for
// small capped bodies such as error texts.
class MemorySink : public Sink {
public:
  explicit MemorySink(std::size_t limit = SIZE_MAX) : m_limit(limit) {}
  // Writes into `reuse`, emptied first: a caller that reads page after
  // page hands its last buffer back, so its memory is grown once.
  MemorySink(std::size_t limit, std::string reuse)
      : m_limit(limit), m_data(std::move(reuse)) {
    m_data.clear();
  }
  Expected<void> write(Bytes data) override;
  bool reset() override {
    m_data.clear();
    m_overflowed = false;
    return true;
  }
  const std::string& str() const { return m_data; }
  // Moves the text out, leaving the sink empty: a large answer is not
  // copied on its way to the caller.
  std::string take() { return std::exchange(m_data, {}); }
  // Whether a write was refused for going past the limit.
  bool overflowed() const { return m_overflowed; }

private:
  std::size_t m_limit;
  std::string m_data;
  bool m_overflowed = false;
};

// Serves bytes that the caller keeps alive until the source is done: a
// request body of many MiB is sent from where it was built, not copied.
class ViewSource : public Source {
public:
  explicit ViewSource(std::string_view data) : m_data(data) {}
  Expected<std::size_t> read(std::span<std::byte> buf) override;
  Expected<void> rewind() override {
    m_pos = 0;
    return {};
  }
  std::optional<std::uint64_t> size() const override { return m_data.size(); }

private:
  std::string_view m_data;
  std::size_t m_pos = 0;
};

namespace detail {
struct OwnedText {
  std::string text;
};
} // namespace detail

// Serves a string of its own; for small request bodies and tests. The text
// is in place before the view of it (bases are built in order), and the
// source is neither copied nor moved, which would leave the view behind.
class MemorySource : private detail::OwnedText, public ViewSource {
public:
  explicit MemorySource(std::string data)
      : OwnedText{std::move(data)}, ViewSource(text) {}
  MemorySource(const MemorySource&) = delete;
  MemorySource& operator=(const MemorySource&) = delete;
};

// Feeds the same bytes to several sinks, each on a worker thread of its own.
// Writes are gathered once into 1 MiB chunks taken from a fixed pool, and
// every worker reads the same chunk: N consumers cost one copy, not N, and
// the writer's thread only copies (a save receives on it). Memory stays
// under `pool` MiB. The threads start once a chunk is full: bytes that
// never fill one go to the sinks in finish(), on the caller's thread. An error
// of any sink comes back from a later write() or from finish(), which must be
// called; after one, the workers skip what is left.
class FanOut : public Sink {
public:
  explicit FanOut(std::vector<Sink*> sinks, std::size_t pool = 6);
  ~FanOut() override;
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;
  Expected<void> write(Bytes data) override;
  // Room to write into in place, with no copy: the rest of the chunk being
  // filled (a free one is taken, waiting for it), at least one byte. The
  // bytes count as written once commit() says so, before any other call.
  // Errors: a sink's, as write().
  Expected<std::span<std::byte>> space();
  // The first `n` bytes of the last space() are written.
  void commit(std::size_t n);
  // Drops what is queued, waits for the workers, and resets every sink.
  bool reset() override;
  // Waits until every sink has consumed everything written.
  Expected<void> finish();
  // finish(), then stops the threads until more than a chunk is written,
  // and gives the chunks' memory back.
  Expected<void> park();

  struct State;

private:
  std::unique_ptr<State> m_state;
};

// Feeds one sink on a worker thread through a bounded queue of 1 MiB chunks,
// so CPU-heavy consumers (decompression, hashing) overlap the network;
// memory stays under `max_chunks` + 2 MiB.
class ThreadedSink : public FanOut {
public:
  explicit ThreadedSink(Sink& inner, std::size_t max_chunks = 4)
      : FanOut({&inner}, max_chunks + 2) {}
};

// Streams all of `source` into `sink`, telling `progress` (when given) the
// bytes copied so far after each block; errors: either side's.
Expected<std::uint64_t>
copy_stream(Source& source, Sink& sink,
            const std::function<void(std::uint64_t done)>& progress = {});

// Reads a small text file whole (at most `limit` bytes), for secrets and
// configuration; errors: `config` naming `what` and the path.
Expected<std::string> read_small_file(const std::filesystem::path& path,
                                      std::string_view what,
                                      std::size_t limit = 1 << 20);

inline Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

} // namespace snap
