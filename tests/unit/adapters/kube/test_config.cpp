// SPDX-License-Identifier: MIT
// kubeconfig resolution as client-go does it (adapters/kube/config.cpp).
#include <catch2/catch.hpp>

#include "adapters/kube/config.hpp"
#include "snap/text.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

using nlohmann::json;
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

TEST_CASE("kubeconfig: context, data fields, merge order and errors",
          "[unit][kube]") {
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
