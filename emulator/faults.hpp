// SPDX-License-Identifier: MIT
// Fault switches shared by every emulated system (docs/contract.md §7), applied
// before routing: a delay, a scripted sequence of statuses, a request log, and
// crafted answers for chosen paths.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>

namespace snap::emulator {

struct Faults {
  long delay_ms = 0;
  std::vector<int> status_sequence; // 200 = answer normally
  std::int64_t fail_after_bytes = -1;
  std::string require_token;
  // The system has no authentication of its own (Camunda's management
  // port): --require-token is then checked as the authenticating reverse
  // proxy in front of it would (ingress-nginx auth: 401 without
  // "Authorization: Bearer <token>").
  bool proxy_auth = false;
  std::string request_log;
  // "/v1/status/leader=FILE": answer GET (and HEAD) of that path with the
  // file's bytes, 200, as a hostile or broken server would, or a plain
  // file server (--answer); a scripted status takes precedence.
  // "POST /_bulk=FILE" answers that method instead.
  std::vector<std::pair<std::string, std::string>> answers;
};

class FaultInjector {
public:
  explicit FaultInjector(Faults faults);
  // Logs the request, sleeps --delay-ms, and answers the next scripted
  // status if it is not 200; returns true when it answered.
  bool intercept(const httplib::Request& req, httplib::Response& res);
  const Faults& faults() const { return m_faults; }

private:
  bool answer(const httplib::Request& req, httplib::Response& res);

  Faults m_faults;
  std::mutex m_mutex;
  std::size_t m_next = 0;
  std::ofstream m_log;
};

// Streams the file at `path` as a chunked body of `content_type`, dropping
// the connection after --fail-after-bytes bytes when that switch is set.
void stream_file(httplib::Response& res, const std::filesystem::path& path,
                 const std::string& content_type,
                 std::int64_t fail_after_bytes);

// For an answer given before the request's body was read: cpp-httplib
// reads a body only after its pre-routing handler, where faults and
// authentication answer, and would take the unread bytes for the next
// request on the connection (a 400). A real server drains such a body or
// closes the connection after its answer (Go's net/http closes once more
// than 256 KiB are left unread, server.go maxPostHandlerReadBytes); this
// closes it, which a client must accept.
void close_if_body_unread(const httplib::Request& req, httplib::Response& res);

// Parses "503,503,200".
std::vector<int> parse_status_sequence(const std::string& text);

} // namespace snap::emulator
