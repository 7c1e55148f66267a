// SPDX-License-Identifier: MIT
// What the Elasticsearch emulator's route files share: the cluster state
// behind one lock, answers in Elasticsearch's shapes, and index-expression
// resolution (commas, wildcards, exclusions, aliases, expand_wildcards).
#pragma once

#include <atomic>
#include <mutex>
#include <set>

#include <httplib.h>

#include "emulator/elasticsearch.hpp"
#include "emulator/es_store.hpp"

namespace snap::emulator::es {

struct Cluster {
  Cluster(const ElasticsearchOptions& o, FaultInjector& f);
  ElasticsearchOptions opts;
  FaultInjector& faults;
  // The Elasticsearch version whose behaviour the cluster has: an
  // OpenSearch cluster (os_major > 0) behaves as 7.10, its fork point.
  int major = 8, minor = 19;
  int os_major = 0, os_minor = 0;
  bool opensearch() const { return os_major > 0; }
  std::string cluster_uuid = random_id();
  std::mutex mu;
  std::map<std::string, Index> indices;
  std::map<std::string, Repository> repos;
  // Snapshots stay in storage when their repository is unregistered
  // (DELETE _snapshot/<repo>: "snapshots stay in storage", the delete
  // repository API's documentation), and come back when one is registered
  // at the same location: by location (fs) or name.
  std::map<std::string, std::map<std::string, Snapshot>> stored;
  std::map<std::string, DataStream> data_streams;
  std::map<std::string, json> index_templates; // composable (_index_template)
  std::map<std::string, json> component_templates; // _component_template
  struct Policy {
    int version = 0;
    std::string modified;
    json policy;
  };
  std::map<std::string, Policy> policies; // _ilm/policy
  std::map<std::string, json> pipelines;  // _ingest/pipeline
  std::map<std::string, json> scripts;    // _scripts: {lang, source}
  struct IsmPolicy {
    std::int64_t seq_no = 0;
    json policy;
  };
  std::map<std::string, IsmPolicy> ism; // OpenSearch _plugins/_ism
  std::int64_t ism_seq = 0;
  std::map<std::string, SearchContext> contexts; // PIT and scroll ids
  std::set<std::string> reject_ids;
  int reject_429_left = 0;
  std::atomic<std::int64_t> search_bytes{0}; // for --fail-after-bytes

  bool at_least(int ma, int mi) const {
    return major > ma || (major == ma && minor >= mi);
  }
  // Advances snapshots and recoveries whose time has come. Lock held.
  void advance();
};

void send_json(httplib::Response& res, const json& body, int status = 200);
// {"error":{"root_cause":[…],"type","reason",…},"status"} with `status`.
void send_error(httplib::Response& res, int status, const std::string& type,
                const std::string& reason, const json& extra = json::object());
void index_not_found(httplib::Response& res, const std::string& name);
// What the REST controller answers for a path and method no handler takes:
// 400 {"error": "no handler found for uri [...] and method [...]"}.
void no_handler(const httplib::Request& req, httplib::Response& res);

// A boolean query parameter: absent -> `fallback`, "" or "true" -> true.
bool flag_param(const httplib::Request& req, const char* name, bool fallback);

// The indices `expr` names, in order. A concrete name that is missing
// answers 404 index_not_found_exception unless ignore_unavailable, and
// `false` is returned. Lock held.
bool resolve(Cluster& c, const std::string& expr, const httplib::Request& req,
             httplib::Response& res, std::vector<std::string>& out,
             const std::string& default_expand = "open");

bool valid_index_name(const std::string& name, std::string& why);

// A new empty index `name` with the settings Elasticsearch gives every
// index (one shard, one replica, uuid, creation date, version; from 8.x
// the data_content tier preference), `given` (flat) over the defaults.
Index new_index(const Cluster& c, const std::string& name,
                const json& given = json::object());

void register_search_routes(httplib::Server& server, Cluster& c);
void register_snapshot_routes(httplib::Server& server, Cluster& c);
void register_stream_routes(httplib::Server& server, Cluster& c);
void register_definition_routes(httplib::Server& server, Cluster& c);

// The system feature owning index `name` (Elasticsearch's SystemIndices:
// tasks owns .tasks, geoip .geoip_databases), or "".
std::string feature_of(const std::string& name);

// Creates data stream `name` from the composable template whose
// index_patterns match it and that has a data_stream section, with its
// first backing index. Lock held. Returns false with `error` (an error
// object) when no such template exists or the name is taken.
bool create_data_stream(Cluster& c, const std::string& name, json& error);

// The data stream `index` backs, or "".
std::string stream_of(const Cluster& c, const std::string& index);

} // namespace snap::emulator::es
