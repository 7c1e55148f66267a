// SPDX-License-Identifier: MIT
// snap-emulator: test equipment that speaks a system's REST API on 127.0.0.1
// (docs/contract.md §7). Prints "listening on 127.0.0.1:<port>" first; SIGTERM
// or SIGINT stops it and removes its data directory. Never installed.
//
// `snap-emulator <system> [flags]`: each system is one row of k_systems, a
// subcommand that owns its flags and starts its routes; the flags every
// system shares (port, TLS, injected faults, the request log) belong to the
// program and may come after the system's name.
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
#include "emulator/unix_relay.hpp"
#include "emulator/webapps.hpp"
#include "emulator/zeebe.hpp"

namespace {

using namespace snap::emulator;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

// What the flags fill, for every system.
struct Setup {
  std::string system;
  std::string data_dir;
  bool client_ca = false;
  Faults faults;
  ConsulOptions consul;
  std::string consul_content = "text";
  CloudifyOptions cloudify;
  FluxOptions flux;
  std::vector<std::string> flux_apps;
  ElasticsearchOptions es;
  std::string es_reject;
  ZeebeOptions zeebe;
  WebappOptions webapp;
  KubernetesOptions kube;
  HealthchecksOptions healthchecks;
};

// One emulated system: its flags, and how it starts on the server. start
// returns false with `error` set when the flags cannot work together.
struct System {
  const char* name;
  const char* summary;
  void (*flags)(CLI::App& sub, Setup& s);
  bool (*start)(httplib::Server& server, FaultInjector& injector, Setup& s,
                std::string& error);
  // A client certificate is asked for but not required (the Kubernetes API
  // server takes a token instead); elsewhere it is, as Consul's
  // verify_incoming.
  bool client_cert_optional = false;
  // No authentication of its own: Camunda's management port (9600) is not
  // secured and its documentation asks that it not be exposed, so a token
  // is checked by the proxy in front of it (Faults::proxy_auth).
  bool proxied = false;
};

void consul_flags(CLI::App& sub, Setup& s) {
  sub.add_flag("--no-leader", s.consul.no_leader,
               "no cluster leader (500 'No cluster leader' unless ?stale)");
  sub.add_option("--snapshot-bytes", s.consul.snapshot_bytes,
                 "add N bytes of state so snapshots are large");
  sub.add_option("--snapshot-content", s.consul_content,
                 "the --snapshot-bytes state as 'text' (hex, compresses "
                 "about 2:1 like real state) or 'random' (incompressible, so "
                 "the snapshot is as large as the state)")
      ->check(CLI::IsMember({"text", "random"}));
}

bool consul_start(httplib::Server& server, FaultInjector& injector, Setup& s,
                  std::string&) {
  s.consul.random_content = s.consul_content == "random";
  s.consul.data_dir = s.data_dir;
  register_consul(server, injector, s.consul);
  return true;
}

void cloudify_flags(CLI::App& sub, Setup& s) {
  CloudifyOptions& c = s.cloudify;
  sub.add_option("--job-ms", c.job_ms,
                 "how long a snapshot workflow runs (default 300)");
  sub.add_option("--fail-workflow", c.fail_workflow,
                 "make the create or restore workflow, install_new_agents "
                 "(agents) or update_plugin (plugins) fail")
      ->check(CLI::IsMember({"create", "restore", "agents", "plugins"}));
  sub.add_flag("--plugins-current", c.plugins_current,
               "a plugins update finds every blueprint's plugins current "
               "(no_changes_required)");
  sub.add_option("--scheduled-execution", c.scheduled_executions,
                 "an execution in status scheduled, as "
                 "WORKFLOW:DEPLOYMENT:TIME (2050-01-01T12:00:00.000Z); "
                 "repeatable");
  sub.add_flag("--before-schedules", c.before_schedules,
               "a manager before 5.2: no /execution-schedules, and a legacy "
               "restore requeues the scheduled executions still due");
  sub.add_option("--deployments", c.deployments,
                 "deployments dep-1…dep-N, each with one started compute "
                 "node instance (for install_new_agents), of blueprints "
                 "bp-1…bp-N");
  sub.add_option("--unstarted-deployment", c.unstarted_deployment,
                 "this deployment's compute instance is stopped");
  sub.add_option("--hang-workflow", c.hang_workflow,
                 "make the create or restore workflow never end")
      ->check(CLI::IsMember({"create", "restore"}));
  sub.add_option("--restore-window-ms", c.restore_window_ms,
                 "answer 502 to all but /snapshot-status for this long after "
                 "a restore starts, as while services restart");
  sub.add_flag("--corrupt-archive", c.corrupt_member,
               "created snapshot archives have one member whose bytes no "
               "longer match its CRC");
  sub.add_option("--seed-snapshots", c.seed_snapshots,
                 "start with N uploaded snapshots seed-00000… (to list)");
  sub.add_option("--sample-dir", c.sample_dir,
                 "files every created snapshot also holds");
}

bool cloudify_start(httplib::Server& server, FaultInjector& injector, Setup& s,
                    std::string&) {
  s.cloudify.data_dir = s.data_dir;
  register_cloudify(server, injector, s.cloudify);
  return true;
}

void flux_flags(CLI::App& sub, Setup& s) {
  sub.add_option("--app", s.flux_apps,
                 "an app and its components, NAME:comp1,comp2 (repeatable; "
                 "default myapp:web,db)");
  sub.add_option("--line-delay-ms", s.flux.line_delay_ms,
                 "pause between streamed task lines (default 50)");
  sub.add_option("--fail-task", s.flux.fail_task,
                 "make the backup or restore task end in an error line")
      ->check(CLI::IsMember({"backup", "restore"}));
  sub.add_option("--owner", s.flux.owner,
                 "the Flux ID (1…) that owns every app: requests must carry "
                 "its signed login in zelidauth");
  sub.add_option("--admin", s.flux.admin,
                 "the node admin's Flux ID (userconfig.initial.zelid)");
  sub.add_option("--session-ttl-s", s.flux.session_ttl_s,
                 "how long a login lasts (default 14 days, 1209600)");
  sub.add_option("--peer", s.flux.peers,
                 "another node (ip:port) that /apps/location lists as running "
                 "every app (repeatable)")
      ->allow_extra_args(false);
  sub.add_flag("--unhealthy", s.flux.unhealthy,
               "GET /id/loginphrase answers the DOS-state error");
  sub.add_option("--public-address", s.flux.fetch.public_addresses,
                 "an address a remote restore's URL may resolve to, as a "
                 "public host's would (FluxOS refuses loopback and private "
                 "ones); repeatable")
      ->allow_extra_args(false);
}

bool flux_start(httplib::Server& server, FaultInjector& injector, Setup& s,
                std::string&) {
  if (!s.flux_apps.empty()) {
    s.flux.apps = s.flux_apps;
  }
  s.flux.data_dir = s.data_dir;
  register_flux(server, injector, s.flux);
  return true;
}

void elasticsearch_flags(CLI::App& sub, Setup& s) {
  ElasticsearchOptions& es = s.es;
  sub.add_option("--es-version", es.version,
                 "the version GET / reports (default 8.19.0; 7.x answers as "
                 "7.x does)");
  sub.add_option("--distribution", es.distribution,
                 "elasticsearch (default) or opensearch: GET / then names "
                 "OpenSearch and --es-version is an OpenSearch version "
                 "(1.x to 3.x)")
      ->check(CLI::IsMember({"elasticsearch", "opensearch"}));
  sub.add_option("--snapshot-ms", es.snapshot_ms,
                 "how long a snapshot stays IN_PROGRESS (default 600)");
  sub.add_option("--recovery-ms", es.recovery_ms,
                 "how long a restored index recovers (default 400)");
  sub.add_option("--snapshot-outcome", es.outcome,
                 "how snapshots end: success, partial (the last index's "
                 "shard fails; refused at creation without partial:true) or "
                 "failed")
      ->check(CLI::IsMember({"success", "partial", "failed"}));
  sub.add_option("--reject-doc-ids", s.es_reject,
                 "_bulk items with these ids (comma-separated) fail to parse "
                 "(400)");
  sub.add_option("--restore-failed-shards", es.restore_failed_shards,
                 "in every restore N shards fail to recover (counted in the "
                 "answer's shards.failed)");
  sub.add_option("--reject-429", es.reject_429,
                 "reject the first N _bulk items with 429");
  sub.add_option("--require-user", es.require_user,
                 "require basic auth user:password (401 otherwise); "
                 "--require-token then names an accepted API key");
  sub.add_option("--unshared-repo-node", es.unshared_node,
                 "a second data node, by name, that cannot read the "
                 "repositories: POST _snapshot/<repo>/_verify fails on it");
  sub.add_option("--repo-anomaly", es.repo_anomaly,
                 "POST _snapshot/<repo>/_verify_integrity (8.16+) reports this "
                 "anomaly in the repository's first snapshot");
  sub.add_option("--path-repo", es.path_repo,
                 "path.repo, where fs repositories may live (default: the "
                 "data directory)");
}

bool elasticsearch_start(httplib::Server& server, FaultInjector& injector,
                         Setup& s, std::string&) {
  for (std::size_t start = 0; start < s.es_reject.size();) {
    auto comma = s.es_reject.find(',', start);
    if (comma == std::string::npos) {
      comma = s.es_reject.size();
    }
    if (comma > start) {
      s.es.reject_ids.push_back(s.es_reject.substr(start, comma - start));
    }
    start = comma + 1;
  }
  s.es.require_api_key = s.faults.require_token;
  if (s.es.path_repo.empty()) {
    s.es.path_repo = s.data_dir;
  }
  register_elasticsearch(server, injector, s.es);
  return true;
}

void camunda_version_flag(CLI::App& sub, Setup& s) {
  sub.add_option("--camunda-version", s.zeebe.version,
                 "the version it reports (default 8.7.2; from 8.8 Zeebe's "
                 "backup endpoint is /actuator/backupRuntime)");
}

void backup_store_flags(CLI::App& sub, Setup& s) {
  sub.add_option("--elasticsearch", s.webapp.elasticsearch,
                 "the Elasticsearch the web apps' backups are snapshots in "
                 "(http://127.0.0.1:PORT); for zeebe from 8.8, the "
                 "orchestration cluster's /actuator/backupHistory");
  sub.add_option("--repository", s.webapp.repository,
                 "the web apps' backup repository (default camunda)");
  sub.add_option("--webapp-outcome", s.webapp.outcome,
                 "completed, or failed (the last part is never taken and the "
                 "backup reads FAILED)")
      ->check(CLI::IsMember({"completed", "failed"}));
}

void webapp_version(Setup& s) {
  s.webapp.app = s.system;
  s.webapp.version = s.zeebe.version;
  s.webapp.v81 =
      s.zeebe.version.starts_with("8.1.") || s.zeebe.version == "8.1";
}

void zeebe_flags(CLI::App& sub, Setup& s) {
  camunda_version_flag(sub, s);
  sub.add_option("--zeebe-role", s.zeebe.role,
                 "gateway (standalone, no /actuator/partitions) or broker "
                 "(with its embedded gateway) (default: gateway before 8.8, "
                 "the orchestration cluster from 8.8)");
  sub.add_option("--partitions", s.zeebe.partitions,
                 "number of partitions (default 3)");
  sub.add_option("--backup-ms", s.zeebe.backup_ms,
                 "how long a backup takes (default 500)");
  sub.add_option("--backup-outcome", s.zeebe.outcome,
                 "how backups end: completed, failed (partition 1) or "
                 "incomplete (the last partition never has it)")
      ->check(CLI::IsMember({"completed", "failed", "incomplete"}));
  sub.add_flag("--continuous-backups", s.zeebe.continuous,
               "continuous backups are on (8.9+, backup.continuous): a take "
               "must leave out the id, which Zeebe makes from the time");
  backup_store_flags(sub, s);
}

bool zeebe_start(httplib::Server& server, FaultInjector& injector, Setup& s,
                 std::string&) {
  webapp_version(s);
  // From 8.8 the orchestration cluster also backs up Operate and Tasklist,
  // given the Elasticsearch they keep their data in.
  int major = 0, minor = 0;
  std::sscanf(s.zeebe.version.c_str(), "%d.%d", &major, &minor);
  s.zeebe.webapps = !s.webapp.elasticsearch.empty() &&
                    (major > 8 || (major == 8 && minor >= 8));
  register_zeebe(server, injector, s.zeebe);
  if (s.zeebe.webapps) {
    WebappOptions unified = s.webapp;
    unified.app = "webapps";
    unified.base = "/actuator/backupHistory";
    register_webapp(server, injector, unified);
  }
  return true;
}

void webapp_flags(CLI::App& sub, Setup& s) {
  camunda_version_flag(sub, s);
  backup_store_flags(sub, s);
}

bool webapp_start(httplib::Server& server, FaultInjector& injector, Setup& s,
                  std::string& error) {
  webapp_version(s);
  if (s.webapp.elasticsearch.empty()) {
    error = s.system + " needs --elasticsearch URL";
    return false;
  }
  register_webapp(server, injector, s.webapp);
  return true;
}

void kubernetes_flags(CLI::App& sub, Setup& s) {
  KubernetesOptions& k = s.kube;
  sub.add_option("--crd", k.crd_files,
                 "serve the kinds of this CustomResourceDefinition YAML "
                 "(repeatable)");
  sub.add_option("--volume-snapshot-ms", k.snapshot_ms,
                 "how long a VolumeSnapshot takes to become readyToUse after "
                 "it is cut (default 300)");
  sub.add_option("--volume-snapshot-outcome", k.snapshot_outcome,
                 "ready, never (cut but never readyToUse) or error "
                 "(status.error set, never ready)")
      ->check(CLI::IsMember({"ready", "never", "error"}));
  sub.add_option("--reject-create", k.reject_create,
                 "creating an object of this name answers 422 Invalid "
                 "(repeatable)");
  sub.add_flag("--fabric-operator", k.fabric_operator,
               "run fabric-operator: ibp.com resources get their Deployment "
               "and Service, and a status once their pods run");
  sub.add_option("--operator-ready-ms", k.operator_ready_ms,
                 "how long a node's pods take to run (default 300)");
  sub.add_option("--operator-fail", k.operator_fail,
                 "the operator sets this resource's status to Error "
                 "(repeatable)");
  sub.add_option("--workload-ready-ms", k.workload_ready_ms,
                 "how long a Deployment's or StatefulSet's pods take to run "
                 "after each change of its spec (default 0)");
  sub.add_option("--job-ms", k.job_ms,
                 "how long a Job's pod runs before it ends (default 300)");
  sub.add_option("--job-outcome", k.job_outcome,
                 "complete (default) or failed: how every Job ends")
      ->check(CLI::IsMember({"complete", "failed"}));
  sub.add_option("--pod-ms", k.pod_ms,
                 "how long a pod made directly takes to run once its PVCs "
                 "are bound (default 200)");
  sub.add_option("--volume-dir", k.volume_dir,
                 "folder of the volumes' files, one folder per CSI volume "
                 "handle (vol-pvc-<uid>) and storage snapshot; pods reach "
                 "them through pods/proxy (default: a temporary folder)");
}

bool kubernetes_start(httplib::Server& server, FaultInjector& injector,
                      Setup& s, std::string& error) {
  s.kube.client_ca = s.client_ca;
  return register_kubernetes(server, injector, s.kube, error);
}

void healthchecks_flags(CLI::App& sub, Setup& s) {
  sub.add_option("--check", s.healthchecks.checks,
                 "the UUID of a check that exists (repeatable)");
  sub.add_option("--api-key", s.healthchecks.api_key,
                 "the X-Api-Key of the Management API");
}

bool healthchecks_start(httplib::Server& server, FaultInjector& injector,
                        Setup& s, std::string&) {
  register_healthchecks(server, injector, s.healthchecks);
  return true;
}

const System k_systems[] = {
    {"consul", "Consul's HTTP API: KV, snapshots", consul_flags, consul_start},
    {"cloudify", "Cloudify Manager's REST API: snapshots, executions",
     cloudify_flags, cloudify_start},
    {"elasticsearch", "Elasticsearch: snapshots, search, _bulk",
     elasticsearch_flags, elasticsearch_start},
    {"flux", "a FluxOS node's app backup and restore API", flux_flags,
     flux_start},
    {"kubernetes",
     "a Kubernetes API server with discovery, CRDs, a garbage collector and "
     "the CSI snapshot controller",
     kubernetes_flags, kubernetes_start, true},
    {"zeebe", "a Zeebe gateway's or broker's management API", zeebe_flags,
     zeebe_start, false, true},
    {"operate", "Operate's backup actuator", webapp_flags, webapp_start, false,
     true},
    {"tasklist", "Tasklist's backup actuator", webapp_flags, webapp_start,
     false, true},
    {"optimize", "Optimize's backup actuator", webapp_flags, webapp_start,
     false, true},
    {"healthchecks", "Healthchecks.io's ping and Management API",
     healthchecks_flags, healthchecks_start},
};

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"snap-emulator: emulated system APIs for snap's tests"};
  Setup setup;
  int port = 0;
  std::string tls_cert, tls_key, tls_client_ca, statuses;
  std::vector<std::string> answers;
  Faults& faults = setup.faults;
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
  app.add_option("--answer", answers,
                 "[METHOD ]PATH=FILE: answer METHOD (default GET) of PATH "
                 "with FILE's bytes (a hostile server); repeatable");
  app.add_option("--request-log", faults.request_log,
                 "append 'METHOD /path?query' for every request to FILE");
  std::string unix_socket;
  app.add_option("--unix-socket", unix_socket,
                 "also serve on this unix domain socket (a Consul agent's "
                 "unix:// address)");
  app.add_option("--data-dir", setup.data_dir,
                 "where to build artifacts (default: a new temporary dir)");
  app.require_subcommand(1);
  const System* chosen = nullptr;
  for (const auto& system : k_systems) {
    CLI::App* sub = app.add_subcommand(system.name, system.summary);
    // The program's own flags may follow the system's name.
    sub->fallthrough();
    system.flags(*sub, setup);
    sub->callback([&setup, &chosen, &system] {
      chosen = &system;
      setup.system = system.name;
    });
  }
  CLI11_PARSE(app, argc, argv);
  faults.status_sequence = parse_status_sequence(statuses);
  for (const auto& a : answers) {
    auto eq = a.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--answer %s: expected PATH=FILE\n", a.c_str());
      return 2;
    }
    faults.answers.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  setup.client_ca = !tls_client_ca.empty();
  faults.proxy_auth = chosen->proxied;

  bool own_dir = setup.data_dir.empty();
  if (own_dir) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "snap-emulator-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("snap-emulator: mkdtemp");
      return 1;
    }
    setup.data_dir = pattern;
  } else {
    // A folder named on the command line is made if it is missing: every
    // system writes its artifacts there, and a missing one would fail each
    // request later instead of once here.
    std::error_code ec;
    std::filesystem::create_directories(setup.data_dir, ec);
    if (ec) {
      std::fprintf(stderr, "snap-emulator: --data-dir %s: %s\n",
                   setup.data_dir.c_str(), ec.message().c_str());
      return 1;
    }
  }

  std::unique_ptr<httplib::Server> server;
  if (!tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(
        tls_cert.c_str(), tls_key.c_str(),
        tls_client_ca.empty() ? nullptr : tls_client_ca.c_str());
    if (!tls_client_ca.empty()) {
      int mode = SSL_VERIFY_PEER;
      if (!chosen->client_cert_optional) {
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
  std::string error;
  if (!chosen->start(*server, injector, setup, error)) {
    std::fprintf(stderr, "snap-emulator: %s\n", error.c_str());
    return 2;
  }
  int bound = port == 0 ? server->bind_to_any_port("127.0.0.1")
                        : (server->bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) {
    std::fprintf(stderr, "snap-emulator: cannot listen on 127.0.0.1:%d\n",
                 port);
    return 1;
  }
  snap::emulator::UnixRelay relay;
  if (!unix_socket.empty() && !relay.start(unix_socket, bound, error)) {
    std::fprintf(stderr, "snap-emulator: %s\n", error.c_str());
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
    std::filesystem::remove_all(setup.data_dir, ec);
  }
  return 0;
}
