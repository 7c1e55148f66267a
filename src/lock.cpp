// SPDX-License-Identifier: MIT
#include "snap/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "snap/sha256.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

// $XDG_RUNTIME_DIR/snap, private to the user; else /tmp/snap-<uid>.
Expected<std::string> lock_dir() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  std::string dir = runtime != nullptr && *runtime != '\0'
                        ? std::string(runtime) + "/snap"
                        : "/tmp/snap-" + std::to_string(::getuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(ErrorKind::internal,
                fmt::format("cannot make the lock folder {}: {}", dir,
                            std::strerror(errno)));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != ::getuid()) {
    return fail(ErrorKind::internal,
                fmt::format("the lock folder {} is not a folder of this user "
                            "(set XDG_RUNTIME_DIR)",
                            dir));
  }
  return dir;
}

std::string holder_of(int fd) {
  char buf[512] = {0};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  return trim_copy(text);
}

} // namespace

Expected<std::unique_ptr<RunLock>>
RunLock::acquire(std::string_view key, std::string_view what, double wait_s) {
  std::string dir = SNAP_TRY(lock_dir());
  std::string path =
      fmt::format("{}/{}.lock", dir, sha256_hex(key).substr(0, 24));
  int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return fail(ErrorKind::internal,
                fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  long waited_ms = 0;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (waited_ms >= static_cast<long>(wait_s * 1000)) {
      std::string holder = holder_of(fd);
      ::close(fd);
      return fail(ErrorKind::locked,
                  fmt::format("another snap is working on this target ({}); "
                              "nothing was done (wait for it, or give "
                              "--wait-lock SECONDS)",
                              holder.empty() ? "it has just started" : holder));
    }
    if (!sleep_unless_interrupted(200)) {
      ::close(fd);
      return fail(ErrorKind::interrupted, "interrupted while waiting for the "
                                          "lock");
    }
    waited_ms += 200;
  }
  std::string line =
      fmt::format("pid {}, since {}: {}", ::getpid(), utc_now_rfc3339(), what);
  // Without the note the lock still holds; the next message is vaguer.
  (void)!::ftruncate(fd, 0);
  (void)!::pwrite(fd, line.data(), line.size(), 0);
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

RunLock::~RunLock() {
  (void)!::ftruncate(m_fd, 0); // a stale note would be harmless
  ::close(m_fd);
}

} // namespace snap
