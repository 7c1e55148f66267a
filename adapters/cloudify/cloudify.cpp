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
#include "adapters/remote_file.hpp"
#include "snap/json.hpp"
#include "snap/options.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

#include <functional>
#include <random>

namespace snap::adapters {
namespace {

using nlohmann::json;

// The string at `key` of a manager's answer, or "" when the answer is no
// object or the field is missing or no string.
std::string text_of(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string()
             ? o[key].get<std::string>()
             : std::string();
}

constexpr std::string_view k_api = "/api/v3.1";
constexpr std::string_view k_payload_name = "cloudify.zip";
constexpr std::string_view k_payload = "payload/cloudify.zip";
constexpr int k_page_size = 1000; // rest-service's default_page_size

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
    SNAP_TRY(create_options(body));
    // A manager entering maintenance mode refuses new snapshots (503
    // entering_maintenance_mode): say so before anything is created. In
    // maintenance mode snapshots are served, executions are not; the
    // snapshot itself is followed, so a save works there too.
    std::string maintenance = SNAP_TRY(maintenance_status());
    if (maintenance == "activating") {
      return fail(ErrorKind::conflict,
                  "cloudify: the manager is entering maintenance mode and "
                  "takes no new snapshot until it is activated; nothing was "
                  "created (try again once snap status cloudify shows "
                  "maintenance activated or deactivated)");
    }
    json exec = SNAP_TRY(call("PUT", "/snapshots/" + url_escape(id), body,
                              {.idempotent = false}));
    m_ctx.reporter.note(fmt::format("snapshot {}: execution {} started", id,
                                    exec.value("id", "")));
    json snapshot = SNAP_TRY(wait_created(id, exec.value("id", "")));
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

  static Expected<Fields> describe(ArchiveReader& in, bool verify) {
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
    if (verify) {
      // Every member read through, so each one's CRC-32 is checked.
      ZipSummary z = SNAP_TRY(in.check_zip(k_payload));
      f["members"] = z.members;
      f["data_bytes"] = z.bytes;
    }
    return f;
  }

  Expected<ListResult> list() override {
    ListResult out;
    // cfy snapshots list's --sort-by/--descending, --search and
    // --all-tenants, as the rest-service's list decorators take them.
    std::string sort = flag("sort").empty() ? "-created_at" : flag("sort");
    std::string filters = "_sort=" + url_escape(sort);
    if (std::string search = flag("search"); !search.empty()) {
      filters += "&_search=" + url_escape(search);
    }
    bool all_tenants = !flag("all-tenants").empty();
    if (all_tenants) {
      filters += "&_all_tenants=true";
    }
    for (const auto& s : SNAP_TRY(all_items("/snapshots", filters))) {
      Fields row = Fields::object();
      row["status"] = s.value("status", "");
      row["created_at"] = s.value("created_at", "");
      if (all_tenants) {
        row["tenant"] = s.value("tenant_name", "");
      }
      if (!s.value("error", "").empty()) {
        row["error"] = s.value("error", "");
      }
      out.push_back({s.value("id", ""), std::move(row)});
    }
    return out;
  }

  Expected<StatusResult> status(const std::string& id) override {
    StatusResult r = SNAP_TRY(status_fields(id));
    // What keeps a save from working now, or the snapshot asked about
    // from being whole.
    std::string restore = r.fields.value("restore", "");
    std::string maintenance = r.fields.value("maintenance", "");
    std::string snapshot = r.fields.value("snapshot_status", "");
    if (restore != "not-running") {
      r.not_ready = "cloudify: a restore is running on the manager";
    } else if (maintenance == "activating") {
      r.not_ready = "cloudify: the manager is entering maintenance mode and "
                    "takes no new snapshot";
    } else if (!id.empty() && snapshot != "created" && snapshot != "uploaded") {
      r.not_ready = fmt::format("cloudify: snapshot {} is '{}'", id, snapshot);
    }
    return r;
  }

  Expected<StatusResult> status_fields(const std::string& id) {
    StatusResult r;
    // /snapshot-status needs no login and answers all through a restore;
    // the rest may be refused then (the manager restarts, or its users
    // are being replaced), and maintenance mode hides executions from
    // users who may not bypass it. Each is said, not failed on.
    auto restore = call("GET", "/snapshot-status");
    if (!restore && (restore.error().kind != ErrorKind::remote ||
                     is_not_json_answer(restore.error()))) {
      // Down (exit 4), or not a manager at all: a restarting manager's
      // proxy answers 502/503, never a 200 that is not JSON.
      return tl::unexpected(restore.error());
    }
    std::string restore_state =
        restore ? restore->value("status", "unknown")
                : std::string("unknown: the manager is restarting");
    r.fields["restore"] = restore_state;
    bool running = restore_state != "not-running";
    auto maintenance = call("GET", "/maintenance", json(), {.bypass = true});
    if (!maintenance && !restarting(maintenance.error(), running)) {
      return tl::unexpected(maintenance.error());
    }
    r.fields["maintenance"] =
        maintenance ? maintenance->value("status", "unknown")
                    : std::string("unknown: the manager is restarting");
    if (!maintenance) {
      r.terminal = false;
      return r;
    }
    if (!id.empty()) {
      json snapshot = SNAP_TRY(call("GET", "/snapshots/" + url_escape(id),
                                    json(), {.bypass = true}));
      r.fields["snapshot"] = snapshot.value("id", id);
      // The snapshot's status (cloudify-rest-docs _snapshots.md: created,
      // failed, uploading, uploaded; cfy says creating while it is taken).
      std::string state = snapshot.value("status", "");
      r.fields["snapshot_status"] = state;
      bool busy = state == "creating" || state == "uploading";
      running |= busy;
      r.backup = state == "created" || state == "uploaded"
                     ? BackupState::complete
                 : busy ? BackupState::running
                        : BackupState::failed;
    }
    auto execs =
        call("GET", "/executions", json(),
             {.query = "_include_system_workflows=true&_sort=-created_at",
              .bypass = true});
    if (!execs) {
      if (execs.error().message.find(" 503 ") == std::string::npos) {
        return tl::unexpected(execs.error());
      }
      r.fields["executions"] = "not shown in maintenance mode to a user "
                               "who may not bypass it";
      r.terminal = !running;
      return r;
    }
    Fields recent = Fields::array();
    for (const auto& e : execs->value("items", json::array())) {
      std::string wf = e.value("workflow_id", "");
      if ((wf != "create_snapshot" && wf != "restore_snapshot") ||
          recent.size() >= 5) {
        continue;
      }
      json params = e.value("parameters", json::object());
      recent.push_back(
          {{"id", e.value("id", "")},
           {"workflow", wf},
           {"snapshot", params.is_object() ? params.value("snapshot_id", "")
                                           : std::string()},
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

  // A save's snapshot stays on the manager after it is downloaded.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    return fmt::format("snapshot {} on the manager", m.backup_id);
  }

  Expected<Fields> upload(ArchiveReader& in, const std::string& id) override {
    SNAP_TRY(push_archive(in, id));
    return Fields{{"id", id}};
  }

  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override;

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

  // A refused answer's body as the manager's own message.
  static std::string error_text(const std::string& text) {
    json body = parse_untrusted_json(text);
    if (body.is_object() && body.contains("message")) {
      return fmt::format("{} ({})", body.value("message", ""),
                         body.value("error_code", ""));
    }
    return text;
  }
  static std::string hint_for(long status) {
    if (status == 401) {
      return "check --user/--password-file or --token-file";
    }
    if (status == 403) {
      return "check --tenant and the user's role";
    }
    if (status == 503) {
      return "the manager is in maintenance mode; snap status cloudify";
    }
    return {};
  }
  // The error for a non-2xx answer, with the manager's own message.
  Error answer_error(const Request& req, Response resp) const {
    resp.error_body = error_text(resp.error_body);
    return m_ctx.http.status_error(req, resp, hint_for(resp.status));
  }

  // Sends a JSON call and parses the JSON answer (an empty or 304 answer is
  // an empty object).
  Expected<json> call(std::string method, const std::string& path,
                      const json& body = json(), CallOptions o = {}) {
    JsonCall call{.request = request(std::move(method), path, o),
                  .ok = o.ok,
                  .max_bytes = 64 << 20,
                  .who = "cloudify",
                  .not_json_hint = "is --addr a Cloudify manager?"};
    // A 304 (nothing changed) is an empty answer.
    call.ok.push_back(304);
    if (!body.is_null()) {
      call.body = body.dump();
      call.has_body = true;
    }
    call.error_text = error_text;
    call.hint = [](const Response& resp, const std::string&) {
      return hint_for(resp.status);
    };
    JsonAnswer answer = SNAP_TRY(call_json(m_ctx.http, std::move(call)));
    return answer.status == 304 ? json::object() : std::move(answer.body);
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

  // What a restore has done so far, for the way out.
  struct RestoreRun {
    std::string snapshot;          // the id the archive was uploaded as
    bool activated = false;        // snap turned maintenance mode on
    std::string exec_id;           // the restore_snapshot execution
    std::string started_at;        // its created_at, the manager's clock
    bool ended = false;            // the manager says it is over
    bool credentials_lost = false; // over, but its users are now others
  };

  // Follows the restore until the manager says it is over: its execution
  // (through the window where the manager restarts), then the unauthenticated
  // /snapshot-status. When the execution can no longer be read because the
  // restored users do not know snap's credentials, /snapshot-status decides.
  Expected<void> follow_restore(RestoreRun& run) {
    std::string status = "started";
    auto over = [&]() -> Expected<bool> {
      auto st = call("GET", "/snapshot-status", json(), {.bypass = true});
      if (!st && !restarting(st.error(), true)) {
        return tl::unexpected(st.error());
      }
      return st && st->value("status", "") == "not-running";
    };
    auto step = [&]() -> Expected<bool> {
      auto next = call("GET", "/executions/" + url_escape(run.exec_id), json(),
                       {.bypass = true});
      if (!next) {
        bool unauthorized = next.error().kind == ErrorKind::auth;
        if (!restarting(next.error(), true)) {
          return tl::unexpected(next.error());
        }
        if (unauthorized && SNAP_TRY(over())) {
          run.credentials_lost = true;
          return true;
        }
        m_ctx.reporter.note("the manager is restarting; waiting");
        return false;
      }
      status = next->value("status", "");
      m_ctx.reporter.note(fmt::format("execution {}: {}", run.exec_id, status));
      if (status == "failed" || status == "cancelled") {
        run.ended = true;
        return fail(ErrorKind::remote,
                    fmt::format("cloudify: restore_snapshot execution {} {}: "
                                "{}",
                                run.exec_id, status,
                                next->value("error", "no error text")));
      }
      return status == "terminated";
    };
    auto late = [&] {
      return fmt::format("cloudify: the restore (execution {}) is still '{}' "
                         "after {:.0f} s (raise --wait-timeout)",
                         run.exec_id, status, wait_timeout());
    };
    SNAP_TRY(poll_until(wait_timeout(), step, late));
    if (!run.credentials_lost) {
      // The flag file goes away when the manager has finished restarting.
      status = "restarting";
      SNAP_TRY(poll_until(wait_timeout(), over, late));
    }
    run.ended = true;
    return {};
  }

  // Activates maintenance mode unless it is on, waits for 'activated',
  // starts the restore and follows it.
  Expected<void> drive_restore(RestoreRun& run, const json& body, bool was_on) {
    if (!was_on) {
      SNAP_TRY(call("POST", "/maintenance/activate", json(),
                    {.bypass = true, .ok = {200, 304}}));
      run.activated = true;
    }
    SNAP_TRY(wait_maintenance());
    // The answer is the execution marshalled with the Snapshot's fields
    // (resources_v2/snapshots.py SnapshotsIdRestore: marshal_with
    // models.Snapshot): its id and status, no workflow_id.
    json exec = SNAP_TRY(
        call("POST", "/snapshots/" + url_escape(run.snapshot) + "/restore",
             body, {.idempotent = false, .bypass = true}));
    run.exec_id = exec.value("id", "");
    run.started_at = text_of(exec, "created_at");
    return follow_restore(run);
  }

  // The way out of a restore, whatever happened: the uploaded snapshot is
  // deleted and maintenance mode is left as the operator had it, but never
  // while the manager may still be restoring. Returns what could not be
  // done, each told as a warning with the step that finishes it.
  std::vector<std::string> finish_restore(const RestoreRun& run, bool keep) {
    std::vector<std::string> left;
    bool running = !run.ended && !run.exec_id.empty();
    if (running) {
      auto st = call("GET", "/snapshot-status", json(),
                     {.bypass = true, .cleanup = true});
      running = !st || st->value("status", "") != "not-running";
    }
    if (running) {
      left.push_back(fmt::format(
          "the restore is still running on the manager (execution {}), so "
          "maintenance mode stays on and snapshot {} stays there: once snap "
          "status cloudify shows no restore running, run cfy "
          "maintenance-mode deactivate and snap delete cloudify {}",
          run.exec_id, run.snapshot, run.snapshot));
    } else {
      auto gone = call("DELETE", "/snapshots/" + url_escape(run.snapshot),
                       json(), {.bypass = true, .cleanup = true});
      if (!gone && gone.error().kind != ErrorKind::not_found) {
        left.push_back(fmt::format("the uploaded snapshot {} stays on the "
                                   "manager: {} (snap delete cloudify {})",
                                   run.snapshot, gone.error().message,
                                   run.snapshot));
      }
      if (run.activated && !keep) {
        auto off = call("POST", "/maintenance/deactivate", json(),
                        {.bypass = true, .cleanup = true, .ok = {200, 304}});
        if (!off) {
          left.push_back(fmt::format(
              "maintenance mode is still on: {} (run cfy maintenance-mode "
              "deactivate{})",
              off.error().message,
              run.credentials_lost ? " as a user of the restored manager"
                                   : ""));
        }
      }
    }
    for (const auto& l : left) {
      m_ctx.reporter.warn("cloudify: " + l);
    }
    return left;
  }

  // The manager's maintenance mode: deactivated, activating or activated.
  Expected<std::string> maintenance_status() {
    json m = SNAP_TRY(call("GET", "/maintenance", json(), {.bypass = true}));
    return m.value("status", "unknown");
  }

  // cfy snapshots create's other options (7.x rest-service: queue,
  // tempdir_path, legacy, listener_timeout); the last two exist from 7.0
  // only, so an older manager is refused before anything is created.
  Expected<void> create_options(json& body) {
    if (!flag("queue").empty()) {
      body["queue"] = true;
    }
    if (std::string dir = flag("tempdir-path"); !dir.empty()) {
      body["tempdir_path"] = dir;
    }
    std::string timeout = flag("listener-timeout");
    bool legacy = !flag("legacy").empty();
    if (!timeout.empty()) {
      char* end = nullptr;
      double s = std::strtod(timeout.c_str(), &end);
      if (end == timeout.c_str() || *end != '\0' || !(s > 0)) {
        return fail(ErrorKind::usage,
                    fmt::format("cloudify: --listener-timeout {} is not a "
                                "number of seconds above 0",
                                timeout));
      }
      body["listener_timeout"] = s;
    }
    if (legacy) {
      body["legacy"] = true;
    }
    if (legacy || !timeout.empty()) {
      json v = SNAP_TRY(call("GET", "/api/version"));
      std::string version = v.value("version", "");
      if (std::atoi(version.c_str()) < 7) {
        return fail(ErrorKind::usage,
                    fmt::format("cloudify: --legacy and --listener-timeout "
                                "need a 7.x manager, and this one is {}; a "
                                "manager before 7.0 always writes the legacy "
                                "format (drop them)",
                                version.empty() ? "unknown" : version));
      }
    }
    return {};
  }

  // Follows a new snapshot until it is created: by the snapshot itself,
  // which every mode serves, and by its execution where that is served (not
  // in maintenance mode), whose error says why a create failed. Errors:
  // `remote` for a failed snapshot or execution, `timeout`, any kind.
  Expected<json> wait_created(const std::string& id,
                              const std::string& exec_id) {
    json snapshot;
    bool told_queued = false;
    auto step = [&]() -> Expected<bool> {
      auto exec = call("GET", "/executions/" + url_escape(exec_id));
      if (exec) {
        std::string st = exec->value("status", "");
        if (st == "queued" && !told_queued) {
          told_queued = true;
          m_ctx.reporter.note(fmt::format("snapshot {}: queued until the "
                                          "manager's running executions end "
                                          "(--queue)",
                                          id));
        }
        if (st == "failed" || st == "cancelled") {
          return fail(ErrorKind::remote,
                      fmt::format("cloudify: create_snapshot execution {} {}: "
                                  "{}",
                                  exec_id, st,
                                  exec->value("error", "no error text")));
        }
      } else if (exec.error().message.find(" 503 ") == std::string::npos) {
        return tl::unexpected(exec.error());
      }
      snapshot = SNAP_TRY(call("GET", "/snapshots/" + url_escape(id)));
      std::string status = snapshot.value("status", "");
      m_ctx.reporter.note(fmt::format("snapshot {}: {}", id, status));
      if (status == "failed") {
        return fail(ErrorKind::remote,
                    fmt::format("cloudify: snapshot {} failed: {}", id,
                                snapshot.value("error", "no error text")));
      }
      return status == "created";
    };
    SNAP_TRY(poll_until(wait_timeout(), step, [&] {
      return fmt::format("cloudify: snapshot {} is still '{}' after {:.0f} s "
                         "(raise --wait-timeout; the workflow goes on on the "
                         "manager, and snap download cloudify {} fetches it "
                         "once it is created)",
                         id, snapshot.value("status", ""), wait_timeout(), id);
    }));
    return snapshot;
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
    SaveResult r = SNAP_TRY(checked_payload(
        out, id, fmt::format("the archive of snapshot {}", id),
        ErrorKind::remote,
        "nothing was saved; the snapshot stays on the manager"));
    r.source["snapshot_status"] = text_of(snapshot, "status");
    r.source["snapshot_created_at"] = text_of(snapshot, "created_at");
    if (!exec_id.empty()) {
      r.source["execution_id"] = exec_id;
    }
    if (auto v = call("GET", "/api/version")) {
      r.server_version = v->value("version", "");
    }
    return r;
  }

  // The manager's snapshot zip just written as the payload, checked as the
  // manager's restore reads it: metadata.json parses, and every member
  // reads through whole, so a damaged one fails here rather than in the
  // restore later. `what` names the zip in errors, which are of `kind`.
  Expected<SaveResult> checked_payload(ArchiveWriter& out,
                                       const std::string& id,
                                       const std::string& what, ErrorKind kind,
                                       const std::string& after) {
    auto text = out.read_zip_member(k_payload_name, "metadata.json");
    auto members = text ? out.check_zip(k_payload_name)
                        : Expected<ZipSummary>(tl::unexpected(text.error()));
    if (!members) {
      return fail(kind, fmt::format("cloudify: {} failed verification: {} "
                                    "({})",
                                    what, members.error().message, after));
    }
    json meta = parse_untrusted_json(*text);
    if (!meta.is_object()) {
      return fail(kind, fmt::format("cloudify: {} failed verification: its "
                                    "metadata.json is not a JSON object ({})",
                                    what, after));
    }
    SaveResult r;
    r.backup_id = id;
    r.kind = "full";
    std::string version = text_of(meta, "snapshot_version");
    r.summary = fmt::format("snapshot {}, version {}", id,
                            version.empty() ? "unknown" : version);
    r.source = {
        {"snapshot_id", id},
        {"snapshot_version", version},
        {"format", is_legacy(meta) ? "legacy" : "new"},
        {"members", members->members},
        {"tenant", flag("tenant").empty() ? "default_tenant" : flag("tenant")}};
    return r;
  }

  // A snapshot zip from anywhere (cfy snapshots download, the manager's
  // own backup folder, a URL fetched by hand): checked as a save's download
  // is, and named after the file, as `cfy snapshots upload` names an
  // upload by the id it is given.
  Expected<SaveResult> import_native(ArchiveWriter& out,
                                     Source& native) override {
    Sink* entry = SNAP_TRY(out.add_entry(k_payload_name, "application/zip"));
    auto total = native.size().value_or(0);
    SNAP_TRY(copy_stream(native, *entry, [&](std::uint64_t done) {
      m_ctx.reporter.progress("import", done, total);
    }));
    std::string id =
        safe_token(flag("snapshot-id").empty() ? std::string("imported")
                                               : flag("snapshot-id"));
    SaveResult r =
        SNAP_TRY(checked_payload(out, id, "the snapshot file",
                                 ErrorKind::archive, "nothing was written"));
    r.summary += ", imported";
    return r;
  }

  // The archive's snapshot zip onto the manager as snapshot `id`: sent,
  // or with --from-url fetched by the manager itself (snapshot_archive_url,
  // as cfy snapshots upload URL does) once snap has read that URL through
  // and found the archive's exact bytes there: the manager checks nothing
  // it fetches.
  Expected<void> push_archive(ArchiveReader& in, const std::string& id) {
    Request req =
        request("PUT", "/snapshots/" + url_escape(id) + "/archive", {});
    std::unique_ptr<Source> body;
    if (!flag("from-url").empty()) {
      std::string url = SNAP_TRY(url_value(flag("from-url")));
      SNAP_TRY(check_url(in, url));
      req.query = "snapshot_archive_url=" + url_escape(url);
      return send_archive(req, id, url);
    }
    body = SNAP_TRY(in.open_entry(k_payload));
    req.body = body.get();
    req.content_type = "application/octet-stream";
    return send_archive(req, id, "");
  }

  Expected<void> check_url(ArchiveReader& in, const std::string& url) {
    if (!split_http_url(url)) {
      return fail(ErrorKind::usage,
                  fmt::format("cloudify: --from-url {}: give an http:// or "
                              "https:// URL",
                              shown_url(url)));
    }
    const ManifestEntry* entry = in.manifest().entry(k_payload);
    if (entry == nullptr) {
      return fail(ErrorKind::archive,
                  fmt::format("cloudify: the archive has no {}", k_payload));
    }
    // requests follows up to 30 redirects.
    UrlDigest got = SNAP_TRY(
        digest_url(m_ctx.connector, "cloudify", url, 30,
                   [this](std::uint64_t done, std::uint64_t size) {
                     m_ctx.reporter.progress("checking the URL", done, size);
                   }));
    if (auto e = differs("cloudify: --from-url", url, got, entry->path,
                         entry->size, entry->sha256)) {
      return tl::unexpected(*e);
    }
    return {};
  }

  Expected<void> send_archive(Request& req, const std::string& id,
                              const std::string& url) {
    MemorySink answer(1 << 20);
    Response resp = SNAP_TRY(m_ctx.http.send(
        req, answer, [this](std::uint64_t done, std::uint64_t total) {
          m_ctx.reporter.progress("upload", done, total);
        }));
    if (resp.status != 201 && resp.status != 200) {
      Error e = answer_error(req, resp);
      if (!url.empty()) {
        // The manager's message repeats the URL, query and all.
        std::string shown = shown_url(url);
        for (auto pos = e.message.find(url); pos != std::string::npos;
             pos = e.message.find(url, pos + shown.size())) {
          e.message.replace(pos, url.size(), shown);
        }
        e.message += fmt::format("; snapshot {} was not made: check that the "
                                 "manager can reach the URL, or go without "
                                 "--from-url",
                                 id);
      }
      return tl::unexpected(e);
    }
    return {};
  }

  // "snap-restore-20261204t101500z-3f9a": valid as a snapshot id (a
  // letter first), and two restores never share one.
  static std::string restore_id() {
    std::random_device rd;
    return fmt::format("snap-restore-{}-{:04x}",
                       to_lower(rfc3339_to_compact(utc_now_rfc3339())),
                       rd() & 0xffff);
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

  // Every item of a paged list (_size/_offset, to its pagination total):
  // a page holds at most the manager's default_page_size (1000).
  Expected<std::vector<json>> all_items(const std::string& path,
                                        const std::string& query) {
    std::vector<json> out;
    for (std::uint64_t offset = 0;;) {
      json page =
          SNAP_TRY(call("GET", path, json(),
                        {.query = fmt::format("{}&_size={}&_offset={}", query,
                                              k_page_size, offset)}));
      const json& items =
          page.is_object() && page.contains("items") && page["items"].is_array()
              ? page["items"]
              : json::array();
      for (const auto& i : items) {
        out.push_back(i);
      }
      offset += items.size();
      json total = page.is_object() ? page.value("metadata", json::object())
                                          .value("pagination", json::object())
                                          .value("total", json())
                                    : json();
      if (items.empty() || !total.is_number_unsigned() ||
          offset >= total.get<std::uint64_t>()) {
        return out;
      }
    }
  }

  // What a legacy restore did with the executions its database dump held
  // in status scheduled (Cloudify 5.1's scheduled executions): the
  // restore marks every one failed, and re-creates as an execution
  // schedule <workflow>_restored_<hex>, for one run at the same time, only
  // those still due later; the others were overdue and will not run
  // (cloudify-manager snapshot_restore.py _restore_scheduled_executions).
  // They are the failed executions with a scheduled_for that ended after
  // the restore began. (Before 5.2 the restore requeued those still due
  // and failed only the overdue ones.) Each overdue one is warned of; the
  // lists go into the report.
  Expected<json> scheduled_outcome(const RestoreRun& run) {
    std::vector<json> failed =
        SNAP_TRY(all_items("/executions", "status=failed&_all_tenants=true"));
    // Managers before 5.2 have no execution schedules: there the restore
    // requeued the executions still due, and the failed ones are the
    // overdue ones.
    auto listed = all_items("/execution-schedules", "_all_tenants=true");
    if (!listed && listed.error().kind != ErrorKind::not_found) {
      return tl::unexpected(listed.error());
    }
    std::vector<json> schedules = listed ? *listed : std::vector<json>{};
    json overdue = json::array(), rescheduled = json::array();
    // Times as the manager writes them, to the second.
    auto second = [](const std::string& t) { return t.substr(0, 19); };
    for (const auto& e : failed) {
      std::string due = text_of(e, "scheduled_for");
      std::string ended = text_of(e, "ended_at");
      // One that ended before the restore began failed on its own; one
      // whose end is not given is counted.
      if (due.empty() || (!ended.empty() && !run.started_at.empty() &&
                          ended < run.started_at)) {
        continue;
      }
      std::string id = text_of(e, "id");
      std::string workflow = text_of(e, "workflow_id");
      std::string deployment = text_of(e, "deployment_id");
      json entry = {{"execution", id},
                    {"workflow", workflow},
                    {"deployment", deployment},
                    {"scheduled_for", due}};
      auto again =
          std::find_if(schedules.begin(), schedules.end(), [&](const json& sc) {
            return text_of(sc, "id").starts_with(workflow + "_restored_") &&
                   text_of(sc, "deployment_id") == deployment &&
                   second(text_of(sc, "since")) == second(due);
          });
      if (again != schedules.end()) {
        entry["schedule"] = text_of(*again, "id");
        rescheduled.push_back(entry);
        m_ctx.reporter.note(fmt::format(
            "cloudify: scheduled execution {} ({} on {}) is due at {}: the "
            "manager marked it failed and scheduled it again as {}",
            id, workflow, deployment, due, text_of(*again, "id")));
        continue;
      }
      overdue.push_back(entry);
      m_ctx.reporter.warn(fmt::format(
          "cloudify: scheduled execution {} ({} on {}) was due at {}, "
          "before the restore: the manager marked it failed and it will "
          "not run; start it again if it is still wanted (cfy executions "
          "start {} -d {})",
          id, workflow, deployment, due, workflow, deployment));
    }
    return json{{"overdue", overdue}, {"rescheduled", rescheduled}};
  }

  // The upgrade follow-up of the documentation, as cfy agents install does
  // it (cloudify-cli commands/agents.py): every deployment of the tenant
  // whose compute instances (id == host_id) are all started gets an
  // install_new_agents execution (allow_custom_parameters), and each is
  // followed to its end within --wait-timeout. A deployment with an
  // unstarted compute is skipped and named. Failures go into `left`.
  Expected<Fields> install_new_agents(std::vector<std::string>& left) {
    std::vector<json> deps = SNAP_TRY(all_items("/deployments", "_include=id"));
    std::vector<json> instances = SNAP_TRY(all_items(
        "/node-instances", "_include=id,host_id,deployment_id,state"));
    std::map<std::string, std::string> unstarted; // deployment -> instance
    for (const auto& ni : instances) {
      if (!ni.is_object()) {
        continue;
      }
      std::string id = text_of(ni, "id");
      if (!id.empty() && ni.value("host_id", json()) == id &&
          ni.value("state", json()) != "started") {
        unstarted[text_of(ni, "deployment_id")] = id;
      }
    }
    Fields installed = Fields::array(), skipped = Fields::array(),
           failed = Fields::array();
    std::vector<std::pair<std::string, std::string>> started; // dep, exec
    for (const auto& d : deps) {
      if (!d.is_object() || !d.contains("id") || !d["id"].is_string()) {
        continue;
      }
      std::string dep = d["id"].get<std::string>();
      if (auto it = unstarted.find(dep); it != unstarted.end()) {
        skipped.push_back(fmt::format("{} (node instance {} is not started)",
                                      dep, it->second));
        continue;
      }
      json exec = SNAP_TRY(call("POST", "/executions",
                                {{"deployment_id", dep},
                                 {"workflow_id", "install_new_agents"},
                                 {"parameters", json::object()},
                                 {"allow_custom_parameters", true}},
                                {.idempotent = false, .ok = {201, 200}}));
      started.emplace_back(dep, text_of(exec, "id"));
      m_ctx.reporter.note(fmt::format("install_new_agents started on {} "
                                      "(execution {})",
                                      dep, started.back().second));
    }
    for (const auto& [dep, exec_id] : started) {
      std::string why;
      auto status = wait_execution(
          exec_id, fmt::format("install_new_agents on {}", dep), why);
      if (!status) {
        failed.push_back(dep);
        left.push_back(status.error().message);
      } else if (*status == "terminated") {
        installed.push_back(dep);
      } else {
        failed.push_back(dep);
        left.push_back(fmt::format("install_new_agents on {} ended {}{} "
                                   "(execution {})",
                                   dep, *status, why.empty() ? "" : ": " + why,
                                   exec_id));
      }
    }
    if (!skipped.empty()) {
      m_ctx.reporter.warn(fmt::format(
          "cloudify: no new agents for {} deployments whose compute "
          "instances are not all started: {}",
          skipped.size(), fmt::join(skipped, ", ")));
    }
    return Fields{
        {"installed", installed}, {"skipped", skipped}, {"failed", failed}};
  }

  // Follows execution `exec_id` to its end within --wait-timeout; its
  // final status, and the execution's error text in `why`.
  Expected<std::string> wait_execution(const std::string& exec_id,
                                       const std::string& what,
                                       std::string& why) {
    std::string status;
    json e;
    auto step = [&]() -> Expected<bool> {
      e = SNAP_TRY(call("GET", "/executions/" + url_escape(exec_id)));
      status = text_of(e, "status");
      m_ctx.reporter.progress(fmt::format("{}: {}", what, status), 0, 0);
      return status == "terminated" || status == "failed" ||
             status == "cancelled";
    };
    SNAP_TRY(poll_until(wait_timeout(), step, [&] {
      return fmt::format("cloudify: {} is still {} after {:.0f} s (execution "
                         "{} goes on; cfy executions get {})",
                         what, status, wait_timeout(), exec_id, exec_id);
    }));
    why = text_of(e, "error");
    return status;
  }

  // The other upgrade follow-up, as cfy plugins update does it for one
  // blueprint (cloudify-cli, rest client plugins_update.update_plugins:
  // POST /plugins-updates/<blueprint>/update/initiate with all_to_latest),
  // for every blueprint of the tenant: a plugins update whose state is
  // no_changes_required has nothing to do; else its update_plugin
  // execution is followed to its end, and the update must then be
  // successful (the workflow's last step finalizes it;
  // rest-service plugins_update/manager.py). Failures go into `left`.
  Expected<Fields> update_plugins(std::vector<std::string>& left) {
    std::vector<json> bps = SNAP_TRY(all_items("/blueprints", "_include=id"));
    Fields updated = Fields::array(), unchanged = Fields::array(),
           failed = Fields::array();
    for (const auto& b : bps) {
      std::string bp = text_of(b, "id");
      if (bp.empty()) {
        continue;
      }
      auto started = call(
          "POST", "/plugins-updates/" + url_escape(bp) + "/update/initiate",
          {{"force", false},
           {"all_to_latest", true},
           {"all_to_minor", false},
           {"auto_correct_types", false},
           {"reevaluate_active_statuses", false}},
          {.idempotent = false, .ok = {200, 201}});
      if (!started) {
        failed.push_back(bp);
        left.push_back(fmt::format("the plugins update of blueprint {} was "
                                   "refused: {}",
                                   bp, started.error().message));
        continue;
      }
      std::string update = text_of(*started, "id");
      std::string state = text_of(*started, "state");
      if (state == "no_changes_required") {
        unchanged.push_back(bp);
        continue;
      }
      std::string exec_id = text_of(*started, "execution_id");
      m_ctx.reporter.note(fmt::format("plugins update {} of blueprint {} "
                                      "started (execution {})",
                                      update, bp, exec_id));
      std::string why;
      auto status = wait_execution(
          exec_id, fmt::format("the plugins update of blueprint {}", bp), why);
      if (status && *status == "terminated") {
        json u =
            SNAP_TRY(call("GET", "/plugins-updates/" + url_escape(update)));
        state = text_of(u, "state");
        if (state == "successful") {
          updated.push_back(bp);
          continue;
        }
      }
      failed.push_back(bp);
      left.push_back(
          !status ? status.error().message
                  : fmt::format(
                        "the plugins update {} of blueprint {} ended "
                        "{}{} (execution {}; cfy plugins "
                        "get-update {})",
                        update, bp,
                        *status == "terminated" ? "in state " + state : *status,
                        why.empty() ? "" : ": " + why, exec_id, update));
    }
    return Fields{
        {"updated", updated}, {"unchanged", unchanged}, {"failed", failed}};
  }

  AdapterContext m_ctx;
};

Expected<RestoreReport> CloudifyAdapter::restore(ArchiveReader& in,
                                                 bool dry_run) {
  if (!flag("no-reboot").empty() && flag("restore-certificates").empty()) {
    return fail(ErrorKind::usage, "cloudify: --no-reboot applies only with "
                                  "--restore-certificates (add it, or drop "
                                  "--no-reboot)");
  }
  bool agents = !flag("install-new-agents").empty();
  bool plugins = !flag("update-plugins").empty();
  std::string follow_up = agents && plugins
                              ? "--install-new-agents and --update-plugins"
                          : agents ? "--install-new-agents"
                                   : "--update-plugins";
  if ((agents || plugins) && !flag("keep-maintenance").empty()) {
    return fail(ErrorKind::usage,
                fmt::format("cloudify: {} run{} workflows, which the "
                            "manager refuses in maintenance mode: drop "
                            "--keep-maintenance, or run them later",
                            follow_up, agents && plugins ? "" : "s"));
  }
  // The operator's maintenance mode is left as it was found.
  std::string maintenance = SNAP_TRY(maintenance_status());
  bool was_on = maintenance != "deactivated";
  bool keep = !flag("keep-maintenance").empty() || was_on;
  if ((agents || plugins) && was_on) {
    return fail(ErrorKind::usage,
                fmt::format("cloudify: maintenance mode is on and would stay "
                            "on after the restore, where {} cannot run: "
                            "deactivate it first, or run them later",
                            follow_up));
  }
  // The archive goes up under an id of its own: a snapshot the manager
  // already holds under the archive's id may be another one, or failed,
  // and restoring it would put back the wrong state.
  RestoreRun run;
  run.snapshot = restore_id();
  json body = {{"force", !flag("force").empty()},
               {"restore_certificates", !flag("restore-certificates").empty()},
               {"no_reboot", !flag("no-reboot").empty()},
               {"recreate_deployments_envs", false}};
  if (dry_run) {
    std::vector<std::string> plan;
    if (!flag("from-url").empty()) {
      std::string url = SNAP_TRY(url_value(flag("from-url")));
      plan.push_back(fmt::format("check that {} serves {} byte for byte, "
                                 "then have the manager fetch it as snapshot "
                                 "{} (snapshot_archive_url), a new id, so "
                                 "the manager restores exactly the archive",
                                 shown_url(url), k_payload, run.snapshot));
    } else {
      plan.push_back(fmt::format("upload {} as snapshot {}, a new id, so the "
                                 "manager restores exactly the archive",
                                 k_payload, run.snapshot));
    }
    plan.push_back(was_on ? "maintenance mode is on already: use it"
                          : "activate maintenance mode and wait until it is "
                            "'activated'");
    plan.push_back(fmt::format("POST {}/snapshots/{}/restore {}", k_api,
                               run.snapshot, body.dump()));
    plan.push_back("follow the restore execution and /snapshot-status until "
                   "the manager is back");
    plan.push_back(fmt::format("delete snapshot {}", run.snapshot));
    plan.push_back(was_on ? "leave maintenance mode on, as it was found"
                   : keep ? "leave maintenance mode on (--keep-maintenance)"
                          : "deactivate maintenance mode");
    if (agents) {
      plan.push_back("run install_new_agents on every deployment whose "
                     "compute instances are all started (as cfy agents "
                     "install does), and wait for each");
    }
    if (plugins) {
      plan.push_back("update every blueprint's plugins to the latest "
                     "uploaded versions (one plugins update per blueprint, "
                     "as cfy plugins update does), and wait for each");
    }
    return RestoreReport{.plan = std::move(plan)};
  }
  SNAP_TRY(push_archive(in, run.snapshot));
  auto driven = drive_restore(run, body, was_on);
  std::vector<std::string> left = finish_restore(run, keep);
  if (!driven) {
    return tl::unexpected(driven.error());
  }
  RestoreReport r;
  r.details = {{"snapshot", in.manifest().backup_id},
               {"uploaded_as", run.snapshot},
               {"execution", run.exec_id},
               {"maintenance", keep ? "kept on" : "deactivated"}};
  if (run.credentials_lost) {
    left.insert(left.begin(),
                fmt::format("the restore has ended, but the manager no "
                            "longer accepts these credentials, as its users "
                            "are now the snapshot's: check execution {} as "
                            "one of them (cfy executions get {})",
                            run.exec_id, run.exec_id));
  }
  // Only a legacy restore has scheduled executions to settle.
  if (left.empty() && text_of(in.manifest().source, "format") == "legacy") {
    auto outcome = scheduled_outcome(run);
    if (!outcome) {
      // The restore itself worked; only the account of it is missing.
      m_ctx.reporter.warn(fmt::format(
          "cloudify: the restore worked, but which scheduled executions it "
          "left overdue could not be read ({}): check cfy executions list "
          "--status failed",
          outcome.error().message));
    } else if (!(*outcome)["overdue"].empty() ||
               !(*outcome)["rescheduled"].empty()) {
      r.details["scheduled_executions"] = *outcome;
    }
  }
  if (agents && left.empty()) {
    auto done = install_new_agents(left);
    if (!done) {
      left.push_back(done.error().message);
    } else {
      r.details["agents"] = *done;
    }
  }
  // Plugins after agents: the update runs its operations on them.
  if (plugins && left.empty()) {
    auto done = update_plugins(left);
    if (!done) {
      left.push_back(done.error().message);
    } else {
      r.details["plugins"] = *done;
    }
  }
  if (!left.empty()) {
    r.verdict = Error{ErrorKind::partial, "cloudify: " + join_list(left, "; ")};
  }
  return r;
}

} // namespace

const AdapterInfo& cloudify_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "cloudify",
      .summary = "Cloudify Manager: snapshots created, fetched, uploaded and "
                 "restored",
      .caps = {C::save, C::restore, C::download, C::upload, C::status, C::list,
               C::remove, C::import_native},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1",
      .flags = {{"tenant",
                 "tenant, sent as the Tenant header (default "
                 "default_tenant)",
                 true,
                 {C::save, C::restore, C::download, C::upload, C::status,
                  C::list, C::remove}},
                {"from-url",
                 "URL, or @FILE holding it: the manager fetches the "
                 "archive's snapshot zip from URL itself "
                 "(snapshot_archive_url) instead of snap sending it; "
                 "snap first checks that URL serves the archive's exact "
                 "bytes",
                 true,
                 {C::restore, C::upload}},
                {"snapshot-id",
                 "id of the new snapshot (default snap-<UTC time>); with "
                 "import, the id the archive gives the file (default "
                 "imported)",
                 true,
                 {C::save, C::import_native}},
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
                {"queue",
                 "queue the snapshot behind running executions instead of "
                 "failing (legacy format: it blocks)",
                 false,
                 {C::save}},
                {"tempdir-path",
                 "a directory on the manager for the snapshot's temporary "
                 "files (it must be writable there)",
                 true,
                 {C::save}},
                {"legacy",
                 "write the pre-7.0 format (pg_dump) on a 7.x manager",
                 false,
                 {C::save}},
                {"listener-timeout",
                 "seconds the 7.x audit-log listener waits for changes that "
                 "run during the snapshot (manager default: 10)",
                 true,
                 {C::save}},
                {"sort",
                 "list: sort by this field, '-' first for descending "
                 "(default -created_at)",
                 true,
                 {C::list}},
                {"search",
                 "list: only snapshots whose id contains this",
                 true,
                 {C::list}},
                {"all-tenants",
                 "list: snapshots of every tenant the user may see",
                 false,
                 {C::list}},
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
                {"install-new-agents",
                 "after the restore, run install_new_agents on every "
                 "deployment whose compute instances are started (the "
                 "upgrade follow-up of cfy agents install), and wait for "
                 "each",
                 false,
                 {C::restore}},
                {"update-plugins",
                 "after the restore (and --install-new-agents), update "
                 "every blueprint's plugins to the latest uploaded versions "
                 "(cfy plugins update), and wait for each",
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
      .native_entry = "cloudify.zip",
  };
  return info;
}

Expected<Fields> describe_cloudify(ArchiveReader& in,
                                   const DescribeOptions& opts) {
  return CloudifyAdapter::describe(in, opts.verify);
}

std::unique_ptr<Adapter> make_cloudify(AdapterContext ctx) {
  return std::make_unique<CloudifyAdapter>(ctx);
}

} // namespace snap::adapters
