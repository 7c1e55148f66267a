// SPDX-License-Identifier: MIT
// A FluxOS node's fetch of a user's URL, modelled on FluxOS v8.17.0:
// ZelBack/src/services/utils/urlSecurity.js (validateUrl,
// validateUrlWithDns: http and https only; blocked host names; loopback,
// private, CGNAT, link-local, documentation, multicast and reserved ranges
// refused, the patterns applied to the host name as written and to every
// address it resolves to) and ZelBack/src/services/IOUtils.js
// (requestWithValidatedRedirects: at most 5 requests, so 4 redirects, each
// target validated before it is followed, statuses 200-399 accepted;
// getRemoteFileSize: a HEAD with a 15 s timeout whose Content-Length must
// be a number; downloadFileFromUrl: a GET with a 15 s timeout, retried 3
// times).
#include "emulator/flux_fetch.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

namespace snap::emulator {
namespace {

struct Url {
  std::string scheme; // "http" or "https"
  std::string host;   // as written, lower case, IPv6 without brackets
  std::string origin; // scheme://host:port for the client
  std::string target; // path and query
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<Url> parse(const std::string& text) {
  if (text.empty() || text.size() > 8192) {
    return std::nullopt;
  }
  auto colon = text.find("://");
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  Url u;
  u.scheme = lower(text.substr(0, colon));
  std::size_t start = colon + 3;
  auto end = text.find_first_of("/?#", start);
  std::string authority = text.substr(start, end - start);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  std::string host = authority;
  if (host.starts_with("[")) {
    auto close = host.find(']');
    if (close == std::string::npos) {
      return std::nullopt;
    }
    host = host.substr(1, close - 1);
  } else if (auto c = host.rfind(':'); c != std::string::npos) {
    host = host.substr(0, c);
  }
  if (host.empty()) {
    return std::nullopt;
  }
  u.host = lower(host);
  u.origin = u.scheme + "://" + authority;
  std::string rest = end == std::string::npos ? "/" : text.substr(end);
  if (auto hash = rest.find('#'); hash != std::string::npos) {
    rest = rest.substr(0, hash);
  }
  u.target = rest.empty() || rest[0] == '?' ? "/" + rest : rest;
  return u;
}

// isBlockedIP: the IPv4 and IPv6 patterns, applied to the string (so to a
// host name as written too, as validateUrl applies them).
bool blocked_ip(const std::string& ip, const FetchRules& rules) {
  if (std::find(rules.public_addresses.begin(), rules.public_addresses.end(),
                ip) != rules.public_addresses.end()) {
    return false;
  }
  static const std::vector<std::regex> v4 = {
      std::regex(R"(^127\.)"),
      std::regex(R"(^10\.)"),
      std::regex(R"(^172\.(1[6-9]|2[0-9]|3[0-1])\.)"),
      std::regex(R"(^192\.168\.)"),
      std::regex(R"(^169\.254\.)"),
      std::regex(R"(^0\.)"),
      std::regex(R"(^100\.(6[4-9]|[7-9][0-9]|1[0-1][0-9]|12[0-7])\.)"),
      std::regex(R"(^192\.0\.0\.)"),
      std::regex(R"(^192\.0\.2\.)"),
      std::regex(R"(^198\.51\.100\.)"),
      std::regex(R"(^203\.0\.113\.)"),
      std::regex(R"(^224\.)"),
      std::regex(R"(^240\.)"),
      std::regex(R"(^255\.255\.255\.255$)"),
  };
  static const std::vector<std::regex> v6 = {
      std::regex(R"(^::1$)"),
      std::regex(R"(^fe80:)", std::regex::icase),
      std::regex(R"(^fc00:)", std::regex::icase),
      std::regex(R"(^fd[0-9a-f]{2}:)", std::regex::icase),
      std::regex(R"(^::ffff:(127\.|10\.|172\.(1[6-9]|2[0-9]|3[0-1])\.)"
                 R"(|192\.168\.|169\.254\.))",
                 std::regex::icase),
      std::regex(R"(^ff[0-9a-f]{2}:)", std::regex::icase),
      std::regex(R"(^::$)", std::regex::icase),
  };
  std::string s = ip.substr(0, ip.find('%'));
  if (s.size() > 256) {
    return true; // no address is this long; and the regex stays bounded
  }
  std::string mapped = lower(s);
  if (mapped.starts_with("::ffff:") && mapped.find('.') != std::string::npos) {
    s = mapped.substr(7); // ipv6MappedToIpv4, dotted form
  }
  for (const auto& re : v4) {
    if (std::regex_search(s, re)) {
      return true;
    }
  }
  for (const auto& re : v6) {
    if (std::regex_search(s, re)) {
      return true;
    }
  }
  return false;
}

bool blocked_hostname(const std::string& host) {
  static const std::vector<std::string> names = {
      "localhost",
      "localhost.localdomain",
      "metadata.google.internal",
      "metadata.goog",
      "metadata",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
  };
  for (const auto& n : names) {
    if (host == n || host.ends_with("." + n)) {
      return true;
    }
  }
  return false;
}

bool is_ip_literal(const std::string& host) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  bool ip = ::getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0;
  if (res != nullptr) {
    ::freeaddrinfo(res);
  }
  return ip;
}

// validateUrlWithDns.
bool allowed(const Url& u, const FetchRules& rules) {
  if (u.scheme != "http" && u.scheme != "https") {
    return false;
  }
  if (blocked_hostname(u.host) || blocked_ip(u.host, rules)) {
    return false;
  }
  if (is_ip_literal(u.host)) {
    return true;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(u.host.c_str(), nullptr, &hints, &res);
  if (rc == EAI_NONAME) {
    return false; // "could not be resolved"
  }
  bool ok = true; // other DNS errors: the request itself will fail
  for (addrinfo* a = res; a != nullptr && ok; a = a->ai_next) {
    char buf[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, buf, sizeof buf, nullptr, 0,
                      NI_NUMERICHOST) == 0) {
      ok = !blocked_ip(buf, rules);
    }
  }
  if (res != nullptr) {
    ::freeaddrinfo(res);
  }
  return ok;
}

// new URL(location, current).href, for the forms servers send.
std::optional<Url> resolve(const Url& base, const std::string& location) {
  if (location.find("://") != std::string::npos) {
    return parse(location);
  }
  if (location.starts_with("//")) {
    return parse(base.scheme + ":" + location);
  }
  if (location.starts_with("/")) {
    return parse(base.origin + location);
  }
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  return parse(base.origin + dir + location);
}

std::unique_ptr<httplib::Client> client(const Url& u, const FetchRules& r) {
  auto c = std::make_unique<httplib::Client>(u.origin);
  auto secs = std::chrono::milliseconds(r.timeout_ms);
  c->set_connection_timeout(secs);
  c->set_read_timeout(secs);
  c->set_follow_location(false);
  return c;
}

// requestWithValidatedRedirects: calls `attempt` on each validated URL
// until it answers something other than a redirect.
template <class Attempt>
bool through_redirects(const std::string& text, const FetchRules& rules,
                       Attempt attempt) {
  auto u = parse(text);
  if (!u || !allowed(*u, rules)) {
    return false;
  }
  for (int hops = 0; hops < 5; ++hops) {
    std::string location;
    int status = attempt(*u, location);
    if (status < 300 || status >= 400) {
      return status >= 200 && status < 300;
    }
    if (location.empty()) {
      return false; // "Redirect response missing Location header"
    }
    u = resolve(*u, location);
    if (!u || !allowed(*u, rules)) {
      return false;
    }
  }
  return false; // "Too many redirects"
}

} // namespace

std::optional<std::uint64_t> remote_file_size(const std::string& url,
                                              const FetchRules& rules) {
  std::optional<std::uint64_t> size;
  bool ok =
      through_redirects(url, rules, [&](const Url& u, std::string& location) {
        auto res = client(u, rules)->Head(u.target);
        if (!res) {
          return 0;
        }
        location = res->get_header_value("Location");
        std::string length = res->get_header_value("Content-Length");
        // parseInt: leading digits
        if (!length.empty() &&
            std::isdigit(static_cast<unsigned char>(length[0]))) {
          size = std::strtoull(length.c_str(), nullptr, 10);
        } else {
          size.reset();
        }
        return res->status;
      });
  return ok ? size : std::nullopt;
}

bool download_file(const std::string& url, const std::filesystem::path& file,
                   const FetchRules& rules) {
  for (int tries = 0; tries < 4; ++tries) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    bool ok =
        through_redirects(url, rules, [&](const Url& u, std::string& location) {
          std::ofstream out(file, std::ios::binary | std::ios::trunc);
          int status = 0;
          auto res = client(u, rules)->Get(
              u.target,
              [&](const httplib::Response& r) {
                status = r.status;
                location = r.get_header_value("Location");
                return r.status >= 200 && r.status < 300;
              },
              [&](const char* data, std::size_t n) {
                out.write(data, static_cast<std::streamsize>(n));
                return static_cast<bool>(out);
              });
          if (status >= 300 && status < 400) {
            return status; // cancelled at the headers to follow it
          }
          // A transfer that broke: axios throws, and the node retries.
          return res && out.flush() ? res->status : 0;
        });
    if (ok) {
      return true;
    }
  }
  return false;
}

} // namespace snap::emulator
