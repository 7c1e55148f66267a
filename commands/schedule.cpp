// SPDX-License-Identifier: MIT
// snap schedule: a save that Kubernetes runs on a schedule. It writes (or
// with --apply creates through the API) what a CronJob backup needs and
// nothing more:
//
// - a ServiceAccount for the pod; its token is mounted only when the adapter
//   works through the Kubernetes API (fabric), and then a Role (and a
//   ClusterRole for cluster-scoped kinds) grants exactly the verbs that save
//   uses (AdapterEntry::kube_access), each bound to that account;
// - a PersistentVolumeClaim for the archives (or an existing one, or none
//   when -o names s3://), mounted at /backups;
// - the CronJob: concurrencyPolicy Forbid (a run that is late never
//   overlaps the next: snap's own run lock is per machine, a pod is not),
//   startingDeadlineSeconds so a controller that was down does not count
//   a hundred missed runs and stop, backoffLimit 0 (snap's exit code is the
//   verdict, and the next schedule is the retry), restartPolicy Never, a
//   non-root, read-only container with every capability dropped, /tmp as
//   an emptyDir for the run lock, and the save's arguments as `args`.
//
// Secrets never go into the CronJob: credentials are files of a Secret
// (--secret, mounted read-only at /var/run/secrets/snap) or variables from
// one (--env-secret), which the save flags name as they would on a shell.
//
// The objects follow the Kubernetes API's validation (kubernetes
// pkg/apis/batch/validation, pkg/apis/rbac/validation): a CronJob name of
// at most 52 characters (the controller appends an 11-character suffix for
// each Job), a schedule robfig/cron's ParseStandard accepts, and a time
// zone from the tz database.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <sstream>

#include "adapters/kube/cluster.hpp"
#include "commands/commands.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace {

// Ordered, so the objects print as they are written (apiVersion, kind,
// metadata, then the rest).
using json = nlohmann::ordered_json;
namespace kube = adapters::kube;

constexpr const char* k_archives = "/backups";
constexpr const char* k_secret_dir = "/var/run/secrets/snap";

// One field of a five-field cron line, as robfig/cron v3's ParseStandard
// reads it: a ','-list of `*` or `?`, N, N-M, each optionally /STEP, with
// month and weekday names (jan…dec, sun…sat) where they apply.
Expected<void> check_cron_field(const std::string& field, int lo, int hi,
                                const std::vector<std::string>& names,
                                std::string_view what,
                                const std::string& expr) {
  auto bad = [&](const std::string& why) -> Expected<void> {
    return fail(ErrorKind::usage, fmt::format("--cron '{}': {} field '{}': {}",
                                              expr, what, field, why));
  };
  auto value = [&](const std::string& s) -> std::optional<int> {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!s.empty() && to_lower(s) == names[i]) {
        return static_cast<int>(i) + lo;
      }
    }
    if (s.empty() || s.size() > 3 ||
        s.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoi(s);
  };
  for (const auto& part : split_list(field)) {
    auto slash = part.find('/');
    std::string range = part.substr(0, slash);
    if (slash != std::string::npos) {
      std::string step = part.substr(slash + 1);
      auto n = value(step);
      if (!n || *n <= 0 || step.find('/') != std::string::npos) {
        return bad(fmt::format("step '{}' must be a positive number", step));
      }
    }
    if (range == "*" || range == "?") {
      continue;
    }
    auto dash = range.find('-');
    auto first = value(range.substr(0, dash));
    auto last =
        dash == std::string::npos ? first : value(range.substr(dash + 1));
    if (!first || !last) {
      return bad(fmt::format("'{}' is not a number{}", range,
                             names.empty() ? "" : " or a name"));
    }
    if (*first < lo || *last > hi || *first > *last) {
      return bad(fmt::format("'{}' is outside {}-{}", range, lo, hi));
    }
  }
  return {};
}

Expected<void> check_cron(const std::string& expr) {
  if (expr.rfind("TZ=", 0) == 0 || expr.rfind("CRON_TZ=", 0) == 0) {
    return fail(ErrorKind::usage,
                fmt::format("--cron '{}': give the time zone with "
                            "--time-zone, not in the schedule",
                            expr));
  }
  if (!expr.empty() && expr[0] == '@') {
    static const char* ok[] = {"@yearly", "@annually", "@monthly", "@weekly",
                               "@daily",  "@midnight", "@hourly"};
    if (std::find(std::begin(ok), std::end(ok), expr) == std::end(ok)) {
      return fail(ErrorKind::usage,
                  fmt::format("--cron '{}': not a descriptor Kubernetes "
                              "takes (@yearly, @monthly, @weekly, @daily, "
                              "@hourly)",
                              expr));
    }
    return {};
  }
  std::vector<std::string> fields;
  std::istringstream words(expr);
  for (std::string f; words >> f;) {
    fields.push_back(f);
  }
  if (fields.size() != 5) {
    return fail(ErrorKind::usage,
                fmt::format("--cron '{}': expected 5 fields (minute hour "
                            "day-of-month month day-of-week), found {}",
                            expr, fields.size()));
  }
  static const std::vector<std::string> months = {"jan", "feb", "mar", "apr",
                                                  "may", "jun", "jul", "aug",
                                                  "sep", "oct", "nov", "dec"};
  static const std::vector<std::string> days = {"sun", "mon", "tue", "wed",
                                                "thu", "fri", "sat"};
  SNAP_TRY(check_cron_field(fields[0], 0, 59, {}, "minute", expr));
  SNAP_TRY(check_cron_field(fields[1], 0, 23, {}, "hour", expr));
  SNAP_TRY(check_cron_field(fields[2], 1, 31, {}, "day-of-month", expr));
  SNAP_TRY(check_cron_field(fields[3], 1, 12, months, "month", expr));
  SNAP_TRY(check_cron_field(fields[4], 0, 6, days, "day-of-week", expr));
  return {};
}

// A Kubernetes object's skeleton.
json object(const char* api_version, const char* kind, const std::string& name,
            const std::string& ns, const json& labels) {
  json o = {{"apiVersion", api_version},
            {"kind", kind},
            {"metadata", {{"name", name}, {"labels", labels}}}};
  if (!ns.empty()) {
    o["metadata"]["namespace"] = ns;
  }
  return o;
}

// The save as the pod runs it, after "snap".
Expected<std::vector<std::string>>
pod_args(const ScheduleOptions& o, const GlobalOptions& g, bool in_cluster,
         std::string& output_dir, std::vector<std::string>& warnings) {
  const AdapterArgs& a = o.save.args;
  const AdapterInfo& info = a.adapter->info();
  std::vector<std::string> out;
  auto seconds = [](double s) { return fmt::format("{}", s); };
  if (g.timeout_s > 0) {
    out.insert(out.end(), {"--timeout", seconds(g.timeout_s)});
  }
  if (g.stall_timeout_s != k_default_stall_s) {
    out.insert(out.end(), {"--stall-timeout", seconds(g.stall_timeout_s)});
  }
  if (g.retries != 3) {
    out.insert(out.end(), {"--retries", std::to_string(g.retries)});
  }
  if (g.poll_interval_s > 0) {
    out.insert(out.end(), {"--poll-interval", seconds(g.poll_interval_s)});
  }
  if (!g.s3_endpoint.empty()) {
    out.insert(out.end(), {"--s3-endpoint", g.s3_endpoint});
  }
  if (!g.notify_url.empty()) {
    out.insert(out.end(), {"--notify-url", g.notify_url});
  }
  auto in_pod_file = [&](const char* flag,
                         const std::string& path) -> Expected<void> {
    if (path.empty()) {
      return {};
    }
    if (path[0] != '/') {
      return fail(ErrorKind::usage,
                  fmt::format("{} {}: the pod reads it, so give the path "
                              "there, e.g. {}/token with --secret NAME",
                              flag, path, k_secret_dir));
    }
    if (o.secret.empty() &&
        path.rfind("/var/run/secrets/kubernetes.io/", 0) != 0) {
      warnings.push_back(
          fmt::format("{} {}: no --secret is mounted; the pod must find "
                      "that file in its image",
                      flag, path));
    }
    out.insert(out.end(), {flag, path});
    return {};
  };
  if (!g.passphrase_file.empty()) {
    SNAP_TRY(in_pod_file("--passphrase-file", g.passphrase_file));
  }
  out.insert(out.end(), {"save", std::string(info.name)});
  out.insert(out.end(), a.operands.begin(), a.operands.end());
  const ConnectionFlags& c = a.conn;
  if (!c.profile.empty()) {
    return fail(ErrorKind::usage,
                "schedule: --profile is read from this machine's config "
                "file, which the pod does not have; give its settings as "
                "flags");
  }
  // In the cluster, the connection flags are the API server's, which the
  // pod reaches through its service account; else they are the target's.
  if (!in_cluster) {
    if (!c.addr.empty()) {
      out.insert(out.end(), {"--addr", c.addr});
    }
    SNAP_TRY(in_pod_file("--token-file", c.token_file));
    if (!c.user.empty()) {
      out.insert(out.end(), {"--user", c.user});
    }
    SNAP_TRY(in_pod_file("--password-file", c.password_file));
    SNAP_TRY(in_pod_file("--ca-file", c.ca_file));
    SNAP_TRY(in_pod_file("--cert-file", c.cert_file));
    SNAP_TRY(in_pod_file("--key-file", c.key_file));
    SNAP_TRY(in_pod_file("--ca-path", c.ca_path));
    if (!c.tls_server_name.empty()) {
      out.insert(out.end(), {"--tls-server-name", c.tls_server_name});
    }
    if (c.insecure) {
      out.push_back("--insecure");
    }
  }
  for (const auto& f : info.flags) {
    if (std::find(f.verbs.begin(), f.verbs.end(), Capability::save) ==
        f.verbs.end()) {
      continue;
    }
    // In the cluster, the pod's service account is the connection and its
    // namespace the default one (a network of several namespaces names
    // them all; the job runs in the first).
    auto listed = a.lists.find(f.name);
    bool several = listed != a.lists.end() && listed->second.size() > 1;
    if (in_cluster && (f.name == "kubeconfig" || f.name == "context" ||
                       (f.name == "namespace" && !several))) {
      continue;
    }
    if (auto v = a.values.find(f.name);
        v != a.values.end() && !v->second.empty()) {
      out.insert(out.end(), {"--" + f.name, v->second});
    }
    if (auto s = a.switches.find(f.name); s != a.switches.end() && s->second) {
      out.push_back("--" + f.name);
    }
    if (auto l = a.lists.find(f.name); l != a.lists.end()) {
      for (const auto& v : l->second) {
        out.insert(out.end(), {"--" + f.name, v});
      }
    }
  }
  output_dir = o.save.out.empty() ? std::string(k_archives) + "/" : o.save.out;
  if (!is_s3_url(output_dir) &&
      output_dir.rfind(std::string(k_archives) + "/", 0) != 0) {
    return fail(ErrorKind::usage,
                fmt::format("-o {}: the scheduled save writes to the "
                            "archive volume at {}/ (or to s3://)",
                            output_dir, k_archives));
  }
  out.insert(out.end(), {"-o", output_dir});
  if (is_s3_url(output_dir)) {
    if (o.save.keep_given) {
      return fail(ErrorKind::usage,
                  "--keep works on the archive volume; for s3:// keep "
                  "archives with a bucket lifecycle rule or a scheduled "
                  "'snap prune s3://…'");
    }
  } else if (!o.save.keep_given || o.save.keep < 1) {
    return fail(ErrorKind::usage,
                "--keep N: a schedule keeps the newest N archives on its "
                "volume (N >= 1), or the volume fills up");
  } else {
    out.insert(out.end(), {"--keep", std::to_string(o.save.keep)});
  }
  if (o.save.prune_target) {
    out.push_back("--prune-target");
  }
  for (const auto& l : o.save.labels) {
    out.insert(out.end(), {"--label", l});
  }
  if (o.save.encrypt) {
    if (g.passphrase_file.empty() && o.env_secret.empty()) {
      return fail(ErrorKind::usage,
                  "--encrypt: the pod needs the passphrase: --env-secret "
                  "NAME holding SNAP_PASSPHRASE, or --passphrase-file in "
                  "the --secret");
    }
    out.push_back("--encrypt");
  }
  return out;
}

// Everything the schedule needs, in the order to create it.
Expected<std::vector<json>>
schedule_objects(const ScheduleOptions& o, const GlobalOptions& g,
                 const std::string& ns, std::vector<std::string>& warnings) {
  const AdapterArgs& a = o.save.args;
  const AdapterEntry& entry = *a.adapter;
  std::string adapter(entry.info().name);
  std::string name = o.name.empty() ? "snap-" + adapter : o.name;
  if (!kube::is_dns_label(name) || name.size() > 52) {
    return fail(ErrorKind::usage,
                fmt::format("--name {}: a CronJob's name is a DNS label of at "
                            "most 52 characters (Kubernetes adds 11 for each "
                            "Job)",
                            name));
  }
  if (!kube::is_dns_label(ns)) {
    return fail(ErrorKind::usage,
                fmt::format("--namespace {}: not a namespace name", ns));
  }
  SNAP_TRY(check_cron(o.cron));
  if (o.image.empty() || o.image.find_first_of(" \t\n") != std::string::npos) {
    return fail(ErrorKind::usage, "--image: give the snap image the pod runs, "
                                  "e.g. registry.example.com/snap:1.4");
  }
  if (!o.time_zone.empty() && (o.time_zone.find("..") != std::string::npos ||
                               !std::filesystem::is_regular_file(
                                   "/usr/share/zoneinfo/" + o.time_zone))) {
    return fail(ErrorKind::usage,
                fmt::format("--time-zone {}: not a time zone of the tz "
                            "database (e.g. Europe/Berlin, UTC)",
                            o.time_zone));
  }
  std::optional<KubeAccess> access;
  if (entry.kube_access != nullptr) {
    AdapterFlags flags = given_flags(a);
    if (o.save.prune_target) {
      flags["prune-target"] = "true";
    }
    access = entry.kube_access(flags);
  }
  std::string output_dir;
  auto args =
      SNAP_TRY(pod_args(o, g, access.has_value(), output_dir, warnings));

  json labels = {{"app.kubernetes.io/name", "snap"},
                 {"app.kubernetes.io/component", "backup"},
                 {"app.kubernetes.io/instance", name},
                 {"snap.adapter", adapter}};
  std::vector<json> out;
  json sa = object("v1", "ServiceAccount", name, ns, labels);
  sa["automountServiceAccountToken"] = access.has_value();
  out.push_back(sa);
  json subject = {
      {"kind", "ServiceAccount"}, {"name", name}, {"namespace", ns}};
  auto binding = [&](const char* kind, const char* role_kind,
                     const std::string& role, bool namespaced) {
    json b = object("rbac.authorization.k8s.io/v1", kind, role,
                    namespaced ? ns : "", labels);
    b["roleRef"] = {{"apiGroup", "rbac.authorization.k8s.io"},
                    {"kind", role_kind},
                    {"name", role}};
    b["subjects"] = json::array({subject});
    return b;
  };
  if (access && !access->rules.empty()) {
    json role =
        object("rbac.authorization.k8s.io/v1", "Role", name, ns, labels);
    role["rules"] = json(access->rules);
    out.push_back(role);
    out.push_back(binding("RoleBinding", "Role", name, true));
  }
  if (access && !access->cluster_rules.empty()) {
    // Cluster-wide names: one per namespace and schedule.
    std::string cluster_name = fmt::format("{}:{}", ns, name);
    json role = object("rbac.authorization.k8s.io/v1", "ClusterRole",
                       cluster_name, "", labels);
    role["rules"] = json(access->cluster_rules);
    out.push_back(role);
    out.push_back(
        binding("ClusterRoleBinding", "ClusterRole", cluster_name, false));
  }
  json volumes = json::array(), mounts = json::array();
  volumes.push_back({{"name", "tmp"}, {"emptyDir", json::object()}});
  mounts.push_back({{"name", "tmp"}, {"mountPath", "/tmp"}});
  if (!is_s3_url(output_dir)) {
    std::string claim = o.claim;
    if (claim.empty()) {
      claim = name + "-archives";
      json pvc = object("v1", "PersistentVolumeClaim", claim, ns, labels);
      pvc["spec"] = {{"accessModes", {"ReadWriteOnce"}},
                     {"resources", {{"requests", {{"storage", o.storage}}}}}};
      if (!o.storage_class.empty()) {
        pvc["spec"]["storageClassName"] = o.storage_class;
      }
      out.push_back(pvc);
    }
    volumes.push_back({{"name", "archives"},
                       {"persistentVolumeClaim", {{"claimName", claim}}}});
    mounts.push_back({{"name", "archives"}, {"mountPath", k_archives}});
  }
  if (!o.secret.empty()) {
    volumes.push_back(
        {{"name", "credentials"},
         {"secret", {{"secretName", o.secret}, {"defaultMode", 0440}}}});
    mounts.push_back({{"name", "credentials"},
                      {"mountPath", k_secret_dir},
                      {"readOnly", true}});
  }
  json container = {{"name", "snap"},
                    {"image", o.image},
                    {"command", {"snap"}},
                    {"args", args},
                    {"env", {{{"name", "HOME"}, {"value", "/tmp"}}}},
                    {"volumeMounts", mounts},
                    {"securityContext",
                     {{"allowPrivilegeEscalation", false},
                      {"readOnlyRootFilesystem", true},
                      {"capabilities", {{"drop", {"ALL"}}}}}}};
  if (!o.env_secret.empty()) {
    container["envFrom"] = {{{"secretRef", {{"name", o.env_secret}}}}};
  }
  json pod = {{"serviceAccountName", name},
              {"automountServiceAccountToken", access.has_value()},
              {"restartPolicy", "Never"},
              {"securityContext",
               {{"runAsNonRoot", true},
                {"runAsUser", 10001},
                {"runAsGroup", 10001},
                {"fsGroup", 10001},
                {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
              {"containers", {container}},
              {"volumes", volumes}};
  json cron = object("batch/v1", "CronJob", name, ns, labels);
  cron["spec"] = {
      {"schedule", o.cron},
      {"concurrencyPolicy", "Forbid"},
      {"startingDeadlineSeconds", 3600},
      {"successfulJobsHistoryLimit", 3},
      {"failedJobsHistoryLimit", 3},
      {"jobTemplate",
       {{"metadata", {{"labels", labels}}},
        {"spec",
         {{"backoffLimit", 0},
          {"template",
           {{"metadata", {{"labels", labels}}}, {"spec", pod}}}}}}}};
  if (!o.time_zone.empty()) {
    cron["spec"]["timeZone"] = o.time_zone;
  }
  out.push_back(cron);
  return out;
}

// JSON as YAML, every string double-quoted ("7" stays a string, as
// Kubernetes wants args to be).
void emit(YAML::Emitter& e, const json& j) {
  if ((j.is_object() || j.is_array()) && j.empty()) {
    e << YAML::Flow << (j.is_object() ? YAML::BeginMap : YAML::BeginSeq)
      << (j.is_object() ? YAML::EndMap : YAML::EndSeq);
  } else if (j.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      e << YAML::Key << k << YAML::Value;
      emit(e, v);
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j) {
      emit(e, v);
    }
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    e << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_boolean()) {
    e << (j.get<bool>() ? "true" : "false");
  } else if (j.is_number_integer()) {
    e << j.get<std::int64_t>();
  } else if (j.is_number()) {
    e << j.get<double>();
  } else {
    e << YAML::Null;
  }
}

std::string to_yaml(const std::vector<json>& objects) {
  std::string out;
  for (const auto& o : objects) {
    YAML::Emitter e;
    emit(e, o);
    out += "---\n";
    out += e.c_str();
    out += "\n";
  }
  return out;
}

// Creates each object, or brings an existing one to what was written
// (a PVC that exists is kept: its size and data are the cluster's).
Expected<std::vector<std::string>>
apply_objects(kube::Client& api, const std::vector<json>& objects) {
  std::vector<std::string> done;
  for (const auto& o : objects) {
    std::string api_version = o["apiVersion"];
    std::string kind = o["kind"];
    std::string name = o["metadata"]["name"];
    std::string ns = o["metadata"].value("namespace", "");
    kube::ResourceType t = SNAP_TRY(api.type_of(api_version, kind));
    std::string id = t.name() + "/" + name;
    const nlohmann::json body(o);
    auto made = api.create(t, ns, body);
    if (made) {
      done.push_back("created " + id);
      continue;
    }
    if (made.error().kind != ErrorKind::conflict) {
      return tl::unexpected(made.error());
    }
    json live = SNAP_TRY(api.get(t, ns, name));
    if (kind == "PersistentVolumeClaim") {
      done.push_back("kept " + id + " (exists; its archives stay)");
      continue;
    }
    nlohmann::json next = body;
    next["metadata"]["resourceVersion"] =
        live["metadata"].value("resourceVersion", "");
    SNAP_TRY(api.replace(t, ns, name, next));
    done.push_back("updated " + id);
  }
  return done;
}

} // namespace

Expected<CommandResult> run_schedule(const ScheduleOptions& opts,
                                     Context& ctx) {
  const AdapterInfo& info = opts.save.args.adapter->info();
  if (!info.caps.has(Capability::save)) {
    return fail(ErrorKind::unsupported,
                fmt::format("{}: save is not supported, so neither is a "
                            "schedule (supported: {})",
                            info.name, info.caps.names()));
  }
  const auto& values = opts.save.args.values;
  const auto& lists = opts.save.args.lists;
  // A flag's value, or a repeatable one's values joined ("a,b").
  auto value = [&](const char* k) {
    if (auto l = lists.find(k); l != lists.end() && !l->second.empty()) {
      return join_list(l->second, ",");
    }
    auto it = values.find(k);
    return it == values.end() ? std::string() : it->second;
  };
  std::optional<kube::Cluster> cluster;
  // The job's namespace: the first of a network's.
  std::string ns = value("namespace");
  ns = ns.substr(0, ns.find(','));
  if (opts.apply) {
    // An adapter that works in the cluster was given the cluster's
    // connection; any other was given its target's, and the cluster comes
    // from the kubeconfig.
    Connection given;
    if (opts.save.args.adapter->kube_access != nullptr) {
      given = SNAP_TRY(resolve_connection(info, opts.save.args.conn,
                                          process_env(), nullptr));
    }
    auto connector = make_connector(std::move(given), ctx);
    AdapterFlags flags = {{"kubeconfig", value("kubeconfig")},
                          {"context", value("context")},
                          {"namespace", ns}};
    cluster = SNAP_TRY(kube::connect(*connector, flags, "kubernetes"));
    ns = cluster->ns;
  } else if (ns.empty()) {
    ns = "default";
  }
  std::vector<std::string> warnings;
  auto objects = SNAP_TRY(schedule_objects(opts, ctx.global, ns, warnings));
  for (const auto& w : warnings) {
    ctx.output->warn(w);
  }
  CommandResult r;
  json list = json::array();
  for (const auto& o : objects) {
    list.push_back(o);
  }
  r.json["namespace"] = ns;
  r.json["objects"] = list;
  if (!cluster) {
    r.text = to_yaml(objects);
    return r;
  }
  auto done = SNAP_TRY(apply_objects(*cluster->api, objects));
  std::string name = objects.back()["metadata"]["name"];
  for (const auto& line : done) {
    r.text += line + "\n";
  }
  r.text += fmt::format("Scheduled {} in {} on {}: snap save {} at '{}'\n",
                        name, ns, cluster->url(), info.name, opts.cron);
  r.json["applied"] = done;
  r.json["server"] = cluster->url();
  return r;
}

} // namespace snap::commands
