// SPDX-License-Identifier: MIT
// Camunda 8 adapter: the whole-cluster backup, in one command.
//
// Camunda's documentation describes a backup of the whole cluster as a
// strict procedure an operator runs by hand, one backup id throughout
// (camunda.md §5, Camunda 8.2–8.7):
//   1–3  start the Optimize, Operate and Tasklist backups (each a series
//        of Elasticsearch snapshots the app takes);
//   4–6  wait until each is COMPLETED (Optimize's docs say COMPLETE);
//   7    pause Zeebe exporting, softly where the version can
//        (POST /actuator/exporting/pause?soft=true);
//   8–9  snapshot the exported records (zeebe-record*) into --repository as
//        camunda_zeebe_records_backup_<id>, and wait for it;
//   10–11 take the Zeebe backup and wait until COMPLETED;
//   12   resume exporting.
// snap runs exactly that. Once exporting is paused it is resumed on every
// way out — an error, a timeout, SIGINT or SIGTERM — because a cluster left
// paused stops compacting its log until the disks fill.
//
// Any component failing ends the run with that component named: FAILED
// exits 1, an INCOMPLETE web-app or Zeebe backup or a PARTIAL records
// snapshot exits 3. The archive is a reference: every component's state for
// the id, the records snapshot's info and the versions.
//
// Restore (offline for Zeebe): the Elasticsearch parts are restored in the
// documented order (Operate, Tasklist and Optimize snapshots, then the
// records), after which the Zeebe steps are printed. Components must be
// stopped first; --replace deletes the indices the snapshots would
// overwrite, as the documentation asks. With --kubeconfig or --namespace
// snap does the whole procedure on Kubernetes (kube_restore.cpp): stop the
// workloads, restore the indices, one restore Job per broker volume, start
// them again.
//
// Component addresses: --zeebe (default --addr, port 9600), --operate,
// --tasklist, --optimize (port 8092) and --elasticsearch (port 9200);
// --skip leaves out a web app a cluster does not run.
//
// Camunda 8.8 (found by GET /actuator listing backupRuntime) runs Zeebe,
// Operate and Tasklist as one orchestration cluster: its management API
// (--zeebe) backs up Operate and Tasklist together at
// /actuator/backupHistory (snapshots camunda_webapps_…), and the 8.8
// procedure soft-pauses exporting FIRST, before the web apps' backups:
//   1 soft pause; 2–3 start the web apps' and Optimize's backups; 4–5 wait
//   for both; 6–7 the zeebe-record snapshot; 8–9 Zeebe (backupRuntime);
//   10 resume.
// From 8.8 the exporting endpoints answer 200 with the endpoint's own
// response as JSON ({"status":204,…}); that status is checked too.
//
// Docs:
// https://docs.camunda.io/docs/self-managed/operational-guides/backup-restore/backup/
#include <set>

#include "adapters/camunda/kube_restore.hpp"
#include "adapters/camunda/zeebe_api.hpp"
#include "adapters/elasticsearch/export.hpp"
#include "adapters/factories.hpp"
#include "snap/poll.hpp"
#include "snap/scope.hpp"
#include "snap/text.hpp"

namespace snap::adapters {
namespace {

using camunda::json;

constexpr std::string_view k_entry = "payload/camunda.json";
const std::vector<std::string> k_webapps = {"optimize", "operate", "tasklist"};

class CamundaAdapter : public Adapter {
public:
  explicit CamundaAdapter(AdapterContext ctx)
      : m_ctx(ctx), m_zeebe{client(flag("zeebe"), "zeebe"), "zeebe"},
        m_es_http(ctx.connector.open(es_endpoint(ctx))),
        m_es(*m_es_http, ctx.reporter) {}

  const AdapterInfo& info() const override { return camunda_info(); }

  // The cluster is known by its Zeebe address (--zeebe, else --addr): what
  // the manifest records and a run's lock is taken on.
  std::string target_url() const override {
    std::string zeebe = flag("zeebe");
    return zeebe.empty() ? std::string() : redact_url(zeebe);
  }

  Expected<SaveResult> save(ArchiveWriter& out) override;
  static Expected<Fields> describe(ArchiveReader& in, bool);
  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override;
  Expected<StatusResult> status(const std::string& id) override;
  Expected<ListResult> list() override;
  Expected<Fields> remove(const std::string& id) override;

  // A save leaves its backup in every component and the records snapshot.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    return fmt::format("backup {} in every component, and snapshot {} in "
                       "repository {}",
                       m.backup_id, m.source.value("records_snapshot", ""),
                       m.source.value("repository", ""));
  }
  Expected<Fields> remove_target_backup(const Manifest& m) override {
    return remove_backup(m.backup_id, m.source.value("repository", ""));
  }

private:
  // Elasticsearch is an endpoint of its own (--elasticsearch), opened
  // with the TLS settings and credentials given to snap: one cluster's
  // components share its CA and its operator's login. Credentials only
  // Elasticsearch takes go into its URL (https://user:pass@host:9200).
  static HttpConfig es_endpoint(const AdapterContext& ctx) {
    Connection conn = ctx.connector.given();
    std::string addr = flag_value(ctx.flags, "elasticsearch");
    conn.base_url = addr.empty() ? "http://127.0.0.1:9200" : addr;
    return endpoint_config(conn, "elasticsearch");
  }
  std::string flag(std::string_view name) const {
    return flag_value(m_ctx.flags, name);
  }
  // A client of component `label` at `addr` ("" = --addr: the session's
  // own), opened once with the credentials and TLS given to snap.
  HttpClient& client(const std::string& addr, const std::string& label) const {
    if (addr.empty()) {
      return m_ctx.http;
    }
    auto& c = m_clients[label + " " + addr];
    if (!c) {
      c = m_ctx.connector.open_like_given(camunda_info(), addr, label);
    }
    return *c;
  }
  double wait_timeout() const {
    return seconds_flag(m_ctx.flags, "wait-timeout", 3600.0);
  }
  bool skipped(const std::string& app) const {
    for (const auto& s : split_list(flag("skip"))) {
      if (s == app) {
        return true;
      }
    }
    return false;
  }
  // A web app taking part: its management API and backup endpoint.
  struct Webapp {
    camunda::Actuator api;
    std::string path; // /actuator/backups, or 8.8's /actuator/backupHistory
  };

  // The web apps taking part. From 8.8 (`unified`) Operate and Tasklist are
  // one backup of the orchestration cluster, labelled "webapps".
  Expected<std::vector<Webapp>>
  webapps(const camunda::ZeebeEndpoint& ep) const {
    bool unified = CamundaAdapter::unified(ep);
    // 8.1: each app at /actuator/backup (singular).
    std::string path = ep.v81 ? "/actuator/backup" : "/actuator/backups";
    std::vector<Webapp> apps;
    for (const auto& s : split_list(flag("skip"))) {
      if (std::find(k_webapps.begin(), k_webapps.end(), s) == k_webapps.end()) {
        return fail(ErrorKind::usage,
                    fmt::format("--skip {}: only optimize, operate and "
                                "tasklist can be left out",
                                s));
      }
    }
    if (unified) {
      if (skipped("operate") != skipped("tasklist")) {
        return fail(ErrorKind::usage,
                    "camunda: from 8.8 Operate and Tasklist are backed up "
                    "together by the orchestration cluster; --skip both or "
                    "neither");
      }
      if (!flag("operate").empty() || !flag("tasklist").empty()) {
        m_ctx.reporter.note("camunda: from 8.8 the orchestration cluster "
                            "(--zeebe) backs up Operate and Tasklist; "
                            "--operate and --tasklist are not used");
      }
      if (!skipped("operate")) {
        apps.push_back({{client(flag("zeebe"), "webapps"), "webapps"},
                        "/actuator/backupHistory"});
      }
      if (!skipped("optimize")) {
        std::string addr = flag("optimize");
        apps.push_back(
            {{client(addr.empty() ? "http://127.0.0.1:8092" : addr, "optimize"),
              "optimize"},
             path});
      }
      return apps;
    }
    for (const auto& app : k_webapps) {
      if (skipped(app)) {
        continue;
      }
      std::string addr = flag(app);
      if (addr.empty() && app == "optimize") {
        addr = "http://127.0.0.1:8092";
      }
      if (addr.empty()) {
        return fail(ErrorKind::usage,
                    fmt::format("camunda: --{} is required (its management "
                                "address), or --skip {} for a cluster "
                                "without it",
                                app, app));
      }
      apps.push_back({{client(addr, app), app}, path});
    }
    return apps;
  }
  Expected<std::int64_t> backup_id() const {
    return camunda::backup_id_from(flag("backup-id"));
  }
  std::string records_snapshot(std::int64_t id) const {
    return fmt::format("camunda_zeebe_records_backup_{}", id);
  }
  Expected<std::string> repository() const {
    std::string r = flag("repository");
    if (r.empty()) {
      return fail(ErrorKind::usage,
                  "camunda: --repository is required: the Elasticsearch "
                  "snapshot repository the web apps back up into, which "
                  "also takes the zeebe-record snapshot");
    }
    return r;
  }
  // Zeebe's backup endpoint for the version in use; backupRuntime means
  // 8.8's orchestration cluster.
  Expected<camunda::ZeebeEndpoint> check_version() {
    return camunda::zeebe_backup_path(m_zeebe, flag("camunda-version"));
  }
  Expected<Fields> remove_backup(const std::string& id,
                                 const std::string& repo);
  static bool unified(const camunda::ZeebeEndpoint& ep) {
    return ep.path == "/actuator/backupRuntime";
  }
  // POSTs an exporting call; from 8.8 a 200 carries the endpoint's own
  // status, which must say success too.
  Expected<void> exporting(const std::string& path, bool cleanup) {
    json r = SNAP_TRY(
        m_zeebe.call("POST", path, json(), {204, 200}, false, cleanup));
    if (r.is_object() && r.contains("status") &&
        r["status"].is_number_integer()) {
      int status = r["status"].get<int>();
      if (status < 200 || status >= 300) {
        return fail(ErrorKind::remote,
                    fmt::format("zeebe: POST {} answered status {} in its "
                                "body",
                                path, status));
      }
    }
    return {};
  }
  // Resumes exporting; a failure says how to do it by hand.
  Expected<void> resume() {
    auto r = exporting("/actuator/exporting/resume", true);
    if (!r) {
      return fail(r.error().kind,
                  fmt::format("{} — exporting is still paused: resume it now "
                              "(POST /actuator/exporting/resume on the "
                              "gateway)",
                              r.error().message));
    }
    return {};
  }
  // Pauses exporting (softly where the version can).
  Expected<void> pause() {
    return exporting(soft_pause() ? "/actuator/exporting/pause?soft=true"
                                  : "/actuator/exporting/pause",
                     false);
  }
  bool soft_pause() const {
    // ?soft exists from 8.2.27, 8.3.11, 8.4.7 and 8.5.1; older gateways
    // ignore the parameter and pause hard, which is the documented fallback.
    std::string v = flag("camunda-version");
    int ma = 0, mi = 0, pa = 0;
    if (v.empty() || std::sscanf(v.c_str(), "%d.%d.%d", &ma, &mi, &pa) < 2) {
      return true;
    }
    if (ma > 8 || mi >= 6) {
      return true;
    }
    const int since[] = {0, 0, 27, 11, 7, 1};
    return mi >= 2 && pa >= since[mi];
  }

  Expected<json> wait_webapp(const Webapp& app, std::int64_t id);

  AdapterContext m_ctx;
  // Declared before their users: clients live as long as the adapter.
  mutable std::map<std::string, std::unique_ptr<HttpClient>> m_clients;
  camunda::Actuator m_zeebe;
  std::unique_ptr<HttpClient> m_es_http;
  es::Client m_es;
};

Expected<json> CamundaAdapter::wait_webapp(const Webapp& webapp,
                                           std::int64_t id) {
  const camunda::Actuator& app = webapp.api;
  json info;
  int settled = 0;
  SNAP_TRY(poll_until(
      wait_timeout(),
      [&]() -> Expected<bool> {
        auto got = app.call("GET", fmt::format("{}/{}", webapp.path, id));
        if (!got && got.error().kind == ErrorKind::not_found) {
          return false; // the first snapshot is not there yet
        }
        info = SNAP_TRY(std::move(got));
        // 8.1 answers {"State": …} alone.
        if (info.contains("State") && !info.contains("state")) {
          info["state"] = info["State"];
        }
        std::string state = info.value("state", "");
        m_ctx.reporter.progress(
            fmt::format("{} backup {}: {}", app.label, id, state), 0, 0);
        if (state == "FAILED" || state == "INCOMPATIBLE") {
          std::string why = info["failureReason"].is_string()
                                ? info["failureReason"].get<std::string>()
                                : "no reason given";
          return fail(
              ErrorKind::remote,
              fmt::format("{}: backup {} {}: {}", app.label, id, state, why));
        }
        // Between two snapshots a web app reads INCOMPLETE for a moment.
        if (state == "INCOMPLETE") {
          return ++settled >= 5;
        }
        settled = 0;
        return state == "COMPLETED" || state == "COMPLETE";
      },
      [&] {
        return fmt::format("{}: backup {} is still {} after {:.0f} s (raise "
                           "--wait-timeout)",
                           app.label, id, info.value("state", "unknown"),
                           wait_timeout());
      },
      200, 2000,
      [&] {
        return fmt::format("{} backup {} goes on in the cluster", app.label,
                           id);
      }));
  if (info.value("state", "") == "INCOMPLETE") {
    return fail(ErrorKind::partial,
                fmt::format("{}: backup {} stays INCOMPLETE: not every "
                            "snapshot part was taken (was the app restarted "
                            "during the backup?)",
                            app.label, id));
  }
  return info;
}

Expected<SaveResult> CamundaAdapter::save(ArchiveWriter& out) {
  std::int64_t id = SNAP_TRY(backup_id());
  std::string repo = SNAP_TRY(repository());
  camunda::ZeebeEndpoint zeebe_ep = SNAP_TRY(check_version());
  bool one_cluster = unified(zeebe_ep);
  std::vector<Webapp> apps = SNAP_TRY(webapps(zeebe_ep));
  es::Version es_version = SNAP_TRY(m_es.version());
  // Zeebe would refuse the id only at step 10, after the web apps' backups
  // and the pause: ask first, before anything starts (8.1 cannot list).
  json earlier = zeebe_ep.v81 ? json::array()
                              : SNAP_TRY(m_zeebe.call("GET", zeebe_ep.path));
  std::int64_t latest = 0;
  for (const auto& b : earlier) {
    latest = std::max(latest, b.value("backupId", std::int64_t{0}));
  }
  if (id <= latest) {
    return fail(ErrorKind::conflict,
                fmt::format("camunda: backup id {} is not above Zeebe's "
                            "latest backup {}; Zeebe needs each id above "
                            "every earlier one. Nothing was started: pass a "
                            "higher --backup-id, or leave it out to use the "
                            "current UTC time in seconds",
                            id, latest));
  }
  // 8.9's continuous backups number themselves, so Zeebe would refuse the
  // one id every component shares at step 10: ask first, harmlessly.
  // Camunda's backup guide (8.9, "Camunda back up and restore": the table
  // of the two paths) supports continuous backups only where secondary
  // storage is a relational database; with Elasticsearch or OpenSearch,
  // the setup this procedure backs up, every component takes one
  // user-supplied id and continuous backups are "not supported".
  if (SNAP_TRY(camunda::zeebe_continuous(m_zeebe, zeebe_ep))) {
    return fail(ErrorKind::unsupported,
                "camunda: Zeebe takes continuous backups here, which number "
                "themselves and refuse a given id, so one backup id cannot "
                "be shared by Zeebe, the web apps, Optimize and the records "
                "snapshot; Camunda's guide supports continuous backups only "
                "with a relational database as secondary storage, not with "
                "Elasticsearch or OpenSearch. Nothing was started. Turn "
                "continuous backups off for a whole-cluster backup, or, with "
                "a relational database, take Zeebe's backups with snap save "
                "zeebe and back the database up with its own tools");
  }
  json record = {{"backup_id", id}, {"components", json::object()}};
  json& parts = record["components"];

  // From the pause on, exporting is resumed on every way out, SIGINT and
  // SIGTERM included, even when the pause failed (it may have paused some
  // partitions). 8.8 pauses first (its step 1); 8.2–8.7 after the web apps
  // (step 7).
  bool paused = false;
  ScopeExit resume_on_exit([&] {
    if (!paused) {
      return;
    }
    if (auto r = resume(); !r) {
      m_ctx.reporter.warn(r.error().message);
    }
  });
  if (one_cluster) {
    paused = true;
    SNAP_TRY(pause());
  }
  // The web apps, started together, then waited for.
  std::map<std::string, json> scheduled;
  for (const auto& app : apps) {
    m_ctx.reporter.note(
        fmt::format("{}: starting backup {}", app.api.label, id));
    json taken = SNAP_TRY(app.api.call("POST", app.path, json{{"backupId", id}},
                                       {200, 202}, false));
    scheduled[app.api.label] = taken.value("scheduledSnapshots", json::array());
  }
  for (const auto& app : apps) {
    json info = SNAP_TRY(wait_webapp(app, id));
    // 8.1's state has no details: the names the take scheduled are what a
    // restore needs.
    if (!info.contains("details")) {
      info["details"] = json::array();
      for (const auto& name : scheduled[app.api.label]) {
        info["details"].push_back({{"snapshotName", name}});
      }
    }
    parts[app.api.label] = std::move(info);
  }
  if (!one_cluster) {
    paused = true;
    SNAP_TRY(pause());
  }
  // Steps 8–9: the exported records.
  std::string prefix =
      flag("records-prefix").empty() ? "zeebe-record" : flag("records-prefix");
  json snap_body = {{"indices", prefix + "*"},
                    {"feature_states", json::array({"none"})},
                    {"metadata", {{"taken_by", "snap"}, {"backup_id", id}}}};
  json records = SNAP_TRY(es::take_snapshot(m_es, repo, records_snapshot(id),
                                            snap_body, wait_timeout()));
  if (auto v = es::snapshot_verdict(records)) {
    return fail(v->kind, fmt::format("the zeebe-record snapshot failed, so "
                                     "the Zeebe backup was not taken: {}",
                                     v->message));
  }
  parts["elasticsearch"] = records;
  // Steps 10–11: Zeebe.
  SNAP_TRY(camunda::zeebe_take(m_zeebe, zeebe_ep, id));
  json zeebe = SNAP_TRY(camunda::zeebe_wait(m_zeebe, m_ctx.reporter, zeebe_ep,
                                            id, wait_timeout()));
  if (auto v = camunda::zeebe_verdict(zeebe, "zeebe")) {
    return tl::unexpected(*v);
  }
  parts["zeebe"] = zeebe;
  // The last step.
  resume_on_exit.release();
  SNAP_TRY(resume());

  record["repository"] = repo;
  record["records_prefix"] = prefix;
  record["skipped"] = split_list(flag("skip"));
  record["elasticsearch_version"] = es_version.number;
  record["orchestration_cluster"] = one_cluster;
  SNAP_TRY(out.add_json("camunda.json", record));
  std::string zeebe_version = camunda::broker_version(zeebe);
  SaveResult r;
  r.backup_id = std::to_string(id);
  r.kind = "reference";
  r.server_version = zeebe_version;
  r.summary = fmt::format("backup {} of {} components, all COMPLETED", id,
                          parts.size());
  json states = json::object();
  for (const auto& [name, c] : parts.items()) {
    states[name] = c.value("state", "");
  }
  r.source = {{"backup_id", id},
              {"components", states},
              {"repository", repo},
              {"records_snapshot", records_snapshot(id)},
              {"zeebe_version", zeebe_version},
              {"elasticsearch_version", es_version.number}};
  return r;
}

Expected<Fields> CamundaAdapter::describe(ArchiveReader& in, bool) {
  json record = SNAP_TRY(in.read_json(k_entry));
  Fields f = Fields::object();
  f["mode"] = "reference (each component keeps its own backup)";
  f["backup_id"] = record.value("backup_id", 0L);
  f["repository"] = record.value("repository", "");
  Fields comps = Fields::array();
  for (const auto& [name, c] : record["components"].items()) {
    std::string what = c.value("state", "");
    if (name == "elasticsearch") {
      what =
          fmt::format("{} ({})", c.value("state", ""), c.value("snapshot", ""));
    }
    comps.push_back(fmt::format("{}: {}", name, what));
  }
  f["components"] = comps;
  return f;
}

Expected<StatusResult> CamundaAdapter::status(const std::string& id) {
  StatusResult r;
  if (id.empty()) {
    return fail(ErrorKind::usage,
                "camunda: status needs a backup id (snap list camunda shows "
                "them)");
  }
  camunda::ZeebeEndpoint ep = SNAP_TRY(check_version());
  std::vector<Webapp> apps = SNAP_TRY(webapps(ep));
  bool running = false;
  for (const auto& webapp : apps) {
    const camunda::Actuator& app = webapp.api;
    auto got = app.call("GET", webapp.path + "/" + url_escape(id));
    std::string st = got ? got->value("state", got->value("State", ""))
                     : got.error().kind == ErrorKind::not_found
                         ? "DOES_NOT_EXIST"
                         : "unreachable: " + got.error().message;
    running |= st == "IN_PROGRESS";
    r.fields[app.label] = st;
  }
  std::string repo = flag("repository");
  if (!repo.empty()) {
    auto s =
        es::get_snapshot(m_es, repo, records_snapshot(std::atoll(id.c_str())));
    r.fields["elasticsearch"] = s ? s->value("state", "")
                                : s.error().kind == ErrorKind::not_found
                                    ? "DOES_NOT_EXIST"
                                    : s.error().message;
    running |= r.fields["elasticsearch"] == "IN_PROGRESS";
  }
  auto z = camunda::zeebe_get(m_zeebe, ep, id);
  r.fields["zeebe"] = z ? z->value("state", "")
                      : z.error().kind == ErrorKind::not_found
                          ? "DOES_NOT_EXIST"
                          : z.error().message;
  running |= r.fields["zeebe"] == "IN_PROGRESS";
  if (auto phases = SNAP_TRY(camunda::exporter_phases(m_zeebe))) {
    std::set<std::string> distinct;
    for (const auto& p : *phases) {
      distinct.insert(p.substr(p.find(": ") + 2));
    }
    r.fields["exporting"] = fmt::format("{}", fmt::join(distinct, ", "));
  } else {
    r.fields["exporting"] = std::string(camunda::k_phases_unknown);
  }
  r.terminal = !running;
  // The backup as a whole: running while any part runs, complete when
  // every part is, failed when one failed, partial otherwise.
  std::set<BackupState> parts;
  for (const auto& [component, state] : r.fields.items()) {
    if (component != "exporting") {
      parts.insert(camunda::backup_state(
          state.is_string() ? state.get<std::string>() : ""));
    }
  }
  r.backup = parts.contains(BackupState::running)       ? BackupState::running
             : parts == std::set{BackupState::complete} ? BackupState::complete
             : parts.contains(BackupState::failed)      ? BackupState::failed
                                                        : BackupState::partial;
  std::vector<std::string> short_of;
  for (const auto& [component, state] : r.fields.items()) {
    bool done = state == "COMPLETED" || state == "COMPLETE" ||
                state == "SUCCESS" || component == "exporting";
    if (!done) {
      short_of.push_back(fmt::format(
          "{} {}", component,
          state.is_string() ? state.get<std::string>() : state.dump()));
    }
  }
  if (!short_of.empty()) {
    r.not_ready = fmt::format("camunda: backup {} is not complete everywhere: "
                              "{}",
                              id, join_list(short_of, ", "));
  }
  return r;
}

Expected<ListResult> CamundaAdapter::list() {
  camunda::ZeebeEndpoint ep = SNAP_TRY(check_version());
  if (ep.v81) {
    return fail(ErrorKind::unsupported,
                "camunda: Camunda 8.1's backup APIs cannot list backups (it "
                "arrived in 8.2); ask for one with snap status camunda ID");
  }
  std::vector<Webapp> apps = SNAP_TRY(webapps(ep));
  std::map<std::int64_t, std::map<std::string, std::string>> by_id;
  auto collect = [&](const camunda::Actuator& a,
                     const std::string& p) -> Expected<void> {
    json list = SNAP_TRY(a.call("GET", p));
    for (const auto& b : list) {
      by_id[b.value("backupId", 0L)][a.label] = b.value("state", "");
    }
    return {};
  };
  for (const auto& app : apps) {
    SNAP_TRY(collect(app.api, app.path));
  }
  SNAP_TRY(collect(m_zeebe, ep.path));
  ListResult rows;
  std::size_t wanted = apps.size() + 1;
  for (auto it = by_id.rbegin(); it != by_id.rend(); ++it) {
    bool complete = it->second.size() == wanted;
    Fields states = Fields::object();
    for (const auto& [comp, st] : it->second) {
      states[comp] = st;
      complete &= st == "COMPLETED" || st == "COMPLETE";
    }
    rows.push_back({std::to_string(it->first),
                    {{"complete", complete}, {"components", states}}});
  }
  return rows;
}

Expected<Fields> CamundaAdapter::remove(const std::string& id) {
  return remove_backup(id, flag("repository"));
}

// Deletes backup `id` in every component, web apps first (each deletes its
// own snapshots: DELETE <backups>/<id>, answered 204), then the zeebe-record
// snapshot in `repo` when one is named, then Zeebe's (8.2+: DELETE
// /actuator/backups/<id>). A component that no longer holds it is skipped;
// one that fails is named, and the rest still tried, so a second run
// finishes the job. Docs: the backup-restore "Delete backup API" of each
// component (docs.camunda.io, self-managed/operational-guides/
// backup-restore/{operate-tasklist,optimize,zeebe}-backup).
Expected<Fields> CamundaAdapter::remove_backup(const std::string& id,
                                               const std::string& repo) {
  std::int64_t n = SNAP_TRY(camunda::backup_id_from(id));
  camunda::ZeebeEndpoint ep = SNAP_TRY(check_version());
  if (ep.v81) {
    return fail(ErrorKind::unsupported,
                "camunda: Camunda 8.1's backup APIs cannot delete a backup "
                "(it arrived in 8.2)");
  }
  std::vector<Webapp> apps = SNAP_TRY(webapps(ep));
  Fields deleted = Fields::array();
  std::vector<std::string> failed;
  auto tally = [&](const std::string& what, Expected<json> got) {
    if (got) {
      deleted.push_back(what);
    } else if (got.error().kind != ErrorKind::not_found) {
      failed.push_back(fmt::format("{} ({})", what, got.error().message));
    }
  };
  std::string path_id = "/" + url_escape(std::to_string(n));
  for (const auto& app : apps) {
    tally(app.api.label, app.api.call("DELETE", app.path + path_id, json(),
                                      {204, 200}, false));
  }
  if (!repo.empty()) {
    tally("elasticsearch",
          m_es.call("DELETE",
                    fmt::format("/_snapshot/{}/{}", url_escape(repo),
                                url_escape(records_snapshot(n))),
                    json(), {.idempotent = false}));
  }
  // Zeebe answers a delete with 204 whether or not it held the backup
  // (BackupEndpoint.delete), so ask first.
  auto held = camunda::zeebe_get(m_zeebe, ep, std::to_string(n));
  tally("zeebe", held ? m_zeebe.call("DELETE", ep.path + path_id, json(),
                                     {204, 200}, false)
                      : held);
  if (!failed.empty()) {
    return fail(ErrorKind::remote,
                fmt::format("camunda: backup {} could not be deleted "
                            "everywhere: {}; deleted: {} (run the delete "
                            "again once they answer)",
                            n, join_list(failed, "; "),
                            deleted.empty() ? "nothing" : deleted.dump()));
  }
  if (deleted.empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("camunda: no component holds backup {}", n));
  }
  return Fields{{"deleted", n}, {"components", deleted}};
}

Expected<RestoreReport> CamundaAdapter::restore(ArchiveReader& in,
                                                bool dry_run) {
  json record = SNAP_TRY(in.read_json(k_entry));
  std::int64_t id = record.value("backup_id", 0L);
  std::string repo = flag("repository").empty() ? record.value("repository", "")
                                                : flag("repository");
  SNAP_TRY(m_es.version());
  // The documented order: Operate and Tasklist (8.8: the web apps),
  // Optimize, then the records.
  std::vector<std::string> names;
  for (const std::string app : {"webapps", "operate", "tasklist", "optimize"}) {
    const json& c = record["components"].value(app, json::object());
    for (const auto& d : c.value("details", json::array())) {
      names.push_back(d.value("snapshotName", ""));
    }
  }
  names.push_back(records_snapshot(id));
  // Camunda's restore procedure deletes every index of its applications
  // first (restore.md: "delete all operate|tasklist|optimize|zeebe
  // indices"), not only those in the snapshots: one made after the backup
  // would survive the restore and disagree with it.
  std::vector<std::string> prefixes = {
      "operate-", "tasklist-", "optimize-",
      record.value("records_prefix", std::string("zeebe-record"))};
  if (record["components"].contains("webapps")) {
    prefixes.push_back("camunda-"); // 8.8's harmonized indices
  }
  std::vector<std::string> deleted;
  for (const auto& [index, state] : SNAP_TRY(es::index_states(m_es))) {
    for (const auto& p : prefixes) {
      if (index.starts_with(p)) {
        deleted.push_back(index);
        break;
      }
    }
  }
  for (const auto& name : names) {
    SNAP_TRY(es::get_snapshot(m_es, repo, name)); // each must be there
  }
  bool replace = !flag("replace").empty();
  Fields zeebe_steps = Fields::array();
  zeebe_steps.push_back(
      fmt::format("restore Zeebe offline: stop every broker, empty their "
                  "data directories, run bin/restore --backupId={} on each "
                  "(same partition count and backup store), then start "
                  "Zeebe, Operate, Tasklist and Optimize",
                  id));
  // On Kubernetes (--kubeconfig or --namespace) snap does those steps too.
  std::optional<camunda::KubeTargets> kube;
  if (!flag("kubeconfig").empty() || !flag("namespace").empty()) {
    std::vector<std::string> components =
        flag("components").empty()
            ? std::vector<std::string>{"zeebe-broker",
                                       "orchestration",
                                       "orchestration-importer",
                                       "zeebe-gateway",
                                       "operate",
                                       "tasklist",
                                       "optimize"}
            : split_list(flag("components"));
    kube = SNAP_TRY(
        camunda::find_targets(m_ctx, components, flag("restore-command")));
  }
  if (dry_run) {
    std::vector<std::string> plan;
    if (kube) {
      plan = camunda::describe_stop(*kube);
    }
    if (!deleted.empty()) {
      plan.push_back(fmt::format(
          "delete every Operate, Tasklist, Optimize and Zeebe record index: "
          "{}{}",
          fmt::join(deleted, ", "),
          replace ? ""
                  : " (needs --replace: without it the restore stops "
                    "here and changes nothing)"));
    }
    for (const auto& name : names) {
      plan.push_back(
          fmt::format("POST /_snapshot/{}/{}/_restore and wait", repo, name));
    }
    if (kube) {
      for (auto& line : camunda::describe_brokers(*kube, id)) {
        plan.push_back(std::move(line));
      }
      plan.push_back("scale every workload above back to its replicas and "
                     "wait until they are available");
    } else {
      plan.push_back(zeebe_steps[0].get<std::string>());
    }
    return RestoreReport{.plan = std::move(plan)};
  }
  if (!deleted.empty() && !replace) {
    return fail(ErrorKind::conflict,
                fmt::format("camunda: the cluster holds indices of Operate, "
                            "Tasklist, Optimize or Zeebe records: {}; "
                            "nothing was changed (stop those applications "
                            "and Zeebe, then add --replace to delete them "
                            "all, as Camunda's restore procedure does)",
                            fmt::join(deleted, ", ")));
  }
  // Stopping changes no data: if it fails or is interrupted, everything is
  // started again. From the first deleted index on, a failure leaves the
  // cluster stopped and says what is left to do.
  std::vector<kube::Scaled> scaled;
  if (kube) {
    auto stopped = kube::scale_down(
        *kube->cluster.api, m_ctx.reporter,
        [&](std::string n) { m_ctx.reporter.note(n); }, kube->ns,
        kube->workloads, wait_timeout(), scaled, "camunda");
    if (!stopped) {
      (void)kube::scale_back(*kube->cluster.api, scaled, "camunda");
      return tl::unexpected(stopped.error());
    }
  }
  auto halfway = [&](Error e, const std::string& left) {
    if (kube) {
      e.message += fmt::format(
          ". The cluster is left stopped: {}, then start it again: {}", left,
          camunda::scale_back_commands(*kube, scaled));
    }
    return tl::unexpected(e);
  };
  std::string zeebe_left = fmt::format(
      "restore each broker's volume (bin/restore --backupId={})", id);
  std::vector<std::string> short_of;
  auto es_part = [&]() -> Expected<void> {
    for (const auto& batch : es::name_batches(deleted)) {
      SNAP_TRY(
          m_es.call("DELETE", "/" + batch, json(),
                    {.query = "expand_wildcards=all", .idempotent = false}));
    }
    for (const auto& name : names) {
      m_ctx.reporter.note(fmt::format("restoring snapshot {}", name));
      json done = SNAP_TRY(m_es.call(
          "POST",
          fmt::format("/_snapshot/{}/{}/_restore", url_escape(repo),
                      url_escape(name)),
          json{{"include_global_state", false}},
          {.query = "wait_for_completion=true", .idempotent = false}));
      // The answer's RestoreInfo counts shards that could not be
      // recovered: the restore finished, but not whole.
      json shards = done.value("snapshot", json::object())
                        .value("shards", json::object());
      std::uint64_t failed = shards.value("failed", std::uint64_t{0});
      if (failed > 0) {
        short_of.push_back(
            fmt::format("{} ({} of {} shards failed)", name, failed,
                        shards.value("total", std::uint64_t{0})));
      }
    }
    return {};
  };
  if (auto ok = es_part(); !ok) {
    return halfway(ok.error(), "restore the snapshots again, " + zeebe_left);
  }
  if (!short_of.empty()) {
    Error e{ErrorKind::partial,
            fmt::format("camunda: not every shard was restored: {} (see GET "
                        "_cat/shards; restore those snapshots again before "
                        "Zeebe)",
                        fmt::join(short_of, "; "))};
    if (kube) {
      return halfway(e, zeebe_left);
    }
    RestoreReport r;
    r.details = {{"restored_snapshots", names}, {"deleted_indices", deleted}};
    r.next_steps = zeebe_steps.get<std::vector<std::string>>();
    r.verdict = e;
    return r;
  }
  RestoreReport r;
  r.details = {{"restored_snapshots", names}, {"deleted_indices", deleted}};
  if (!kube) {
    r.next_steps = zeebe_steps.get<std::vector<std::string>>();
    return r;
  }
  if (auto ok =
          camunda::restore_brokers(*kube, m_ctx.reporter, id, wait_timeout());
      !ok) {
    return halfway(ok.error(), "find why the Job failed, " + zeebe_left);
  }
  SNAP_TRY(kube::scale_back(*kube->cluster.api, scaled, "camunda"));
  SNAP_TRY(
      camunda::wait_available(*kube, scaled, m_ctx.reporter, wait_timeout()));
  r.details["zeebe_brokers_restored"] = kube->broker_count;
  Fields started = Fields::array();
  for (const auto& s : scaled) {
    started.push_back(s.workload_type.name() + "/" + s.workload_name);
  }
  r.details["workloads_started"] = started;
  return r;
}

} // namespace

const AdapterInfo& camunda_info() {
  using C = Capability;
  std::vector<Capability> all = {C::save, C::restore, C::status, C::list,
                                 C::remove};
  static const AdapterInfo info{
      .name = "camunda",
      .summary = "Camunda 8: the whole-cluster backup (Optimize, Operate, "
                 "Tasklist, zeebe-record snapshot, Zeebe) with one id",
      .caps = {C::save, C::restore, C::status, C::list, C::remove},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1:9600",
      .flags =
          {{"zeebe", "Zeebe gateway management address (default --addr)", true,
            all},
           {"operate", "Operate management address", true, all},
           {"tasklist", "Tasklist management address", true, all},
           {"optimize",
            "Optimize management address (default "
            "http://127.0.0.1:8092)",
            true, all},
           {"elasticsearch",
            "Elasticsearch address (default http://127.0.0.1:9200)", true, all},
           {"kubeconfig",
            "restore: the kubeconfig of the cluster Camunda runs in; "
            "snap then stops the applications, restores every "
            "broker's volume with a Job and starts them again",
            true,
            {C::restore}},
           {"context", "restore: the kubeconfig context", true, {C::restore}},
           {"namespace",
            "restore: Camunda's namespace (default: the context's)",
            true,
            {C::restore}},
           {"components",
            "restore on Kubernetes: the app.kubernetes.io/component "
            "labels of the workloads to stop (default "
            "zeebe-broker,orchestration,orchestration-importer,zeebe-gateway,"
            "operate,tasklist,optimize)",
            true,
            {C::restore}},
           {"restore-command",
            "restore on Kubernetes: Zeebe's restore application in the "
            "broker image (default bin/restore beside the brokers' data "
            "mount: /usr/local/zeebe/bin/restore before 8.8, "
            "/usr/local/camunda/bin/restore from 8.8)",
            true,
            {C::restore}},
           {"repository",
            "Elasticsearch snapshot repository of the web apps' "
            "backups, which takes the zeebe-record snapshot too",
            true, all},
           {"records-prefix",
            "index prefix of the exported Zeebe records (default "
            "zeebe-record)",
            true,
            {C::save}},
           {"skip",
            "web apps the cluster does not run (optimize, "
            "operate, tasklist)",
            true, all, true},
           {"backup-id",
            "the one id for every component, above every earlier "
            "Zeebe backup's (default: UTC epoch seconds)",
            true,
            {C::save}},
           {"camunda-version",
            "e.g. 8.5.1: picks the API generation and soft or hard "
            "pause (default: asked from the gateway)",
            true, all},
           {"wait-timeout",
            "seconds to wait for each component (default 3600)",
            true,
            {C::save}},
           {"replace",
            "delete the indices the restored snapshots would overwrite",
            false,
            {C::restore}}},
  };
  return info;
}

Expected<Fields> describe_camunda(ArchiveReader& in,
                                  const DescribeOptions& opts) {
  return CamundaAdapter::describe(in, opts.verify);
}

std::unique_ptr<Adapter> make_camunda(AdapterContext ctx) {
  return std::make_unique<CamundaAdapter>(ctx);
}

} // namespace snap::adapters
