// SPDX-License-Identifier: MIT
// kubeconfig and in-cluster configuration, after client-go's
// tools/clientcmd (loader.go, client_config.go) and rest/config.go
// (InClusterConfig).
#include "adapters/kube_config.hpp"

#include <filesystem>
#include <map>

#include <yaml-cpp/yaml.h>

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

Expected<Target> load_target(const std::string& path,
                             const std::string& context, const EnvLookup& env) {
  std::vector<fs::path> files;
  if (!path.empty()) {
    files.emplace_back(path);
  } else if (auto list = env("KUBECONFIG")) {
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
    if (path.empty() && files.size() > 1 && !fs::exists(f)) {
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
  if (u.body && u.body.IsMap() && (u.body["exec"] || u.body["auth-provider"])) {
    return tl::unexpected(
        Error{ErrorKind::unsupported,
              fmt::format("fabric: user '{}' in the kubeconfig authenticates "
                          "through an {}, which snap does not run; give snap a "
                          "token (--token-file) or a client certificate "
                          "(--cert-file/--key-file) instead",
                          user_name,
                          u.body["exec"] ? "exec plugin" : "auth-provider")});
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

} // namespace snap::adapters::kube
