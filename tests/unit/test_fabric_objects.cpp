// SPDX-License-Identifier: MIT
// The fabric adapter's offline rules: resource names as kubectl spells them,
// kubeconfig resolution, stripping server fields, references from pod
// templates, the restore order.
#include <catch2/catch.hpp>

#include "adapters/fabric/objects.hpp"
#include "adapters/kube/client.hpp"
#include "adapters/kube/config.hpp"
#include "snap/text.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
namespace fabric = adapters::fabric;
namespace fs = std::filesystem;
namespace kube = adapters::kube;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

} // namespace

TEST_CASE("resource names parse as kubectl spells them", "[unit][fabric]") {
  auto a = kube::parse_resource_id("ibppeers.ibp.com/peer1");
  REQUIRE(a);
  CHECK(a->plural == "ibppeers");
  CHECK(a->group == "ibp.com");
  CHECK(a->version.empty());
  CHECK(a->name == "peer1");
  auto b = kube::parse_resource_id("ibppeers.v1beta1.ibp.com/peer1");
  REQUIRE(b);
  CHECK(b->version == "v1beta1");
  CHECK(b->group == "ibp.com");
  auto c = kube::parse_resource_id("peers.peerset.hyperledger.fabric/p0");
  REQUIRE(c);
  CHECK(c->group == "peerset.hyperledger.fabric");
  CHECK(c->version.empty());
  auto d = kube::parse_resource_id("configmaps/msp1");
  REQUIRE(d);
  CHECK(d->group.empty());
  for (const char* bad : {"peer1", "/x", "secrets/", "a/b/c"}) {
    INFO(bad);
    auto e = kube::parse_resource_id(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::usage);
  }
}

TEST_CASE("server fields are stripped before a create", "[unit][fabric]") {
  json svc = json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "p1", "namespace": "old", "uid": "u",
                 "resourceVersion": "7", "creationTimestamp": "t",
                 "managedFields": [], "ownerReferences": [{"uid": "x"}],
                 "labels": {"app": "p1"}},
    "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
             "ports": [{"port": 7051, "nodePort": 30001}]},
    "status": {"loadBalancer": {}}})");
  json out = kube::strip_for_create(svc, "new");
  CHECK(out["metadata"] == json::parse(
                               R"({"name":"p1","namespace":"new",
                                   "labels":{"app":"p1"}})"));
  CHECK_FALSE(out.contains("status"));
  CHECK_FALSE(out["spec"].contains("clusterIP"));
  CHECK(out["spec"]["ports"][0]["nodePort"] == 30001);

  json headless = svc;
  headless["spec"]["clusterIP"] = "None";
  CHECK(kube::strip_for_create(headless, "new")["spec"]["clusterIP"] ==
        "None");

  json pvc = json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {"name": "p1-pvc", "annotations": {
      "pv.kubernetes.io/bind-completed": "yes", "keep": "me"}},
    "spec": {"volumeName": "pvc-1", "storageClassName": "sc"}})");
  json p = kube::strip_for_create(pvc, "fab");
  CHECK(p["metadata"]["annotations"] == json{{"keep", "me"}});
  CHECK_FALSE(p["spec"].contains("volumeName"));
}

TEST_CASE("references are read from pod templates and Fabric specs",
          "[unit][fabric]") {
  json dep = json::parse(R"({"kind": "Deployment", "spec": {"template":
    {"spec": {
      "volumes": [{"secret": {"secretName": "s1"}},
                  {"configMap": {"name": "c1"}},
                  {"persistentVolumeClaim": {"claimName": "v1"}},
                  {"projected": {"sources": [{"secret": {"name": "s2"}}]}}],
      "containers": [{"envFrom": [{"configMapRef": {"name": "c2"}}],
                      "env": [{"valueFrom": {"secretKeyRef":
                                {"name": "s1", "key": "k"}}}]}],
      "imagePullSecrets": [{"name": "reg"}]}}}})");
  std::vector<std::string> got;
  for (const auto& r : fabric::references_of(dep)) {
    got.push_back(r.resource + "/" + r.name);
  }
  CHECK(got == std::vector<std::string>{
                   "secrets/s1", "configmaps/c1", "persistentvolumeclaims/v1",
                   "secrets/s2", "configmaps/c2", "secrets/reg"});
  json peer = {{"kind", "IBPPeer"}, {"spec", {{"mspSecret", "msp"}}}};
  REQUIRE(fabric::references_of(peer).size() == 1);
  CHECK(fabric::references_of(peer)[0].name == "msp");
}

TEST_CASE("restore order and PVC roles follow Fabric's needs",
          "[unit][fabric]") {
  using kube::restore_rank;
  CHECK(restore_rank("persistentvolumeclaims", false) <
        restore_rank("secrets", false));
  CHECK(restore_rank("secrets", false) <
        restore_rank("ibppeers.ibp.com", true));
  CHECK(restore_rank("configmaps", false) <
        restore_rank("ibppeers.ibp.com", true));
  CHECK(restore_rank("ibppeers.ibp.com", true) <
        restore_rank("deployments.apps", false));
  CHECK(fabric::pvc_role("p1-statedb-pvc", json::object()) == "statedb");
  CHECK(fabric::pvc_role("p1-pvc", json::object()) == "data");
  json custom = {
      {"spec", {{"customNames", {{"pvc", {{"statedb", "couch"}}}}}}}};
  CHECK(fabric::pvc_role("couch", custom) == "statedb");
  CHECK(kube::snapshot_name(std::string(300, 'a'), "id").size() == 253);
}

TEST_CASE("kubeconfig: context, data fields, merge order and errors",
          "[unit][fabric]") {
  TempDir dir;
  std::string ca =
      "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
  write_file(dir.path() / "token", "file-token\n");
  std::string exec_user = "    exec:\n"
                          "      apiVersion: client.authentication.k8s.io/v1\n"
                          "      command: ./plugin.sh\n";
  write_file(dir.path() / "a.yaml",
             "current-context: one\n"
             "clusters:\n"
             "- name: c1\n  cluster:\n    server: https://k8s.one:6443/\n"
             "    certificate-authority-data: " +
                 base64_encode(ca) +
                 "\ncontexts:\n"
                 "- name: one\n  context: {cluster: c1, user: u1, "
                 "namespace: fab}\n"
                 "- name: two\n  context: {cluster: c1, user: u2}\n"
                 "- name: exec\n  context: {cluster: c1, user: u3}\n"
                 "- name: broken\n  context: {cluster: c1, user: u4}\n"
                 "users:\n"
                 "- name: u1\n  user: {tokenFile: token}\n"
                 "- name: u2\n  user:\n    auth-provider: {name: gcp}\n"
                 "- name: u3\n  user:\n" +
                 exec_user +
                 "      env: [{name: PLUGIN_TOKEN, value: from-plugin}]\n"
                 "- name: u4\n  user:\n" +
                 exec_user + "      args: [fail]\n");
  // Answers as an exec credential plugin does, from what it is given.
  write_file(dir.path() / "plugin.sh",
             "#!/bin/sh\n"
             "if [ \"$1\" = fail ]; then echo 'you must log in first' >&2; "
             "exit 1; fi\n"
             "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; "
             "*) exit 3;; esac\n"
             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'\n"
             "printf '\"kind\":\"ExecCredential\",\"status\":{\"token\":"
             "\"%s\"}}' \"$PLUGIN_TOKEN\"\n");
  fs::permissions(dir.path() / "plugin.sh", fs::perms::owner_all);
  write_file(dir.path() / "b.yaml",
             "current-context: two\n"
             "clusters:\n- name: c1\n  cluster: {server: https://other}\n");
  std::string a = (dir.path() / "a.yaml").string();
  std::string both = a + ":" + (dir.path() / "b.yaml").string();
  auto t = kube::load_target("", "", env_of({{"KUBECONFIG", both}}));
  REQUIRE(t);
  CHECK(t->server == "https://k8s.one:6443");
  CHECK(t->tls.ca_pem == ca);
  CHECK(t->token == "file-token");
  CHECK(t->namespace_name == "fab");

  auto provider = kube::load_target(a, "two", env_of({}));
  REQUIRE_FALSE(provider);
  CHECK(provider.error().kind == ErrorKind::unsupported);
  CHECK(provider.error().message.find("exec plugin") != std::string::npos);

  auto exec = kube::load_target(a, "exec", env_of({}));
  INFO((exec ? std::string() : exec.error().message));
  REQUIRE(exec);
  CHECK(exec->token == "from-plugin");
  auto broken = kube::load_target(a, "broken", env_of({}));
  REQUIRE_FALSE(broken);
  CHECK(broken.error().kind == ErrorKind::auth);
  CHECK(broken.error().message.find("you must log in first") !=
        std::string::npos);

  auto unknown = kube::load_target(a, "three", env_of({}));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == ErrorKind::config);
  CHECK(unknown.error().message.find("broken, exec, one, two") !=
        std::string::npos);

  auto none = kube::load_target("", "", env_of({}));
  REQUIRE_FALSE(none);
  CHECK(none.error().message.find("--kubeconfig") != std::string::npos);
}

} // namespace snap::test
