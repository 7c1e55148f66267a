// SPDX-License-Identifier: MIT
#include "adapters/kube/cluster.hpp"

#include "adapters/kube/config.hpp"
#include "adapters/kube/objects.hpp"
#include "snap/json.hpp"

namespace snap::adapters::kube {

std::string Cluster::url() const {
  return http ? redact_url(http->config().base_url) : std::string();
}

Expected<Cluster> connect(const AdapterContext& ctx, const std::string& label) {
  return connect(ctx.connector, ctx.flags, label);
}

namespace {

// `given` the connection flags that win over the kubeconfig's.
Expected<Cluster> connect_with(const Connector& connector,
                               const Connection& given,
                               const AdapterFlags& flags,
                               const std::string& label);

} // namespace

Expected<Cluster> connect(const Connector& connector, const AdapterFlags& flags,
                          const std::string& label) {
  return connect_with(connector, connector.given(), flags, label);
}

Expected<Cluster> connect_kubeconfig(const AdapterContext& ctx,
                                     const std::string& label) {
  return connect_with(ctx.connector, Connection{}, ctx.flags, label);
}

namespace {

Expected<Cluster> connect_with(const Connector& connector,
                               const Connection& given,
                               const AdapterFlags& flags,
                               const std::string& label) {
  std::string kubeconfig = flag_value(flags, "kubeconfig");
  auto target =
      load_target(kubeconfig, flag_value(flags, "context"), process_env());
  // --addr alone is enough when no kubeconfig was named and none is found.
  if (!target &&
      !(!given.base_url.empty() && target.error().kind == ErrorKind::config &&
        kubeconfig.empty())) {
    return tl::unexpected(target.error());
  }
  Target t = target ? *target : Target{};
  // What was given wins over the kubeconfig, field by field.
  Connection conn;
  conn.base_url = given.base_url.empty() ? t.server : given.base_url;
  conn.tls = given.tls;
  if (given.tls.ca_file.empty()) {
    conn.tls.ca_pem = t.tls.ca_pem;
  }
  if (given.tls.cert_file.empty()) {
    conn.tls.cert_pem = t.tls.cert_pem;
    conn.tls.key_pem = t.tls.key_pem;
  }
  conn.tls.insecure = given.tls.insecure || t.tls.insecure;
  conn.token = given.token.empty() ? t.token : given.token;
  bool given_user = !given.user.empty();
  conn.user = given_user ? given.user : t.user;
  conn.password = given_user ? given.password : t.password;
  HttpConfig cfg = endpoint_config(conn, label);
  Cluster c;
  c.ns = flag_value(flags, "namespace");
  if (c.ns.empty()) {
    c.ns = t.namespace_name.empty() ? "default" : t.namespace_name;
  }
  c.http = connector.open(std::move(cfg));
  c.api = std::make_unique<Client>(*c.http);
  std::string body;
  Request req{.path = "/version"};
  Response resp = SNAP_TRY(c.http->send_small(req, body));
  if (!resp.ok()) {
    resp.error_body = status_text(resp.error_body);
    std::string hint = resp.status == 401
                           ? "the server did not accept the credentials: "
                             "check the token or client certificate"
                           : "";
    return tl::unexpected(c.http->status_error(req, resp, hint));
  }
  auto v = parse_untrusted_json(body);
  c.server_version = v.is_object() ? str(v, "gitVersion") : "";
  return c;
}

} // namespace

} // namespace snap::adapters::kube
