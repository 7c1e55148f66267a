// SPDX-License-Identifier: MIT
// Elasticsearch adapter (alias `es`).
//
// Two kinds of backup. A native snapshot (the default) is taken into a
// repository the cluster already has (`--repository`): PUT
// /_snapshot/<repo>/<name>?wait_for_completion=false, followed through
// _status, judged by GET /_snapshot/<repo>/<name> (SUCCESS, PARTIAL → exit 3,
// FAILED → exit 1). The data stays in the repository; the archive is a
// reference holding the SnapshotInfo, the repository's definition and each
// index's mappings, settings and aliases. Restore is POST …/_restore, then
// the recovery is followed until every shard is DONE.
//
// A logical export (`--export`, export.cpp) holds the data itself: index
// definitions and every document as _bulk NDJSON, read through a point in
// time, loaded back with _bulk.
//
// Authentication: basic auth (--user, --password-file) or an API key
// (--api-key-file, sent as `Authorization: ApiKey <key>`, the `encoded` value
// the create-API-key call returns). TLS: 8.x clusters serve HTTPS with their
// own CA (config/certs/http_ca.crt): pass it with --ca-file.
//
// Versions: Elasticsearch 7.0 and later, and OpenSearch 1.x-3.x (known by
// version.distribution in GET /, driven as the 7.10 it forked from, without
// feature states or _verify_integrity). Documents are read with a point in
// time sorted by _shard_doc from Elasticsearch 7.12 and OpenSearch 3.3
// (its own, under _search/point_in_time), with scroll before.
//
// Not saved by a snapshot without --include-global-state: templates,
// pipelines, ILM policies, persistent settings and feature states. An
// export keeps data streams with their templates; it leaves out (and
// names) closed and hidden indices unless --open-closed/--include-hidden,
// and keeps templates, ILM policies, pipelines and stored scripts with
// --include-global-state (definitions.cpp).
//
// Docs:
// https://www.elastic.co/guide/en/elasticsearch/reference/current/snapshot-restore.html
#include "adapters/elasticsearch/export.hpp"
#include "adapters/factories.hpp"
#include "snap/cores.hpp"
#include "snap/json.hpp"
#include "snap/options.hpp"
#include "snap/text.hpp"

#include <algorithm>
#include <thread>

#include <set>

namespace snap::adapters {
namespace {

using es::json;

constexpr std::string_view k_snapshot_entry = "payload/snapshot.json";
constexpr std::string_view k_repository_entry = "payload/repository.json";

bool is_export(const Manifest& m) {
  return m.source.value("mode", "") == "export";
}

class ElasticsearchAdapter : public Adapter {
public:
  explicit ElasticsearchAdapter(AdapterContext ctx)
      : m_ctx(ctx), m_es(ctx.http, ctx.reporter) {}

  const AdapterInfo& info() const override { return elasticsearch_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    if (has("export")) {
      es::ExportOptions o{flag("indices"), SNAP_TRY(batch_size())};
      o.include_hidden = has("include-hidden");
      o.open_closed = has("open-closed");
      o.include_global_state = has("include-global-state");
      if (std::string q = flag("query"); !q.empty()) {
        o.query = parse_untrusted_json(q);
        if (!o.query.is_object() || o.query.size() != 1) {
          return fail(ErrorKind::usage,
                      fmt::format("--query {}: give one query of the query "
                                  "DSL as a JSON object, e.g. "
                                  "'{{\"range\": {{\"@timestamp\": "
                                  "{{\"gte\": \"now-7d\"}}}}}}'",
                                  q));
        }
      }
      Clients readers = SNAP_TRY(parallel_clients());
      o.slices = readers.pointers;
      return es::export_indices(m_es, out, o);
    }
    for (const char* only : {"query", "include-hidden", "open-closed"}) {
      if (!flag(only).empty()) {
        return fail(ErrorKind::usage,
                    fmt::format("--{} belongs to a logical export: add "
                                "--export (a snapshot takes whole indices)",
                                only));
      }
    }
    es::Version v = SNAP_TRY(m_es.version());
    std::string repo = SNAP_TRY(repository());
    json repo_def = SNAP_TRY(repository_definition(repo));
    std::string name = flag("snapshot");
    if (name.empty()) {
      name = "snap-" + to_lower(rfc3339_to_compact(utc_now_rfc3339()));
    }
    // The labels go into the snapshot's own metadata too, so the cluster's
    // tools (Kibana, _snapshot) show them; Elasticsearch takes at most 1024
    // bytes of it (CreateSnapshotRequest.validate).
    json metadata = {{"taken_by", "snap"}};
    for (const auto& [k, v] : m_ctx.labels) {
      metadata[k] = v;
    }
    if (std::size_t n = metadata.dump().size(); n > 1024) {
      return fail(ErrorKind::usage,
                  fmt::format("elasticsearch: the labels make {} bytes of "
                              "snapshot metadata; Elasticsearch takes at "
                              "most 1024 (shorten the --label values)",
                              n));
    }
    json body = {{"include_global_state", has("include-global-state")},
                 {"partial", has("partial")},
                 {"metadata", metadata}};
    if (!flag("indices").empty()) {
      body["indices"] = flag("indices");
    }
    SNAP_TRY(add_feature_states(v, body));
    if (has("ignore-unavailable")) {
      body["ignore_unavailable"] = true;
    }
    if (std::string ew = flag("expand-wildcards"); !ew.empty()) {
      for (const auto& w : split_list(ew)) {
        if (w != "all" && w != "open" && w != "closed" && w != "hidden" &&
            w != "none") {
          return fail(ErrorKind::usage,
                      fmt::format("--expand-wildcards {}: use all, open, "
                                  "closed, hidden or none (comma-separated)",
                                  ew));
        }
      }
      body["expand_wildcards"] = split_list(ew);
    }
    SNAP_TRY(verify_repository(repo));
    json snap_info =
        SNAP_TRY(es::take_snapshot(m_es, repo, name, body, wait_timeout()));
    return pack(out, repo, repo_def, snap_info, v);
  }

  // POST _verify before a snapshot (BlobStoreRepository.verify: each data
  // node reads the master's test blob and writes its own), so that a node
  // that cannot reach the repository is named now, not found later as
  // failed shards of a PARTIAL snapshot.
  Expected<void> verify_repository(const std::string& repo) {
    auto r = m_es.call("POST", "/_snapshot/" + url_escape(repo) + "/_verify",
                       json(), {.idempotent = false});
    if (r) {
      return {};
    }
    const std::string& text = r.error().message;
    if (text.find("repository_verification_exception") == std::string::npos) {
      return tl::unexpected(r.error());
    }
    // Each failing node as Elasticsearch names it: "…on the node [{name}…".
    std::vector<std::string> nodes;
    for (const char* marker :
         {"cannot be accessed on the node [{", "is not accessible on the node "
                                               "[{"}) {
      std::string_view m(marker);
      for (auto at = text.find(m); at != std::string::npos;
           at = text.find(m, at + 1)) {
        auto start = at + m.size();
        auto end = text.find('}', start);
        if (end != std::string::npos) {
          nodes.push_back(text.substr(start, end - start));
        }
      }
    }
    m_ctx.reporter.note(text);
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: repository {} failed "
                            "verification: {} cannot read or write it, so "
                            "no snapshot was started (its location must be "
                            "shared by every node: the same path.repo mount "
                            "for fs, the same bucket and credentials for "
                            "cloud repositories; -v shows Elasticsearch's "
                            "words)",
                            repo,
                            nodes.empty() ? std::string("a node")
                                          : "node " + join_list(nodes, ", ")));
  }

  Expected<SaveResult> download(const std::string& name,
                                ArchiveWriter& out) override {
    es::Version v = SNAP_TRY(m_es.version());
    std::string repo = SNAP_TRY(repository());
    json repo_def = SNAP_TRY(repository_definition(repo));
    json snap_info = SNAP_TRY(es::get_snapshot(m_es, repo, name));
    if (snap_info.value("state", "") == "IN_PROGRESS") {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: snapshot {} is still "
                              "IN_PROGRESS; download it when it has ended "
                              "(snap status elasticsearch {})",
                              name, name));
    }
    return pack(out, repo, repo_def, snap_info, v);
  }

  static Expected<Fields> describe(ArchiveReader& in, bool verify) {
    if (is_export(in.manifest())) {
      return es::describe_export(in, verify);
    }
    json s = SNAP_TRY(in.read_json(k_snapshot_entry));
    json repo = SNAP_TRY(in.read_json(k_repository_entry));
    json defs = SNAP_TRY(in.read_json(es::k_indices_entry));
    const json& shards = s.value("shards", json::object());
    Fields f = Fields::object();
    f["mode"] = "snapshot reference (the data stays in the repository)";
    f["snapshot"] = s.value("snapshot", "");
    f["uuid"] = s.value("uuid", "");
    f["repository"] =
        fmt::format("{} ({})", repo.value("name", ""), repo.value("type", ""));
    f["state"] = s.value("state", "");
    f["shards"] = fmt::format(
        "{} successful, {} failed, {} total", shards.value("successful", 0),
        shards.value("failed", 0), shards.value("total", 0));
    f["global_state"] = s.value("include_global_state", false);
    f["indices"] = s.value("indices", json::array());
    f["index_definitions"] = defs.size();
    return f;
  }

  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override {
    if (is_export(in.manifest())) {
      es::ImportOptions o{.indices = flag("indices"),
                          .rename_pattern = flag("rename-pattern"),
                          .rename_replacement = flag("rename-replacement"),
                          .include_aliases = has("include-aliases"),
                          .replace = has("replace"),
                          .include_global_state = has("include-global-state"),
                          .batch_size = SNAP_TRY(batch_size())};
      // _bulk requests in flight at once, each on a client of its own.
      Clients senders = SNAP_TRY(parallel_clients());
      o.senders = senders.pointers;
      return es::import_indices(m_es, in, o, dry_run);
    }
    return restore_snapshot(in, dry_run);
  }

  // --parallel N clients, each with a connection of its own, for requests
  // made at once (export slices, import _bulk requests); none for 1.
  struct Clients {
    std::vector<std::unique_ptr<HttpClient>> https;
    std::vector<std::unique_ptr<es::Client>> clients;
    std::vector<es::Client*> pointers;
  };
  Expected<Clients> parallel_clients() {
    int parallel = SNAP_TRY(parallelism());
    Clients out;
    for (int i = 0; parallel > 1 && i < parallel; ++i) {
      out.https.push_back(m_ctx.connector.open(m_ctx.http.config()));
      out.clients.push_back(
          std::make_unique<es::Client>(*out.https.back(), m_ctx.reporter));
      out.pointers.push_back(out.clients.back().get());
    }
    return out;
  }

  // --parallel N (1 to 16), default: the cores snap may use, at most 4.
  Expected<int> parallelism() const {
    std::string v = flag("parallel");
    if (v.empty()) {
      return static_cast<int>(std::clamp(usable_cores(), 1u, 4u));
    }
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n < 1 || n > 16) {
      return fail(ErrorKind::usage,
                  fmt::format("--parallel {}: give a number from 1 to 16", v));
    }
    return static_cast<int>(n);
  }

  Expected<ListResult> list() override {
    std::string repo = SNAP_TRY(repository());
    json got = SNAP_TRY(
        m_es.call("GET", fmt::format("/_snapshot/{}/_all", url_escape(repo))));
    std::vector<json> snaps;
    for (const auto& s : got.value("snapshots", json::array())) {
      snaps.push_back(s);
    }
    std::sort(snaps.begin(), snaps.end(), [](const json& a, const json& b) {
      return a.value("start_time_in_millis", 0L) <
             b.value("start_time_in_millis", 0L);
    });
    ListResult rows;
    for (const auto& s : snaps) {
      const json& shards = s.value("shards", json::object());
      rows.push_back({s.value("snapshot", ""),
                      {{"state", s.value("state", "")},
                       {"started_at", s.value("start_time", "")},
                       {"indices", s.value("indices", json::array()).size()},
                       {"shards",
                        {{"total", shards.value("total", 0)},
                         {"successful", shards.value("successful", 0)},
                         {"failed", shards.value("failed", 0)}}}}});
    }
    return rows;
  }

  Expected<StatusResult> status(const std::string& name) override {
    StatusResult r =
        SNAP_TRY(name.empty() ? cluster_status() : snapshot_status(name));
    if (has("deep")) {
      SNAP_TRY(verify_integrity(r));
    }
    return r;
  }

  Expected<Fields> remove(const std::string& name) override {
    return delete_snapshot(SNAP_TRY(repository()), name);
  }

  // A save's snapshot stays in the repository (the archive is a reference
  // to it); an export leaves nothing on the cluster.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    if (is_export(m)) {
      return std::nullopt;
    }
    return fmt::format("snapshot {} in repository {}",
                       m.source.value("snapshot", m.backup_id),
                       m.source.value("repository", ""));
  }

  // Deletes the snapshot from the repository the archive names, on the
  // cluster it was taken of only: a snapshot of the same name in another
  // cluster's repository is not snap's to delete.
  Expected<Fields> remove_target_backup(const Manifest& m) override {
    SNAP_TRY(m_es.version());
    std::string was = m.source.value("cluster_uuid", "");
    std::string is = m_es.info().value("cluster_uuid", "");
    if (!was.empty() && !is.empty() && was != is) {
      return fail(ErrorKind::config,
                  fmt::format("elasticsearch: the archive's snapshot was "
                              "taken of cluster {}, this is cluster {}",
                              was, is));
    }
    std::string repo = m.source.value("repository", "");
    auto gone = delete_snapshot(repo, m.source.value("snapshot", m.backup_id));
    // Not found is "already gone" only when the snapshot is missing: with
    // the repository unregistered nobody can tell (snapshot_missing_exception
    // against repository_missing_exception, both 404).
    if (!gone && gone.error().kind == ErrorKind::not_found &&
        gone.error().message.find("repository_missing_exception") !=
            std::string::npos) {
      return fail(ErrorKind::config,
                  fmt::format("elasticsearch: repository {} is not registered "
                              "on this cluster, so its snapshot cannot be "
                              "deleted (register it again, then prune)",
                              repo));
    }
    return gone;
  }

private:
  Expected<Fields> delete_snapshot(const std::string& repo,
                                   const std::string& name) {
    SNAP_TRY(m_es.call(
        "DELETE",
        fmt::format("/_snapshot/{}/{}", url_escape(repo), url_escape(name)),
        json(), {.idempotent = false}));
    return Fields{{"deleted", name}, {"repository", repo}};
  }

  std::string flag(std::string_view name) const {
    return flag_value(m_ctx.flags, name);
  }
  // --feature-states into a create or restore body. Errors: `usage` where
  // the cluster has none (Elasticsearch before 7.12, OpenSearch), whose
  // request parsers refuse the field.
  Expected<void> add_feature_states(const es::Version& v, json& body) const {
    if (flag("feature-states").empty()) {
      return {};
    }
    if (!v.at_least(7, 12)) {
      return fail(ErrorKind::usage,
                  fmt::format("--feature-states: {} has no feature states "
                              "(Elasticsearch 7.12 brought them; OpenSearch "
                              "keeps system indices as indices): leave the "
                              "flag out",
                              v.product()));
    }
    body["feature_states"] = split_list(flag("feature-states"));
    return {};
  }

  bool has(std::string_view name) const {
    std::string v = flag(name);
    return !v.empty() && is_truthy(v);
  }
  double wait_timeout() const {
    return seconds_flag(m_ctx.flags, "wait-timeout", 3600.0);
  }
  Expected<int> batch_size() const {
    std::string v = flag("batch-size");
    int n = v.empty() ? 5000 : std::atoi(v.c_str());
    // index.max_result_window caps one page at 10 000 hits.
    if (n < 1 || n > 10000) {
      return fail(ErrorKind::usage,
                  "--batch-size must be between 1 and 10000 (Elasticsearch "
                  "returns at most index.max_result_window hits a page)");
    }
    return n;
  }

  // --repository, or a usage error naming the repositories the cluster has.
  Expected<std::string> repository() {
    std::string repo = flag("repository");
    if (!repo.empty()) {
      return repo;
    }
    std::string known;
    if (auto all = m_es.call("GET", "/_snapshot")) {
      for (const auto& [name, def] : all->items()) {
        known += (known.empty() ? "" : ", ") + name;
      }
    }
    return fail(ErrorKind::usage,
                fmt::format("elasticsearch: --repository is required for "
                            "snapshots ({}); or use --export for a logical "
                            "copy that needs no repository",
                            known.empty()
                                ? "the cluster has no repository registered"
                                : "the cluster has: " + known));
  }

  Expected<json> repository_definition(const std::string& repo) {
    json all = SNAP_TRY(m_es.call("GET", "/_snapshot/" + url_escape(repo)));
    json def = all.value(repo, json::object());
    def["name"] = repo;
    return def;
  }

  Expected<SaveResult> pack(ArchiveWriter& out, const std::string& repo,
                            const json& repo_def, const json& snap_info,
                            const es::Version& v) {
    std::optional<Error> verdict = es::snapshot_verdict(snap_info);
    if (verdict && verdict->kind != ErrorKind::partial) {
      return tl::unexpected(*verdict);
    }
    std::vector<std::string> names;
    for (const auto& i : snap_info.value("indices", json::array())) {
      names.push_back(i.get<std::string>());
    }
    json defs = json::object();
    for (const auto& batch : es::name_batches(names)) {
      json part = SNAP_TRY(
          m_es.call("GET", "/" + batch, json(),
                    {.query = "flat_settings=true&ignore_unavailable=true&"
                              "expand_wildcards=all"}));
      defs.update(part);
    }
    SNAP_TRY(out.add_json("snapshot.json", snap_info));
    SNAP_TRY(out.add_json("repository.json", repo_def));
    SNAP_TRY(out.add_json("indices.json", defs));
    std::string name = snap_info.value("snapshot", "");
    const json& shards = snap_info.value("shards", json::object());
    SaveResult r;
    r.backup_id = name;
    r.kind = "reference";
    r.server_version = v.number;
    r.summary = fmt::format("snapshot {} in {}, {}, {} indices", name, repo,
                            snap_info.value("state", ""), names.size());
    r.source = {
        {"mode", "snapshot"},
        {"distribution", v.opensearch() ? "opensearch" : "elasticsearch"},
        {"repository", repo},
        {"repository_type", repo_def.value("type", "")},
        {"snapshot", name},
        {"uuid", snap_info.value("uuid", "")},
        {"state", snap_info.value("state", "")},
        {"cluster_name", m_es.info().value("cluster_name", "")},
        {"cluster_uuid", m_es.info().value("cluster_uuid", "")},
        {"indices", names.size()},
        {"shards", shards}};
    r.partial = std::move(verdict);
    return r;
  }

  Expected<StatusResult> cluster_status();
  Expected<void> verify_integrity(StatusResult& r);
  Expected<StatusResult> snapshot_status(const std::string& name);
  Expected<RestoreReport> restore_snapshot(ArchiveReader& in, bool dry_run);

  // What a restore asks for, from the snapshot's info and the flags.
  struct RestoreSet {
    std::vector<std::string> request;  // data stream and index names
    std::vector<std::string> streams;  // the data streams among them
    std::vector<std::string> features; // feature states restored
    std::set<std::string> system;      // their system indices
    std::set<std::string> backing;     // the streams' backing indices
    std::vector<std::string> targets;  // every index the restore makes
    std::set<std::string> sources;     // the snapshot's names of those
    std::vector<std::string> left_out; // plan lines: not restored
  };
  Expected<RestoreSet> restore_set(const json& info);

  AdapterContext m_ctx;
  es::Client m_es;
};

Expected<StatusResult> ElasticsearchAdapter::cluster_status() {
  es::Version v = SNAP_TRY(m_es.version());
  json health = SNAP_TRY(m_es.call("GET", "/_cluster/health"));
  json running = SNAP_TRY(m_es.call("GET", "/_snapshot/_status"));
  json recovering = SNAP_TRY(
      m_es.call("GET", "/_recovery", json(), {.query = "active_only=true"}));
  StatusResult r;
  r.fields["version"] = v.number;
  r.fields["cluster"] = m_es.info().value("cluster_name", "");
  r.fields["health"] = health.value("status", "");
  Fields snaps = Fields::array();
  for (const auto& s : running.value("snapshots", json::array())) {
    const json& st = s.value("shards_stats", json::object());
    snaps.push_back({{"snapshot", s.value("snapshot", "")},
                     {"repository", s.value("repository", "")},
                     {"state", s.value("state", "")},
                     {"shards", fmt::format("{}/{} done", st.value("done", 0),
                                            st.value("total", 0))}});
  }
  Fields restores = Fields::array();
  for (const auto& [index, rec] : recovering.items()) {
    for (const auto& s : rec.value("shards", json::array())) {
      if (s.value("type", "") != "SNAPSHOT") {
        continue;
      }
      const json& src = s.value("source", json::object());
      restores.push_back(
          {{"index", index},
           {"shard", s.value("id", 0)},
           {"stage", s.value("stage", "")},
           {"from", fmt::format("{}:{}", src.value("repository", ""),
                                src.value("snapshot", ""))},
           {"recovered", s.value("index", json::object())
                             .value("size", json::object())
                             .value("percent", "")}});
    }
  }
  r.fields["running_snapshots"] = snaps;
  r.fields["running_restores"] = restores;
  r.terminal = snaps.empty() && restores.empty();
  if (health.value("status", "") == "red") {
    r.not_ready = "elasticsearch: the cluster's health is red: some primary "
                  "shards are not allocated, and a snapshot would be partial";
  }
  return r;
}

// status --deep: the repository's integrity check (8.16+, POST
// _snapshot/<repo>/_verify_integrity), which reads every snapshot's
// metadata and shard-level index of the repository and reports each
// anomaly. Its answer is streamed: {"log": [...], "results": {...}}, or
// {"log": [...], "exception": {...}} when it stopped part way
// (RepositoryVerifyIntegrityResponseStream). Anything but "pass" makes the
// status not ready (exit 10).
Expected<void> ElasticsearchAdapter::verify_integrity(StatusResult& r) {
  es::Version v = SNAP_TRY(m_es.version());
  std::string repo = SNAP_TRY(repository());
  if (!v.at_least(8, 16)) {
    r.fields["repository_integrity"] =
        fmt::format("not checked: Elasticsearch {} has no _verify_integrity "
                    "(8.16 and later)",
                    v.number);
    return {};
  }
  m_ctx.reporter.progress(
      fmt::format("verifying the integrity of repository {}", repo), 0, 0);
  json got = SNAP_TRY(m_es.call(
      "POST", fmt::format("/_snapshot/{}/_verify_integrity", url_escape(repo)),
      json(), {.idempotent = true}));
  std::vector<std::string> anomalies;
  std::vector<std::string> unrestorable;
  for (const auto& chunk : got.value("log", json::array())) {
    if (!chunk.is_object()) {
      continue;
    }
    std::string snap =
        chunk.value("snapshot", json::object()).value("snapshot", "");
    std::string index = chunk.value("index", json::object()).value("name", "");
    if (chunk.contains("anomaly")) {
      std::string where = snap.empty() ? "" : " (snapshot " + snap + ")";
      if (!index.empty()) {
        where += " (index " + index + ")";
      }
      anomalies.push_back(chunk.value("anomaly", "") + where);
    }
    const json& counts = chunk.value("snapshot_restorability", json());
    if (counts.is_object() && counts.value("restorable_snapshot_count", 0) <
                                  counts.value("total_snapshot_count", 0)) {
      unrestorable.push_back(
          fmt::format("{} ({} of {} snapshots restorable)", index,
                      counts.value("restorable_snapshot_count", 0),
                      counts.value("total_snapshot_count", 0)));
    }
  }
  Fields f = Fields::object();
  f["repository"] = repo;
  if (const json& e = got.value("exception", json()); e.is_object()) {
    std::string why = e.value("reason", e.dump());
    f["result"] = "stopped: " + why;
    r.not_ready = fmt::format("elasticsearch: the integrity check of "
                              "repository {} stopped part way: {}",
                              repo, why);
  } else {
    const json& res = got.value("results", json::object());
    std::string result = res.value("result", "");
    f["result"] = result;
    f["anomalies"] = res.value("total_anomalies", anomalies.size());
    if (result != "pass") {
      r.not_ready = fmt::format(
          "elasticsearch: repository {} {} its integrity check{}{} (set its "
          "read_only setting while you investigate; Elasticsearch cannot "
          "repair it: restore the repository's contents from a copy)",
          repo, result == "fail" ? "failed" : "was " + result + " in",
          anomalies.empty() ? "" : ": " + join_list(anomalies, "; "),
          unrestorable.empty()
              ? ""
              : "; not every snapshot of " + join_list(unrestorable, ", ") +
                    " can be restored");
    }
  }
  if (!anomalies.empty()) {
    f["anomaly_list"] = anomalies;
  }
  if (!unrestorable.empty()) {
    f["unrestorable_indices"] = unrestorable;
  }
  r.fields["repository_integrity"] = f;
  return {};
}

Expected<StatusResult>
ElasticsearchAdapter::snapshot_status(const std::string& name) {
  std::string repo = SNAP_TRY(repository());
  json info = SNAP_TRY(es::get_snapshot(m_es, repo, name));
  StatusResult r;
  r.fields["snapshot"] = name;
  r.fields["repository"] = repo;
  r.fields["state"] = info.value("state", "");
  // SnapshotState: IN_PROGRESS, SUCCESS, PARTIAL, FAILED, INCOMPATIBLE.
  std::string state = info.value("state", "");
  r.backup = state == "SUCCESS"       ? BackupState::complete
             : state == "IN_PROGRESS" ? BackupState::running
             : state == "PARTIAL"     ? BackupState::partial
                                      : BackupState::failed;
  if (info.value("state", "") != "SUCCESS") {
    r.not_ready = fmt::format("elasticsearch: snapshot {} is {}", name,
                              info.value("state", ""));
  }
  if (info.value("state", "") != "IN_PROGRESS") {
    const json& shards = info.value("shards", json::object());
    r.fields["shards"] = fmt::format(
        "{} successful, {} failed, {} total", shards.value("successful", 0),
        shards.value("failed", 0), shards.value("total", 0));
    if (!info.value("reason", "").empty()) {
      r.fields["reason"] = info.value("reason", "");
    }
    return r;
  }
  json st = SNAP_TRY(
      m_es.call("GET", fmt::format("/_snapshot/{}/{}/_status", url_escape(repo),
                                   url_escape(name))));
  Fields per_shard = Fields::array();
  for (const auto& s : st.value("snapshots", json::array())) {
    const json& stats = s.value("shards_stats", json::object());
    r.fields["shards"] =
        fmt::format("{}/{} done, {} failed", stats.value("done", 0),
                    stats.value("total", 0), stats.value("failed", 0));
    const json indices = s.value("indices", json::object());
    for (const auto& [index, idx] : indices.items()) {
      const json shards = idx.value("shards", json::object());
      for (const auto& [id, shard] : shards.items()) {
        per_shard.push_back({{"index", index},
                             {"shard", id},
                             {"stage", shard.value("stage", "")}});
      }
    }
  }
  r.fields["per_shard"] = per_shard;
  r.terminal = false;
  return r;
}

Expected<ElasticsearchAdapter::RestoreSet>
ElasticsearchAdapter::restore_set(const json& info) {
  RestoreSet set;
  std::map<std::string, std::vector<std::string>> feature_indices;
  for (const auto& f : info.value("feature_states", json::array())) {
    auto& list = feature_indices[f.value("feature_name", "")];
    for (const auto& i : f.value("indices", json::array())) {
      list.push_back(i.get<std::string>());
    }
  }
  std::vector<std::string> wanted_features = split_list(flag("feature-states"));
  std::vector<std::string> held;
  for (const auto& [feature, indices] : feature_indices) {
    held.push_back(feature);
  }
  for (const auto& f : wanted_features) {
    if (f != "none" && !feature_indices.contains(f)) {
      return fail(ErrorKind::usage,
                  fmt::format("--feature-states {}: the snapshot holds no "
                              "such feature state (it holds: {})",
                              f,
                              held.empty() ? "none" : join_list(held, ", ")));
    }
  }
  for (const auto& [feature, indices] : feature_indices) {
    bool take = std::find(wanted_features.begin(), wanted_features.end(),
                          feature) != wanted_features.end() ||
                (wanted_features.empty() && has("include-global-state"));
    if (take) {
      set.features.push_back(feature);
      for (const auto& i : indices) {
        set.targets.push_back(i);
        set.sources.insert(i);
      }
    } else {
      set.left_out.push_back(fmt::format(
          "leave out feature state {} (system indices {}): --feature-states "
          "{} restores it",
          feature, fmt::join(indices, ", "), feature));
    }
    for (const auto& i : indices) {
      set.system.insert(i);
    }
  }
  const std::string patterns = flag("indices");
  std::vector<std::string> streams;
  for (const auto& d : info.value("data_streams", json::array())) {
    streams.push_back(d.get<std::string>());
  }
  // Backing indices are .ds-<stream>-… (and failure-store .fs-<stream>-…).
  auto stream_of = [&](const std::string& index) -> std::string {
    for (const auto& d : streams) {
      if (index.starts_with(".ds-" + d + "-") ||
          index.starts_with(".fs-" + d + "-")) {
        return d;
      }
    }
    return "";
  };
  for (const auto& d : streams) {
    if (es::matches_patterns(d, patterns)) {
      set.request.push_back(d);
      set.streams.push_back(d);
    }
  }
  for (const auto& i : info.value("indices", json::array())) {
    std::string index = i.get<std::string>();
    if (set.system.contains(index)) {
      continue;
    }
    std::string d = stream_of(index);
    bool with_stream =
        !d.empty() && std::find(set.streams.begin(), set.streams.end(), d) !=
                          set.streams.end();
    if (with_stream) {
      set.backing.insert(index);
    } else if (d.empty() && es::matches_patterns(index, patterns)) {
      set.request.push_back(index);
    } else {
      continue;
    }
    set.sources.insert(index);
    set.targets.push_back(SNAP_TRY(es::rename_index(
        index, flag("rename-pattern"), flag("rename-replacement"))));
  }
  return set;
}

Expected<RestoreReport>
ElasticsearchAdapter::restore_snapshot(ArchiveReader& in, bool dry_run) {
  SNAP_TRY(m_es.version());
  json info = SNAP_TRY(in.read_json(k_snapshot_entry));
  json repo_def = SNAP_TRY(in.read_json(k_repository_entry));
  std::string repo = flag("repository");
  if (repo.empty()) {
    repo = repo_def.value("name", "");
  }
  const std::string name = info.value("snapshot", "");
  // A fresh cluster: the repository registered from the archive's own
  // definition, with --repository-setting k=v over its settings (a new
  // client or bucket name); the credentials stay in the keystore.
  std::optional<json> registration;
  if (has("register-repository")) {
    auto have = m_es.call("GET", "/_snapshot/" + url_escape(repo));
    if (!have && have.error().kind != ErrorKind::not_found) {
      return tl::unexpected(have.error());
    }
    if (!have) {
      json settings = repo_def.value("settings", json::object());
      for (const auto& kv : split_list(flag("repository-setting"))) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          return fail(ErrorKind::usage,
                      fmt::format("--repository-setting {}: write it as "
                                  "name=value (bucket=backups-2)",
                                  kv));
        }
        settings[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      registration =
          json{{"type", repo_def.value("type", "")}, {"settings", settings}};
      if (dry_run) {
        return RestoreReport{
            .plan = {fmt::format("PUT /_snapshot/{} {} (register the "
                                 "repository, then verify it)",
                                 repo, registration->dump()),
                     fmt::format("then restore snapshot {} from it as "
                                 "without --register-repository",
                                 name)}};
      }
      SNAP_TRY(m_es.call("PUT", "/_snapshot/" + url_escape(repo), *registration,
                         {.idempotent = false}));
      m_ctx.reporter.note(fmt::format("registered repository {} ({})", repo,
                                      registration->value("type", "")));
    }
  }
  auto live = es::get_snapshot(m_es, repo, name);
  if (!live) {
    if (live.error().kind == ErrorKind::not_found && !registration) {
      return fail(ErrorKind::not_found,
                  fmt::format("{} (this cluster must have the repository "
                              "that holds it registered: a {} repository "
                              "with the settings snap inspect shows; "
                              "--register-repository registers it from the "
                              "archive)",
                              live.error().message,
                              repo_def.value("type", "")));
    }
    return tl::unexpected(live.error());
  }
  std::string state = live->value("state", "");
  if (state != "SUCCESS" && state != "PARTIAL") {
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: snapshot {}:{} is {}; only "
                            "SUCCESS and PARTIAL snapshots can be restored",
                            repo, name, state));
  }
  // As RestoreService reads a request: a data stream is restored by its
  // name (its backing indices come with it, and it is a data stream
  // again), system indices only through their feature state (naming one
  // is refused), everything else by index name.
  RestoreSet set = SNAP_TRY(restore_set(*live));
  if (set.request.empty() && set.features.empty()) {
    return fail(ErrorKind::usage,
                fmt::format("no index or data stream of snapshot {} matches "
                            "--indices '{}'",
                            name, flag("indices")));
  }
  const std::vector<std::string>& chosen = set.request;
  const std::vector<std::string>& targets = set.targets;
  // A PARTIAL snapshot's failed shards (SnapshotInfo.failures): the
  // RestoreService refuses an index with one ("wasn't fully snapshotted")
  // unless partial=true, and then recreates those shards empty.
  std::map<std::string, std::vector<int>> incomplete;
  for (const auto& f : live->value("failures", json::array())) {
    std::string index = f.is_object() ? f.value("index", "") : "";
    if (set.sources.contains(index)) {
      incomplete[index].push_back(f.value("shard_id", -1));
    }
  }
  std::vector<std::string> gaps;
  for (auto& [index, shards] : incomplete) {
    std::sort(shards.begin(), shards.end());
    gaps.push_back(fmt::format("{} (shard{} {})", index,
                               shards.size() == 1 ? "" : "s",
                               fmt::join(shards, ", ")));
  }
  bool partial = has("partial");
  if (!gaps.empty() && !partial) {
    return fail(ErrorKind::conflict,
                fmt::format("elasticsearch: snapshot {} is PARTIAL and these "
                            "indices were not snapshotted whole: {}; add "
                            "--partial to restore what it holds (those "
                            "shards come back empty, exit 3), or leave them "
                            "out with --indices (nothing was changed)",
                            name, join_list(gaps, "; ")));
  }
  auto states = SNAP_TRY(es::index_states(m_es));
  std::vector<std::string> open, closed, live_streams;
  for (const auto& t : targets) {
    if (states.contains(t) && !set.system.contains(t)) {
      (states[t] == "open" ? open : closed).push_back(t);
    }
  }
  if (!set.streams.empty()) {
    json have = SNAP_TRY(m_es.call("GET", "/_data_stream"));
    for (const auto& ds : have.value("data_streams", json::array())) {
      std::string n = ds.value("name", "");
      if (std::find(set.streams.begin(), set.streams.end(), n) !=
          set.streams.end()) {
        live_streams.push_back(n);
      }
    }
    // Their backing indices go with them; they are not closed one by one.
    std::erase_if(
        open, [&](const std::string& i) { return set.backing.contains(i); });
  }
  if ((!open.empty() || !live_streams.empty()) && !has("replace")) {
    std::vector<std::string> what;
    if (!open.empty()) {
      what.push_back(fmt::format("open indices: {}", fmt::join(open, ", ")));
    }
    if (!live_streams.empty()) {
      what.push_back(
          fmt::format("data streams: {}", fmt::join(live_streams, ", ")));
    }
    return fail(ErrorKind::conflict,
                fmt::format("elasticsearch: the restore would overwrite {} "
                            "(add --replace to close open indices and delete "
                            "those data streams first, or restore under other "
                            "names with --rename-pattern/--rename-replacement)",
                            fmt::join(what, "; ")));
  }
  bool renamed = !flag("rename-pattern").empty();
  // "-*": no index, only the feature states asked for.
  json body = {{"indices", chosen.empty()
                               ? std::string("-*")
                               : fmt::format("{}", fmt::join(chosen, ","))},
               {"include_global_state", has("include-global-state")},
               {"include_aliases", has("include-aliases") || !renamed}};
  if (renamed) {
    body["rename_pattern"] = flag("rename-pattern");
    body["rename_replacement"] = flag("rename-replacement");
  }
  SNAP_TRY(add_feature_states(SNAP_TRY(m_es.version()), body));
  if (has("ignore-unavailable")) {
    body["ignore_unavailable"] = true;
  }
  if (partial) {
    body["partial"] = true;
  }
  if (std::string s = flag("index-settings"); !s.empty()) {
    json settings = parse_untrusted_json(s);
    if (!settings.is_object()) {
      return fail(ErrorKind::usage,
                  fmt::format("--index-settings {}: give a JSON object, e.g. "
                              "'{{\"index.number_of_replicas\": 0}}'",
                              s));
    }
    body["index_settings"] = settings;
  }
  if (std::string s = flag("ignore-index-settings"); !s.empty()) {
    body["ignore_index_settings"] = split_list(s);
  }
  if (dry_run) {
    std::vector<std::string> plan;
    for (const auto& d : live_streams) {
      plan.push_back(fmt::format("delete data stream {} (it exists; "
                                 "--replace)",
                                 d));
    }
    for (const auto& i : open) {
      plan.push_back(fmt::format("close index {} (open, would be overwritten; "
                                 "--replace)",
                                 i));
    }
    for (const auto& i : closed) {
      plan.push_back(fmt::format("overwrite closed index {}", i));
    }
    plan.push_back(fmt::format("POST /_snapshot/{}/{}/_restore {}", repo, name,
                               body.dump()));
    plan.push_back(fmt::format("wait until the {} restored indices have "
                               "recovered: {}",
                               targets.size(), fmt::join(targets, ", ")));
    for (const auto& f : set.left_out) {
      plan.push_back(f);
    }
    for (const auto& g : gaps) {
      plan.push_back(fmt::format("restore {} without the shards that failed "
                                 "in the snapshot: they come back empty "
                                 "(--partial; exit 3)",
                                 g));
    }
    return RestoreReport{.plan = std::move(plan)};
  }
  for (const auto& d : live_streams) {
    SNAP_TRY(m_es.call("DELETE", "/_data_stream/" + url_escape(d), json(),
                       {.idempotent = false}));
  }
  for (const auto& batch : es::name_batches(open)) {
    SNAP_TRY(m_es.call("POST", "/" + batch + "/_close"));
  }
  auto started = m_es.call(
      "POST",
      fmt::format("/_snapshot/{}/{}/_restore", url_escape(repo),
                  url_escape(name)),
      body, {.query = "wait_for_completion=false", .idempotent = false});
  if (!started) {
    // Nothing was restored: the indices closed for it open again.
    for (const auto& batch : es::name_batches(open)) {
      auto reopened =
          m_es.call("POST", "/" + batch + "/_open", json(), {.cleanup = true});
      if (!reopened) {
        m_ctx.reporter.warn(fmt::format(
            "elasticsearch: could not open {} again: {} (POST /{}/_open)",
            batch, reopened.error().message, batch));
      }
    }
    return tl::unexpected(started.error());
  }
  SNAP_TRY(es::wait_recovery(m_es, targets, wait_timeout()));
  RestoreReport report{.details = {{"snapshot", name},
                                   {"repository", repo},
                                   {"indices", targets},
                                   {"closed_first", open}}};
  if (!gaps.empty()) {
    Fields left = Fields::object();
    for (const auto& [index, shards] : incomplete) {
      left[index] = shards;
    }
    report.details["left_out_shards"] = left;
    report.verdict =
        Error{ErrorKind::partial,
              fmt::format("elasticsearch: restored what PARTIAL snapshot {} "
                          "holds; left out, and empty now, the shards that "
                          "failed in it: {}",
                          name, join_list(gaps, "; "))};
  }
  return report;
}

} // namespace

const AdapterInfo& elasticsearch_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "elasticsearch",
      .summary = "Elasticsearch: snapshots into a repository, or a logical "
                 "export of indices and documents",
      .caps = {C::save, C::restore, C::download, C::status, C::list, C::remove},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1:9200",
      .flags =
          {{"repository",
            "snapshot repository registered in the cluster",
            true,
            {C::save, C::restore, C::download, C::status, C::list, C::remove}},
           {"include-hidden",
            "save --export: also the hidden indices the pattern matches "
            "(left out and named by default)",
            false,
            {C::save}},
           {"query",
            "save --export: only the documents this query (JSON, the query "
            "DSL) matches, e.g. '{\"term\": {\"status\": \"active\"}}'",
            true,
            {C::save}},
           {"open-closed",
            "save --export: open each closed index the pattern matches for "
            "the export, and close it again (left out and named by "
            "default)",
            false,
            {C::save}},
           {"deep",
            "also check the repository's integrity (_verify_integrity, "
            "8.16+): every snapshot's metadata and shard index; anything but "
            "pass exits 10",
            false,
            {C::status}},
           {"snapshot",
            "name of the new snapshot (default snap-<utc time>)",
            true,
            {C::save}},
           {"indices",
            "indices to include, comma-separated patterns (-x excludes; "
            "default all)",
            true,
            {C::save, C::restore}},
           {"include-global-state",
            "include templates, pipelines, ILM policies and persistent "
            "settings",
            false,
            {C::save, C::restore}},
           {"feature-states",
            "feature states to include, comma-separated (none for none)",
            true,
            {C::save, C::restore}},
           {"ignore-unavailable",
            "leave out --indices that do not exist instead of failing",
            false,
            {C::save, C::restore}},
           {"expand-wildcards",
            "what --indices wildcards match: all, open, closed, hidden, none "
            "(comma-separated; default all)",
            true,
            {C::save}},
           {"index-settings",
            "JSON object of settings to change in each restored index, e.g. "
            "'{\"index.number_of_replicas\": 0}'",
            true,
            {C::restore}},
           {"ignore-index-settings",
            "settings to drop from each restored index, comma-separated "
            "(index.refresh_interval, index.routing.*)",
            true,
            {C::restore}},
           {"parallel",
            "requests at once (1-16; default the cores, at most 4): save "
            "--export reads an index by that many slices (of its point in "
            "time on 7.15+, else of a scroll), restore of an export sends "
            "that many _bulk requests",
            true,
            {C::save, C::restore}},
           {"register-repository",
            "register the archive's repository when the cluster lacks it "
            "(a fresh cluster), then restore",
            false,
            {C::restore}},
           {"repository-setting",
            "with --register-repository: name=value over the archive's "
            "repository settings (repeatable)",
            true,
            {C::restore},
            true},
           {"partial",
            "save: let the snapshot finish PARTIAL when primaries are "
            "missing; restore: restore a PARTIAL snapshot, its failed shards "
            "empty (both exit 3)",
            false,
            {C::save, C::restore}},
           {"export",
            "save a logical export (definitions and documents) instead of a "
            "snapshot",
            false,
            {C::save}},
           {"batch-size",
            "documents per search page and per _bulk request (default 5000)",
            true,
            {C::save, C::restore}},
           {"rename-pattern",
            "regular expression on index names to restore under new names",
            true,
            {C::restore}},
           {"rename-replacement",
            "replacement for --rename-pattern ($1 for groups)",
            true,
            {C::restore}},
           {"include-aliases",
            "restore aliases even with a rename (without a rename they are "
            "restored)",
            false,
            {C::restore}},
           {"replace",
            "close (snapshot) or delete (export) the indices the restore "
            "would overwrite",
            false,
            {C::restore}},
           {"wait-timeout",
            "seconds to wait for the snapshot or the recovery (default 3600)",
            true,
            {C::save, C::restore}}},
      .token_prefix = "ApiKey ",
      .token_file_alias = "api-key-file",
  };
  return info;
}

Expected<Fields> describe_elasticsearch(ArchiveReader& in,
                                        const DescribeOptions& opts) {
  return ElasticsearchAdapter::describe(in, opts.verify);
}

std::unique_ptr<Adapter> make_elasticsearch(AdapterContext ctx) {
  return std::make_unique<ElasticsearchAdapter>(ctx);
}

} // namespace snap::adapters
