// SPDX-License-Identifier: MIT
#include "tests/support/memory_http.hpp"

#include <algorithm>

namespace snap::test {
namespace {

class MemoryTransport final : public HttpTransport {
public:
  explicit MemoryTransport(MemoryServer& server) : m_server(server) {}

  Attempt perform(const HttpConfig& config, const Request& req,
                  const std::string& url, Sink& sink, const ProgressFn&,
                  long) override {
    MemoryRequest r{.method = req.method};
    const std::string& base = config.base_url;
    r.target = url.substr(std::min(base.size(), url.size()));
    r.headers = config.headers;
    r.headers.insert(r.headers.end(), req.headers.begin(), req.headers.end());
    if (req.body != nullptr) {
      std::vector<std::byte> buf(64 * 1024);
      for (;;) {
        auto n = req.body->read(buf);
        if (!n) {
          Attempt a;
          a.outcome = Attempt::Outcome::sink_failed;
          a.sink_error = n.error();
          return a;
        }
        if (*n == 0) {
          break;
        }
        r.body.append(reinterpret_cast<const char*>(buf.data()), *n);
      }
    }
    MemoryAnswer answer = m_server.answer(r);
    Attempt a;
    if (answer.refuse) {
      a.outcome = Attempt::Outcome::failed;
      a.why = "failed to connect to memory: connection refused";
      a.before_request = true;
      return a;
    }
    a.resp.status = answer.status;
    a.resp.headers = answer.headers;
    std::string body = answer.body;
    bool cut = answer.cut_after >= 0 &&
               static_cast<std::size_t>(answer.cut_after) < body.size();
    if (cut) {
      body.resize(static_cast<std::size_t>(answer.cut_after));
    }
    a.resp.body_bytes = body.size();
    if (a.resp.ok()) {
      if (!body.empty()) {
        a.wrote_any = true;
        auto w = sink.write(std::as_bytes(std::span(body)));
        if (!w) {
          a.outcome = Attempt::Outcome::sink_failed;
          a.sink_error = w.error();
          return a;
        }
      }
    } else {
      a.resp.error_body = body.substr(0, 64 * 1024);
    }
    if (cut) {
      a.outcome = Attempt::Outcome::failed;
      a.why = "transfer closed with outstanding read data remaining";
      a.cut = true;
    }
    return a;
  }

private:
  MemoryServer& m_server;
};

} // namespace

MemoryAnswer MemoryServer::answer(const MemoryRequest& r) {
  {
    std::lock_guard lock(m_mutex);
    m_log.push_back(r.method + " " + r.target);
  }
  return m_handler(r);
}

std::unique_ptr<HttpClient>
MemoryServer::client(std::string label, std::string base_url, int retries) {
  HttpConfig cfg;
  cfg.label = std::move(label);
  cfg.base_url = std::move(base_url);
  cfg.retries = retries;
  cfg.backoff_ms = 1;
  return std::make_unique<HttpClient>(std::move(cfg),
                                      std::make_unique<MemoryTransport>(*this));
}

std::vector<std::string> MemoryServer::log() const {
  std::lock_guard lock(m_mutex);
  return m_log;
}

bool MemoryServer::received(const std::string& line) const {
  auto l = log();
  return std::find(l.begin(), l.end(), line) != l.end();
}

std::unique_ptr<HttpClient> MemoryConnector::open(HttpConfig endpoint) const {
  endpoint.backoff_ms = 1;
  return std::make_unique<HttpClient>(
      std::move(endpoint), std::make_unique<MemoryTransport>(m_server));
}

} // namespace snap::test
