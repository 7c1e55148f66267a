// SPDX-License-Identifier: MIT
// A connection to a Kubernetes API server, as every adapter that works
// through Kubernetes opens one: the kubeconfig's server, credentials and
// namespace, with snap's connection flags taking precedence as kubectl's
// --server, --token and --certificate-authority do.
#pragma once

#include <memory>
#include <string>

#include "adapters/kube/client.hpp"

namespace snap::adapters::kube {

struct Cluster {
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<Client> api;
  std::string ns;             // --namespace, else the context's, else default
  std::string server_version; // /version's gitVersion
  std::string url() const;    // the API server, redacted
};

// Connects to the cluster named by the adapter flags `kubeconfig` and
// `context` (or $KUBECONFIG, ~/.kube/config, the pod's service account),
// under `label`, and checks it answers GET /version. Without a kubeconfig
// an --addr alone will do. Errors: `config` (no kubeconfig, a bad one),
// `auth` (credentials refused), `connect`, any.
Expected<Cluster> connect(const AdapterContext& ctx, const std::string& label);
// The same from a connector and flags alone (snap schedule --apply, which
// has no adapter session).
Expected<Cluster> connect(const Connector& connector, const AdapterFlags& flags,
                          const std::string& label);
// The kubeconfig's cluster alone, for an adapter whose connection flags
// (--addr, --token) name another service (camunda's are Zeebe's).
Expected<Cluster> connect_kubeconfig(const AdapterContext& ctx,
                                     const std::string& label);

} // namespace snap::adapters::kube
