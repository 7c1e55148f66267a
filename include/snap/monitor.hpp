// SPDX-License-Identifier: MIT
// What unattended runs leave for monitoring: a Prometheus textfile for
// node_exporter's textfile collector (--metrics-file), and a healthchecks-
// style ping on start, success and failure (--notify-url).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "snap/error.hpp"
#include "snap/http.hpp"

namespace snap {

// One run of a verb against a target, as monitoring sees it.
struct RunRecord {
  std::string verb;      // save, download, restore, upload, delete, prune
  std::string adapter;   // "" when the run failed before it knew
  std::string target;    // redacted URL, or the directory prune worked on
  double started_at = 0; // Unix seconds
  double duration_s = 0;
  int exit_code = 0;
  std::optional<std::uint64_t> archive_bytes; // the archive written
  std::string archive;
  std::string error;  // the one-line error, "" on success
  std::string run_id; // a UUID that pairs the start ping with the end one
};

// A random (version 4) UUID.
std::string new_run_id();

// The metric names and help lines, in the order they are written.
struct MetricInfo {
  std::string_view name;
  std::string_view help;
};
extern const MetricInfo k_metrics[5];

// Merges `run` into the textfile at `path`: the series of its verb,
// adapter and target are replaced, every other series is kept, and the
// last success time survives a failed run. Written to a temporary file
// and renamed, under a lock, so node_exporter never reads half a file and
// two runs never lose each other's series. Errors: `config` (the path),
// `internal`.
Expected<void> write_metrics(const std::string& path, const RunRecord& run);

// The pings of --notify-url, as healthchecks.io takes them
// (https://healthchecks.io/docs/http_api/): POST URL/start when the run
// starts, POST URL on success, POST URL/fail on failure, each with
// ?rid=<run id>, the body a JSON summary of the run. Errors: `config` for a URL
// curl cannot use, `connect`, `timeout`, `remote` for a non-2xx answer.
enum class Ping { start, success, failure };
Expected<void> notify(const std::string& url, Ping ping, const RunRecord& run,
                      const HttpConfig& base);

} // namespace snap
