// SPDX-License-Identifier: MIT
// File and memory streams over POSIX descriptors, retrying interrupted calls
// only when no signal asked snap to stop.
#include "snap/io.hpp"

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "snap/signals.hpp"

namespace snap {
namespace {

Error io_error(std::string_view what, const std::filesystem::path& path) {
  if (errno == EINTR && is_interrupted()) {
    return {ErrorKind::interrupted, "interrupted"};
  }
  return {ErrorKind::internal,
          fmt::format("{} {}: {}", what, path.string(), std::strerror(errno))};
}

} // namespace

Expected<FileSink> FileSink::create(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return tl::unexpected(io_error("cannot create", path));
  }
  return FileSink(fd, path);
}

constexpr std::size_t k_write_buffer = 1 << 20;

FileSink::FileSink(int fd, std::filesystem::path path)
    : m_fd(fd), m_path(std::move(path)) {
  m_buffer.reserve(k_write_buffer);
}

FileSink::FileSink(FileSink&& other) noexcept
    : m_fd(other.m_fd), m_path(std::move(other.m_path)),
      m_buffer(std::move(other.m_buffer)), m_write_back(other.m_write_back),
      m_written(other.m_written), m_hinted(other.m_hinted) {
  other.m_fd = -1;
}

FileSink::~FileSink() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

Expected<void> FileSink::write_out(const std::byte* data, std::size_t size) {
  const auto* p = reinterpret_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(m_fd, p, size);
    if (n < 0) {
      if (errno == EINTR && !is_interrupted()) {
        continue;
      }
      return tl::unexpected(io_error("cannot write", m_path));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    m_written += static_cast<std::uint64_t>(n);
  }
  if (m_write_back > 0 && m_written - m_hinted >= m_write_back) {
    // Only a hint: a failure here shows in the fsync that follows.
    (void)::sync_file_range(m_fd, static_cast<off_t>(m_hinted),
                            static_cast<off_t>(m_written - m_hinted),
                            SYNC_FILE_RANGE_WRITE);
    m_hinted = m_written;
  }
  return {};
}

Expected<void> FileSink::write(Bytes data) {
  if (m_buffer.size() + data.size() > k_write_buffer) {
    SNAP_TRY(write_out(m_buffer.data(), m_buffer.size()));
    m_buffer.clear();
  }
  if (data.size() >= k_write_buffer) {
    return write_out(data.data(), data.size());
  }
  m_buffer.insert(m_buffer.end(), data.begin(), data.end());
  return {};
}

bool FileSink::reset() {
  m_buffer.clear();
  m_written = 0;
  m_hinted = 0;
  return m_fd >= 0 && ::ftruncate(m_fd, 0) == 0 &&
         ::lseek(m_fd, 0, SEEK_SET) == 0;
}

Expected<void> FileSink::flush() {
  auto r = write_out(m_buffer.data(), m_buffer.size());
  m_buffer.clear();
  return r;
}

Expected<void> FileSink::close(bool durable) {
  if (m_fd < 0) {
    return {};
  }
  auto flushed = write_out(m_buffer.data(), m_buffer.size());
  m_buffer.clear();
  int rc = flushed && durable ? ::fsync(m_fd) : 0;
  int rc2 = ::close(m_fd);
  m_fd = -1;
  if (!flushed) {
    return flushed;
  }
  if (rc != 0 || rc2 != 0) {
    return tl::unexpected(io_error("cannot flush", m_path));
  }
  return {};
}

Expected<FileSource> FileSource::open(const std::filesystem::path& path,
                                      std::uint64_t offset,
                                      std::optional<std::uint64_t> length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return fail(ErrorKind::not_found,
                  fmt::format("{}: no such file", path.string()));
    }
    return tl::unexpected(io_error("cannot open", path));
  }
  struct stat st {};
  ::fstat(fd, &st);
  auto file_size = static_cast<std::uint64_t>(st.st_size);
  offset = std::min(offset, file_size);
  return FileSource(fd, offset,
                    std::min(length.value_or(file_size), file_size - offset));
}

FileSource::FileSource(int fd, std::uint64_t offset, std::uint64_t size)
    : m_fd(fd), m_offset(offset), m_size(size) {}

FileSource::FileSource(FileSource&& other) noexcept
    : m_fd(other.m_fd), m_offset(other.m_offset), m_size(other.m_size),
      m_pos(other.m_pos) {
  other.m_fd = -1;
}

FileSource::~FileSource() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

Expected<std::size_t> FileSource::read(std::span<std::byte> buf) {
  std::size_t want = std::min<std::uint64_t>(buf.size(), m_size - m_pos);
  if (want == 0) {
    return 0;
  }
  for (;;) {
    ssize_t n =
        ::pread(m_fd, buf.data(), want, static_cast<off_t>(m_offset + m_pos));
    if (n >= 0) {
      m_pos += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR || is_interrupted()) {
      return tl::unexpected(io_error("cannot read", "file"));
    }
  }
}

Expected<void> FileSource::rewind() {
  m_pos = 0;
  return {};
}

Expected<void> MemorySink::write(Bytes data) {
  if (m_data.size() + data.size() > m_limit) {
    m_overflowed = true;
    return fail(ErrorKind::remote,
                fmt::format("response larger than {} bytes", m_limit));
  }
  m_data.append(reinterpret_cast<const char*>(data.data()), data.size());
  return {};
}

Expected<std::size_t> MemorySource::read(std::span<std::byte> buf) {
  std::size_t n = std::min(buf.size(), m_data.size() - m_pos);
  std::memcpy(buf.data(), m_data.data() + m_pos, n);
  m_pos += n;
  return n;
}

Expected<void> TeeSink::write(Bytes data) {
  for (Sink* s : m_sinks) {
    SNAP_TRY(s->write(data));
  }
  return {};
}

bool TeeSink::reset() {
  for (Sink* s : m_sinks) {
    if (!s->reset()) {
      return false;
    }
  }
  return true;
}

// Small writes are gathered into chunks of k_chunk bytes before the worker is
// woken: one hand-over per chunk, not per network read.
constexpr std::size_t k_chunk = 1 << 20;

struct ThreadedSink::State {
  Sink& inner;
  std::size_t max_chunks;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<std::byte>> queue;
  // Chunks the worker is done with, kept for the writer to fill again: a
  // fresh 1 MiB buffer per chunk costs a page fault per 4 KiB touched,
  // which was a third of a Consul save's time.
  std::vector<std::vector<std::byte>> spare;
  std::vector<std::byte> filling; // only the writer's thread touches it
  bool busy = false;              // the worker holds a chunk outside the queue
  bool stop = false;
  std::optional<Error> error;
  std::thread worker;

  State(Sink& s, std::size_t n) : inner(s), max_chunks(n) {
    filling.reserve(k_chunk);
    worker = std::thread([this] { run(); });
  }

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      changed.wait(lock, [this] { return stop || !queue.empty(); });
      if (queue.empty()) {
        return; // stop requested and nothing left
      }
      std::vector<std::byte> chunk = std::move(queue.front());
      queue.pop_front();
      busy = true;
      changed.notify_all(); // room in the queue
      lock.unlock();
      auto r = error ? Expected<void>{} : inner.write(chunk);
      lock.lock();
      chunk.clear();
      spare.push_back(std::move(chunk));
      busy = false;
      if (!r && !error) {
        error = r.error();
      }
      changed.notify_all();
    }
  }

  // Hands the gathered bytes to the worker, waiting for room.
  Expected<void> push() {
    if (filling.empty()) {
      return {};
    }
    std::unique_lock lock(mutex);
    changed.wait(lock, [this] { return queue.size() < max_chunks || error; });
    if (error) {
      return tl::unexpected(*error);
    }
    queue.push_back(std::move(filling));
    if (!spare.empty()) {
      filling = std::move(spare.back());
      spare.pop_back();
    } else {
      filling = std::vector<std::byte>();
    }
    lock.unlock();
    changed.notify_all();
    filling.reserve(k_chunk);
    return {};
  }

  // Waits, with the lock held, until the worker is idle and the queue empty.
  void drain(std::unique_lock<std::mutex>& lock) {
    changed.wait(lock, [this] { return queue.empty() && !busy; });
  }
};

ThreadedSink::ThreadedSink(Sink& inner, std::size_t max_chunks)
    : m_state(std::make_unique<State>(inner, max_chunks)) {}

ThreadedSink::~ThreadedSink() {
  {
    std::lock_guard lock(m_state->mutex);
    m_state->stop = true;
    m_state->queue.clear();
  }
  m_state->changed.notify_all();
  m_state->worker.join();
}

Expected<void> ThreadedSink::write(Bytes data) {
  State& s = *m_state;
  s.filling.insert(s.filling.end(), data.begin(), data.end());
  if (s.filling.size() >= k_chunk) {
    return s.push();
  }
  return {};
}

bool ThreadedSink::reset() {
  m_state->filling.clear();
  std::unique_lock lock(m_state->mutex);
  m_state->queue.clear();
  m_state->drain(lock);
  m_state->error.reset();
  return m_state->inner.reset();
}

Expected<void> ThreadedSink::finish() {
  SNAP_TRY(m_state->push());
  std::unique_lock lock(m_state->mutex);
  m_state->drain(lock);
  if (m_state->error) {
    return tl::unexpected(*m_state->error);
  }
  return {};
}

Expected<std::uint64_t>
copy_stream(Source& source, Sink& sink,
            const std::function<void(std::uint64_t done)>& progress) {
  std::vector<std::byte> buf(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = SNAP_TRY(source.read(buf));
    if (n == 0) {
      return total;
    }
    SNAP_TRY(sink.write({buf.data(), n}));
    total += n;
    if (progress) {
      progress(total);
    }
  }
}

Expected<std::string> read_small_file(const std::filesystem::path& path,
                                      std::string_view what,
                                      std::size_t limit) {
  auto src = FileSource::open(path);
  if (!src) {
    return fail(ErrorKind::config,
                fmt::format("cannot read {} {}: {}", what, path.string(),
                            src.error().message));
  }
  if (src->size() && *src->size() > limit) {
    return fail(ErrorKind::config,
                fmt::format("{} {} is larger than {} KiB, more than any {} "
                            "needs",
                            what, path.string(), limit >> 10, what));
  }
  MemorySink sink(limit);
  auto copied = copy_stream(*src, sink);
  if (!copied) {
    return fail(ErrorKind::config,
                fmt::format("cannot read {} {}: {}", what, path.string(),
                            copied.error().message));
  }
  return sink.str();
}

} // namespace snap
