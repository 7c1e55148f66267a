// SPDX-License-Identifier: MIT
#include "emulator/unix_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace snap::emulator {
namespace {

// Copies both ways until either side closes.
void relay(int a, int b) {
  char buf[64 * 1024];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, 30'000) <= 0) {
      break;
    }
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        done = true;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(fds[1 - i].fd, buf + off, n - off);
        if (w <= 0) {
          done = true;
          break;
        }
        off += w;
      }
    }
    if (done) {
      break;
    }
  }
  ::close(a);
  ::close(b);
}

} // namespace

bool UnixRelay::start(const std::string& path, int port, std::string& error) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    error = "--unix-socket " + path + ": the path is too long";
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(path.c_str());
  if (m_fd < 0 ||
      ::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(m_fd, 64) != 0) {
    error = "--unix-socket " + path + ": " + std::strerror(errno);
    return false;
  }
  m_path = path;
  m_port = port;
  m_accept = std::thread([this] {
    while (!m_stop) {
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      int client = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        continue;
      }
      int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(static_cast<std::uint16_t>(m_port));
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (up < 0 ||
          ::connect(up, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(client);
        if (up >= 0) {
          ::close(up);
        }
        continue;
      }
      std::thread(relay, client, up).detach();
    }
  });
  return true;
}

UnixRelay::~UnixRelay() {
  m_stop = true;
  if (m_accept.joinable()) {
    m_accept.join();
  }
  if (m_fd >= 0) {
    ::close(m_fd);
    ::unlink(m_path.c_str());
  }
}

} // namespace snap::emulator
