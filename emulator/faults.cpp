// SPDX-License-Identifier: MIT
// Fault injection for tests of the safety rules.
#include "emulator/faults.hpp"

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

namespace snap::emulator {
namespace {

const char* reason(int status) {
  switch (status) {
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Error";
  }
}

} // namespace

void stream_file(httplib::Response& res, const std::filesystem::path& path,
                 const std::string& content_type,
                 std::int64_t fail_after_bytes) {
  auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
  res.set_chunked_content_provider(
      content_type, [in, limit = fail_after_bytes](std::size_t offset,
                                                   httplib::DataSink& sink) {
        std::vector<char> buf(256 * 1024);
        std::size_t want = buf.size();
        if (limit >= 0) {
          if (offset >= static_cast<std::size_t>(limit)) {
            return false; // drop the connection mid-body
          }
          want = std::min(want, static_cast<std::size_t>(limit) - offset);
        }
        in->read(buf.data(), static_cast<std::streamsize>(want));
        auto n = static_cast<std::size_t>(in->gcount());
        if (n == 0) {
          sink.done();
          return true;
        }
        return sink.write(buf.data(), n);
      });
}

std::vector<int> parse_status_sequence(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) {
      out.push_back(std::stoi(item));
    }
  }
  return out;
}

FaultInjector::FaultInjector(Faults faults) : m_faults(std::move(faults)) {
  if (!m_faults.request_log.empty()) {
    m_log.open(m_faults.request_log, std::ios::app);
  }
}

void close_if_body_unread(const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value<std::uint64_t>("Content-Length") > 0 ||
      req.has_header("Transfer-Encoding")) {
    res.set_header("Connection", "close");
  }
}

bool FaultInjector::intercept(const httplib::Request& req,
                              httplib::Response& res) {
  if (!answer(req, res)) {
    return false;
  }
  close_if_body_unread(req, res);
  return true;
}

bool FaultInjector::answer(const httplib::Request& req,
                           httplib::Response& res) {
  int scripted = 200;
  {
    std::lock_guard lock(m_mutex);
    if (m_log.is_open()) {
      std::string query;
      for (const auto& [k, v] : req.params) {
        query += (query.empty() ? "?" : "&") + k + (v.empty() ? "" : "=" + v);
      }
      m_log << req.method << " " << req.path << query << "\n";
      m_log.flush();
    }
    if (m_next < m_faults.status_sequence.size()) {
      scripted = m_faults.status_sequence[m_next++];
    }
  }
  if (m_faults.delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(m_faults.delay_ms));
  }
  for (const auto& [target, file] : m_faults.answers) {
    // A scripted failure still comes first; HEAD answers as GET would,
    // without the body, as a static file server does.
    auto space = target.find(' ');
    std::string_view method = space == std::string::npos
                                  ? std::string_view("GET")
                                  : std::string_view(target).substr(0, space);
    std::string_view path = space == std::string::npos
                                ? std::string_view(target)
                                : std::string_view(target).substr(space + 1);
    bool as_get = method == "GET" && req.method == "HEAD";
    if (scripted == 200 && (req.method == method || as_get) &&
        req.path == path) {
      std::ifstream in(file, std::ios::binary);
      std::stringstream body;
      body << in.rdbuf();
      res.status = 200;
      res.set_content(body.str(), "application/json");
      return true;
    }
  }
  if (m_faults.proxy_auth && !m_faults.require_token.empty() &&
      req.get_header_value("Authorization") !=
          "Bearer " + m_faults.require_token) {
    // As ingress-nginx answers for a failed auth-url check.
    res.status = 401;
    res.set_content("<html>\r\n<head><title>401 Authorization "
                    "Required</title></head>\r\n<body>\r\n<center><h1>401 "
                    "Authorization Required</h1></center>\r\n<hr><center>"
                    "nginx</center>\r\n</body>\r\n</html>\r\n",
                    "text/html");
    return true;
  }
  if (scripted == 200) {
    return false;
  }
  res.status = scripted;
  res.set_content(reason(scripted), "text/plain; charset=utf-8");
  return true;
}

} // namespace snap::emulator
