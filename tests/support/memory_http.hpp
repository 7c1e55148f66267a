// SPDX-License-Identifier: MIT
// An in-memory HTTP server behind HttpClient's transport seam: sequencing
// logic (retries, polls, undo paths) is tested in milliseconds, without a
// process or a socket. Each request goes to a handler and is recorded.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "snap/adapter.hpp"
#include "snap/http.hpp"

namespace snap::test {

struct MemoryRequest {
  std::string method;
  std::string target; // path and query, as sent: "/_pit?keep_alive=5m"
  std::string body;
  Headers headers; // the client's and the request's
};

struct MemoryAnswer {
  long status = 200;
  std::string body;
  std::map<std::string, std::string> headers; // names in lower case
  bool refuse = false; // no connection: nothing reached the server
  long cut_after = -1; // the connection breaks after this many body bytes
};

using MemoryHandler = std::function<MemoryAnswer(const MemoryRequest&)>;

// One in-memory server; clients made by client() share it and its log.
class MemoryServer {
public:
  explicit MemoryServer(MemoryHandler handler)
      : m_handler(std::move(handler)) {}
  // A client of `base_url` (the label prefixes its messages).
  std::unique_ptr<HttpClient> client(std::string label,
                                     std::string base_url = "http://memory",
                                     int retries = 3);
  // "METHOD /path?query" of every request, in order.
  std::vector<std::string> log() const;
  bool received(const std::string& line) const;
  MemoryAnswer answer(const MemoryRequest& r);

private:
  MemoryHandler m_handler;
  mutable std::mutex m_mutex;
  std::vector<std::string> m_log;
};

// A Connector whose clients all reach `server`.
class MemoryConnector final : public Connector {
public:
  explicit MemoryConnector(MemoryServer& server, Connection given = {})
      : m_server(server), m_given(std::move(given)) {}
  const Connection& given() const override { return m_given; }
  std::unique_ptr<HttpClient> open(HttpConfig endpoint) const override;

private:
  MemoryServer& m_server;
  Connection m_given;
};

// A Reporter that keeps what it is told.
struct KeptReports final : Reporter {
  void progress(std::string_view, std::uint64_t, std::uint64_t) override {}
  void note(std::string_view text) override { notes.emplace_back(text); }
  void warn(std::string_view text) override { warnings.emplace_back(text); }
  std::vector<std::string> notes, warnings;
};

} // namespace snap::test
