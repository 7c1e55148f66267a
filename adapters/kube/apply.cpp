// SPDX-License-Identifier: MIT
// Facts: Velero's restore (pkg/restore/restore.go: priorities, resetMetadata,
// existing-resource policy), apimachinery's garbage collector (orphan
// propagation strips ownerReferences from dependents), apiextensions (a CRD
// serves its kind once condition Established is True).
#include "adapters/kube/apply.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters::kube {
namespace {

// Whether an owner reference of `p` that controls it names an object this
// restore made (by its saved uid).
bool made_by_restored_owner(const Planned& p,
                            const std::set<std::string>& renewed) {
  for (const auto& ref : p.owner_refs) {
    if (ref.value("controller", false) && renewed.contains(str(ref, "uid"))) {
      return true;
    }
  }
  return false;
}

bool fatal(const Error& e) {
  return e.kind == ErrorKind::auth || e.kind == ErrorKind::connect ||
         e.kind == ErrorKind::interrupted;
}

} // namespace

bool is_crd(const ResourceType& t) {
  return t.group == "apiextensions.k8s.io" &&
         t.plural == "customresourcedefinitions";
}

Expected<Conflict> parse_conflict(const std::string& text) {
  if (text.empty() || text == "fail") {
    return Conflict::fail;
  }
  if (text == "skip") {
    return Conflict::skip;
  }
  if (text == "replace") {
    return Conflict::replace;
  }
  return fail(ErrorKind::usage,
              fmt::format("--conflict {}: use fail, skip or replace", text));
}

Expected<std::vector<Planned>> Restorer::plan(ArchiveReader& in, const json& b,
                                              const RestoreScope& scope,
                                              const RankFn& rank) {
  // An archive of one namespace names it once; one of several names each
  // object's and each snapshot's.
  const std::string archive_ns = str(b, "namespace");
  auto target_of = [&](const std::string& from) {
    auto it = scope.ns_map.find(from);
    return it == scope.ns_map.end() ? scope.ns : it->second;
  };
  std::set<std::string> matched;
  std::map<std::string, json> snapshot_of; // "ns/pvc" -> record
  for (const auto& s : b.value("volume_snapshots", json::array())) {
    std::string from =
        (str(s, "namespace").empty() ? archive_ns : str(s, "namespace"));
    snapshot_of[from + "/" + str(s, "pvc")] = s;
  }
  std::map<std::string, json> copy_of; // "ns/pvc" -> its copy's record
  const json& copies = b.value("volume_copies", json::array());
  for (const auto& c : copies.is_array() ? copies : json::array()) {
    std::string from = str(c, "namespace");
    copy_of[(from.empty() ? archive_ns : from) + "/" + str(c, "pvc")] = c;
  }
  if (scope.from_copies && copy_of.empty()) {
    return fail(ErrorKind::usage,
                fmt::format("{}: the archive holds no copies of volume files "
                            "(it was saved without --copy-volumes); restore "
                            "without --from-copies to use its volume "
                            "snapshots",
                            m_label));
  }
  const json objects = b.value("objects", json::array());
  if (!objects.is_array()) {
    return fail(ErrorKind::archive,
                fmt::format("{}: backup.json has no list of objects", m_label));
  }
  // Kinds the archive's CRDs define, for objects whose kind the cluster
  // does not serve yet.
  std::vector<ResourceType> archived_kinds;
  for (const auto& o : objects) {
    if (str(o, "resource") ==
        "customresourcedefinitions.apiextensions.k8s.io") {
      json crd = SNAP_TRY(in.read_json(str(o, "file")));
      for (auto& t : types_of_crd(crd)) {
        archived_kinds.push_back(std::move(t));
      }
    }
  }
  std::vector<Planned> plan;
  for (const auto& o : objects) {
    if (!scope.wanted.empty()) {
      auto w =
          std::find_if(scope.wanted.begin(), scope.wanted.end(),
                       [&](const std::string& text) {
                         return names_record(text, o, scope.preferred_groups);
                       });
      if (w == scope.wanted.end()) {
        continue;
      }
      matched.insert(*w);
    }
    std::string id = str(o, "resource") + "/" + str(o, "name");
    json obj = SNAP_TRY(in.read_json(str(o, "file")));
    if (server_generated(obj)) {
      continue;
    }
    ResourceType t = SNAP_TRY(resolve_saved(o, obj, archived_kinds));
    if (!t.namespaced && !is_crd(t) && !scope.allow_cluster_scoped) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: the archive holds {}, which is "
                              "cluster-scoped; a restore creates only CRDs "
                              "outside the namespace unless "
                              "--allow-cluster-scoped is given; nothing was "
                              "changed",
                              m_label, id));
    }
    Planned p{t, str(o, "name"), str(o, "uid")};
    std::string from = str(meta(obj), "namespace");
    if (from.empty()) {
      from = archive_ns;
    }
    p.ns = t.namespaced ? target_of(from) : std::string();
    p.owner_refs = meta(obj).value("ownerReferences", json::array());
    p.object = strip_for_create(obj, p.ns);
    p.saved = comparable(obj, p.ns);
    json operator_flag = o.value("fabric", json());
    bool operator_kind =
        operator_flag.is_boolean() && operator_flag.get<bool>();
    p.rank = rank ? rank(t, operator_kind, obj)
                  : restore_rank(t.name(), operator_kind);
    std::string key = from + "/" + p.name;
    bool pvc = t.name() == "persistentvolumeclaims";
    if (pvc && scope.from_copies && copy_of.contains(key)) {
      p.copy = copy_of[key];
      p.object["spec"].erase("dataSource");
      p.object["spec"].erase("dataSourceRef");
    } else if (pvc && snapshot_of.contains(key)) {
      p.snapshot = snapshot_of[key];
      if (!is_dns_subdomain(str(p.snapshot, "name"))) {
        return fail(ErrorKind::archive,
                    fmt::format("{}: the volume snapshot of pvc {} is named "
                                "'{}', which no VolumeSnapshot can be; "
                                "nothing was changed",
                                m_label, p.name, str(p.snapshot, "name")));
      }
      p.object["spec"]["dataSource"] = {{"apiGroup", "snapshot.storage.k8s.io"},
                                        {"kind", "VolumeSnapshot"},
                                        {"name", str(p.snapshot, "name")}};
      p.object["spec"].erase("dataSourceRef");
    }
    plan.push_back(std::move(p));
  }
  for (const auto& w : scope.wanted) {
    if (!matched.contains(w)) {
      return fail(ErrorKind::usage,
                  fmt::format("{} is not in the archive (snap inspect "
                              "lists what it holds)",
                              w));
    }
  }
  std::stable_sort(
      plan.begin(), plan.end(),
      [](const Planned& a, const Planned& b) { return a.rank < b.rank; });
  return plan;
}

bool Restorer::regenerated_by_operator(const Planned& p) const {
  static const std::set<std::string> regenerated = {
      "deployments.apps", "statefulsets.apps", "services"};
  if (!regenerated.contains(p.type.name())) {
    return false;
  }
  for (const auto& ref : p.owner_refs) {
    std::string av = str(ref, "apiVersion");
    std::string group =
        av.find('/') == std::string::npos ? "" : av.substr(0, av.find('/'));
    if (!ref.value("controller", false)) {
      continue;
    }
    for (const auto& [plural, g] : m_operator_kinds) {
      if (g == group && !group.empty()) {
        return true;
      }
    }
  }
  return false;
}

Expected<std::vector<std::string>> Restorer::decide(std::vector<Planned>& plan,
                                                    Conflict policy) {
  std::vector<std::string> existing;
  for (auto& p : plan) {
    const std::string& ns = p.ns;
    auto live = SNAP_TRY(m_api.get_if(p.type, ns, p.name));
    if (!live) {
      p.action = "create";
      continue;
    }
    p.live_uid = str(meta(*live), "uid");
    bool same = comparable(*live, ns) == p.saved;
    if (is_crd(p.type)) {
      // Replacing a CRD would delete every object of its kind in the
      // cluster: an installed one is always left as it is.
      p.action = same ? "identical" : "skip";
    } else if (!same && regenerated_by_operator(p)) {
      // Its operator rebuilds it from the resource; replacing it would be
      // undone, and it is no conflict.
      p.action = "operator";
    } else if (policy == Conflict::replace && !same) {
      p.action = "replace";
    } else if (policy == Conflict::fail && !same) {
      p.action = "conflict";
      existing.push_back(p.type.name() + "/" + p.name +
                         (ns.empty() ? "" : " in " + ns));
    } else {
      p.action = same ? "identical" : "skip";
    }
  }
  return existing;
}

// True when `text`, a resource as kubectl names it (configmaps/x, cm/x,
// ibppeer/p1, IBPPeer.ibp.com/p1), is archived object `o`, by the plural,
// kind and group the archive records (a short name only through the
// cluster's discovery, when it serves the kind).
bool Restorer::names_record(const std::string& text, const json& o,
                            const std::vector<std::string>& preferred) {
  auto rid = parse_resource_id(text);
  if (!rid || rid->name != str(o, "name")) {
    return false;
  }
  std::string av = str(o, "api_version");
  std::string group = av.find('/') == std::string::npos
                          ? std::string()
                          : av.substr(0, av.find('/'));
  if (!rid->group.empty() && rid->group != group) {
    return false;
  }
  std::string word = to_lower(rid->plural);
  if (word == str(o, "plural") || word == to_lower(str(o, "kind"))) {
    return true;
  }
  auto served = m_api.resolve_name(*rid, preferred);
  return served && served->plural == str(o, "plural") && served->group == group;
}

// The type an archived object is restored as: the one the server's
// discovery names for its apiVersion and kind, or one a CRD in the archive
// defines, and only when that agrees with what the backup list says; the
// request path is built from that type, never from the archive's words.
// Errors: `archive` (nothing was changed), any kind discovery returns.
Expected<ResourceType>
Restorer::resolve_saved(const json& o, const json& obj,
                        const std::vector<ResourceType>& archived_kinds) {
  std::string file = str(o, "file");
  auto refuse = [&](std::string why) {
    return fail(ErrorKind::archive,
                fmt::format("{}: {}: {}; nothing was changed (the archive was "
                            "altered, or is not one snap wrote)",
                            m_label, file, why));
  };
  std::string av = str(obj, "apiVersion"), kind = str(obj, "kind");
  std::string name = str(meta(obj), "name");
  if (av != str(o, "api_version") || kind != str(o, "kind") ||
      name != str(o, "name")) {
    return refuse(fmt::format("it holds {} {} of {}, the backup list says "
                              "{} {} of {}",
                              kind, name, av, str(o, "kind"), str(o, "name"),
                              str(o, "api_version")));
  }
  if (!is_path_segment_name(name)) {
    return refuse(
        fmt::format("'{}' cannot be the name of a Kubernetes object", name));
  }
  auto served = m_api.type_of(av, kind);
  if (!served && served.error().kind != ErrorKind::not_found) {
    return tl::unexpected(served.error());
  }
  std::optional<ResourceType> t;
  if (served) {
    t = *served;
  } else {
    for (const auto& k : archived_kinds) {
      if (k.api_version() == av && k.kind == kind) {
        t = k;
      }
    }
  }
  if (!t) {
    return refuse(fmt::format("kind {} of {} is neither served by the "
                              "cluster nor defined by a CRD in the archive "
                              "(install its CRD first)",
                              kind, av));
  }
  json namespaced = o.value("namespaced", json());
  if (t->plural != str(o, "plural") ||
      (namespaced.is_boolean() && namespaced.get<bool>() != t->namespaced)) {
    return refuse(fmt::format(
        "it names the resource '{}'{}, but the cluster serves {} as '{}'{}",
        str(o, "plural"),
        namespaced.is_boolean() && !namespaced.get<bool>() ? " (cluster-scoped)"
                                                           : "",
        kind, t->plural, t->namespaced ? "" : " (cluster-scoped)"));
  }
  return *t;
}

std::string Restorer::describe_step(const Planned& p) {
  const std::string& ns = p.ns;
  std::string id = p.type.name() + "/" + p.name;
  std::string from;
  if (!p.snapshot.is_null()) {
    from = " from volume snapshot " + str(p.snapshot, "name");
  } else if (!p.copy.is_null()) {
    from = " and write the archive's copy of its files (" +
           str(p.copy, "file") + ") into it";
  }
  std::string where = p.type.namespaced
                          ? "in namespace " + ns
                          : std::string("cluster-wide (not namespaced)");
  if (p.action == "create") {
    return fmt::format("create {} {}{}", id, where, from);
  }
  if (p.action == "replace") {
    return fmt::format("replace {} (delete, orphaning what it owns, then "
                       "create{})",
                       id, from);
  }
  if (p.action == "operator") {
    return fmt::format("leave {} to its operator (exists; the operator "
                       "builds it from its resource)",
                       id);
  }
  if (p.action == "conflict") {
    return fmt::format("{} exists and differs: the restore fails "
                       "(--conflict fail)",
                       id);
  }
  return fmt::format("skip {} ({})", id,
                     p.action == "identical" ? "exists, identical"
                                             : "exists, --conflict skip");
}

Expected<void> Restorer::ensure_namespace(const std::string& ns) {
  ResourceType t = SNAP_TRY(m_api.resolve("namespaces", ""));
  if (SNAP_TRY(m_api.get_if(t, "", ns))) {
    return {};
  }
  json body = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata", {{"name", ns}}}};
  SNAP_TRY(m_api.create(t, "", body));
  m_note(fmt::format("created namespace {}", ns));
  return {};
}

Expected<RestoreReport> Restorer::apply(std::vector<Planned>& plan,
                                        double timeout_s,
                                        const TierWait& wait) {
  std::vector<std::string> namespaces;
  for (const auto& p : plan) {
    if (!p.ns.empty() && std::find(namespaces.begin(), namespaces.end(),
                                   p.ns) == namespaces.end()) {
      namespaces.push_back(p.ns);
      SNAP_TRY(ensure_namespace(p.ns));
    }
  }
  std::map<std::string, std::string> new_uid; // saved uid -> live uid
  std::set<std::string> renewed; // saved uids of objects made in this run
  std::vector<std::string> report;
  std::vector<std::string> failed;
  std::vector<std::string> next_steps;
  std::vector<const Planned*> tier;
  std::string stop; // why the restore stopped before its end
  // Waits for the tier just restored; false when the restore stops there.
  auto tier_ready = [&]() -> Expected<bool> {
    if (!wait || tier.empty()) {
      tier.clear();
      return true;
    }
    auto line = wait(tier.front()->tier, tier);
    tier.clear();
    if (line) {
      report.push_back(*line);
      return true;
    }
    if (line.error().kind != ErrorKind::partial &&
        line.error().kind != ErrorKind::timeout) {
      return tl::unexpected(line.error());
    }
    report.push_back(line.error().message);
    stop = line.error().message;
    return false;
  };
  std::size_t n = 0;
  bool stopped = false;
  for (auto& p : plan) {
    const std::string& ns = p.ns;
    if (!tier.empty() && p.tier != tier.front()->tier &&
        !SNAP_TRY(tier_ready())) {
      stopped = true;
      break;
    }
    ++n;
    std::string id = p.type.name() + "/" + p.name;
    m_reporter.progress(
        fmt::format("restoring {} ({} of {})", id, n, plan.size()), 0, 0);
    if (!p.tier.empty()) {
      tier.push_back(&p);
    }
    if (p.action == "skip" || p.action == "identical" ||
        p.action == "operator") {
      new_uid[p.old_uid] = p.live_uid;
      report.push_back(describe_step(p));
      continue;
    }
    std::vector<std::string> unlinked;
    auto done = restore_one(p, ns, timeout_s, unlinked);
    for (const auto& u : unlinked) {
      failed.push_back(u.substr(0, u.find(':')));
      report.push_back("failed to re-link the owner of " + u);
    }
    if (!done && done.error().kind == ErrorKind::conflict &&
        p.action == "create" && made_by_restored_owner(p, renewed)) {
      // Its operator made it from the resource restored above: it is in
      // place, as the operator wants it.
      auto live = SNAP_TRY(m_api.get_if(p.type, ns, p.name));
      if (live) {
        new_uid[p.old_uid] = str(meta(*live), "uid");
        report.push_back(fmt::format("in place {} (made by its operator)", id));
        continue;
      }
    }
    if (!done) {
      if (fatal(done.error())) {
        return tl::unexpected(done.error());
      }
      failed.push_back(id);
      report.push_back(fmt::format("failed {}: {}", id, done.error().message));
      continue;
    }
    new_uid[p.old_uid] = *done;
    renewed.insert(p.old_uid);
    report.push_back(fmt::format(
        "{} {}{}", p.action == "replace" ? "replaced" : "created", id,
        !p.snapshot.is_null()
            ? " from volume snapshot " + str(p.snapshot, "name")
        : !p.copy.is_null() ? " from the archive's copy of its files"
                            : ""));
  }
  if (!stopped && !SNAP_TRY(tier_ready())) {
    stopped = true;
  }
  if (stopped) {
    std::vector<std::string> left;
    for (std::size_t i = n; i < plan.size(); ++i) {
      left.push_back(plan[i].type.name() + "/" + plan[i].name);
    }
    if (!left.empty()) {
      next_steps.push_back(fmt::format(
          "not restored yet: {}; once what is above runs, restore the "
          "archive again with --conflict skip to add the rest",
          join_list(left, ", ")));
    }
  }
  // Owner references point at the owners' new uids, so deleting an owner
  // later garbage-collects as it did before. An object left in place is
  // re-linked too when its owner was made anew (a replaced CR orphans what
  // it owned).
  for (const auto& p : plan) {
    const std::string& ns = p.ns;
    if (p.owner_refs.empty() || !new_uid.contains(p.old_uid)) {
      continue;
    }
    bool kept =
        p.action == "skip" || p.action == "identical" || p.action == "operator";
    bool owner_renewed = false;
    json refs = json::array();
    for (auto ref : p.owner_refs) {
      auto it = new_uid.find(str(ref, "uid"));
      if (it != new_uid.end() && !it->second.empty()) {
        owner_renewed = owner_renewed || renewed.contains(it->first);
        ref["uid"] = it->second;
        refs.push_back(ref);
      } else if (!kept) {
        // An owner outside what was restored: the live one of that name,
        // if there is one.
        std::string live = SNAP_TRY(live_owner_uid(ref, ns));
        if (!live.empty()) {
          ref["uid"] = live;
          refs.push_back(ref);
        }
      }
    }
    if (refs.empty() || (kept && !owner_renewed)) {
      continue;
    }
    auto patched = m_api.merge_patch(
        p.type, ns, p.name, {{"metadata", {{"ownerReferences", refs}}}});
    if (!patched) {
      if (fatal(patched.error())) {
        return tl::unexpected(patched.error());
      }
      std::string id = p.type.name() + "/" + p.name;
      failed.push_back(id);
      report.push_back(fmt::format("failed to re-link the owners of {}: {}", id,
                                   patched.error().message));
    }
  }
  RestoreReport out{.done = std::move(report),
                    .next_steps = std::move(next_steps)};
  if (namespaces.size() == 1) {
    out.details["namespace"] = namespaces[0];
  } else {
    out.details["namespaces"] = namespaces;
  }
  if (!stop.empty()) {
    out.verdict =
        Error{ErrorKind::partial,
              failed.empty() ? stop
                             : fmt::format("{}; and {} of {} objects were not "
                                           "restored: {}",
                                           stop, failed.size(), plan.size(),
                                           join_list(failed, ", "))};
  } else if (!failed.empty()) {
    out.verdict = Error{
        ErrorKind::partial,
        fmt::format("{}: {} of {} objects were not restored: {} (the others "
                    "were; see the report above)",
                    m_label, failed.size(), plan.size(),
                    join_list(failed, ", "))};
  }
  return out;
}

// The uid of the live object an owner reference names (by kind and name),
// or "" when there is none.
Expected<std::string> Restorer::live_owner_uid(const json& ref,
                                               const std::string& ns) {
  auto type = m_api.type_of(str(ref, "apiVersion"), str(ref, "kind"));
  if (!type) {
    return std::string();
  }
  auto live = SNAP_TRY(m_api.get_if(*type, ns, str(ref, "name")));
  return live ? str(meta(*live), "uid") : std::string();
}

// Everything in `ns` (of the kinds an owner can own) whose owner references
// name `uid`, in the restore set or not: deleting with orphaning strips
// those references, so they are found first and re-linked after.
Expected<std::vector<Restorer::Dependent>>
Restorer::dependents_of(const std::string& uid, const std::string& ns) {
  std::vector<Dependent> out;
  for (const auto& t : SNAP_TRY(owned_kinds(m_api, m_operator_kinds))) {
    for (const auto& o : SNAP_TRY(m_api.list(t, ns))) {
      for (const auto& ref : meta(o).value("ownerReferences", json::array())) {
        if (str(ref, "uid") == uid) {
          out.push_back({t, str(meta(o), "name"), ref});
        }
      }
    }
  }
  return out;
}

// Points each dependent's owner reference at the owner's new `uid`.
// Returns what could not be re-linked.
std::vector<std::string>
Restorer::relink(const std::vector<Dependent>& dependents,
                 const std::string& uid, const std::string& ns) {
  std::vector<std::string> failed;
  for (const auto& d : dependents) {
    auto live = m_api.get_if(d.type, ns, d.name);
    if (live && !*live) {
      continue; // gone meanwhile
    }
    json refs = json::array();
    if (live) {
      for (const auto& r :
           meta(**live).value("ownerReferences", json::array())) {
        if (str(r, "uid") != uid && str(r, "uid") != str(d.ref, "uid")) {
          refs.push_back(r);
        }
      }
    }
    json ref = d.ref;
    ref["uid"] = uid;
    refs.push_back(ref);
    auto patched =
        live ? m_api.merge_patch(d.type, ns, d.name,
                                 {{"metadata", {{"ownerReferences", refs}}}})
             : Expected<json>(tl::unexpected(live.error()));
    if (!patched) {
      failed.push_back(fmt::format("{}/{}: {}", d.type.name(), d.name,
                                   patched.error().message));
    }
  }
  return failed;
}

// Creates one object (after deleting the live one for replace, whose
// dependents are re-linked to it); returns its new uid. Dependents that
// could not be re-linked are added to `unlinked`.
Expected<std::string>
Restorer::restore_one(Planned& p, const std::string& ns, double timeout_s,
                      std::vector<std::string>& unlinked) {
  if (!p.snapshot.is_null()) {
    SNAP_TRY(m_volumes.ensure(p.snapshot, ns, timeout_s));
  }
  std::vector<Dependent> dependents;
  if (p.action == "replace") {
    dependents = SNAP_TRY(dependents_of(p.live_uid, ns));
    SNAP_TRY(m_api.remove(p.type, ns, p.name, Propagation::orphan));
    SNAP_TRY(m_api.wait_gone(p.type, ns, p.name, 60));
  }
  json created = SNAP_TRY(m_api.create(p.type, ns, p.object));
  if (!p.copy.is_null()) {
    auto filled = m_fill ? m_fill(p, ns)
                         : fail(ErrorKind::internal,
                                m_label + ": no way to write a volume copy");
    if (!filled) {
      // An empty volume is worse than none: the workload would start on
      // it. Without the PVC its pods wait until the restore is redone.
      (void)m_api.remove(p.type, ns, p.name, Propagation::background, true);
      return tl::unexpected(filled.error());
    }
  }
  if (is_crd(p.type)) {
    SNAP_TRY(wait_established(p.type, p.name));
    m_api.forget_discovery();
  }
  std::string uid = str(meta(created), "uid");
  for (auto& f : relink(dependents, uid, ns)) {
    unlinked.push_back(std::move(f));
  }
  return uid;
}

// Waits until a created CRD is served (condition Established), as objects
// of its kind cannot be created before.
Expected<void> Restorer::wait_established(const ResourceType& t,
                                          const std::string& name) {
  return poll_until(
      60,
      [&]() -> Expected<bool> {
        json crd = SNAP_TRY(m_api.get(t, "", name));
        json st = crd.value("status", json::object());
        for (const auto& c : st.value("conditions", json::array())) {
          if (str(c, "type") == "Established" && str(c, "status") == "True") {
            return true;
          }
        }
        return false;
      },
      [&] {
        return fmt::format("{}: the CRD {} is not Established after 60 s "
                           "(kubectl describe crd {})",
                           m_label, name, name);
      },
      100, 2000);
}

} // namespace snap::adapters::kube
