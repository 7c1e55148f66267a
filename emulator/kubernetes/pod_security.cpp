// SPDX-License-Identifier: MIT
// Pod Security admission (the built-in PodSecurity plugin), enforce mode,
// for pods created directly, as kubernetes/kubernetes staging/src/k8s.io/
// pod-security-admission implements it:
//
// - The level comes from the namespace's label
//   pod-security.kubernetes.io/enforce (privileged, baseline, restricted)
//   and the version from pod-security.kubernetes.io/enforce-version
//   ("latest" or "v1.x"); a value that does not parse counts as
//   "restricted" and "latest" (api/helpers.go PolicyToEvaluate). No label
//   means privileged, the default configuration.
// - A refused pod is answered 403 Forbidden: `pods "NAME" is forbidden:
//   violates PodSecurity "LEVEL:VERSION": REASON (DETAIL), …`
//   (admission/admission.go, policy/checks.go ForbiddenDetail), the checks'
//   results in the registry's order: the baseline checks, then for
//   restricted the restricted checks, each group in file-name order
//   (policy/registry.go EvaluatePod; Go runs init() by file name).
// - Checks modelled (policy/check_*.go): baseline hostPathVolumes,
//   privileged, capabilities_baseline (the default set of 13),
//   seccompProfile_baseline (no Unconfined); restricted
//   allowPrivilegeEscalation, capabilities_restricted (drop ALL, add only
//   NET_BIND_SERVICE), restrictedVolumes, runAsNonRoot, runAsUser,
//   seccompProfile_restricted. Not modelled: host namespaces and ports,
//   AppArmor, SELinux, procMount, sysctls, Windows host process, probes,
//   user namespaces' relaxations, exemptions, and the warnings that
//   workload objects get (enforce applies to pods only).
#include "emulator/kubernetes/cluster.hpp"

#include <functional>
#include <regex>
#include <set>

namespace snap::emulator::kube {

namespace {

struct Result {
  std::string reason;
  std::string detail;
};

// policy/helpers.go joinQuote and pluralize.
std::string join_quote(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    out += (out.empty() ? "" : ", ") + json(i).dump();
  }
  return out;
}

std::string plural(const char* one, const char* many, std::size_t n) {
  return n == 1 ? one : many;
}

std::vector<std::string> sorted(const std::set<std::string>& s) {
  return {s.begin(), s.end()};
}

// visitContainers: init containers, containers, ephemeral containers.
template <typename F> void visit(const json& spec, F&& f) {
  for (const char* field :
       {"initContainers", "containers", "ephemeralContainers"}) {
    json list = spec.value(field, json::array());
    if (!list.is_array()) {
      continue;
    }
    for (const auto& c : list) {
      if (c.is_object()) {
        f(c, c.value("name", std::string()),
          c.value("securityContext", json::object()));
      }
    }
  }
}

// A bool field that is set: its value; unset: nullopt.
std::optional<bool> flag(const json& o, const char* key) {
  if (o.is_object() && o.contains(key) && o[key].is_boolean()) {
    return o[key].get<bool>();
  }
  return std::nullopt;
}

std::vector<std::string> strings(const json& o, const char* a, const char* b) {
  std::vector<std::string> out;
  json list = o.value(a, json::object()).value(b, json::array());
  for (const auto& s : list) {
    if (s.is_string()) {
      out.push_back(s.get<std::string>());
    }
  }
  return out;
}

std::vector<Result> baseline(const json& spec) {
  std::vector<Result> out;
  std::vector<std::string> host_paths;
  for (const auto& v : spec.value("volumes", json::array())) {
    if (v.is_object() && v.contains("hostPath")) {
      host_paths.push_back(v.value("name", ""));
    }
  }
  if (!host_paths.empty()) {
    out.push_back(
        {"hostPath volumes", plural("volume", "volumes", host_paths.size()) +
                                 " " + join_quote(host_paths)});
  }
  std::vector<std::string> privileged;
  visit(spec, [&](const json&, const std::string& name, const json& sc) {
    if (flag(sc, "privileged").value_or(false)) {
      privileged.push_back(name);
    }
  });
  if (!privileged.empty()) {
    out.push_back(
        {"privileged", plural("container", "containers", privileged.size()) +
                           " " + join_quote(privileged) +
                           " must not set securityContext.privileged=true"});
  }
  return out;
}

// runAsNonRoot, runAsUser and seccompProfile share a shape: a pod-level
// value that covers every container, a container's own value that
// overrides it. `ok` says whether a security context's value is allowed
// (nullopt: not set); `bad_value` names what the pod or containers must
// not set, asked once they have all been seen; an unset one is reported
// only where `must_set` is given.
void pod_or_containers(
    const json& spec, std::vector<Result>& out, const std::string& reason,
    const std::function<std::optional<bool>(const json&)>& ok,
    const std::function<std::string()>& bad_value,
    const std::string& must_set) {
  std::vector<std::string> setters;
  bool pod_ok = false;
  if (auto v = ok(spec.value("securityContext", json::object()))) {
    if (*v) {
      pod_ok = true;
    } else {
      setters.push_back("pod");
    }
  }
  std::vector<std::string> explicit_bad, implicit_bad;
  visit(spec, [&](const json&, const std::string& name, const json& sc) {
    if (auto v = ok(sc)) {
      if (!*v) {
        explicit_bad.push_back(name);
      }
    } else if (!pod_ok) {
      implicit_bad.push_back(name);
    }
  });
  if (!explicit_bad.empty()) {
    setters.push_back(plural("container", "containers", explicit_bad.size()) +
                      " " + join_quote(explicit_bad));
  }
  if (!setters.empty()) {
    std::string who = setters[0] + (setters.size() > 1 ? " and " + setters[1]
                                                       : std::string());
    out.push_back({reason, who + " must not set " + bad_value()});
  } else if (!implicit_bad.empty() && !must_set.empty()) {
    out.push_back(
        {reason, "pod or " +
                     plural("container", "containers", implicit_bad.size()) +
                     " " + join_quote(implicit_bad) + " must set " + must_set});
  }
}

// The overlapping baseline checks, which restricted replaces.
std::vector<Result> baseline_overlap(const json& spec) {
  static const std::set<std::string> allowed = {
      "AUDIT_WRITE", "CHOWN",  "DAC_OVERRIDE",     "FOWNER",  "FSETID",
      "KILL",        "MKNOD",  "NET_BIND_SERVICE", "SETFCAP", "SETGID",
      "SETPCAP",     "SETUID", "SYS_CHROOT"};
  std::vector<Result> out;
  std::vector<std::string> bad;
  std::set<std::string> caps;
  visit(spec, [&](const json&, const std::string& name, const json& sc) {
    bool ok = true;
    for (const auto& c : strings(sc, "capabilities", "add")) {
      if (!allowed.contains(c)) {
        ok = false;
        caps.insert(c);
      }
    }
    if (!ok) {
      bad.push_back(name);
    }
  });
  if (!bad.empty()) {
    out.push_back({"non-default capabilities",
                   plural("container", "containers", bad.size()) + " " +
                       join_quote(bad) + " must not include " +
                       join_quote(sorted(caps)) +
                       " in securityContext.capabilities.add"});
  }
  pod_or_containers(
      spec, out, "seccompProfile",
      [](const json& sc) -> std::optional<bool> {
        if (sc.value("seccompProfile", json::object()).value("type", "") ==
            "Unconfined") {
          return false;
        }
        return std::nullopt;
      },
      [] { return "securityContext.seccompProfile.type to \"Unconfined\""; },
      "");
  return out;
}

std::vector<Result> restricted(const json& spec) {
  std::vector<Result> out;
  std::vector<std::string> escalating;
  visit(spec, [&](const json&, const std::string& name, const json& sc) {
    if (flag(sc, "allowPrivilegeEscalation").value_or(true)) {
      escalating.push_back(name);
    }
  });
  if (!escalating.empty()) {
    out.push_back(
        {"allowPrivilegeEscalation != false",
         plural("container", "containers", escalating.size()) + " " +
             join_quote(escalating) +
             " must set securityContext.allowPrivilegeEscalation=false"});
  }
  std::vector<std::string> no_drop, adding;
  std::set<std::string> caps;
  visit(spec, [&](const json&, const std::string& name, const json& sc) {
    if (!sc.contains("capabilities")) {
      no_drop.push_back(name);
      return;
    }
    auto drop = strings(sc, "capabilities", "drop");
    if (std::find(drop.begin(), drop.end(), "ALL") == drop.end()) {
      no_drop.push_back(name);
    }
    bool bad = false;
    for (const auto& c : strings(sc, "capabilities", "add")) {
      if (c != "NET_BIND_SERVICE") {
        bad = true;
        caps.insert(c);
      }
    }
    if (bad) {
      adding.push_back(name);
    }
  });
  std::vector<std::string> details;
  if (!no_drop.empty()) {
    details.push_back(plural("container", "containers", no_drop.size()) + " " +
                      join_quote(no_drop) +
                      " must set securityContext.capabilities.drop=[\"ALL\"]");
  }
  if (!adding.empty()) {
    details.push_back(plural("container", "containers", adding.size()) + " " +
                      join_quote(adding) + " must not include " +
                      join_quote(sorted(caps)) +
                      " in securityContext.capabilities.add");
  }
  if (!details.empty()) {
    out.push_back({"unrestricted capabilities",
                   details[0] + (details.size() > 1 ? "; " + details[1]
                                                    : std::string())});
  }
  static const std::set<std::string> volume_types = {
      "configMap", "csi",       "downwardAPI",
      "emptyDir",  "ephemeral", "persistentVolumeClaim",
      "projected", "secret"};
  std::vector<std::string> bad_volumes;
  std::set<std::string> bad_types;
  for (const auto& v : spec.value("volumes", json::array())) {
    if (!v.is_object()) {
      continue;
    }
    for (const auto& [field, value] : v.items()) {
      if (field != "name" && !volume_types.contains(field)) {
        bad_volumes.push_back(v.value("name", ""));
        bad_types.insert(field);
        break;
      }
    }
  }
  if (!bad_volumes.empty()) {
    bool one = bad_volumes.size() == 1;
    out.push_back({"restricted volume types",
                   plural("volume", "volumes", bad_volumes.size()) + " " +
                       join_quote(bad_volumes) + (one ? " uses" : " use") +
                       " restricted volume " +
                       plural("type", "types", bad_types.size()) + " " +
                       join_quote(sorted(bad_types))});
  }
  pod_or_containers(
      spec, out, "runAsNonRoot != true",
      [](const json& sc) { return flag(sc, "runAsNonRoot"); },
      [] { return "securityContext.runAsNonRoot=false"; },
      "securityContext.runAsNonRoot=true");
  pod_or_containers(
      spec, out, "runAsUser=0",
      [](const json& sc) -> std::optional<bool> {
        if (sc.is_object() && sc.contains("runAsUser") &&
            sc["runAsUser"].is_number_integer() &&
            sc["runAsUser"].get<long long>() == 0) {
          return false;
        }
        return std::nullopt;
      },
      [] { return "runAsUser=0"; }, "");
  std::set<std::string> bad_profiles;
  pod_or_containers(
      spec, out, "seccompProfile",
      [&](const json& sc) -> std::optional<bool> {
        json p = sc.value("seccompProfile", json());
        if (!p.is_object()) {
          return std::nullopt;
        }
        std::string t = p.value("type", "");
        if (t == "RuntimeDefault" || t == "Localhost") {
          return true;
        }
        bad_profiles.insert(t);
        return false;
      },
      [&] {
        return "securityContext.seccompProfile.type to " +
               join_quote(sorted(bad_profiles));
      },
      "securityContext.seccompProfile.type to \"RuntimeDefault\" or "
      "\"Localhost\"");
  return out;
}

} // namespace

std::optional<std::string> Cluster::pod_security_refusal(const std::string& ns,
                                                         const json& pod) {
  json* n = object(find_kind("", "namespaces"), "", ns);
  if (n == nullptr) {
    return std::nullopt;
  }
  json labels = (*n)["metadata"].value("labels", json::object());
  if (!labels.is_object() ||
      !labels.contains("pod-security.kubernetes.io/enforce")) {
    return std::nullopt;
  }
  json level_v = labels["pod-security.kubernetes.io/enforce"];
  std::string level = level_v.is_string() ? level_v.get<std::string>() : "";
  if (level == "privileged") {
    return std::nullopt;
  }
  if (level != "baseline") {
    level = "restricted";
  }
  std::string version = "latest";
  if (labels.contains("pod-security.kubernetes.io/enforce-version") &&
      labels["pod-security.kubernetes.io/enforce-version"].is_string()) {
    std::string v = labels["pod-security.kubernetes.io/enforce-version"];
    static const std::regex minor("v1\\.(0|[1-9][0-9]*)");
    if (std::regex_match(v, minor)) {
      version = v;
    }
  }
  json spec = pod.value("spec", json::object());
  if (!spec.is_object()) {
    return std::nullopt;
  }
  std::vector<Result> results = baseline(spec);
  for (auto& r :
       level == "baseline" ? baseline_overlap(spec) : restricted(spec)) {
    results.push_back(std::move(r));
  }
  if (results.empty()) {
    return std::nullopt;
  }
  std::string detail;
  for (const auto& r : results) {
    detail += (detail.empty() ? "" : ", ") + r.reason +
              (r.detail.empty() ? "" : " (" + r.detail + ")");
  }
  return "pods " + json(pod["metadata"].value("name", "")).dump() +
         " is forbidden: violates PodSecurity \"" + level + ":" + version +
         "\": " + detail;
}

} // namespace snap::emulator::kube
