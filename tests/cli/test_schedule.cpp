// SPDX-License-Identifier: MIT
// snap schedule: the CronJob and what it needs, printed as YAML or created
// through snap-emulator kubernetes (which validates CronJobs and RBAC as
// kube-apiserver does); the pod's arguments are a save that works.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

using nlohmann::json;

// A kubeconfig in `dir` whose current context is the emulator, namespace
// `ns`.
std::string kubeconfig_for(const TempDir& dir, const Emulator& emu,
                           const std::string& ns) {
  std::string path = (dir.path() / "kubeconfig").string();
  write_file(path, "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
                   "clusters:\n- name: lab\n  cluster:\n    server: " +
                       emu.url() +
                       "\nusers:\n- name: me\n  user:\n    token: t0k3n\n"
                       "contexts:\n- name: lab\n  context:\n    cluster: lab\n"
                       "    user: me\n    namespace: " +
                       ns + "\n");
  return path;
}

json get(const std::string& url) { return json::parse(http("GET", url)); }

} // namespace

TEST_CASE("schedule: a Consul save applied as a CronJob runs as scheduled",
          "[e2e][schedule]") {
  Emulator kube("kubernetes");
  Emulator consul("consul");
  TempDir dir;
  std::string kc = kubeconfig_for(dir, kube, "default");
  http("POST", kube.url() + "/api/v1/namespaces",
       R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ops"}})",
       {{"Content-Type", "application/json"}});
  std::vector<std::string> args = {
      "schedule", "consul",      "--addr",     consul.url(),
      "--stale",  "--cron",      "30 2 * * *", "--keep",
      "7",        "--image",     "snap:1.4",   "--kubeconfig",
      kc,         "--namespace", "ops",        "--label",
      "env=prod", "--time-zone", "UTC"};
  std::vector<std::string> applied = args;
  applied.push_back("--apply");
  auto r = snap(applied);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("created cronjobs.batch/snap-consul") != std::string::npos);
  CHECK(r.out.find("Scheduled snap-consul in ops") != std::string::npos);

  std::string base = kube.url() + "/apis/batch/v1/namespaces/ops/cronjobs/";
  json cj = get(base + "snap-consul");
  CHECK(cj["spec"]["schedule"] == "30 2 * * *");
  CHECK(cj["spec"]["timeZone"] == "UTC");
  CHECK(cj["spec"]["concurrencyPolicy"] == "Forbid");
  json pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  CHECK(pod["restartPolicy"] == "Never");
  CHECK(pod["serviceAccountName"] == "snap-consul");
  // Consul is reached over its own API: no Kubernetes token in the pod, and
  // no RBAC at all.
  CHECK(pod["automountServiceAccountToken"] == false);
  CHECK(http("GET", kube.url() + "/apis/rbac.authorization.k8s.io/v1/"
                                 "namespaces/ops/roles/snap-consul")
            .find("NotFound") != std::string::npos);
  json pvc = get(kube.url() + "/api/v1/namespaces/ops/persistentvolumeclaims/"
                              "snap-consul-archives");
  CHECK(pvc["spec"]["resources"]["requests"]["storage"] == "10Gi");
  CHECK(pod["volumes"].dump().find("snap-consul-archives") !=
        std::string::npos);

  // What the pod runs is a save that works: here, into a directory that
  // stands for the archive volume.
  json container = pod["containers"][0];
  CHECK(container["command"] == json::array({"snap"}));
  std::vector<std::string> pod_args;
  TempDir backups;
  for (const auto& a : container["args"]) {
    std::string s = a.get<std::string>();
    pod_args.push_back(s == "/backups/" ? backups.path().string() + "/" : s);
  }
  CHECK(std::find(pod_args.begin(), pod_args.end(), "--stale") !=
        pod_args.end());
  auto saved = snap(pod_args);
  INFO(saved.err);
  CHECK(saved.exit_code == 0);
  REQUIRE(backups.list().size() == 1);
  auto inspected = snap(
      {"--json", "inspect", (backups.path() / backups.list()[0]).string()});
  REQUIRE(inspected.exit_code == 0);
  CHECK(json::parse(inspected.out)["archives"][0]["labels"]["env"] == "prod");

  // Applied again with another time: the CronJob is updated in place, the
  // archive volume kept.
  std::replace(applied.begin(), applied.end(), std::string("30 2 * * *"),
               std::string("45 3 * * *"));
  auto again = snap(applied);
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("updated cronjobs.batch/snap-consul") !=
        std::string::npos);
  CHECK(again.out.find("kept persistentvolumeclaims/snap-consul-archives") !=
        std::string::npos);
  CHECK(get(base + "snap-consul")["spec"]["schedule"] == "45 3 * * *");

  // Printed, it is the same objects as YAML, strings quoted so "7" stays a
  // string.
  auto printed = snap(args);
  REQUIRE(printed.exit_code == 0);
  CHECK(printed.out.find("kind: \"CronJob\"") != std::string::npos);
  CHECK(printed.out.find("- \"7\"") != std::string::npos);
  std::vector<std::string> json_args = {"--json"};
  json_args.insert(json_args.end(), args.begin(), args.end());
  auto as_json = snap(json_args);
  REQUIRE(as_json.exit_code == 0);
  CHECK(json::parse(as_json.out)["objects"].size() == 3);
}

TEST_CASE("schedule: what cannot run as written is refused before the API",
          "[e2e][schedule]") {
  std::vector<std::string> base = {"schedule", "consul", "--image",
                                   "snap:1.4", "--keep", "3"};
  auto with_args = [&](std::vector<std::string> more) {
    std::vector<std::string> a = base;
    a.insert(a.end(), more.begin(), more.end());
    return snap(a);
  };
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& c : std::vector<Case>{
           {{"--cron", "61 * * * *"},
            "minute field '61': '61' is outside 0-59"},
           {{"--cron", "0 3 * *"}, "expected 5 fields"},
           {{"--cron", "0 3 * * 7"}, "day-of-week field '7'"},
           {{"--cron", "TZ=UTC 0 3 * * *"}, "--time-zone"},
           {{"--cron", "@fortnightly"}, "not a descriptor"},
           {{"--cron", "@daily", "--time-zone", "Mars/Olympus"},
            "not a time zone"},
           {{"--cron", "@daily", "--name", std::string(53, 'a')},
            "at most 52 characters"},
           {{"--cron", "@daily", "--token-file", "consul.token"},
            "give the path there"},
           {{"--cron", "@daily", "--profile", "prod"}, "--profile"},
           {{"--cron", "@daily", "-o", "/srv/backups"}, "/backups/"},
           {{"--cron", "@daily", "--encrypt"}, "needs the passphrase"},
           {{"--cron", "@daily", "-o", "s3://bucket/consul/"},
            "bucket lifecycle rule"},
       }) {
    auto r = with_args(c.args);
    INFO(c.args[1] << " -> " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.says) != std::string::npos);
    CHECK(r.out.empty());
  }
  // --keep is required: a schedule without it fills its volume.
  auto no_keep =
      snap({"schedule", "consul", "--image", "x", "--cron", "@daily"});
  CHECK(no_keep.exit_code == 2);
  CHECK(no_keep.err.find("--keep") != std::string::npos);
}

TEST_CASE("kubernetes emulator: CronJobs and RBAC are validated as "
          "kube-apiserver does",
          "[e2e][schedule]") {
  Emulator kube("kubernetes");
  Headers ct = {{"Content-Type", "application/json"}};
  std::string cj_url =
      kube.url() + "/apis/batch/v1/namespaces/default/cronjobs";
  json cj = json::parse(R"({
    "apiVersion": "batch/v1", "kind": "CronJob",
    "metadata": {"name": "nightly"},
    "spec": {"schedule": "*/15 1-5 ? JAN-MAR mon",
             "jobTemplate": {"spec": {"template": {"spec": {
               "restartPolicy": "Never",
               "containers": [{"name": "c", "image": "busybox"}]}}}}}})");
  json made = json::parse(http("POST", cj_url, cj.dump(), ct));
  CHECK(made["metadata"]["uid"].is_string());

  json bad = cj;
  bad["metadata"]["name"] = "bad";
  bad["spec"]["schedule"] = "0 24 * * *";
  bad["spec"]["concurrencyPolicy"] = "Sometimes";
  bad["spec"]["jobTemplate"]["spec"]["template"]["spec"].erase("restartPolicy");
  json refused = json::parse(http("POST", cj_url, bad.dump(), ct));
  CHECK(refused["code"] == 422);
  std::string msg = refused["message"];
  CHECK(msg.find("spec.schedule: Invalid value: \"0 24 * * *\": end of range "
                 "(24) above maximum (23): 24") != std::string::npos);
  CHECK(msg.find("spec.concurrencyPolicy: Unsupported value: \"Sometimes\"") !=
        std::string::npos);
  CHECK(msg.find("restartPolicy: Unsupported value: \"Always\"") !=
        std::string::npos);
  CHECK(http("GET", cj_url + "/bad").find("NotFound") != std::string::npos);

  std::string rbac = kube.url() + "/apis/rbac.authorization.k8s.io/v1/";
  json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "Role"},
               {"metadata", {{"name", "r"}}},
               {"rules",
                {{{"apiGroups", {""}}, {"resources", {"secrets"}}},
                 {{"nonResourceURLs", {"/healthz"}}, {"verbs", {"get"}}}}}};
  json r = json::parse(
      http("POST", rbac + "namespaces/default/roles", role.dump(), ct));
  CHECK(r["code"] == 422);
  CHECK(r["message"].get<std::string>().find(
            "rules[0].verbs: Required value") != std::string::npos);
  CHECK(r["message"].get<std::string>().find(
            "namespaced rules cannot apply to non-resource URLs") !=
        std::string::npos);
  json binding = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", "ClusterRoleBinding"},
                  {"metadata", {{"name", "b"}}},
                  {"roleRef",
                   {{"apiGroup", "rbac.authorization.k8s.io"},
                    {"kind", "Role"},
                    {"name", "r"}}},
                  {"subjects", {{{"kind", "ServiceAccount"}, {"name", "sa"}}}}};
  json b = json::parse(
      http("POST", rbac + "clusterrolebindings", binding.dump(), ct));
  CHECK(b["code"] == 422);
  CHECK(b["message"].get<std::string>().find(
            "roleRef.kind: Unsupported value: \"Role\"") != std::string::npos);
  CHECK(b["message"].get<std::string>().find(
            "subjects[0].namespace: Required value") != std::string::npos);
}

} // namespace snap::test
