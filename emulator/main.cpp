// SPDX-License-Identifier: MIT
// snap-emulator: test equipment that speaks a system's REST API on 127.0.0.1
// (docs/contract.md §7). Prints "listening on 127.0.0.1:<port>" first; SIGTERM
// or SIGINT stops it and removes its data directory. Never installed.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "emulator/cloudify.hpp"
#include "emulator/consul.hpp"
#include "emulator/elasticsearch.hpp"
#include "emulator/faults.hpp"
#include "emulator/flux.hpp"
#include "emulator/healthchecks.hpp"
#include "emulator/kubernetes.hpp"
#include "emulator/webapps.hpp"
#include "emulator/zeebe.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

} // namespace

int main(int argc, char** argv) {
  using namespace snap::emulator;
  CLI::App app{"snap-emulator: emulated system APIs for snap's tests"};
  std::string system;
  int port = 0;
  std::string tls_cert, tls_key, tls_client_ca, statuses, data_dir;
  Faults faults;
  ConsulOptions consul;
  app.add_option("system", system,
                 "system to emulate: consul, cloudify, elasticsearch, flux, "
                 "kubernetes, zeebe, operate, tasklist, optimize, healthchecks")
      ->required();
  app.add_option("--port", port, "port on 127.0.0.1 (0: any free port)");
  app.add_option("--tls-cert", tls_cert, "serve HTTPS with this certificate");
  app.add_option("--tls-key", tls_key, "key for --tls-cert");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "require client certificates signed by this CA");
  app.add_option("--delay-ms", faults.delay_ms, "wait before every answer");
  app.add_option("--status-sequence", statuses,
                 "answer the first requests with these statuses, e.g. "
                 "503,503,200 (200: answer normally)");
  app.add_option("--fail-after-bytes", faults.fail_after_bytes,
                 "drop the connection after N bytes of a payload body");
  app.add_option("--require-token", faults.require_token,
                 "refuse requests without this token (403)");
  std::vector<std::string> answers;
  app.add_option("--answer", answers,
                 "PATH=FILE: answer GET PATH with FILE's bytes (a hostile "
                 "server); repeatable");
  app.add_option("--request-log", faults.request_log,
                 "append 'METHOD /path?query' for every request to FILE");
  app.add_option("--data-dir", data_dir,
                 "where to build artifacts (default: a new temporary dir)");
  app.add_flag("--no-leader", consul.no_leader,
               "consul: no cluster leader (500 'No cluster leader' unless "
               "?stale)");
  app.add_option("--snapshot-bytes", consul.snapshot_bytes,
                 "consul: add N bytes of state so snapshots are large");
  std::string content = "text";
  app.add_option("--snapshot-content", content,
                 "consul: the --snapshot-bytes state as 'text' (hex, "
                 "compresses about 2:1 like real state) or 'random' "
                 "(incompressible, so the snapshot is as large as the state)")
      ->check(CLI::IsMember({"text", "random"}));
  CloudifyOptions cloudify;
  app.add_option("--job-ms", cloudify.job_ms,
                 "cloudify: how long a snapshot workflow runs (default 300)");
  app.add_option("--fail-workflow", cloudify.fail_workflow,
                 "cloudify: make the create or restore workflow fail")
      ->check(CLI::IsMember({"create", "restore"}));
  app.add_option("--hang-workflow", cloudify.hang_workflow,
                 "cloudify: make the create or restore workflow never end")
      ->check(CLI::IsMember({"create", "restore"}));
  app.add_option("--restore-window-ms", cloudify.restore_window_ms,
                 "cloudify: answer 502 to all but /snapshot-status for this "
                 "long after a restore starts, as while services restart");
  app.add_flag("--corrupt-archive", cloudify.corrupt_member,
               "cloudify: created snapshot archives have one member whose "
               "bytes no longer match its CRC");
  app.add_option("--seed-snapshots", cloudify.seed_snapshots,
                 "cloudify: start with N uploaded snapshots seed-00000… (to "
                 "list)");
  app.add_option("--sample-dir", cloudify.sample_dir,
                 "cloudify: files every created snapshot also holds");
  FluxOptions flux;
  std::vector<std::string> flux_apps;
  app.add_option("--app", flux_apps,
                 "flux: an app and its components, NAME:comp1,comp2 "
                 "(repeatable; default myapp:web,db)");
  app.add_option("--line-delay-ms", flux.line_delay_ms,
                 "flux: pause between streamed task lines (default 50)");
  app.add_option("--fail-task", flux.fail_task,
                 "flux: make the backup or restore task end in an error line")
      ->check(CLI::IsMember({"backup", "restore"}));
  ElasticsearchOptions es;
  std::string es_reject;
  app.add_option("--es-version", es.version,
                 "elasticsearch: the version GET / reports (default 8.19.0; "
                 "7.x answers as 7.x does)");
  app.add_option("--snapshot-ms", es.snapshot_ms,
                 "elasticsearch: how long a snapshot stays IN_PROGRESS "
                 "(default 600)");
  app.add_option("--recovery-ms", es.recovery_ms,
                 "elasticsearch: how long a restored index recovers "
                 "(default 400)");
  app.add_option("--snapshot-outcome", es.outcome,
                 "elasticsearch: how snapshots end: success, partial (the "
                 "last index's shard fails; refused at creation without "
                 "partial:true) or failed")
      ->check(CLI::IsMember({"success", "partial", "failed"}));
  app.add_option("--reject-doc-ids", es_reject,
                 "elasticsearch: _bulk items with these ids (comma-separated) "
                 "fail to parse (400)");
  app.add_option("--restore-failed-shards", es.restore_failed_shards,
                 "elasticsearch: in every restore N shards fail to recover "
                 "(counted in the answer's shards.failed)");
  app.add_option("--reject-429", es.reject_429,
                 "elasticsearch: reject the first N _bulk items with 429");
  app.add_option("--require-user", es.require_user,
                 "elasticsearch: require basic auth user:password (401 "
                 "otherwise); --require-token then names an accepted API key");
  app.add_option("--path-repo", es.path_repo,
                 "elasticsearch: path.repo, where fs repositories may live "
                 "(default: the data directory)");
  ZeebeOptions zeebe;
  app.add_option("--camunda-version", zeebe.version,
                 "zeebe: the version it reports (default 8.7.2; from 8.8 the "
                 "backup endpoint is /actuator/backupRuntime)");
  app.add_option("--zeebe-role", zeebe.role,
                 "zeebe: gateway (standalone, no /actuator/partitions) or "
                 "broker (with its embedded gateway) (default: gateway before "
                 "8.8, the orchestration cluster from 8.8)");
  app.add_option("--partitions", zeebe.partitions,
                 "zeebe: number of partitions (default 3)");
  app.add_option("--backup-ms", zeebe.backup_ms,
                 "zeebe: how long a backup takes (default 500)");
  app.add_option("--backup-outcome", zeebe.outcome,
                 "zeebe: how backups end: completed, failed (partition 1) or "
                 "incomplete (the last partition never has it)")
      ->check(CLI::IsMember({"completed", "failed", "incomplete"}));
  WebappOptions webapp;
  app.add_option("--elasticsearch", webapp.elasticsearch,
                 "operate, tasklist, optimize, and zeebe from 8.8 (the "
                 "orchestration cluster's /actuator/backupHistory): the "
                 "Elasticsearch their backups are snapshots in "
                 "(http://127.0.0.1:PORT)");
  app.add_option("--repository", webapp.repository,
                 "operate, tasklist, optimize: their backup repository "
                 "(default camunda)");
  app.add_option("--webapp-outcome", webapp.outcome,
                 "operate, tasklist, optimize: completed, or failed (the "
                 "last part is never taken and the backup reads FAILED)")
      ->check(CLI::IsMember({"completed", "failed"}));
  KubernetesOptions kube;
  app.add_option("--crd", kube.crd_files,
                 "kubernetes: serve the kinds of this CustomResourceDefinition "
                 "YAML (repeatable)");
  app.add_option("--volume-snapshot-ms", kube.snapshot_ms,
                 "kubernetes: how long a VolumeSnapshot takes to become "
                 "readyToUse after it is cut (default 300)");
  app.add_option("--volume-snapshot-outcome", kube.snapshot_outcome,
                 "kubernetes: ready, never (cut but never readyToUse) or "
                 "error (status.error set, never ready)")
      ->check(CLI::IsMember({"ready", "never", "error"}));
  app.add_option("--reject-create", kube.reject_create,
                 "kubernetes: creating an object of this name answers 422 "
                 "Invalid (repeatable)");
  HealthchecksOptions healthchecks;
  app.add_option("--check", healthchecks.checks,
                 "healthchecks: the UUID of a check that exists (repeatable)");
  app.add_option("--api-key", healthchecks.api_key,
                 "healthchecks: the X-Api-Key of the Management API");
  CLI11_PARSE(app, argc, argv);
  webapp.app = system;
  webapp.version = zeebe.version;
  webapp.v81 = zeebe.version.starts_with("8.1.") || zeebe.version == "8.1";
  for (std::size_t start = 0; start < es_reject.size();) {
    auto comma = es_reject.find(',', start);
    if (comma == std::string::npos) {
      comma = es_reject.size();
    }
    if (comma > start) {
      es.reject_ids.push_back(es_reject.substr(start, comma - start));
    }
    start = comma + 1;
  }
  es.require_api_key = faults.require_token;
  if (!flux_apps.empty()) {
    flux.apps = flux_apps;
  }
  consul.random_content = content == "random";
  faults.status_sequence = parse_status_sequence(statuses);
  for (const auto& a : answers) {
    auto eq = a.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--answer %s: expected PATH=FILE\n", a.c_str());
      return 2;
    }
    faults.answers.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }

  bool own_dir = data_dir.empty();
  if (own_dir) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "snap-emulator-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("snap-emulator: mkdtemp");
      return 1;
    }
    data_dir = pattern;
  }
  consul.data_dir = data_dir;
  cloudify.data_dir = data_dir;
  flux.data_dir = data_dir;
  if (es.path_repo.empty()) {
    es.path_repo = data_dir;
  }

  std::unique_ptr<httplib::Server> server;
  if (!tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(
        tls_cert.c_str(), tls_key.c_str(),
        tls_client_ca.empty() ? nullptr : tls_client_ca.c_str());
    if (!tls_client_ca.empty()) {
      // As Consul's verify_incoming: no client certificate, no connection.
      // The Kubernetes API server asks for one but takes a token instead.
      int mode = SSL_VERIFY_PEER;
      if (system != "kubernetes") {
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      }
      SSL_CTX_set_verify(tls->ssl_context(), mode, nullptr);
    }
    server = std::move(tls);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  // As the real servers: no Nagle delay on answers, and connections kept
  // alive for more than a handful of requests.
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(100000);
  FaultInjector injector(faults);
  server->set_pre_routing_handler(
      [&](const httplib::Request& rq, httplib::Response& rs) {
        return injector.intercept(rq, rs)
                   ? httplib::Server::HandlerResponse::Handled
                   : httplib::Server::HandlerResponse::Unhandled;
      });
  if (system == "consul") {
    register_consul(*server, injector, consul);
  } else if (system == "cloudify") {
    register_cloudify(*server, injector, cloudify);
  } else if (system == "elasticsearch") {
    register_elasticsearch(*server, injector, es);
  } else if (system == "flux") {
    register_flux(*server, injector, flux);
  } else if (system == "kubernetes") {
    kube.client_ca = !tls_client_ca.empty();
    std::string error;
    if (!register_kubernetes(*server, injector, kube, error)) {
      std::fprintf(stderr, "snap-emulator: %s\n", error.c_str());
      return 2;
    }
  } else if (system == "zeebe") {
    // From 8.8 the orchestration cluster also backs up Operate and
    // Tasklist, given the Elasticsearch they keep their data in.
    int major = 0, minor = 0;
    std::sscanf(zeebe.version.c_str(), "%d.%d", &major, &minor);
    zeebe.webapps = !webapp.elasticsearch.empty() &&
                    (major > 8 || (major == 8 && minor >= 8));
    register_zeebe(*server, injector, zeebe);
    if (zeebe.webapps) {
      WebappOptions unified = webapp;
      unified.app = "webapps";
      unified.base = "/actuator/backupHistory";
      register_webapp(*server, injector, unified);
    }
  } else if (system == "healthchecks") {
    register_healthchecks(*server, injector, healthchecks);
  } else if (system == "operate" || system == "tasklist" ||
             system == "optimize") {
    if (webapp.elasticsearch.empty()) {
      std::fprintf(stderr, "snap-emulator: %s needs --elasticsearch URL\n",
                   system.c_str());
      return 2;
    }
    register_webapp(*server, injector, webapp);
  } else {
    std::fprintf(stderr,
                 "snap-emulator: unknown system '%s' (emulated: consul, "
                 "cloudify, elasticsearch, flux, kubernetes, zeebe, operate, "
                 "tasklist, optimize, healthchecks)\n",
                 system.c_str());
    return 2;
  }
  int bound = port == 0 ? server->bind_to_any_port("127.0.0.1")
                        : (server->bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) {
    std::fprintf(stderr, "snap-emulator: cannot listen on 127.0.0.1:%d\n",
                 port);
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", bound);
  std::fflush(stdout);

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread watcher([&] {
    while (!g_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    server->stop();
  });
  server->listen_after_bind();
  g_stop = true;
  watcher.join();
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
  }
  return 0;
}
