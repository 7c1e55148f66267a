// SPDX-License-Identifier: MIT
// The API server's validation of the built-in kinds a schedule creates, as
// kube-apiserver runs it before anything is stored: a 422 Invalid naming
// each field path, in Kubernetes' words.
//
// Sources:
// - kubernetes pkg/apis/batch/validation/validation.go: ValidateCronJob
//   (name at most 52 characters on create, schedule required and parsed by
//   robfig/cron/v3 ParseStandard, TZ= refused in a new schedule with the
//   timeZone field to use instead, timeZone loaded from the tz database and
//   not "Local", concurrencyPolicy Allow|Forbid|Replace, non-negative
//   limits), validateJobSpec (restartPolicy OnFailure|Never: a pod
//   template's default Always is refused; no selector in a job template);
// - pkg/apis/core/validation: containers required, each with a DNS-label
//   name and an image, volume names unique DNS labels, every volumeMount
//   naming a volume, with a mountPath;
// - pkg/apis/rbac/validation/validation.go: ValidatePolicyRule (verbs
//   required; a namespaced Role's rules cannot name non-resource URLs;
//   resource rules need apiGroups and resources), ValidateRoleBinding and
//   ValidateClusterRoleBinding (roleRef in rbac.authorization.k8s.io, of
//   kind Role or ClusterRole, ClusterRole only for a ClusterRoleBinding;
//   subjects ServiceAccount|User|Group, a ServiceAccount with a name and,
//   in a ClusterRoleBinding, a namespace), and roleRef immutable;
// - robfig/cron v3 parser.go: five fields, descriptors (@yearly, @annually,
//   @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION), each
//   field a ','-list of '*'|'?'|N|N-M with an optional /STEP, names for
//   months and weekdays, bounds minute 0-59, hour 0-23, dom 1-31, month
//   1-12, dow 0-6.
#include <filesystem>
#include <sstream>

#include "emulator/kubernetes/cluster.hpp"

namespace snap::emulator::kube {
namespace {

using Errors = std::vector<std::string>;

bool dns_label(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string q(const json& v) { return v.dump(); }

// robfig/cron v3: the bits of one field, or the parser's error.
std::optional<std::string> cron_field(const std::string& field, int lo, int hi,
                                      const std::map<std::string, int>& names) {
  auto number = [&](const std::string& s,
                    int& out) -> std::optional<std::string> {
    std::string lower;
    for (char c : s) {
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (auto n = names.find(lower); n != names.end()) {
      out = n->second;
      return std::nullopt;
    }
    if (s.empty() || s.size() > 9 ||
        s.find_first_not_of("0123456789-") != std::string::npos ||
        s.find('-', 1) != std::string::npos) {
      return "failed to parse int from " + s + ": strconv.Atoi: parsing " +
             q(s) + ": invalid syntax";
    }
    out = std::stoi(s);
    if (out < 0) {
      return "negative number (" + s + ") not allowed: " + s;
    }
    return std::nullopt;
  };
  std::stringstream parts(field);
  for (std::string expr; std::getline(parts, expr, ',');) {
    if (expr.empty()) {
      continue; // strings.FieldsFunc drops empty items
    }
    std::vector<std::string> range_step, low_high;
    std::stringstream rs(expr);
    for (std::string p; std::getline(rs, p, '/');) {
      range_step.push_back(p);
    }
    if (expr.back() == '/') {
      range_step.push_back("");
    }
    std::stringstream lh(range_step[0]);
    for (std::string p; std::getline(lh, p, '-');) {
      low_high.push_back(p);
    }
    int start = lo, end = hi, step = 1;
    if (!(low_high.size() == 1 && (low_high[0] == "*" || low_high[0] == "?"))) {
      if (low_high.empty() || low_high.size() > 2) {
        return "too many hyphens: " + expr;
      }
      if (auto e = number(low_high[0], start)) {
        return e;
      }
      end = start;
      if (low_high.size() == 2) {
        if (auto e = number(low_high[1], end)) {
          return e;
        }
      }
    }
    if (range_step.size() > 2) {
      return "too many slashes: " + expr;
    }
    if (range_step.size() == 2) {
      if (auto e = number(range_step[1], step)) {
        return e;
      }
      if (low_high.size() == 1 && low_high[0] != "*" && low_high[0] != "?") {
        end = hi; // "N/step" means "N-max/step"
      }
    }
    if (start < lo) {
      return "beginning of range (" + std::to_string(start) +
             ") below minimum (" + std::to_string(lo) + "): " + expr;
    }
    if (end > hi) {
      return "end of range (" + std::to_string(end) + ") above maximum (" +
             std::to_string(hi) + "): " + expr;
    }
    if (start > end) {
      return "beginning of range (" + std::to_string(start) +
             ") beyond end of range (" + std::to_string(end) + "): " + expr;
    }
    if (step == 0) {
      return "step of range should be a positive number: " + expr;
    }
  }
  return std::nullopt;
}

std::optional<std::string> parse_standard(std::string spec) {
  if (spec.empty()) {
    return "empty spec string";
  }
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    auto sp = spec.find(' ');
    spec = sp == std::string::npos ? "" : spec.substr(sp + 1);
  }
  if (!spec.empty() && spec[0] == '@') {
    static const char* known[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                  "@daily",  "@midnight", "@hourly"};
    for (const char* k : known) {
      if (spec == k) {
        return std::nullopt;
      }
    }
    if (spec.rfind("@every ", 0) == 0 && spec.size() > 7) {
      return std::nullopt; // a Go duration; not modelled further
    }
    return "unrecognized descriptor: " + spec;
  }
  std::vector<std::string> fields;
  std::istringstream words(spec);
  for (std::string f; words >> f;) {
    fields.push_back(f);
  }
  if (fields.size() != 5) {
    std::string list;
    for (const auto& f : fields) {
      list += (list.empty() ? "" : " ") + f;
    }
    return "expected exactly 5 fields, found " + std::to_string(fields.size()) +
           ": [" + list + "]";
  }
  static const std::map<std::string, int> months = {
      {"jan", 1}, {"feb", 2},  {"mar", 3},  {"apr", 4},
      {"may", 5}, {"jun", 6},  {"jul", 7},  {"aug", 8},
      {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
  static const std::map<std::string, int> days = {
      {"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
      {"thu", 4}, {"fri", 5}, {"sat", 6}};
  const std::pair<int, int> bounds[] = {
      {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}};
  for (int i = 0; i < 5; ++i) {
    const auto& names = i == 3   ? months
                        : i == 4 ? days
                                 : std::map<std::string, int>{};
    if (auto e =
            cron_field(fields[i], bounds[i].first, bounds[i].second, names)) {
      return e;
    }
  }
  return std::nullopt;
}

void non_negative(const json& o, const std::string& key,
                  const std::string& path, Errors& errs) {
  if (o.contains(key) && o[key].is_number_integer() && o[key].get<long>() < 0) {
    errs.push_back(path + key + ": Invalid value: " + o[key].dump() +
                   ": must be greater than or equal to 0");
  }
}

void validate_pod_spec(const json& spec, const std::string& path,
                       Errors& errs) {
  std::set<std::string> volumes;
  for (std::size_t i = 0; i < spec.value("volumes", json::array()).size();
       ++i) {
    std::string name = spec["volumes"][i].value("name", "");
    std::string at = path + "volumes[" + std::to_string(i) + "].name";
    if (!dns_label(name)) {
      errs.push_back(at + ": Invalid value: " + q(name) +
                     ": a lowercase RFC 1123 label must consist of lower case "
                     "alphanumeric characters or '-'");
    } else if (!volumes.insert(name).second) {
      errs.push_back(at + ": Duplicate value: " + q(name));
    }
  }
  json containers = spec.value("containers", json::array());
  if (!containers.is_array() || containers.empty()) {
    errs.push_back(path + "containers: Required value");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const json& c = containers[i];
    std::string at = path + "containers[" + std::to_string(i) + "].";
    std::string name = c.value("name", "");
    if (name.empty()) {
      errs.push_back(at + "name: Required value");
    } else if (!dns_label(name)) {
      errs.push_back(at + "name: Invalid value: " + q(name) +
                     ": a lowercase RFC 1123 label must consist of lower case "
                     "alphanumeric characters or '-'");
    } else if (!names.insert(name).second) {
      errs.push_back(at + "name: Duplicate value: " + q(name));
    }
    if (c.value("image", "").empty()) {
      errs.push_back(at + "image: Required value");
    }
    json mounts = c.value("volumeMounts", json::array());
    for (std::size_t m = 0; m < mounts.size(); ++m) {
      std::string mat = at + "volumeMounts[" + std::to_string(m) + "].";
      std::string v = mounts[m].value("name", "");
      if (!volumes.contains(v)) {
        errs.push_back(mat + "name: Not found: " + q(v));
      }
      if (mounts[m].value("mountPath", "").empty()) {
        errs.push_back(mat + "mountPath: Required value");
      }
    }
  }
}

void validate_cronjob(const json& o, bool create, Errors& errs) {
  std::string name = o["metadata"].value("name", "");
  if (create && name.size() > 52) {
    errs.push_back("metadata.name: Invalid value: " + q(name) +
                   ": must be no more than 52 characters");
  }
  json spec = o.value("spec", json::object());
  std::string schedule = spec.value("schedule", "");
  bool has_tz = spec.contains("timeZone") && !spec["timeZone"].is_null();
  if (schedule.empty()) {
    errs.push_back("spec.schedule: Required value");
  } else if (auto e = parse_standard(schedule)) {
    errs.push_back("spec.schedule: Invalid value: " + q(schedule) + ": " + *e);
  } else if (schedule.find("TZ") != std::string::npos) {
    errs.push_back("spec.schedule: Invalid value: " + q(schedule) +
                   (has_tz ? ": cannot use both timeZone field and TZ or "
                             "CRON_TZ in schedule"
                           : ": cannot use TZ or CRON_TZ in schedule, use "
                             "timeZone field instead"));
  }
  if (has_tz) {
    std::string tz =
        spec["timeZone"].is_string() ? spec["timeZone"].get<std::string>() : "";
    if (tz == "Local" || tz == "local") {
      errs.push_back("spec.timeZone: Invalid value: " + q(tz) +
                     ": timeZone must be an explicit time zone as defined in "
                     "https://www.iana.org/time-zones");
    } else if (tz.empty() || tz.find("..") != std::string::npos ||
               tz[0] == '/' ||
               !std::filesystem::is_regular_file("/usr/share/zoneinfo/" + tz)) {
      errs.push_back("spec.timeZone: Invalid value: " + q(tz) +
                     ": unknown time zone " + tz);
    }
  }
  std::string policy = spec.value("concurrencyPolicy", "Allow");
  if (policy != "Allow" && policy != "Forbid" && policy != "Replace") {
    errs.push_back("spec.concurrencyPolicy: Unsupported value: " + q(policy) +
                   ": supported values: \"Allow\", \"Forbid\", \"Replace\"");
  }
  for (const char* k : {"startingDeadlineSeconds", "successfulJobsHistoryLimit",
                        "failedJobsHistoryLimit"}) {
    non_negative(spec, k, "spec.", errs);
  }
  json job =
      spec.value("jobTemplate", json::object()).value("spec", json::object());
  non_negative(job, "backoffLimit", "spec.jobTemplate.spec.", errs);
  if (job.contains("selector")) {
    errs.push_back("spec.jobTemplate.spec.selector: Invalid value: " +
                   job["selector"].dump() +
                   ": `selector` will be auto-generated");
  }
  json pod =
      job.value("template", json::object()).value("spec", json::object());
  std::string restart = pod.value("restartPolicy", "Always");
  if (restart != "OnFailure" && restart != "Never") {
    errs.push_back("spec.jobTemplate.spec.template.spec.restartPolicy: "
                   "Unsupported value: " +
                   q(restart) + ": supported values: \"OnFailure\", \"Never\"");
  }
  validate_pod_spec(pod, "spec.jobTemplate.spec.template.spec.", errs);
}

void validate_rules(const json& o, bool namespaced, Errors& errs) {
  json rules = o.value("rules", json::array());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    std::string at = "rules[" + std::to_string(i) + "].";
    auto list = [&](const char* k) {
      return r.contains(k) && r[k].is_array() ? r[k] : json::array();
    };
    if (list("verbs").empty()) {
      errs.push_back(at + "verbs: Required value: verbs must contain at "
                          "least one value");
    }
    if (!list("nonResourceURLs").empty()) {
      if (namespaced) {
        errs.push_back(at + "nonResourceURLs: Invalid value: " +
                       list("nonResourceURLs").dump() +
                       ": namespaced rules cannot apply to non-resource URLs");
      }
      if (!list("apiGroups").empty() || !list("resources").empty()) {
        errs.push_back(at + "nonResourceURLs: Invalid value: " +
                       list("nonResourceURLs").dump() +
                       ": rules cannot apply to both regular resources and "
                       "non-resource URLs");
      }
      continue;
    }
    if (list("apiGroups").empty()) {
      errs.push_back(at + "apiGroups: Required value: resource rules must "
                          "supply at least one api group");
    }
    if (list("resources").empty()) {
      errs.push_back(at + "resources: Required value: resource rules must "
                          "supply at least one resource");
    }
  }
}

void validate_binding(const json& o, bool cluster, Errors& errs) {
  json ref = o.value("roleRef", json::object());
  if (ref.value("apiGroup", "") != "rbac.authorization.k8s.io") {
    errs.push_back(
        "roleRef.apiGroup: Unsupported value: " + q(ref.value("apiGroup", "")) +
        ": supported values: \"rbac.authorization.k8s.io\"");
  }
  std::string kind = ref.value("kind", "");
  if (cluster ? kind != "ClusterRole"
              : (kind != "Role" && kind != "ClusterRole")) {
    errs.push_back("roleRef.kind: Unsupported value: " + q(kind) +
                   (cluster ? ": supported values: \"ClusterRole\""
                            : ": supported values: \"Role\", \"ClusterRole\""));
  }
  if (ref.value("name", "").empty()) {
    errs.push_back("roleRef.name: Required value");
  }
  json subjects = o.value("subjects", json::array());
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    const json& s = subjects[i];
    std::string at = "subjects[" + std::to_string(i) + "].";
    std::string k = s.value("kind", "");
    if (k == "ServiceAccount") {
      if (!dns_label(s.value("name", "")) &&
          s.value("name", "").find('.') == std::string::npos) {
        errs.push_back(at + "name: Invalid value: " + q(s.value("name", "")) +
                       ": a lowercase RFC 1123 subdomain must consist of "
                       "lower case alphanumeric characters, '-' or '.'");
      }
      if (!s.value("apiGroup", "").empty()) {
        errs.push_back(at + "apiGroup: Unsupported value: " +
                       q(s.value("apiGroup", "")) + ": supported values: \"\"");
      }
      if (cluster && s.value("namespace", "").empty()) {
        errs.push_back(at + "namespace: Required value");
      }
    } else if (k != "User" && k != "Group") {
      errs.push_back(at + "kind: Unsupported value: " + q(k) +
                     ": supported values: \"ServiceAccount\", \"User\", "
                     "\"Group\"");
    }
  }
}

// NetworkPolicy (kubernetes pkg/apis/networking/validation
// ValidateNetworkPolicySpec): policy types, ports' protocols and numbers.
void validate_network_policy(const json& o, Errors& errs) {
  json spec = o.value("spec", json::object());
  if (!spec.is_object()) {
    return;
  }
  json types = spec.value("policyTypes", json::array());
  for (std::size_t i = 0; types.is_array() && i < types.size(); ++i) {
    if (types[i] != "Ingress" && types[i] != "Egress") {
      errs.push_back("spec.policyTypes[" + std::to_string(i) +
                     "]: Unsupported value: " + q(types[i]) +
                     ": supported values: \"Egress\", \"Ingress\"");
    }
  }
  for (const char* dir : {"ingress", "egress"}) {
    json rules = spec.value(dir, json::array());
    for (std::size_t r = 0; rules.is_array() && r < rules.size(); ++r) {
      json ports = rules[r].is_object() ? rules[r].value("ports", json::array())
                                        : json::array();
      for (std::size_t p = 0; ports.is_array() && p < ports.size(); ++p) {
        std::string at = std::string("spec.") + dir + "[" + std::to_string(r) +
                         "].ports[" + std::to_string(p) + "].";
        json proto = ports[p].value("protocol", json("TCP"));
        if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
          errs.push_back(at + "protocol: Unsupported value: " + q(proto) +
                         ": supported values: \"SCTP\", \"TCP\", \"UDP\"");
        }
        json port = ports[p].value("port", json());
        if (port.is_number_integer() &&
            (port.get<long>() < 1 || port.get<long>() > 65535)) {
          errs.push_back(at + "port: Invalid value: " + port.dump() +
                         ": must be between 1 and 65535, inclusive");
        }
      }
    }
  }
}

} // namespace

std::optional<std::string> Cluster::invalid(const Kind& k, const json& obj,
                                            const json* live) {
  Errors errs;
  bool create = live == nullptr;
  if (k.group == "batch" && k.plural == "cronjobs") {
    validate_cronjob(obj, create, errs);
  } else if (k.group == "networking.k8s.io" && k.plural == "networkpolicies") {
    validate_network_policy(obj, errs);
  } else if (k.group == "rbac.authorization.k8s.io") {
    if (k.plural == "roles" || k.plural == "clusterroles") {
      validate_rules(obj, k.plural == "roles", errs);
    } else {
      validate_binding(obj, k.plural == "clusterrolebindings", errs);
      if (live != nullptr &&
          live->value("roleRef", json()) != obj.value("roleRef", json())) {
        errs.push_back(
            "roleRef: Invalid value: " + obj.value("roleRef", json()).dump() +
            ": cannot change roleRef");
      }
    }
  }
  if (errs.empty()) {
    return std::nullopt;
  }
  std::string msg = k.kind + "." + k.group + " \"" +
                    obj["metadata"].value("name", "") + "\" is invalid: ";
  if (errs.size() > 1) {
    msg += "[";
  }
  for (std::size_t i = 0; i < errs.size(); ++i) {
    msg += (i ? ", " : "") + errs[i];
  }
  if (errs.size() > 1) {
    msg += "]";
  }
  return msg;
}

} // namespace snap::emulator::kube
