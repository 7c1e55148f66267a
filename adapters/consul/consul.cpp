// SPDX-License-Identifier: MIT
// Consul adapter.
//
// Consul keeps all server state (KV, catalog, sessions, prepared queries,
// ACLs, config entries, Connect CA) in Raft, and exposes exactly one snapshot
// resource: GET /v1/snapshot streams a new point-in-time snapshot (a gzip tar
// of meta.json, state.bin and SHA256SUMS) and PUT /v1/snapshot replaces the
// whole state with one. Both calls are synchronous; there is no server-side
// catalogue of snapshots, so list, download, upload and delete do not exist
// here: the archives on disk are the catalogue.
//
// Authentication: the ACL token goes in the X-Consul-Token header (never the
// deprecated ?token= query parameter, which leaks into proxy logs). Both calls
// need a token with acl = "write", in practice a management token.
//
// Consistency: without --stale the request is forwarded to the leader, which
// runs a barrier first; with --stale any server answers from its own state,
// which may be behind (the manifest records X-Consul-KnownLeader and
// X-Consul-LastContact so an operator can judge). A restore must reach the
// leader and never carries ?stale.
//
// Integrity: the status code goes out before the body, so a failure mid-way
// shows only as a truncated stream. Every download is therefore verified the
// way `consul snapshot save` does it (snapshot.cpp) before success is
// reported, and every archive is verified again before a restore is sent.
//
// Not saved: agent-local state (service definitions in agent config files,
// the agent's own tokens), which lives outside Raft.
//
// Docs: https://developer.hashicorp.com/consul/api-docs/snapshot and
// https://developer.hashicorp.com/consul/commands/snapshot
#include "adapters/consul/snapshot.hpp"
#include "adapters/factories.hpp"
#include "snap/json.hpp"

namespace snap::adapters {
namespace {

using nlohmann::json;

constexpr std::string_view k_payload = "payload/consul.snap";
constexpr const char* k_entry = "consul.snap";
constexpr const char* k_media = "application/gzip";

// The archive's consul.snap entry, written as it arrives and checked on
// another core meanwhile (checking means decompressing it whole): the
// verifier is a tap of the entry, so the bytes are copied once for the
// file, the checksums and the check.
class CheckedSnapshot {
public:
  explicit CheckedSnapshot(ArchiveWriter& out) : m_out(out) {}
  // The tap must not go before the entry's threads are done with it.
  ~CheckedSnapshot() { (void)m_out.drain(k_entry); }
  CheckedSnapshot(const CheckedSnapshot&) = delete;
  CheckedSnapshot& operator=(const CheckedSnapshot&) = delete;
  Expected<Sink*> open() {
    return m_out.add_entry(k_entry, k_media, {&m_verifier});
  }
  // The transfer's own failure, else the snapshot's verdict.
  Expected<Expected<ConsulSnapshotMeta>> finish() {
    SNAP_TRY(m_out.drain(k_entry));
    return m_verifier.finish();
  }

private:
  ArchiveWriter& m_out;
  // Manifests keep at most this many KV prefixes.
  ConsulSnapshotVerifier m_verifier{ConsulKvView{.max_prefixes = 1000}};
};

class ConsulAdapter : public Adapter {
public:
  explicit ConsulAdapter(AdapterContext ctx) : m_ctx(ctx) {}

  const AdapterInfo& info() const override { return consul_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    bool stale = m_ctx.flags.contains("stale");
    Request req{.method = "GET", .path = "/v1/snapshot", .query = query(stale)};
    CheckedSnapshot checked(out);
    Sink* entry = SNAP_TRY(checked.open());
    Response resp = SNAP_TRY(m_ctx.http.send(
        req, *entry, [this](std::uint64_t done, std::uint64_t total) {
          m_ctx.reporter.progress("download", done, total);
        }));
    if (!resp.ok()) {
      return tl::unexpected(m_ctx.http.status_error(req, resp, hint(resp)));
    }
    auto meta = SNAP_TRY(checked.finish());
    if (!meta) {
      return fail(ErrorKind::remote,
                  fmt::format("consul: the snapshot from {} failed "
                              "verification: {} (nothing was saved; try again)",
                              m_ctx.http.display_url(req),
                              meta.error().message));
    }
    std::string version = server_version();
    std::uint64_t index = meta->index;
    if (auto h = resp.header("X-Consul-Index"); !h.empty()) {
      index = std::strtoull(h.c_str(), nullptr, 10);
    }
    SaveResult r;
    r.backup_id = std::to_string(index);
    r.kind = "full";
    r.server_version = version;
    r.summary = fmt::format("index {}", index);
    r.source = source_of(*meta, index);
    r.source.update(
        json{{"stale", stale},
             {"known_leader", resp.header("X-Consul-KnownLeader") == "true"},
             {"last_contact_ms",
              std::strtoull(resp.header("X-Consul-LastContact").c_str(),
                            nullptr, 10)}});
    if (auto dc = m_ctx.flags.find("datacenter"); dc != m_ctx.flags.end()) {
      r.source["datacenter"] = dc->second;
    }
    return r;
  }

  // A file of `consul snapshot save` or the snapshot agent: the same
  // checks as a download, then the same manifest fields, from meta.json.
  Expected<SaveResult> import_native(ArchiveWriter& out,
                                     Source& native) override {
    CheckedSnapshot checked(out);
    Sink* entry = SNAP_TRY(checked.open());
    auto total = native.size().value_or(0);
    SNAP_TRY(copy_stream(native, *entry, [&](std::uint64_t done) {
      m_ctx.reporter.progress("import", done, total);
    }));
    auto meta = SNAP_TRY(checked.finish());
    if (!meta) {
      return fail(ErrorKind::archive,
                  fmt::format("consul: the snapshot file is not one consul "
                              "can restore: {} (nothing was written)",
                              meta.error().message));
    }
    SaveResult r;
    r.backup_id = std::to_string(meta->index);
    r.kind = "full";
    r.summary = fmt::format("index {}, imported", meta->index);
    r.source = source_of(*meta, meta->index);
    return r;
  }

  // The manifest's account of a snapshot: meta.json's fields, and what
  // state.bin holds (records by type, KV keys by prefix to depth 2), so
  // that views and diffs of archives need not read the payload again.
  json source_of(const ConsulSnapshotMeta& meta, std::uint64_t index) {
    json source = {{"index", index},
                   {"term", meta.term},
                   {"snapshot_id", meta.id},
                   {"raft_snapshot_version", meta.version},
                   {"state_size", meta.size}};
    if (meta.records) {
      source["records"] = meta.records->to_json();
    } else {
      m_ctx.reporter.warn(fmt::format("consul: the snapshot is whole, but "
                                      "its records could not be counted: {}",
                                      meta.records_error));
    }
    return source;
  }

  static Expected<Fields> describe(ArchiveReader& in,
                                   const DescribeOptions& opts) {
    bool verify = opts.verify;
    ConsulSnapshotVerifier verifier(
        ConsulKvView{.depth = opts.kv_depth, .filter = opts.kv_filter});
    std::optional<ConsulSnapshotMeta> meta;
    if (verify) {
      SNAP_TRY(in.read_entry(k_payload, verifier));
      auto checked = verifier.finish();
      if (!checked) {
        return fail(ErrorKind::archive,
                    fmt::format("{}: {}", in.path().filename().string(),
                                checked.error().message));
      }
      meta = *checked;
    } else {
      // meta.json is the tar's first entry: read only until it is whole.
      auto src = SNAP_TRY(in.open_entry(k_payload));
      std::vector<std::byte> buf(4096);
      std::uint64_t read = 0;
      while (!meta && read < (16u << 20)) {
        std::size_t n = SNAP_TRY(src->read(buf));
        if (n == 0) {
          break;
        }
        SNAP_TRY(verifier.write({buf.data(), n}));
        read += n;
        meta = verifier.peek_meta();
      }
      if (!meta) {
        return fail(ErrorKind::archive,
                    fmt::format("{}: no readable meta.json at the start of "
                                "the Consul snapshot",
                                in.path().filename().string()));
      }
    }
    Fields f = Fields::object();
    f["ID"] = meta->id;
    f["Size"] = meta->size;
    f["Index"] = meta->index;
    f["Term"] = meta->term;
    f["Version"] = meta->version;
    // What state.bin holds, as consul snapshot inspect shows it: read now
    // when verifying, else as the manifest recorded it at save time.
    std::optional<ConsulStateStats> stats = meta->records;
    std::string from = "state.bin, read now";
    if (!verify) {
      stats = ConsulStateStats::from_json(
          in.manifest().source.value("records", nlohmann::json()));
      from = "the manifest, as counted at save time";
    }
    if (stats) {
      f["records_from"] = from;
      f["records"] = table("Type", stats->types, stats->total_size);
      if (opts.kv_details) {
        if (!verify && (opts.kv_depth != 2 || !opts.kv_filter.empty())) {
          return fail(ErrorKind::usage,
                      "consul: the manifest holds the KV breakdown at depth "
                      "2 only; drop --no-verify to read another depth or "
                      "filter from state.bin");
        }
        f["keys"] = table("Key Name", stats->kv, stats->kv_total_size);
      }
    } else if (verify) {
      f["records"] = "could not be read: " + meta->records_error;
    }
    return f;
  }

  // Rows as consul snapshot inspect prints them, with a total.
  static Fields table(const char* what, const std::vector<ConsulTally>& rows,
                      std::uint64_t total) {
    Fields t = Fields::array();
    t.push_back({what, "Count", "Size"});
    for (const auto& r : rows) {
      t.push_back({r.name, r.count, consul_byte_size(r.size)});
    }
    t.push_back({"Total", "", consul_byte_size(total)});
    return t;
  }

  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override {
    const ManifestEntry* payload = in.manifest().entry(k_payload);
    if (payload == nullptr) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: holds no {}", in.path().filename().string(),
                              k_payload));
    }
    std::string leader = SNAP_TRY(fetch_leader());
    Request req{.method = "PUT",
                .path = "/v1/snapshot",
                .query = query(false),
                .content_type = "application/octet-stream"};
    if (dry_run) {
      std::vector<std::string> plan;
      plan.push_back(fmt::format("check the leader: {}",
                                 leader.empty() ? "none" : leader));
      plan.push_back(fmt::format("PUT {} with {} ({} bytes, index {})",
                                 m_ctx.http.display_url(req), k_payload,
                                 payload->size, in.manifest().backup_id));
      plan.push_back("Consul replaces its whole state (KV, catalog, sessions, "
                     "ACL tokens, config entries) with the snapshot's");
      return RestoreReport{.plan = std::move(plan)};
    }
    if (leader.empty()) {
      return fail(ErrorKind::remote,
                  fmt::format("consul: {} reports no cluster leader; a "
                              "restore must reach the leader (wait for an "
                              "election, then retry)",
                              m_ctx.http.config().base_url));
    }
    auto body = SNAP_TRY(in.open_entry(k_payload));
    req.body = body.get();
    MemorySink ignored(1 << 20);
    Response resp = SNAP_TRY(m_ctx.http.send(
        req, ignored, [this](std::uint64_t done, std::uint64_t total) {
          m_ctx.reporter.progress("upload", done, total);
        }));
    if (!resp.ok()) {
      return tl::unexpected(m_ctx.http.status_error(req, resp, hint(resp)));
    }
    return RestoreReport{
        .details = {{"leader", leader}, {"bytes", payload->size}}};
  }

  Expected<StatusResult> status(const std::string& /*id*/) override {
    std::string leader = SNAP_TRY(fetch_leader());
    Request req{
        .method = "GET", .path = "/v1/catalog/nodes", .query = query(true)};
    std::string body;
    Response resp = SNAP_TRY(m_ctx.http.send_small(req, body, 16 << 20));
    if (!resp.ok()) {
      return tl::unexpected(m_ctx.http.status_error(req, resp, hint(resp)));
    }
    StatusResult r;
    r.fields["leader"] = leader.empty() ? "none" : leader;
    r.fields["known_leader"] = resp.header("X-Consul-KnownLeader") == "true";
    r.fields["last_contact_ms"] =
        std::strtoull(resp.header("X-Consul-LastContact").c_str(), nullptr, 10);
    r.fields["index"] =
        std::strtoull(resp.header("X-Consul-Index").c_str(), nullptr, 10);
    if (leader.empty()) {
      r.not_ready = "consul: the cluster has no leader, so a snapshot would "
                    "not be consistent (save --stale takes one anyway)";
    }
    return r;
  }

private:
  std::string query(bool stale) const {
    std::string q;
    if (auto dc = m_ctx.flags.find("datacenter"); dc != m_ctx.flags.end()) {
      q = "dc=" + url_escape(dc->second);
    }
    if (stale) {
      q += q.empty() ? "stale" : "&stale";
    }
    return q;
  }

  static std::string hint(const Response& resp) {
    if (resp.status == 403 || resp.status == 401) {
      return "check the token: it needs acl = \"write\"; pass --token-file or "
             "set CONSUL_HTTP_TOKEN_FILE";
    }
    if (resp.error_body.find("No cluster leader") != std::string::npos) {
      return "the cluster has no leader; save --stale takes a snapshot from "
             "any server";
    }
    if (resp.status == 429 || resp.status >= 500) {
      return "the server failed; see its log, then try again";
    }
    return "";
  }

  Expected<std::string> fetch_leader() {
    Request req{
        .method = "GET", .path = "/v1/status/leader", .query = query(false)};
    std::string body;
    Response resp = SNAP_TRY(m_ctx.http.send_small(req, body, 64 * 1024));
    if (!resp.ok()) {
      return tl::unexpected(m_ctx.http.status_error(req, resp, hint(resp)));
    }
    try {
      return parse_untrusted_json(body).get<std::string>();
    } catch (const nlohmann::json::exception&) {
      return fail(ErrorKind::remote,
                  fmt::format("consul: {} answered something that is not a "
                              "leader address (is --addr a Consul agent?)",
                              m_ctx.http.display_url(req)));
    }
  }

  // The agent's version for the manifest; best effort, since it needs the
  // agent:read permission that a snapshot token may lack.
  std::string server_version() {
    Request req{.method = "GET", .path = "/v1/agent/self"};
    std::string body;
    auto resp = m_ctx.http.send_small(req, body, 4 << 20);
    if (!resp || !resp->ok()) {
      return "";
    }
    try {
      auto j = parse_untrusted_json(body);
      return j.at("Config").at("Version").get<std::string>();
    } catch (const nlohmann::json::exception&) {
      return "";
    }
  }

  AdapterContext m_ctx;
};

} // namespace

const AdapterInfo& consul_info() {
  static const AdapterInfo info{
      .name = "consul",
      .summary = "HashiCorp Consul: Raft snapshots through /v1/snapshot",
      .caps = {Capability::save, Capability::restore, Capability::status,
               Capability::import_native},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1:8500",
      .flags = {{"stale",
                 "let any server answer, even without a leader (the snapshot "
                 "may be slightly behind)",
                 false,
                 {Capability::save}},
                {"datacenter",
                 "datacenter to talk to (default: the agent's own)",
                 true,
                 {Capability::save, Capability::restore, Capability::status}}},
      .native_env = {{"addr", "CONSUL_HTTP_ADDR"},
                     {"token", "CONSUL_HTTP_TOKEN"},
                     {"token_file", "CONSUL_HTTP_TOKEN_FILE"},
                     {"http_auth", "CONSUL_HTTP_AUTH"},
                     {"ssl", "CONSUL_HTTP_SSL"},
                     {"ssl_verify", "CONSUL_HTTP_SSL_VERIFY"},
                     {"ca_file", "CONSUL_CACERT"},
                     {"cert_file", "CONSUL_CLIENT_CERT"},
                     {"key_file", "CONSUL_CLIENT_KEY"},
                     {"ca_path", "CONSUL_CAPATH"},
                     {"tls_server_name", "CONSUL_TLS_SERVER_NAME"}},
      .token_header = "X-Consul-Token",
      .token_prefix = "",
      .native_entry = "consul.snap",
  };
  return info;
}

Expected<Fields> describe_consul(ArchiveReader& in,
                                 const DescribeOptions& opts) {
  return ConsulAdapter::describe(in, opts);
}

std::unique_ptr<Adapter> make_consul(AdapterContext ctx) {
  return std::make_unique<ConsulAdapter>(ctx);
}

} // namespace snap::adapters
