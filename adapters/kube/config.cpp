// SPDX-License-Identifier: MIT
// kubeconfig and in-cluster configuration, after client-go's
// tools/clientcmd (loader.go, client_config.go) and rest/config.go
// (InClusterConfig).
#include "adapters/kube/config.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include <yaml-cpp/yaml.h>

#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap::adapters::kube {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_sa_dir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

Error config_error(std::string message) {
  return Error{ErrorKind::config, "fabric: " + std::move(message)};
}

// A named entry of clusters/contexts/users and the file it came from, whose
// directory relative paths resolve against.
struct Named {
  YAML::Node body;
  fs::path file;
};

struct Merged {
  std::map<std::string, Named> clusters, contexts, users;
  std::string current_context;
};

std::string scalar(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap() || !n[key] || !n[key].IsScalar()) {
    return {};
  }
  return n[key].as<std::string>();
}

// Merges one file into `m`: the first file that sets a key wins.
Expected<void> merge_file(const fs::path& file, Merged& m) {
  std::string text = SNAP_TRY(read_small_file(file, "kubeconfig", 4 << 20));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return tl::unexpected(config_error(fmt::format(
        "kubeconfig {} is not valid YAML: {}", file.string(), e.what())));
  }
  if (!root.IsMap()) {
    return tl::unexpected(config_error(
        fmt::format("kubeconfig {} is not a kubeconfig (expected a map with "
                    "clusters, contexts and users)",
                    file.string())));
  }
  auto take = [&](const char* list, const char* inner,
                  std::map<std::string, Named>& into) {
    const YAML::Node items = root[list];
    if (!items || !items.IsSequence()) {
      return;
    }
    for (const auto& item : items) {
      std::string name = scalar(item, "name");
      if (!name.empty() && !into.contains(name)) {
        into[name] = Named{item[inner], file};
      }
    }
  };
  take("clusters", "cluster", m.clusters);
  take("contexts", "context", m.contexts);
  take("users", "user", m.users);
  if (m.current_context.empty()) {
    m.current_context = scalar(root, "current-context");
  }
  return {};
}

fs::path relative_to(const std::string& path, const fs::path& file) {
  fs::path p(path);
  return p.is_absolute() ? p : file.parent_path() / p;
}

// PEM text from "<key>-data" (base64) or the file "<key>".
Expected<std::string> pem_of(const Named& n, const std::string& key,
                             std::string_view what) {
  std::string data = scalar(n.body, (key + "-data").c_str());
  if (!data.empty()) {
    auto pem = base64_decode(data);
    if (!pem) {
      return tl::unexpected(config_error(fmt::format(
          "{}-data in {} is not base64 (kubectl writes it base64-encoded)", key,
          n.file.string())));
    }
    return *pem;
  }
  std::string file = scalar(n.body, key.c_str());
  if (file.empty()) {
    return std::string();
  }
  return read_small_file(relative_to(file, n.file), what);
}

extern "C" char** environ;

// What an exec plugin left: its exit status, stdout, and stderr's first
// line.
struct ExecResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `argv` with `env` added to snap's environment and stdin from
// /dev/null. Errors: `auth` when it cannot start or runs past `timeout_s`.
Expected<ExecResult> run_plugin(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env,
                                double timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe(out_pipe) != 0) {
    return fail(ErrorKind::internal, "fabric: cannot make a pipe");
  }
  if (::pipe(err_pipe) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return fail(ErrorKind::internal, "fabric: cannot make a pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    envs.emplace_back(*e);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  for (const auto& e : envs) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, cargv.data(),
                        cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return fail(ErrorKind::auth,
                fmt::format("fabric: cannot run the kubeconfig's exec plugin "
                            "'{}': {} (is it installed and on PATH?)",
                            argv[0], std::strerror(rc)));
  }
  ExecResult r;
  auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* into[2] = {&r.out, &r.err};
  bool timed_out = false;
  for (int open = 2; open > 0;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else if (into[i]->size() < (1 << 20)) {
        into[i]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      ::close(f.fd);
    }
  }
  if (timed_out) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) {
    return fail(ErrorKind::auth,
                fmt::format("fabric: the kubeconfig's exec plugin '{}' did "
                            "not answer within {:.0f} s",
                            argv[0], timeout_s));
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.err = trim_copy(r.err.substr(0, r.err.find('\n')));
  return r;
}

// Runs a user's exec credential plugin (client-go plugin/pkg/client/auth/
// exec) and takes the token or client certificate it prints.
Expected<void> exec_credentials(const Named& user, const std::string& name,
                                Target& t) {
  const YAML::Node exec = user.body["exec"];
  std::string api = scalar(exec, "apiVersion");
  if (api != "client.authentication.k8s.io/v1" &&
      api != "client.authentication.k8s.io/v1beta1") {
    return tl::unexpected(config_error(
        fmt::format("user '{}': exec apiVersion '{}' is not supported (use "
                    "client.authentication.k8s.io/v1 or v1beta1)",
                    name, api)));
  }
  if (scalar(exec, "interactiveMode") == "Always") {
    return tl::unexpected(config_error(fmt::format(
        "user '{}': the exec plugin needs a terminal (interactiveMode "
        "Always), which snap never gives it; log in first or use a token",
        name)));
  }
  std::string command = scalar(exec, "command");
  if (command.find('/') != std::string::npos) {
    command = relative_to(command, user.file).string();
  }
  std::vector<std::string> argv{command};
  if (exec["args"] && exec["args"].IsSequence()) {
    for (const auto& a : exec["args"]) {
      argv.push_back(a.as<std::string>());
    }
  }
  nlohmann::json info = {{"apiVersion", api},
                         {"kind", "ExecCredential"},
                         {"spec", {{"interactive", false}}}};
  if (is_truthy(scalar(exec, "provideClusterInfo"))) {
    info["spec"]["cluster"] = {{"server", t.server}};
    if (!t.tls.ca_pem.empty()) {
      info["spec"]["cluster"]["certificate-authority-data"] =
          base64_encode(t.tls.ca_pem);
    }
  }
  std::vector<std::string> env{"KUBERNETES_EXEC_INFO=" + info.dump()};
  if (exec["env"] && exec["env"].IsSequence()) {
    for (const auto& e : exec["env"]) {
      env.push_back(scalar(e, "name") + "=" + scalar(e, "value"));
    }
  }
  ExecResult r = SNAP_TRY(run_plugin(argv, env, 60));
  if (r.status != 0) {
    return fail(ErrorKind::auth,
                fmt::format("fabric: the kubeconfig's exec plugin '{}' failed "
                            "(exit {}){}",
                            argv[0], r.status,
                            r.err.empty() ? "" : ": " + r.err));
  }
  auto cred = parse_untrusted_json(r.out);
  nlohmann::json status = nlohmann::json::object();
  if (cred.is_object() && cred.contains("status") &&
      cred["status"].is_object()) {
    status = cred["status"];
  }
  if (!cred.is_object() || cred.value("kind", "") != "ExecCredential") {
    return fail(ErrorKind::auth,
                fmt::format("fabric: the kubeconfig's exec plugin '{}' did not "
                            "print an ExecCredential",
                            argv[0]));
  }
  t.token = status.value("token", "");
  t.tls.cert_pem = status.value("clientCertificateData", "");
  t.tls.key_pem = status.value("clientKeyData", "");
  if (t.token.empty() && t.tls.cert_pem.empty()) {
    return fail(ErrorKind::auth,
                fmt::format("fabric: the kubeconfig's exec plugin '{}' gave "
                            "neither a token nor a client certificate",
                            argv[0]));
  }
  return {};
}

Expected<Target> in_cluster(const EnvLookup& env) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  Target t;
  std::string h = *host;
  if (h.find(':') != std::string::npos) {
    h = "[" + h + "]"; // IPv6
  }
  t.server = fmt::format("https://{}:{}", h, *port);
  fs::path dir(k_sa_dir);
  t.token = trim_copy(
      SNAP_TRY(read_small_file(dir / "token", "service account token")));
  t.tls.ca_pem =
      SNAP_TRY(read_small_file(dir / "ca.crt", "service account CA"));
  if (auto ns = env("POD_NAMESPACE")) {
    t.namespace_name = *ns;
  } else if (fs::exists(dir / "namespace")) {
    t.namespace_name = trim_copy(
        SNAP_TRY(read_small_file(dir / "namespace", "service account file")));
  }
  t.source = "in-cluster service account";
  return t;
}

} // namespace

namespace {

Expected<Target> resolve_target(const std::string& path,
                                const std::string& context,
                                const EnvLookup& env, bool run_plugins);

} // namespace

Expected<Target> load_target(const std::string& path,
                             const std::string& context, const EnvLookup& env,
                             bool run_plugins) {
  // yaml-cpp throws on a node of an unexpected shape (a map where a list
  // belongs) wherever it is walked: every such file is a config error.
  try {
    return resolve_target(path, context, env, run_plugins);
  } catch (const YAML::Exception& e) {
    return tl::unexpected(config_error(fmt::format(
        "the kubeconfig is not one kubectl could read: {}", e.what())));
  }
}

namespace {

Expected<Target> resolve_target(const std::string& path,
                                const std::string& context,
                                const EnvLookup& env, bool run_plugins) {
  std::vector<fs::path> files;
  auto list = path.empty() ? env("KUBECONFIG") : std::optional(path);
  if (list) {
    // A ':'-separated list, merged (KUBECONFIG's form; one file is a
    // list of one).
    for (std::size_t start = 0; start <= list->size();) {
      auto colon = list->find(':', start);
      if (colon == std::string::npos) {
        colon = list->size();
      }
      if (colon > start) {
        files.emplace_back(list->substr(start, colon - start));
      }
      start = colon + 1;
    }
  } else if (auto home = env("HOME");
             home && fs::exists(fs::path(*home) / ".kube" / "config")) {
    files.push_back(fs::path(*home) / ".kube" / "config");
  } else if (env("KUBERNETES_SERVICE_HOST") && env("KUBERNETES_SERVICE_PORT")) {
    return in_cluster(env);
  } else {
    return tl::unexpected(config_error(
        "no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, create "
        "~/.kube/config, or run in a pod with a service account"));
  }
  Merged m;
  for (const auto& f : files) {
    // client-go skips files of a KUBECONFIG list that do not exist.
    if (files.size() > 1 && !fs::exists(f)) {
      continue;
    }
    SNAP_TRY(merge_file(f, m));
  }
  std::string ctx_name = context.empty() ? m.current_context : context;
  if (ctx_name.empty()) {
    return tl::unexpected(config_error(
        "the kubeconfig has no current-context; pass --context NAME"));
  }
  auto ctx = m.contexts.find(ctx_name);
  if (ctx == m.contexts.end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : m.contexts) {
      names.push_back(k);
    }
    return tl::unexpected(config_error(fmt::format(
        "context '{}' is not in the kubeconfig (it has: {})", ctx_name,
        names.empty() ? "none" : join_list(names, ", "))));
  }
  std::string cluster_name = scalar(ctx->second.body, "cluster");
  std::string user_name = scalar(ctx->second.body, "user");
  auto cluster = m.clusters.find(cluster_name);
  if (cluster == m.clusters.end()) {
    return tl::unexpected(config_error(
        fmt::format("context '{}' names cluster '{}', which the kubeconfig "
                    "does not define",
                    ctx_name, cluster_name)));
  }
  Target t;
  t.source = fmt::format("kubeconfig {}, context {}", ctx->second.file.string(),
                         ctx_name);
  t.namespace_name = scalar(ctx->second.body, "namespace");
  const Named& c = cluster->second;
  t.server = scalar(c.body, "server");
  while (!t.server.empty() && t.server.back() == '/') {
    t.server.pop_back();
  }
  if (t.server.empty()) {
    return tl::unexpected(config_error(fmt::format(
        "cluster '{}' in the kubeconfig has no server", cluster_name)));
  }
  t.tls.ca_pem = SNAP_TRY(pem_of(c, "certificate-authority", "cluster CA"));
  t.tls.insecure = is_truthy(scalar(c.body, "insecure-skip-tls-verify"));
  if (!scalar(c.body, "tls-server-name").empty() ||
      !scalar(c.body, "proxy-url").empty()) {
    return tl::unexpected(config_error(fmt::format(
        "cluster '{}' sets tls-server-name or proxy-url, which snap does not "
        "support yet; use a context that reaches the server directly",
        cluster_name)));
  }
  if (user_name.empty()) {
    return t;
  }
  auto user = m.users.find(user_name);
  if (user == m.users.end()) {
    return tl::unexpected(config_error(
        fmt::format("context '{}' names user '{}', which the kubeconfig does "
                    "not define",
                    ctx_name, user_name)));
  }
  const Named& u = user->second;
  if (u.body && u.body.IsMap() && u.body["auth-provider"]) {
    // client-go itself dropped the gcp and azure providers for exec
    // plugins (gcp_stub.go, azure_stub.go).
    return tl::unexpected(Error{
        ErrorKind::unsupported,
        fmt::format("fabric: user '{}' in the kubeconfig authenticates "
                    "through an auth-provider, which snap does not support; "
                    "use the provider's exec plugin (as kubectl now does), "
                    "a token (--token-file) or a client certificate",
                    user_name)});
  }
  if (u.body && u.body.IsMap() && u.body["exec"]) {
    if (!run_plugins) {
      return tl::unexpected(config_error(fmt::format(
          "user '{}' needs an exec plugin, which this caller does not run",
          user_name)));
    }
    SNAP_TRY(exec_credentials(u, user_name, t));
    return t;
  }
  t.tls.cert_pem =
      SNAP_TRY(pem_of(u, "client-certificate", "client certificate"));
  t.tls.key_pem = SNAP_TRY(pem_of(u, "client-key", "client key"));
  if (t.tls.cert_pem.empty() != t.tls.key_pem.empty()) {
    return tl::unexpected(config_error(fmt::format(
        "user '{}' has a client certificate without its key, or a key "
        "without its certificate",
        user_name)));
  }
  t.token = scalar(u.body, "token");
  if (t.token.empty()) {
    if (std::string f = scalar(u.body, "tokenFile"); !f.empty()) {
      t.token = trim_copy(
          SNAP_TRY(read_small_file(relative_to(f, u.file), "token file")));
    }
  }
  t.user = scalar(u.body, "username");
  t.password = scalar(u.body, "password");
  return t;
}

} // namespace

} // namespace snap::adapters::kube
