// SPDX-License-Identifier: MIT
// --unix-socket PATH: the emulator's HTTP also served on a unix domain
// socket, as a Consul agent serves it with addresses.http = "unix://…"
// (the CONSUL_HTTP_ADDR=unix:///path form). cpp-httplib 0.11 listens on
// TCP only, so each connection on the socket is relayed, byte for byte, to
// the TCP port the server is bound to.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace snap::emulator {

class UnixRelay {
public:
  // Listens on `path` (replacing a stale socket file) and relays to
  // 127.0.0.1:`port`. Returns false with `error` set when it cannot.
  bool start(const std::string& path, int port, std::string& error);
  ~UnixRelay();

private:
  int m_fd = -1;
  int m_port = 0;
  std::string m_path;
  std::atomic<bool> m_stop{false};
  std::thread m_accept;
};

} // namespace snap::emulator
