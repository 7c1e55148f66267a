// SPDX-License-Identifier: MIT
#include "adapters/remote_file.hpp"

#include <algorithm>

#include "snap/sha256.hpp"
#include "snap/text.hpp"

namespace snap::adapters {

std::optional<HttpUrl> split_http_url(std::string_view url) {
  if (!(url.starts_with("http://") || url.starts_with("https://")) ||
      url.size() > 8192 || std::any_of(url.begin(), url.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      })) {
    return std::nullopt;
  }
  std::size_t host = url.find("://") + 3;
  std::size_t end = url.find_first_of("/?#", host);
  HttpUrl u;
  u.origin = std::string(url.substr(0, end));
  std::string_view authority = url.substr(host, end - host);
  authority = authority.substr(authority.rfind('@') + 1);
  if (authority.empty() || authority.starts_with(":")) {
    return std::nullopt;
  }
  std::string_view rest = end == url.npos ? "" : url.substr(end);
  rest = rest.substr(0, rest.find('#'));
  auto q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  u.path = std::string(path.empty() ? std::string_view("/") : path);
  if (q != rest.npos) {
    u.query = std::string(rest.substr(q + 1));
  }
  return u;
}

std::string shown_url(std::string_view url) {
  auto q = url.find('?');
  return redact_url(url.substr(0, q)) + (q == url.npos ? "" : "?…");
}

Expected<std::string> url_value(const std::string& given) {
  if (!given.starts_with("@")) {
    return given;
  }
  std::string text =
      SNAP_TRY(read_small_file(given.substr(1), "the --from-url file", 8192));
  return trim_copy(text.substr(0, text.find('\n')));
}

Expected<UrlDigest> digest_url(const Connector& connector,
                               std::string_view label, const std::string& url,
                               int max_redirects, const ProgressFn& progress) {
  std::string at = url;
  for (int hop = 0; hop <= max_redirects; ++hop) {
    auto parts = split_http_url(at);
    if (!parts) {
      return fail(ErrorKind::remote,
                  fmt::format("{}: {} redirects to {}, which is not an "
                              "http(s) URL",
                              label, shown_url(url), shown_url(at)));
    }
    HttpConfig cfg;
    cfg.label = std::string(label);
    cfg.base_url = parts->origin;
    auto http = connector.open(cfg);
    Request req{.method = "GET", .path = parts->path, .query = parts->query};
    Sha256 sha;
    auto resp = http->send(req, sha, progress);
    if (!resp) {
      Error e = resp.error();
      e.message = fmt::format("{}: reading {} to check it: {}", label,
                              shown_url(url), e.message);
      return tl::unexpected(e);
    }
    std::string location = resp->header("location");
    if (resp->status >= 300 && resp->status < 400 && !location.empty()) {
      at = location.starts_with("/") ? parts->origin + location : location;
      continue;
    }
    if (!resp->ok()) {
      return fail(ErrorKind::remote,
                  fmt::format("{}: reading {} to check it: it answered {}; "
                              "nothing was changed",
                              label, shown_url(url), resp->status));
    }
    return UrlDigest{resp->body_bytes, sha.hex()};
  }
  return fail(ErrorKind::remote,
              fmt::format("{}: {} redirects more than {} times, more than "
                          "the target follows",
                          label, shown_url(url), max_redirects));
}

std::optional<Error> differs(std::string_view label, const std::string& url,
                             const UrlDigest& got, std::string_view entry,
                             std::uint64_t size, std::string_view sha256) {
  if (got.size == size && got.sha256 == sha256) {
    return std::nullopt;
  }
  return Error{ErrorKind::remote,
               fmt::format("{}: {} serves {} bytes (sha256 {}), not the "
                           "archive's {} ({} bytes, sha256 {}); nothing was "
                           "changed: put the archive's file there (unzip -p "
                           "ARCHIVE {}), or go without --from-url",
                           label, shown_url(url), got.size,
                           got.sha256.substr(0, 12), entry, size,
                           sha256.substr(0, 12), entry)};
}

} // namespace snap::adapters
