// SPDX-License-Identifier: MIT
// What every adapter that talks to Elasticsearch shares (the elasticsearch
// adapter, and camunda for its zeebe-record snapshot): JSON calls, the
// server's error shape, the version probe, and snapshots followed to their
// end. Paths, methods and parameters are those of Elastic's REST API spec
// (rest-api-spec 7.17 and 8.19).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/adapter.hpp"

namespace snap::adapters::es {

using nlohmann::json;

struct Version {
  std::string number; // "8.19.0", or OpenSearch's "2.19.1"
  // The Elasticsearch version whose APIs the cluster has: for OpenSearch
  // 7.10, the release it forked from (its PIT, slices, feature states and
  // _verify_integrity are not Elasticsearch's), with its own version in
  // os_major/os_minor.
  int major = 0;
  int minor = 0;
  int os_major = 0;
  int os_minor = 0;
  bool opensearch() const { return os_major > 0; }
  // "Elasticsearch 8.19.0" or "OpenSearch 2.19.1".
  std::string product() const {
    return (opensearch() ? "OpenSearch " : "Elasticsearch ") + number;
  }
  bool at_least(int ma, int mi) const {
    return major > ma || (major == ma && minor >= mi);
  }
};

struct CallOptions {
  std::string query;
  bool idempotent = true;
  bool cleanup = false; // sent even after SIGINT (closing a PIT)
  std::vector<long> ok = {200};
  std::string content_type = "application/json";
};

class Client {
public:
  Client(HttpClient& http, Reporter& reporter)
      : m_http(http), m_reporter(reporter) {}

  // Sends a call with a JSON body (none when `body` is null) and parses the
  // JSON answer. A status outside `ok` becomes an error carrying the
  // server's `type: reason`. Errors: any kind.
  Expected<json> call(std::string method, std::string path,
                      const json& body = json(), const CallOptions& o = {});
  // Like call, returning the answer's text unparsed (search pages, which
  // page.hpp scans), in the memory of `buffer` (a reader of page after
  // page passes its last answer). Errors: any kind.
  Expected<std::string> call_raw(std::string method, std::string path,
                                 const json& body, const CallOptions& o = {},
                                 std::string buffer = {});
  // Like call_raw, with a body given as text (NDJSON for _bulk).
  Expected<std::string> call_text(std::string method, std::string path,
                                  const std::string& body, const CallOptions& o,
                                  std::string buffer = {});
  // The status of a HEAD request (200 or 404 for indices.exists).
  Expected<long> head(const std::string& path);
  // GET / once: version and cluster name. Errors: `remote` when the answer
  // is not Elasticsearch's.
  Expected<Version> version();
  const json& info() const { return m_info; }

  HttpClient& http() { return m_http; }
  Reporter& reporter() { return m_reporter; }

private:
  Expected<json> send(Request& req, const std::string* text,
                      const CallOptions& o);
  Expected<std::string> send_text(Request& req, const std::string* text,
                                  std::string buffer, const CallOptions& o);
  HttpClient& m_http;
  Reporter& m_reporter;
  json m_info;
  std::optional<Version> m_version;
};

// "type: reason" from an error body {"error":{"type","reason"},"status"},
// or the body's first line when it is not that shape.
std::string error_text(const std::string& body);

// Elasticsearch refuses a request line longer than
// http.max_initial_line_length, 4 KB by default (400
// too_long_http_line_exception): a list of names in a path stays within
// this, leaving room for the method, the rest of the path and the query.
inline constexpr std::size_t k_names_per_line = 3072;

// `names`, each escaped, joined with ',' into multi-target path segments
// of at most k_names_per_line bytes each: one request per segment.
std::vector<std::string> name_batches(const std::vector<std::string>& names);

// True when `name` matches one of the comma-separated `patterns` (`*`
// wildcards, a leading `-` excludes); an empty list matches everything.
bool matches_patterns(const std::string& name, const std::string& patterns);

// Snapshots -----------------------------------------------------------------

// GET /_snapshot/<repo>/<name>: the one SnapshotInfo. Errors: `not_found`
// (snapshot_missing_exception / repository_missing_exception), any kind.
Expected<json> get_snapshot(Client& c, const std::string& repo,
                            const std::string& name);

// Starts a snapshot without waiting (wait_for_completion=false) and follows
// it through _status (shards done of total, bytes) until it leaves
// IN_PROGRESS; returns the final SnapshotInfo from GET, which alone tells
// PARTIAL from SUCCESS. Errors: any kind, `timeout` after `timeout_s`.
Expected<json> take_snapshot(Client& c, const std::string& repo,
                             const std::string& name, const json& body,
                             double timeout_s);

// The verdict on a finished SnapshotInfo: nothing for SUCCESS, a `partial`
// error for PARTIAL, a `remote` error for FAILED or INCOMPATIBLE, each
// naming the failed shards.
std::optional<Error> snapshot_verdict(const json& info);

// Follows the recovery of `indices` after a _restore until every shard is
// DONE, reporting shards and bytes. Errors: any kind, `timeout`.
Expected<void> wait_recovery(Client& c, const std::vector<std::string>& indices,
                             double timeout_s);

} // namespace snap::adapters::es
