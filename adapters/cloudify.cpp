// SPDX-License-Identifier: MIT
// Cloudify Manager adapter.
//
// Cloudify Manager keeps snapshots as its own resources: PUT
// /api/v3.1/snapshots/<id> starts the create_snapshot system workflow and
// answers 201 with its Execution; the workflow writes a zip (metadata.json at
// its root, snapshot_version inside) into the manager's file server, which
// GET /snapshots/<id>/archive streams. Restore is POST
// /snapshots/<id>/restore, answered 200 with the restore_snapshot Execution.
// Both are asynchronous: executions are polled until terminated, failed or
// cancelled. Upload (PUT …/archive), download, list and delete are plain
// calls. API v3.1 (managers 5.x to 7.x); every call carries the Tenant
// header.
//
// Authentication: basic auth (--user, --password-file, CLOUDIFY_USERNAME,
// CLOUDIFY_PASSWORD) or a token in the Authentication-Token header
// (--token-file, CLOUDIFY_TOKEN). Errors come as JSON {message, error_code}.
//
// Restore runs in maintenance mode, as the manager's documentation asks:
// activate, wait for `activated`, restore with X-BYPASS-MAINTENANCE on every
// call, follow the execution and the unauthenticated /snapshot-status
// through the window where the manager's services restart (connection
// errors, 5xx and 401 are expected there and waited out), then deactivate on
// every way out, SIGINT included, unless --keep-maintenance.
//
// Not saved: nothing is left out by snap; what the manager puts in its
// snapshot is what the archive holds (legacy format up to 6.x, the new
// format from 7.0). The archive holds secrets (keys, credentials): keep it
// as safe as the manager.
//
// Docs: https://docs.cloudify.co/latest/cli/maint_cli/snapshots/ and the
// REST reference at
// https://docs.cloudify.co/latest/developer/apis/rest-service/
#include "adapters/factories.hpp"
#include "snap/json.hpp"
#include "snap/options.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

#include <functional>

namespace snap::adapters {
namespace {

using nlohmann::json;

constexpr std::string_view k_api = "/api/v3.1";
constexpr std::string_view k_payload_name = "cloudify.zip";
constexpr std::string_view k_payload = "payload/cloudify.zip";

bool is_legacy(const json& metadata) {
  return metadata.contains("schema_revision") &&
         metadata.contains("stage_schema_revision") &&
         metadata.contains("composer_schema_revision");
}

struct CallOptions {
  std::string query;
  bool idempotent = true;
  bool bypass = false; // X-BYPASS-MAINTENANCE
  bool cleanup = false;
  std::vector<long> ok = {200, 201};
};

class CloudifyAdapter : public Adapter {
public:
  explicit CloudifyAdapter(AdapterContext ctx) : m_ctx(ctx) {}

  const AdapterInfo& info() const override { return cloudify_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    std::string id = flag("snapshot-id");
    if (id.empty()) {
      id = "snap-" + rfc3339_to_compact(utc_now_rfc3339());
    }
    json body = json::object();
    for (std::string_view name :
         {"include-credentials", "include-logs", "include-events"}) {
      std::string v = flag(name);
      if (!v.empty()) {
        std::string key(name);
        std::replace(key.begin(), key.end(), '-', '_');
        body[key] = is_truthy(v);
      }
    }
    json exec = SNAP_TRY(call("PUT", "/snapshots/" + url_escape(id), body,
                              {.idempotent = false}));
    m_ctx.reporter.note(fmt::format("snapshot {}: execution {} started", id,
                                    exec.value("id", "")));
    SNAP_TRY(wait_execution(exec, false));
    json snapshot = SNAP_TRY(call("GET", "/snapshots/" + url_escape(id)));
    if (snapshot.value("status", "") != "created") {
      return fail(ErrorKind::remote,
                  fmt::format("cloudify: snapshot {} ended as '{}': {}", id,
                              snapshot.value("status", ""),
                              snapshot.value("error", "")));
    }
    return fetch(snapshot, out, exec.value("id", ""));
  }

  Expected<SaveResult> download(const std::string& id,
                                ArchiveWriter& out) override {
    json snapshot = SNAP_TRY(call("GET", "/snapshots/" + url_escape(id)));
    std::string status = snapshot.value("status", "");
    if (status != "created" && status != "uploaded") {
      return fail(ErrorKind::remote,
                  fmt::format("cloudify: snapshot {} is '{}', not created or "
                              "uploaded; there is nothing whole to download",
                              id, status));
    }
    return fetch(snapshot, out, "");
  }

  Expected<Fields> describe(ArchiveReader& in, bool) override {
    std::string text = SNAP_TRY(in.read_zip_member(k_payload, "metadata.json"));
    json meta = parse_untrusted_json(text);
    if (!meta.is_object()) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: metadata.json of the Cloudify snapshot is "
                              "not JSON",
                              in.path().filename().string()));
    }
    Fields f = Fields::object();
    f["snapshot_version"] = meta.value("snapshot_version", "unknown");
    f["format"] = is_legacy(meta) ? "legacy" : "new";
    if (meta.contains("execution_id")) {
      f["execution_id"] = meta["execution_id"];
    }
    return f;
  }

  Expected<Fields> list() override {
    json page = SNAP_TRY(
        call("GET", "/snapshots", json(), {.query = "_sort=-created_at"}));
    Fields out = Fields::array();
    for (const auto& s : page.value("items", json::array())) {
      Fields row = Fields::object();
      row["id"] = s.value("id", "");
      row["status"] = s.value("status", "");
      row["created_at"] = s.value("created_at", "");
      if (!s.value("error", "").empty()) {
        row["error"] = s.value("error", "");
      }
      out.push_back(row);
    }
    return out;
  }

  Expected<StatusResult> status(const std::string& id) override {
    StatusResult r;
    json restore = SNAP_TRY(call("GET", "/snapshot-status"));
    r.fields["restore"] = restore.value("status", "unknown");
    json maintenance = SNAP_TRY(call("GET", "/maintenance"));
    r.fields["maintenance"] = maintenance.value("status", "unknown");
    bool running = r.fields["restore"] == "running";
    if (!id.empty()) {
      json snapshot = SNAP_TRY(call("GET", "/snapshots/" + url_escape(id)));
      r.fields["snapshot"] = snapshot.value("id", id);
      r.fields["snapshot_status"] = snapshot.value("status", "");
      running |= r.fields["snapshot_status"] == "creating";
    }
    json execs = SNAP_TRY(
        call("GET", "/executions", json(),
             {.query = "_include_system_workflows=true&_sort=-created_at"}));
    Fields recent = Fields::array();
    for (const auto& e : execs.value("items", json::array())) {
      std::string wf = e.value("workflow_id", "");
      if ((wf != "create_snapshot" && wf != "restore_snapshot") ||
          recent.size() >= 5) {
        continue;
      }
      recent.push_back({{"id", e.value("id", "")},
                        {"workflow", wf},
                        {"snapshot", e["parameters"].value("snapshot_id", "")},
                        {"status", e.value("status", "")},
                        {"created_at", e.value("created_at", "")}});
      std::string st = e.value("status", "");
      running |= st == "pending" || st == "started" || st == "queued";
    }
    r.fields["executions"] = recent;
    r.terminal = !running;
    return r;
  }

  Expected<Fields> remove(const std::string& id) override {
    json s = SNAP_TRY(call("DELETE", "/snapshots/" + url_escape(id), json(),
                           {.idempotent = false}));
    return Fields{{"id", s.value("id", id)}};
  }

  Expected<Fields> upload(ArchiveReader& in, const std::string& id) override {
    SNAP_TRY(push_archive(in, id));
    return Fields{{"id", id}};
  }

  Expected<Fields> restore(ArchiveReader& in, bool dry_run) override;

private:
  std::string flag(std::string_view name) const {
    return flag_value(m_ctx.flags, name);
  }

  Request request(std::string method, const std::string& path,
                  const CallOptions& o) const {
    Request req{.method = std::move(method),
                .path =
                    path == "/api/version" ? path : std::string(k_api) + path,
                .query = o.query,
                .idempotent = o.idempotent,
                .cleanup = o.cleanup};
    std::string tenant = flag("tenant");
    req.headers.emplace_back("Tenant",
                             tenant.empty() ? "default_tenant" : tenant);
    if (o.bypass) {
      req.headers.emplace_back("X-BYPASS-MAINTENANCE", "true");
    }
    return req;
  }

  // The error for a non-2xx answer, with the manager's own message.
  Error answer_error(const Request& req, Response resp) const {
    json body = parse_untrusted_json(resp.error_body);
    if (body.is_object() && body.contains("message")) {
      resp.error_body = fmt::format("{} ({})", body.value("message", ""),
                                    body.value("error_code", ""));
    }
    std::string hint;
    if (resp.status == 401) {
      hint = "check --user/--password-file or --token-file";
    } else if (resp.status == 403) {
      hint = "check --tenant and the user's role";
    } else if (resp.status == 503) {
      hint = "the manager is in maintenance mode; snap status cloudify";
    }
    return m_ctx.http.status_error(req, resp, hint);
  }

  // Sends a JSON call and parses the JSON answer (an empty or 304 answer is
  // an empty object).
  Expected<json> call(std::string method, const std::string& path,
                      const json& body = json(), CallOptions o = {}) {
    Request req = request(std::move(method), path, o);
    std::optional<MemorySource> src;
    if (!body.is_null()) {
      src.emplace(body.dump());
      req.body = &*src;
      req.content_type = "application/json";
    }
    std::string text;
    Response resp = SNAP_TRY(m_ctx.http.send_small(req, text, 64 << 20));
    if (resp.status == 304) {
      return json::object();
    }
    if (std::find(o.ok.begin(), o.ok.end(), resp.status) == o.ok.end()) {
      return tl::unexpected(answer_error(req, resp));
    }
    if (text.empty()) {
      return json::object();
    }
    return parse_json_answer(m_ctx.http, req, text, "cloudify",
                             "is --addr a Cloudify manager?");
  }

  double wait_timeout() const {
    return seconds_flag(m_ctx.flags, "wait-timeout", 3600.0);
  }

  // During a restore the manager restarts: transport errors, 5xx and 401
  // are waited out there.
  bool restarting(const Error& e, bool restoring) const {
    return restoring &&
           (e.kind == ErrorKind::connect || e.kind == ErrorKind::remote ||
            (e.kind == ErrorKind::auth &&
             e.message.find(" 401 ") != std::string::npos));
  }

  // Polls an execution until it ends, up to --wait-timeout.
  Expected<json> wait_execution(json exec, bool restoring) {
    const std::string id = exec.value("id", "");
    bool first = true;
    auto step = [&]() -> Expected<bool> {
      if (!first) {
        auto next = call("GET", "/executions/" + url_escape(id), json(),
                         {.bypass = restoring});
        if (!next) {
          if (!restarting(next.error(), restoring)) {
            return tl::unexpected(next.error());
          }
          m_ctx.reporter.note("the manager is restarting; waiting");
          return false;
        }
        exec = *next;
        m_ctx.reporter.note(
            fmt::format("execution {}: {}", id, exec.value("status", "")));
      }
      first = false;
      std::string status = exec.value("status", "");
      if (status == "failed" || status == "cancelled") {
        return fail(ErrorKind::remote,
                    fmt::format("cloudify: {} execution {} {}: {}",
                                exec.value("workflow_id", "workflow"), id,
                                status, exec.value("error", "no error text")));
      }
      return status == "terminated";
    };
    SNAP_TRY(poll_until(wait_timeout(), step, [&] {
      return fmt::format("cloudify: execution {} is still '{}' after {:.0f} s "
                         "(raise --wait-timeout; the workflow goes on on the "
                         "manager)",
                         id, exec.value("status", ""), wait_timeout());
    }));
    return exec;
  }

  Expected<SaveResult> fetch(const json& snapshot, ArchiveWriter& out,
                             const std::string& exec_id) {
    std::string id = snapshot.value("id", "");
    Request req =
        request("GET", "/snapshots/" + url_escape(id) + "/archive", {});
    Sink* entry = SNAP_TRY(out.add_entry(k_payload_name, "application/zip"));
    Response resp = SNAP_TRY(m_ctx.http.send(
        req, *entry, [this](std::uint64_t done, std::uint64_t total) {
          m_ctx.reporter.progress("download", done, total);
        }));
    if (!resp.ok()) {
      return tl::unexpected(answer_error(req, resp));
    }
    auto text = out.read_zip_member(k_payload_name, "metadata.json");
    if (!text) {
      return fail(ErrorKind::remote,
                  fmt::format("cloudify: the archive of snapshot {} failed "
                              "verification: {} (nothing was saved)",
                              id, text.error().message));
    }
    json meta = parse_untrusted_json(*text);
    SaveResult r;
    r.backup_id = id;
    r.kind = "full";
    r.summary = fmt::format("snapshot {}, version {}", id,
                            meta.value("snapshot_version", "unknown"));
    r.source = {
        {"snapshot_id", id},
        {"snapshot_status", snapshot.value("status", "")},
        {"snapshot_created_at", snapshot.value("created_at", "")},
        {"snapshot_version", meta.value("snapshot_version", "")},
        {"format", is_legacy(meta) ? "legacy" : "new"},
        {"tenant", flag("tenant").empty() ? "default_tenant" : flag("tenant")}};
    if (!exec_id.empty()) {
      r.source["execution_id"] = exec_id;
    }
    if (auto v = call("GET", "/api/version")) {
      r.server_version = v->value("version", "");
    }
    return r;
  }

  Expected<void> push_archive(ArchiveReader& in, const std::string& id) {
    Request req =
        request("PUT", "/snapshots/" + url_escape(id) + "/archive", {});
    auto body = SNAP_TRY(in.open_entry(k_payload));
    req.body = body.get();
    req.content_type = "application/octet-stream";
    MemorySink answer(1 << 20);
    Response resp = SNAP_TRY(m_ctx.http.send(
        req, answer, [this](std::uint64_t done, std::uint64_t total) {
          m_ctx.reporter.progress("upload", done, total);
        }));
    if (resp.status != 201 && resp.status != 200) {
      return tl::unexpected(answer_error(req, resp));
    }
    return {};
  }

  Expected<void> wait_maintenance() {
    return poll_until(
        600,
        [&]() -> Expected<bool> {
          json m = SNAP_TRY(call("GET", "/maintenance"));
          return m.value("status", "") == "activated";
        },
        [] {
          return "cloudify: maintenance mode is still activating after 600 s: "
                 "executions are still running (see snap status cloudify)";
        });
  }

  AdapterContext m_ctx;
};

Expected<Fields> CloudifyAdapter::restore(ArchiveReader& in, bool dry_run) {
  const std::string id = in.manifest().backup_id;
  auto existing = call("GET", "/snapshots/" + url_escape(id));
  if (!existing && existing.error().kind != ErrorKind::not_found) {
    return tl::unexpected(existing.error());
  }
  if (!flag("no-reboot").empty() && flag("restore-certificates").empty()) {
    return fail(ErrorKind::usage, "cloudify: --no-reboot applies only with "
                                  "--restore-certificates (add it, or drop "
                                  "--no-reboot)");
  }
  bool keep = !flag("keep-maintenance").empty();
  json body = {{"force", !flag("force").empty()},
               {"restore_certificates", !flag("restore-certificates").empty()},
               {"no_reboot", !flag("no-reboot").empty()},
               {"recreate_deployments_envs", false}};
  if (dry_run) {
    Fields plan = Fields::array();
    plan.push_back(
        existing ? fmt::format("use snapshot {} already on the "
                               "manager",
                               id)
                 : fmt::format("upload {} as snapshot {}", k_payload, id));
    plan.push_back("activate maintenance mode and wait until it is "
                   "'activated'");
    plan.push_back(
        fmt::format("POST {}/snapshots/{}/restore {}", k_api, id, body.dump()));
    plan.push_back("follow the restore execution and /snapshot-status until "
                   "the manager is back");
    plan.push_back(keep ? "leave maintenance mode on (--keep-maintenance)"
                        : "deactivate maintenance mode");
    return Fields{{"plan", plan}};
  }
  if (!existing) {
    SNAP_TRY(push_archive(in, id));
  }
  SNAP_TRY(call("POST", "/maintenance/activate", json(), {.ok = {200}}));
  // From here on, maintenance mode is undone on every way out.
  struct Deactivate {
    CloudifyAdapter* self;
    bool keep;
    ~Deactivate() {
      if (keep) {
        return;
      }
      auto r = self->call("POST", "/maintenance/deactivate", json(),
                          {.bypass = true, .cleanup = true, .ok = {200}});
      if (!r) {
        self->m_ctx.reporter.note(
            fmt::format("could not leave maintenance mode: {} (run: curl -X "
                        "POST …/api/v3.1/maintenance/deactivate)",
                        r.error().message));
      }
    }
  } deactivate{this, keep};
  SNAP_TRY(wait_maintenance());
  json exec = SNAP_TRY(call("POST", "/snapshots/" + url_escape(id) + "/restore",
                            body, {.idempotent = false, .bypass = true}));
  exec = SNAP_TRY(wait_execution(exec, true));
  // The flag file goes away when the manager has finished restarting.
  SNAP_TRY(poll_until(
      wait_timeout(),
      [&]() -> Expected<bool> {
        auto st = call("GET", "/snapshot-status", json(), {.bypass = true});
        if (!st && !restarting(st.error(), true)) {
          return tl::unexpected(st.error());
        }
        return st && st->value("status", "") == "not-running";
      },
      [&] {
        return fmt::format("cloudify: the manager still reports a restore "
                           "running after {:.0f} s (raise --wait-timeout; "
                           "see snap status cloudify)",
                           wait_timeout());
      }));
  return Fields{{"snapshot", id},
                {"execution", exec.value("id", "")},
                {"maintenance", keep ? "kept on" : "deactivated"}};
}

} // namespace

const AdapterInfo& cloudify_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "cloudify",
      .summary = "Cloudify Manager: snapshots created, fetched, uploaded and "
                 "restored",
      .caps = {C::save, C::restore, C::download, C::upload, C::status, C::list,
               C::remove},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1",
      .flags = {{"tenant",
                 "tenant, sent as the Tenant header (default "
                 "default_tenant)",
                 true,
                 {C::save, C::restore, C::download, C::upload, C::status,
                  C::list, C::remove}},
                {"snapshot-id",
                 "id of the new snapshot (default snap-<UTC time>)",
                 true,
                 {C::save}},
                {"include-credentials",
                 "true|false (manager default: true)",
                 true,
                 {C::save}},
                {"include-logs",
                 "true|false (manager default: true)",
                 true,
                 {C::save}},
                {"include-events",
                 "true|false (manager default: true)",
                 true,
                 {C::save}},
                {"wait-timeout",
                 "seconds to wait for the workflow (default 3600)",
                 true,
                 {C::save, C::restore}},
                {"force",
                 "restore over a manager that is not empty",
                 false,
                 {C::restore}},
                {"restore-certificates",
                 "restore the manager's certificates too",
                 false,
                 {C::restore}},
                {"no-reboot",
                 "with --restore-certificates: do not reboot the manager",
                 false,
                 {C::restore}},
                {"keep-maintenance",
                 "leave maintenance mode on afterwards",
                 false,
                 {C::restore}}},
      .native_env = {{"user", "CLOUDIFY_USERNAME"},
                     {"password", "CLOUDIFY_PASSWORD"},
                     {"token", "CLOUDIFY_TOKEN"},
                     {"tenant", "CLOUDIFY_TENANT"},
                     {"trust_all", "CLOUDIFY_SSL_TRUST_ALL"},
                     {"ca_file", "LOCAL_REST_CERT_FILE"}},
      .token_header = "Authentication-Token",
      .token_prefix = "",
  };
  return info;
}

std::unique_ptr<Adapter> make_cloudify(AdapterContext ctx) {
  return std::make_unique<CloudifyAdapter>(ctx);
}

} // namespace snap::adapters
