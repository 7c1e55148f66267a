// SPDX-License-Identifier: MIT
// The Elasticsearch REST API subset snap and its tests need (docs/contract.md
// §7), faithful to Elastic's rest-api-spec 7.17 and 8.19: the same paths,
// parameters, status codes, error bodies ({"error":{type,reason},"status"})
// and the X-Elastic-Product header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "emulator/faults.hpp"

namespace snap::emulator {

struct ElasticsearchOptions {
  std::string version = "8.19.0";
  // "opensearch": GET / answers as OpenSearch does (version.distribution),
  // and the cluster behaves as the Elasticsearch 7.10.2 it forked from,
  // less what OpenSearch removed or never took (x-pack's _pit, feature
  // states, _verify_integrity).
  std::string distribution = "elasticsearch";
  long snapshot_ms = 600;              // how long a snapshot stays IN_PROGRESS
  long recovery_ms = 400;              // how long a restored index recovers
  std::string outcome = "success";     // snapshots end success|partial|failed
  std::vector<std::string> reject_ids; // _bulk items failing to parse
  int reject_429 = 0; // the first N _bulk items are rejected with 429
  int restore_failed_shards = 0;   // each restore: N shards fail to recover
  std::string require_user;        // "user:password" for basic auth
  std::string require_api_key;     // the encoded key of Authorization: ApiKey
  std::filesystem::path path_repo; // path.repo: where fs locations may live
  // A second data node, by name, that cannot read what the master writes
  // in the repositories (a location not shared with it): _verify fails.
  std::string unshared_node;
  // An anomaly _verify_integrity (8.16+) finds in the first snapshot of a
  // repository ("failed to load shard snapshot"), which makes its indices
  // unrestorable.
  std::string repo_anomaly;
};

// Registers the Elasticsearch routes on `server`.
void register_elasticsearch(httplib::Server& server, FaultInjector& faults,
                            const ElasticsearchOptions& options);

} // namespace snap::emulator
