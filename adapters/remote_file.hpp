// SPDX-License-Identifier: MIT
// A file the target fetches itself from a URL (a Flux node's remote
// restore, a Cloudify manager's snapshot_archive_url): snap reads that URL
// through first and compares it with the archive's entry, since neither
// system checks what it downloads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "snap/adapter.hpp"
#include "snap/http.hpp"

namespace snap::adapters {

// A URL as snap requests it: the origin for the client (scheme://host
// [:port], with any user:password@), then the path and query as given.
struct HttpUrl {
  std::string origin;
  std::string path;
  std::string query;
};

// An http:// or https:// URL with a host and nothing a request line cannot
// carry (at most 8 KiB); nullopt otherwise.
std::optional<HttpUrl> split_http_url(std::string_view url);

// A URL as messages show it: credentials masked, and the query left out,
// since a pre-signed URL's query is a credential of its own.
std::string shown_url(std::string_view url);

// A --from-url value: the URL itself, or "@FILE" for the URL held in FILE
// (its first line), which keeps a pre-signed URL out of the command line.
// Errors: `config`, naming the file.
Expected<std::string> url_value(const std::string& given);

struct UrlDigest {
  std::uint64_t size = 0;
  std::string sha256;
};

// Reads `url` through once, with none of the target's credentials,
// following up to `max_redirects` redirects; its size and SHA-256.
// Errors: `remote` (a status, a redirect that is not http(s), too many),
// `connect`, `timeout`, `interrupted`; each message starts with `label`.
Expected<UrlDigest> digest_url(const Connector& connector,
                               std::string_view label, const std::string& url,
                               int max_redirects, const ProgressFn& progress);

// The error for a URL that serves other bytes than `entry`, or nothing.
std::optional<Error> differs(std::string_view label, const std::string& url,
                             const UrlDigest& got, std::string_view entry,
                             std::uint64_t size, std::string_view sha256);

} // namespace snap::adapters
