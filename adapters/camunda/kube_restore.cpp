// SPDX-License-Identifier: MIT
// Camunda restore on Kubernetes. The documented procedure (Camunda 8
// Self-Managed, backup-restore/restore.md) has the operator stop every
// component but Elasticsearch, delete the applications' indices, restore
// the snapshots, wipe each broker's data volume and run Zeebe's restore
// application (bin/restore --backupId=ID) on every broker with its own
// configuration, then start everything. The Helm chart runs Zeebe's
// brokers as a StatefulSet whose data volume comes from a
// volumeClaimTemplate (data-<release>-zeebe-<n>), and labels workloads
// with app.kubernetes.io/component (zeebe-broker, zeebe-gateway, operate,
// tasklist, optimize). From 8.8 (camunda-platform-helm charts/
// camunda-platform-8.8/templates/orchestration) the orchestration cluster
// is one StatefulSet that keeps the label zeebe-broker "for backward
// compatibility", runs the camunda/camunda image from /usr/local/camunda
// (data at /usr/local/camunda/data, configuration at
// /usr/local/camunda/config/application.yaml) instead of camunda/zeebe's
// /usr/local/zeebe, and has a Deployment orchestration-importer beside it,
// which writes to the indices and is stopped with the rest. Zeebe's
// restore application is bin/restore of that home, found beside the data
// mount. Here each
// broker's restore is a Job that mounts that broker's PVC and runs the
// broker's own image and environment, so the restore reads the same
// backup store and partition layout the broker does.
#include "adapters/camunda/kube_restore.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

#include "adapters/kube/objects.hpp"
#include "adapters/kube/readiness.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters::camunda {
namespace {

using kube::json;

json template_spec(const json& workload) {
  if (!workload.is_object() || !workload.contains("spec") ||
      !workload["spec"].is_object()) {
    return json::object();
  }
  const json& spec = workload["spec"];
  if (!spec.contains("template") || !spec["template"].is_object() ||
      !spec["template"].contains("spec") ||
      !spec["template"]["spec"].is_object()) {
    return json::object();
  }
  return spec["template"]["spec"];
}

std::string component_of(const json& workload) {
  const json& labels = kube::meta(workload).value("labels", json::object());
  return labels.is_object() ? kube::str(labels, "app.kubernetes.io/component")
                            : "";
}

bool is_broker_component(const std::string& c) {
  return c == "zeebe-broker" || c == "orchestration" || c == "zeebe";
}

// The broker's data volume: the first volumeClaimTemplate's name and where
// the first container mounts it.
struct DataVolume {
  std::string claim_template;
  std::string mount_path;
};

std::optional<DataVolume> data_volume(const json& sts) {
  const json& spec = sts.value("spec", json::object());
  const json& vcts = spec.is_object()
                         ? spec.value("volumeClaimTemplates", json::array())
                         : json::array();
  json containers = template_spec(sts).value("containers", json::array());
  if (!vcts.is_array() || vcts.empty() || !containers.is_array() ||
      containers.empty() || !containers[0].is_object()) {
    return std::nullopt;
  }
  std::string name = kube::str(kube::meta(vcts[0]), "name");
  for (const auto& m : containers[0].value("volumeMounts", json::array())) {
    if (m.is_object() && kube::str(m, "name") == name) {
      return DataVolume{name, kube::str(m, "mountPath")};
    }
  }
  return std::nullopt;
}

std::string job_name(std::int64_t id, int ordinal) {
  return fmt::format("snap-restore-{}-{}", id, ordinal);
}

// A path the shell script may quote: the mount path is the broker's own,
// but it comes from the cluster, so anything but a plain absolute path is
// refused rather than put into a command.
bool plain_path(const std::string& p) {
  if (p.empty() || p[0] != '/' || p == "/") {
    return false;
  }
  return std::all_of(p.begin(), p.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '/' ||
           ch == '-' || ch == '_' || ch == '.';
  });
}

// The ConfigMap key the broker's command runs: a word of its command or
// args that is where a configMap volume's key is mounted by subPath (the
// chart's `bash /usr/local/bin/startup.sh`). Nothing when it runs none.
struct ScriptRef {
  std::string config_map;
  std::string key;
};

std::optional<ScriptRef> startup_script(const json& sts) {
  json pod = template_spec(sts);
  json containers = pod.value("containers", json::array());
  if (!containers.is_array() || containers.empty() ||
      !containers[0].is_object()) {
    return std::nullopt;
  }
  const json& c = containers[0];
  std::vector<std::string> words;
  for (const char* k : {"command", "args"}) {
    for (const auto& w : c.value(k, json::array())) {
      if (w.is_string()) {
        words.push_back(w.get<std::string>());
      }
    }
  }
  for (const auto& m : c.value("volumeMounts", json::array())) {
    if (!m.is_object() || kube::str(m, "subPath").empty() ||
        std::find(words.begin(), words.end(), kube::str(m, "mountPath")) ==
            words.end()) {
      continue;
    }
    for (const auto& v : pod.value("volumes", json::array())) {
      if (v.is_object() && kube::str(v, "name") == kube::str(m, "name") &&
          v.contains("configMap") && v["configMap"].is_object()) {
        return ScriptRef{kube::str(v["configMap"], "name"),
                         kube::str(m, "subPath")};
      }
    }
  }
  return std::nullopt;
}

// The chart's startup script derives the broker's node id from its pod's
// ordinal, and in a multi-region install from the region too
// (camunda-platform-helm 8.7 templates/zeebe/configmap.yaml; 8.8
// templates/orchestration/configmap.yaml and configmap-unified.yaml, the
// last quoting it and naming VALUES_ORCHESTRATION_NODE_ID):
//   export ZEEBE_BROKER_CLUSTER_NODEID=${ZEEBE_BROKER_CLUSTER_NODEID:-$[
//     ${K8S_NAME##*-} * REGIONS + REGION_ID]}
// with global.multiregion.regions and .regionId rendered in. Zone-aware
// brokers of later charts take the ordinal alone (${K8S_NAME##*-}). The
// restore Job does not run that script, so snap does its arithmetic: it
// reads REGIONS and REGION_ID from the script, and refuses a node id
// derived any other way rather than restore a broker's volume as another
// broker.
Expected<void> read_layout(kube::Client& api, KubeTargets& t) {
  auto ref = startup_script(t.brokers.object);
  if (!ref) {
    return {};
  }
  kube::ResourceType cms = SNAP_TRY(api.resolve("configmaps", ""));
  json cm = SNAP_TRY(api.get(cms, t.ns, ref->config_map));
  json data = cm.is_object() ? cm.value("data", json::object()) : json();
  std::string script =
      data.is_object() ? kube::str(data, ref->key.c_str()) : std::string();
  static const std::regex k_node_id(
      R"(^(export\s+)?(ZEEBE_BROKER_CLUSTER_NODEID|VALUES_ORCHESTRATION_NODE_ID)=("?)\$\{\2:-(\$\[\$\{K8S_NAME##\*-\}\s*\*\s*([0-9]{1,4})\s*\+\s*([0-9]{1,4})\]|\$\{K8S_NAME##\*-\})\}\3\s*$)");
  std::istringstream lines(script);
  for (std::string line; std::getline(lines, line);) {
    line = trim_copy(line);
    if (line.starts_with("#") || line.find("K8S_NAME") == std::string::npos ||
        (line.find("NODEID") == std::string::npos &&
         line.find("NODE_ID") == std::string::npos)) {
      continue;
    }
    // libstdc++'s regex recurses per character: a line longer than any
    // the chart writes is not matched at all (and so refused).
    std::smatch m;
    if (line.size() <= 256 && std::regex_match(line, m, k_node_id)) {
      if (m[5].matched) {
        t.regions = std::stoi(m[5].str());
        t.region_id = std::stoi(m[6].str());
      }
      if (t.regions >= 1 && t.region_id < t.regions) {
        return {};
      }
    }
    return fail(
        ErrorKind::config,
        fmt::format("camunda: {} in ConfigMap {} derives the "
                    "brokers' node ids as `{}`, which snap cannot "
                    "follow, and a broker restored under another's "
                    "node id restores the wrong partitions; nothing "
                    "was changed. Restore the brokers by hand: run "
                    "the restore without --kubeconfig for the steps",
                    ref->key, ref->config_map,
                    line.size() > 160 ? line.substr(0, 160) + "…" : line));
  }
  return {};
}

} // namespace

Expected<KubeTargets> find_targets(const AdapterContext& ctx,
                                   const std::vector<std::string>& components,
                                   const std::string& restore_command) {
  KubeTargets t;
  t.cluster = SNAP_TRY(kube::connect_kubeconfig(ctx, "camunda"));
  t.ns = t.cluster.ns;
  t.restore_command = restore_command;
  kube::Client& api = *t.cluster.api;
  std::vector<kube::Item> brokers;
  for (const char* plural : {"statefulsets", "deployments"}) {
    kube::ResourceType type = SNAP_TRY(api.resolve(plural, "apps"));
    for (auto& o : SNAP_TRY(api.list(type, t.ns))) {
      std::string c = component_of(o);
      if (std::find(components.begin(), components.end(), c) ==
          components.end()) {
        continue;
      }
      kube::Item item{type, o, "workload"};
      if (std::string(plural) == "statefulsets" && is_broker_component(c)) {
        brokers.push_back(item);
      }
      t.workloads.push_back(std::move(item));
    }
  }
  if (brokers.size() != 1) {
    return fail(ErrorKind::config,
                fmt::format("camunda: namespace {} holds {} StatefulSets of "
                            "Zeebe brokers (app.kubernetes.io/component "
                            "zeebe-broker or orchestration), not one; name "
                            "the namespace with --namespace, or label the "
                            "brokers' StatefulSet",
                            t.ns, brokers.size()));
  }
  t.brokers = brokers[0];
  const json& spec = t.brokers.object.value("spec", json::object());
  t.broker_count = spec.is_object() && spec.contains("replicas") &&
                           spec["replicas"].is_number_integer()
                       ? spec["replicas"].get<int>()
                       : 1;
  auto data = data_volume(t.brokers.object);
  if (!data || !plain_path(data->mount_path)) {
    return fail(ErrorKind::config,
                fmt::format("camunda: StatefulSet {} has no data volume "
                            "from a volumeClaimTemplate mounted at a plain "
                            "path by its first container; snap restores "
                            "each broker's volume through it",
                            t.brokers.name()));
  }
  if (t.restore_command.empty()) {
    // The image's home holds data/ and bin/ (ZB_HOME, /usr/local/zeebe,
    // in camunda/zeebe; /usr/local/camunda in camunda/camunda from 8.8).
    const std::string& at = data->mount_path;
    if (!at.ends_with("/data") || at.size() <= 5) {
      return fail(ErrorKind::usage,
                  fmt::format("camunda: StatefulSet {} mounts its data "
                              "volume at {}, not at <home>/data, so snap "
                              "cannot tell where Zeebe's restore "
                              "application is; nothing was changed. Pass "
                              "--restore-command (such as "
                              "/usr/local/camunda/bin/restore)",
                              t.brokers.name(), at));
    }
    t.restore_command = at.substr(0, at.size() - 5) + "/bin/restore";
  }
  SNAP_TRY(read_layout(api, t));
  if (t.broker_count < 1) {
    return fail(ErrorKind::config,
                fmt::format("camunda: StatefulSet {} runs no broker "
                            "(replicas 0): start it at its size first, so "
                            "snap knows how many volumes to restore",
                            t.brokers.name()));
  }
  return t;
}

json restore_job(const KubeTargets& t, std::int64_t id, int ordinal) {
  json pod = template_spec(t.brokers.object);
  json container = pod.value("containers", json::array())[0];
  auto data = *data_volume(t.brokers.object);
  std::string sts = t.brokers.name();
  json env = json::array();
  // The broker's node id (read_layout): ZEEBE_BROKER_CLUSTER_NODEID up to
  // 8.7; from 8.8 the chart's application.yaml reads
  // VALUES_ORCHESTRATION_NODE_ID, which its startup.sh (not run here)
  // derives from the pod name.
  static const char* const k_node_ids[] = {"ZEEBE_BROKER_CLUSTER_NODEID",
                                           "VALUES_ORCHESTRATION_NODE_ID"};
  for (const auto& e : container.value("env", json::array())) {
    if (e.is_object() && std::none_of(std::begin(k_node_ids),
                                      std::end(k_node_ids), [&](const char* n) {
                                        return kube::str(e, "name") == n;
                                      })) {
      env.push_back(e);
    }
  }
  for (const char* n : k_node_ids) {
    env.push_back({{"name", n}, {"value", std::to_string(t.node_id(ordinal))}});
  }
  json mounts = container.value("volumeMounts", json::array());
  json volumes = pod.value("volumes", json::array());
  if (!volumes.is_array()) {
    volumes = json::array();
  }
  volumes.push_back(
      {{"name", data.claim_template},
       {"persistentVolumeClaim",
        {{"claimName",
          fmt::format("{}-{}-{}", data.claim_template, sts, ordinal)}}}});
  std::string script = fmt::format(
      "set -e; find '{}' -mindepth 1 -delete; exec {} --backupId={}",
      data.mount_path, t.restore_command, id);
  json restore = {{"name", "zeebe-restore"},
                  {"image", container.value("image", json(""))},
                  {"command", json::array({"sh", "-c", script})},
                  {"env", env},
                  {"volumeMounts", mounts}};
  if (container.contains("envFrom")) {
    restore["envFrom"] = container["envFrom"];
  }
  json pod_spec = {{"restartPolicy", "Never"},
                   {"containers", json::array({restore})},
                   {"volumes", volumes}};
  for (const char* k : {"serviceAccountName", "securityContext",
                        "imagePullSecrets", "nodeSelector", "tolerations"}) {
    if (pod.contains(k)) {
      pod_spec[k] = pod[k];
    }
  }
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata",
           {{"name", job_name(id, ordinal)},
            {"namespace", t.ns},
            {"labels",
             {{"app.kubernetes.io/managed-by", "snap"},
              {"snap.io/backup-id", std::to_string(id)},
              {"snap.io/broker", std::to_string(ordinal)}}}}},
          {"spec",
           {{"backoffLimit", 0},
            {"template",
             {{"metadata",
               {{"labels", {{"snap.io/backup-id", std::to_string(id)}}}}},
              {"spec", pod_spec}}}}}};
}

std::vector<std::string> describe_stop(const KubeTargets& t) {
  std::vector<std::string> out;
  for (const auto& w : t.workloads) {
    const json& spec = w.object.value("spec", json::object());
    out.push_back(fmt::format(
        "scale {} to 0 (from {}) and wait until its pods are gone", w.id(),
        spec.is_object() ? spec.value("replicas", json(1)).dump()
                         : std::string("1")));
  }
  return out;
}

std::vector<std::string> describe_brokers(const KubeTargets& t,
                                          std::int64_t id) {
  std::vector<std::string> out;
  auto data = *data_volume(t.brokers.object);
  for (int i = 0; i < t.broker_count; ++i) {
    out.push_back(fmt::format(
        "run Job {} on PVC {}-{}-{}: empty {} and run {} --backupId={} as "
        "broker {}{}; wait until it completes",
        job_name(id, i), data.claim_template, t.brokers.name(), i,
        data.mount_path, t.restore_command, id, t.node_id(i),
        t.regions > 1
            ? fmt::format(" (region {} of {})", t.region_id, t.regions)
            : std::string()));
  }
  return out;
}

Expected<void> restore_brokers(KubeTargets& t, Reporter& reporter,
                               std::int64_t id, double timeout_s) {
  kube::Client& api = *t.cluster.api;
  kube::ResourceType jobs = SNAP_TRY(api.resolve("jobs", "batch"));
  std::vector<std::string> names;
  for (int i = 0; i < t.broker_count; ++i) {
    json job = restore_job(t, id, i);
    names.push_back(kube::str(kube::meta(job), "name"));
    SNAP_TRY(api.create(jobs, t.ns, job));
    reporter.note(fmt::format("started Job {} for broker {}", names.back(),
                              t.node_id(i)));
  }
  std::vector<std::string> done;
  std::string failed;
  SNAP_TRY(poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        for (const auto& n : names) {
          if (std::find(done.begin(), done.end(), n) != done.end()) {
            continue;
          }
          json j = SNAP_TRY(api.get(jobs, t.ns, n));
          const json& st = j.value("status", json::object());
          for (const auto& c : st.is_object()
                                   ? st.value("conditions", json::array())
                                   : json::array()) {
            if (!c.is_object() || c.value("status", json()) != "True") {
              continue;
            }
            if (c.value("type", json()) == "Complete") {
              done.push_back(n);
            } else if (c.value("type", json()) == "Failed") {
              failed = fmt::format("{} ({})", n,
                                   c.value("message", json("")).is_string()
                                       ? c["message"].get<std::string>()
                                       : "");
              return true;
            }
          }
        }
        reporter.progress(fmt::format("zeebe restore Jobs: {}/{} complete",
                                      done.size(), names.size()),
                          done.size(), names.size());
        return done.size() == names.size();
      },
      [&] {
        return fmt::format("camunda: the Zeebe restore Jobs are not all "
                           "complete after {:.0f} s ({} of {}; kubectl get "
                           "jobs -n {} -l snap.io/backup-id={})",
                           timeout_s, done.size(), names.size(), t.ns, id);
      },
      250, 2000));
  if (!failed.empty()) {
    return fail(ErrorKind::remote,
                fmt::format("camunda: the Zeebe restore Job {} failed (kubectl "
                            "logs -n {} job/{})",
                            failed, t.ns, failed.substr(0, failed.find(' '))));
  }
  return {};
}

Expected<void> wait_available(KubeTargets& t,
                              const std::vector<kube::Scaled>& scaled,
                              Reporter& reporter, double timeout_s) {
  kube::Client& api = *t.cluster.api;
  std::vector<std::string> waiting;
  return poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        waiting.clear();
        for (const auto& s : scaled) {
          json o = SNAP_TRY(api.get(s.workload_type, s.ns, s.workload_name));
          // The replica counts alone would pass on a status the
          // controller wrote before the scale-up (kube/readiness.hpp).
          if (auto r = kube::workload_readiness(o); !r.ready()) {
            waiting.push_back(fmt::format("{}/{} ({})",
                                          s.workload_type.name(),
                                          s.workload_name, r.why));
          }
        }
        reporter.progress(
            fmt::format("waiting for {} workloads to run", waiting.size()), 0,
            0);
        return waiting.empty();
      },
      [&] {
        return fmt::format("camunda: the restore is done, but these are not "
                           "available after {:.0f} s: {}",
                           timeout_s, join_list(waiting, ", "));
      },
      250, 3000);
}

std::string scale_back_commands(const KubeTargets& t,
                                const std::vector<kube::Scaled>& scaled) {
  std::vector<std::string> cmds;
  for (const auto& s : scaled) {
    cmds.push_back(fmt::format(
        "kubectl scale -n {} {}/{} --replicas={}", t.ns, s.type.name(), s.name,
        s.replicas.is_number_integer() ? s.replicas.dump() : "1"));
  }
  return join_list(cmds, "; ");
}

} // namespace snap::adapters::camunda
