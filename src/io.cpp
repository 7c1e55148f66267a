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
#include <system_error>
#include <thread>
#include <unistd.h>

#include "snap/json.hpp"
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
  std::uint64_t size = std::min(length.value_or(file_size), file_size - offset);
  // Read front to back: the kernel may read ahead further.
  (void)::posix_fadvise(fd, static_cast<off_t>(offset),
                        static_cast<off_t>(size), POSIX_FADV_SEQUENTIAL);
  return FileSource(fd, offset, size);
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

Expected<std::size_t> ViewSource::read(std::span<std::byte> buf) {
  std::size_t n = std::min(buf.size(), m_data.size() - m_pos);
  std::memcpy(buf.data(), m_data.data() + m_pos, n);
  m_pos += n;
  return n;
}

// Small writes are gathered into chunks of k_chunk bytes before the workers
// are woken: one hand-over per chunk, not per network read.
constexpr std::size_t k_chunk = 1 << 20;

struct FanOut::State {
  struct Worker {
    Sink* sink;
    std::deque<std::size_t> queue; // chunk numbers, oldest first
    bool busy = false;             // holds a chunk outside the queue
    // Wakes this worker alone: a chunk for it, or stop. One condition for
    // all would wake every thread at every hand-over, and each wake is a
    // system call (on a virtual machine, a costly one).
    std::condition_variable ready;
    std::thread thread;
  };
  // A chunk's memory is allocated, not written, when first taken, and is
  // then reused: a fresh 1 MiB buffer per chunk costs a page fault per
  // 4 KiB touched, which was a third of a Consul save's time. A small
  // entry touches only part of one.
  struct Chunk {
    std::unique_ptr<std::byte[]> data;
    std::size_t size = 0; // bytes written
    Bytes bytes() const { return {data.get(), size}; }
  };
  std::vector<Chunk> chunks;
  std::vector<std::size_t> users; // workers yet to read each chunk
  std::vector<std::size_t> free;
  std::optional<std::size_t> filling; // only the writer's thread fills it
  std::vector<Worker> workers;
  std::mutex mutex;
  // Wakes the writer's thread: a chunk freed, a worker idle, or an error.
  std::condition_variable room;
  bool stop = false;
  // The workers start with the first full chunk, and stop when parked:
  // an archive of many small entries (one per Kubernetes object) runs no
  // thread for them, their bytes go to the sinks in finish().
  bool started = false;
  bool serial = false; // no thread could be started: sinks written here
  std::optional<Error> error;

  State(const std::vector<Sink*>& sinks, std::size_t pool)
      : chunks(std::max<std::size_t>(pool, 2)), users(chunks.size(), 0),
        workers(sinks.size()) {
    for (std::size_t i = chunks.size(); i-- > 0;) {
      free.push_back(i);
    }
    for (std::size_t w = 0; w < sinks.size(); ++w) {
      workers[w].sink = sinks[w];
    }
  }

  // Called with `lock` held. False when the threads could not all be
  // started (the process's thread or pids limit is reached): those that
  // were are stopped again, and from then on the sinks are written on the
  // caller's thread, one after the other. Slower, but the save goes on.
  bool start_workers(std::unique_lock<std::mutex>& lock) {
    if (started || serial) {
      return started;
    }
    started = true;
    try {
      for (auto& w : workers) {
        w.thread = std::thread([this, &w] { run(w); });
      }
      return true;
    } catch (const std::system_error&) {
      lock.unlock();
      stop_workers();
      lock.lock();
      serial = true;
      return false;
    }
  }

  // Called without the lock, the queues empty: stops the workers (those
  // that started, when start_workers could not start them all).
  void stop_workers() {
    {
      std::lock_guard lock(mutex);
      if (!started) {
        return;
      }
      stop = true;
      drop_queued();
      for (auto& w : workers) {
        w.ready.notify_one();
      }
    }
    for (auto& w : workers) {
      if (w.thread.joinable()) {
        w.thread.join();
      }
    }
    std::lock_guard lock(mutex);
    started = false;
    stop = false;
  }

  // What was gathered but never handed over, given to every sink on this
  // thread: the workers never started.
  void write_here() {
    if (!filling) {
      return;
    }
    std::size_t c = *filling;
    filling.reset();
    for (auto& w : workers) {
      if (!error && chunks[c].size > 0) {
        if (auto r = write_guarded(*w.sink, c); !r) {
          error = r.error();
        }
      }
    }
    chunks[c].size = 0;
    free.push_back(c);
  }

  // Called with the lock held: one reader fewer for chunk `c`; true when
  // that made it free.
  bool release(std::size_t c) {
    if (--users[c] == 0) {
      chunks[c].size = 0;
      free.push_back(c);
      return true;
    }
    return false;
  }

  // Nothing may be thrown out of a worker thread (that aborts snap): what
  // a sink throws (a JSON read of a server's bytes in the wrong shape, no
  // memory) becomes the fan-out's error.
  Expected<void> write_guarded(Sink& sink, std::size_t c) {
    try {
      return guard_json(ErrorKind::remote, "an answer of an unexpected shape",
                        [&] { return sink.write(chunks[c].bytes()); });
    } catch (const std::exception& e) {
      return fail(ErrorKind::internal, e.what());
    }
  }

  void run(Worker& me) {
    std::unique_lock lock(mutex);
    for (;;) {
      me.ready.wait(lock, [&] { return stop || !me.queue.empty(); });
      if (me.queue.empty()) {
        return; // stop requested and nothing left
      }
      std::size_t c = me.queue.front();
      me.queue.pop_front();
      me.busy = true;
      bool skip = error.has_value();
      lock.unlock();
      auto r = skip ? Expected<void>{} : write_guarded(*me.sink, c);
      lock.lock();
      bool failed = !r && !error;
      if (failed) {
        error = r.error();
      }
      bool freed = release(c);
      me.busy = false;
      // The writer waits for a free chunk (take) or for idle workers
      // (drain): wake it only when either may have come true.
      if (freed || failed || me.queue.empty()) {
        room.notify_all();
      }
    }
  }

  // Hands the chunk being filled to every worker.
  void publish() {
    if (!filling) {
      return;
    }
    std::unique_lock lock(mutex);
    std::size_t c = *filling;
    if (chunks[c].size == 0 || workers.empty()) {
      filling.reset();
      chunks[c].size = 0;
      free.push_back(c);
      return;
    }
    if (!start_workers(lock)) {
      write_here();
      return;
    }
    filling.reset();
    users[c] = workers.size();
    for (auto& w : workers) {
      w.queue.push_back(c);
      w.ready.notify_one();
    }
  }

  // Takes a free chunk to fill, waiting for one.
  Expected<void> take() {
    std::unique_lock lock(mutex);
    room.wait(lock, [this] { return !free.empty() || error; });
    if (error) {
      return tl::unexpected(*error);
    }
    filling = free.back();
    free.pop_back();
    if (!chunks[*filling].data) {
      // Not value-initialised: no page is touched before it is written.
      chunks[*filling].data =
          std::make_unique_for_overwrite<std::byte[]>(k_chunk);
    }
    return {};
  }

  // Waits, with the lock held, until every worker is idle and done.
  void drain(std::unique_lock<std::mutex>& lock) {
    room.wait(lock, [this] {
      for (const auto& w : workers) {
        if (w.busy || !w.queue.empty()) {
          return false;
        }
      }
      return true;
    });
  }

  // With the lock held: drops every queued chunk.
  void drop_queued() {
    for (auto& w : workers) {
      for (std::size_t c : w.queue) {
        release(c);
      }
      w.queue.clear();
    }
  }
};

FanOut::FanOut(std::vector<Sink*> sinks, std::size_t pool)
    : m_state(std::make_unique<State>(sinks, pool)) {}

FanOut::~FanOut() { m_state->stop_workers(); }

Expected<void> FanOut::write(Bytes data) {
  while (!data.empty()) {
    auto room = SNAP_TRY(space());
    std::size_t n = std::min(data.size(), room.size());
    std::memcpy(room.data(), data.data(), n);
    commit(n);
    data = data.subspan(n);
  }
  return {};
}

Expected<std::span<std::byte>> FanOut::space() {
  State& s = *m_state;
  if (!s.filling) {
    SNAP_TRY(s.take());
  }
  auto& chunk = s.chunks[*s.filling];
  return std::span<std::byte>(chunk.data.get() + chunk.size,
                              k_chunk - chunk.size);
}

void FanOut::commit(std::size_t n) {
  State& s = *m_state;
  if (!s.filling) {
    return;
  }
  auto& chunk = s.chunks[*s.filling];
  chunk.size += std::min(n, k_chunk - chunk.size);
  if (chunk.size == k_chunk) {
    s.publish();
  }
}

bool FanOut::reset() {
  State& s = *m_state;
  std::unique_lock lock(s.mutex);
  if (s.filling) {
    s.chunks[*s.filling].size = 0;
    s.free.push_back(*s.filling);
    s.filling.reset();
  }
  s.drop_queued();
  s.drain(lock);
  s.error.reset();
  for (auto& w : s.workers) {
    if (!w.sink->reset()) {
      return false;
    }
  }
  return true;
}

Expected<void> FanOut::finish() {
  State& s = *m_state;
  std::unique_lock lock(s.mutex);
  if (s.started) {
    lock.unlock();
    s.publish();
    lock.lock();
    s.drain(lock);
  } else {
    s.write_here();
  }
  if (s.error) {
    return tl::unexpected(*s.error);
  }
  return {};
}

Expected<void> FanOut::park() {
  auto r = finish();
  m_state->stop_workers();
  // Every chunk is free now. An archive of many small entries (one per
  // Kubernetes object) keeps a parked fan-out per entry: it keeps no
  // buffer, and takes one again if written to.
  for (auto& chunk : m_state->chunks) {
    chunk.data.reset();
  }
  return r;
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
  return sink.take();
}

} // namespace snap
