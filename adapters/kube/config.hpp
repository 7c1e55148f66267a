// SPDX-License-Identifier: MIT
// Where a Kubernetes API server is and how to prove who we are, read as
// client-go reads it: a kubeconfig (--kubeconfig, else $KUBECONFIG, a ':'
// list merged first-wins, else ~/.kube/config), or the pod's service account
// when running in a cluster.
#pragma once

#include <string>

#include "snap/http.hpp"
#include "snap/options.hpp"

namespace snap::adapters::kube {

struct Target {
  std::string server;         // https://host:port, no trailing '/'
  std::string namespace_name; // the context's namespace, or ""
  TlsOptions tls;
  std::string token; // a secret: never printed
  std::string user;
  std::string password; // a secret: never printed
  std::string source;   // "kubeconfig /path, context ctx", for messages
};

// Reads the kubeconfig `path` names (a ':'-separated list, like
// KUBECONFIG; or when empty, found as above) and resolves
// `context` (default: current-context). `home` is $HOME. Errors: `config`
// for a missing or unreadable file, an unknown context, cluster or user,
// bad base64, or an auth method snap cannot use (auth-provider). A user's
// exec credential plugin is run unless `run_plugins` is false (a fuzzer
// reading crafted files), when it is refused like an unknown method.
Expected<Target> load_target(const std::string& path,
                             const std::string& context, const EnvLookup& env,
                             bool run_plugins = true);

} // namespace snap::adapters::kube
