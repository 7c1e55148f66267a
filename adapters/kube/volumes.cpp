// SPDX-License-Identifier: MIT
// Facts: external-snapshotter (VolumeSnapshot status.creationTime is set
// when the snapshot is cut, readyToUse when it can be restored from;
// status.error is retried by the controller), Velero's CSI plugin (class
// choice, CleanupVolumeSnapshot, the 10 min default timeout).
#include "adapters/kube/volumes.hpp"

#include <set>

#include "snap/poll.hpp"

namespace snap::adapters::kube {

Expected<ResourceType> Volumes::snapshot_type() {
  auto t =
      m_api.resolve_if_served("volumesnapshots", "snapshot.storage.k8s.io");
  if (t && !*t) {
    return fail(ErrorKind::not_found,
                fmt::format("{}: the cluster serves no VolumeSnapshots "
                            "(snapshot.storage.k8s.io/v1): install the CSI "
                            "external-snapshotter CRDs and controller, or save "
                            "with --no-volume-snapshots",
                            m_label));
  }
  if (!t) {
    return tl::unexpected(t.error());
  }
  return **t;
}

Expected<std::string> Volumes::snapshot_class(const std::string& driver,
                                              const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  ResourceType t = SNAP_TRY(
      m_api.resolve("volumesnapshotclasses", "snapshot.storage.k8s.io"));
  std::vector<std::string> matching;
  for (const auto& c : SNAP_TRY(m_api.list(t, ""))) {
    if (str(c, "driver") != driver) {
      continue;
    }
    json ann = meta(c).value("annotations", json::object());
    if (ann.is_object() &&
        str(ann, "snapshot.storage.kubernetes.io/is-default-class") == "true") {
      return str(meta(c), "name");
    }
    matching.push_back(str(meta(c), "name"));
  }
  if (matching.size() == 1) {
    return matching[0];
  }
  return fail(ErrorKind::config,
              fmt::format("{}: {} VolumeSnapshotClasses use driver {} and "
                          "none is the default; pass --volume-snapshot-class "
                          "NAME",
                          m_label, matching.empty() ? "no" : "several",
                          driver));
}

Expected<json> Volumes::snapshot(const std::string& ns, const std::string& id,
                                 const std::vector<VolumeToSnapshot>& volumes,
                                 const std::string& klass, double timeout_s) {
  if (volumes.empty()) {
    return json::array();
  }
  ResourceType vs = SNAP_TRY(snapshot_type());
  std::vector<Taken> taken;
  auto result = take_all(ns, id, volumes, klass, timeout_s, vs, taken);
  if (!result) {
    for (const auto& s : taken) {
      (void)m_api.remove(vs, s.ns, s.name, Propagation::background, true);
    }
  }
  return result;
}

Expected<json> Volumes::take_all(const std::string& ns, const std::string& id,
                                 const std::vector<VolumeToSnapshot>& volumes,
                                 const std::string& klass, double timeout_s,
                                 const ResourceType& vs,
                                 std::vector<Taken>& taken) {
  ResourceType pv = SNAP_TRY(m_api.resolve("persistentvolumes", ""));
  for (const auto& v : volumes) {
    const std::string& in_ns = v.ns.empty() ? ns : v.ns;
    std::string volume = str(v.spec, "volumeName");
    if (volume.empty()) {
      m_note(fmt::format("pvc {} is not bound to a volume; only its manifest "
                         "is saved",
                         v.pvc));
      continue;
    }
    auto volume_obj = SNAP_TRY(m_api.get_if(pv, "", volume));
    json spec =
        volume_obj ? volume_obj->value("spec", json::object()) : json::object();
    json csi =
        spec.is_object() ? spec.value("csi", json::object()) : json::object();
    std::string driver = str(csi, "driver");
    if (driver.empty()) {
      m_note(fmt::format("pvc {} is not on a CSI volume, so it cannot be "
                         "snapshotted; only its manifest is saved",
                         v.pvc));
      continue;
    }
    Taken s{v.pvc,
            v.role,
            snapshot_name(v.pvc, id),
            SNAP_TRY(snapshot_class(driver, klass)),
            driver,
            in_ns};
    json body = {{"apiVersion", vs.api_version()},
                 {"kind", "VolumeSnapshot"},
                 {"metadata",
                  {{"name", s.name},
                   {"namespace", in_ns},
                   {"labels",
                    {{std::string(k_backup_label), id}, {"snap/pvc", s.pvc}}}}},
                 {"spec",
                  {{"volumeSnapshotClassName", s.klass},
                   {"source", {{"persistentVolumeClaimName", s.pvc}}}}}};
    // Counted as taken before the request goes out: a create cut short by
    // SIGINT may still have reached the server, and the undo's delete of a
    // snapshot that is not there counts as done.
    taken.push_back(s);
    if (auto made = m_api.create(vs, in_ns, body); !made) {
      if (made.error().kind == ErrorKind::conflict) {
        taken.pop_back(); // someone else's VolumeSnapshot of that name
      }
      return tl::unexpected(made.error());
    }
    m_reporter.progress(
        fmt::format("volume snapshot {} of pvc {} ({})", s.name, s.pvc, s.role),
        0, 0);
    // The next volume's snapshot must be cut after this one.
    SNAP_TRY(wait(vs, s, timeout_s, false));
  }
  json out = json::array();
  ResourceType vsc = SNAP_TRY(
      m_api.resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
  for (const auto& s : taken) {
    json status = SNAP_TRY(wait(vs, s, timeout_s, true));
    std::string content = str(status, "boundVolumeSnapshotContentName");
    json c = SNAP_TRY(m_api.get(vsc, "", content));
    json cstatus = c.value("status", json::object());
    json restore_size = status.value("restoreSize", json());
    out.push_back(
        {{"name", s.name},
         {"namespace", s.ns},
         {"pvc", s.pvc},
         {"role", s.role},
         {"class", s.klass},
         {"driver", s.driver},
         {"content", content},
         {"snapshot_handle", str(cstatus, "snapshotHandle")},
         {"deletion_policy",
          str(c.value("spec", json::object()), "deletionPolicy")},
         {"restore_size",
          restore_size.is_string() ? restore_size.get<std::string>() : ""},
         {"creation_time", str(status, "creationTime")}});
  }
  return out;
}

// Polls a VolumeSnapshot until it is cut (creationTime set) or, with
// `ready`, readyToUse; status.error is shown but polling goes on, as the
// snapshot controller retries. Errors: `timeout`, `interrupted`, any.
Expected<json> Volumes::wait(const ResourceType& vs, const Taken& s,
                             double timeout_s, bool ready) {
  json status;
  std::string last_error;
  SNAP_TRY(poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        json o = SNAP_TRY(m_api.get(vs, s.ns, s.name));
        status = o.value("status", json::object());
        if (!status.is_object()) {
          status = json::object();
        }
        std::string err = str(status.value("error", json::object()), "message");
        if (!err.empty() && err != last_error) {
          m_note(fmt::format("volume snapshot {}: {}", s.name, err));
          last_error = err;
        }
        return ready ? status.value("readyToUse", false)
                     : !str(status, "creationTime").empty() ||
                           status.value("readyToUse", false);
      },
      [&] {
        return fmt::format(
            "{}: VolumeSnapshot {} of pvc {} is not {} after {:.0f} s{}; "
            "the snapshots of this run were deleted (check the CSI driver "
            "with kubectl describe volumesnapshot, or raise "
            "--snapshot-timeout)",
            m_label, s.name, s.pvc, ready ? "readyToUse" : "taken", timeout_s,
            last_error.empty() ? "" : " (last error: " + last_error + ")");
      },
      250, 5000));
  return status;
}

Expected<void> Volumes::ensure(const json& rec, const std::string& ns,
                               double timeout_s) {
  ResourceType vs = SNAP_TRY(snapshot_type());
  std::string name = rec.value("name", "");
  auto live = SNAP_TRY(m_api.get_if(vs, ns, name));
  if (!live) {
    std::string handle = rec.value("snapshot_handle", "");
    if (handle.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("VolumeSnapshot {} is gone and the archive "
                              "has no snapshot handle to import it from",
                              name));
    }
    ResourceType vsc = SNAP_TRY(
        m_api.resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
    std::string content = "snap-import-" + ns + "-" + name;
    if (content.size() > 253) {
      content.resize(253);
    }
    json c = {{"apiVersion", vsc.api_version()},
              {"kind", "VolumeSnapshotContent"},
              {"metadata", {{"name", content}}},
              {"spec",
               {{"deletionPolicy", "Retain"},
                {"driver", rec.value("driver", "")},
                {"source", {{"snapshotHandle", handle}}},
                {"volumeSnapshotRef", {{"name", name}, {"namespace", ns}}}}}};
    SNAP_TRY(m_api.create(vsc, "", c));
    json s = {{"apiVersion", vs.api_version()},
              {"kind", "VolumeSnapshot"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"source", {{"volumeSnapshotContentName", content}}}}}};
    SNAP_TRY(m_api.create(vs, ns, s));
    m_note(fmt::format("imported VolumeSnapshot {} from snapshot handle {}",
                       name, handle));
  }
  SNAP_TRY(wait(vs, Taken{rec.value("pvc", ""), "", name, "", "", ns},
                timeout_s, true));
  return {};
}

Expected<std::vector<json>> Volumes::of_backup(const std::string& ns,
                                               const std::string& id) {
  ResourceType vs = SNAP_TRY(snapshot_type());
  std::string selector = id.empty() ? std::string(k_backup_label)
                                    : fmt::format("{}={}", k_backup_label, id);
  return m_api.list(vs, ns, selector);
}

Expected<std::vector<std::string>>
Volumes::remove_backup(const std::string& ns, const std::string& id) {
  ResourceType vs = SNAP_TRY(snapshot_type());
  ResourceType vsc = SNAP_TRY(
      m_api.resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
  auto items =
      SNAP_TRY(m_api.list(vs, ns, fmt::format("{}={}", k_backup_label, id)));
  if (items.empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("{}: no VolumeSnapshots of backup {} in "
                            "namespace {}",
                            m_label, id, ns));
  }
  std::vector<std::string> deleted;
  for (const auto& s : items) {
    // A Retain content would orphan the storage snapshot: make deleting
    // the VolumeSnapshot delete it too (Velero's CleanupVolumeSnapshot).
    std::string content = str(s.value("status", json::object()),
                              "boundVolumeSnapshotContentName");
    if (!content.empty()) {
      SNAP_TRY(m_api.merge_patch(vsc, "", content,
                                 {{"spec", {{"deletionPolicy", "Delete"}}}}));
    }
    std::string name = str(meta(s), "name");
    SNAP_TRY(m_api.remove(vs, ns, name, Propagation::background));
    deleted.push_back(name);
  }
  return deleted;
}

Expected<void> scale_down(Client& api, Reporter& reporter, const NoteFn& note,
                          const std::string& ns, const std::vector<Item>& items,
                          double timeout_s, std::vector<Scaled>& scaled,
                          const std::string& label, const ScaleVia& via) {
  std::set<std::string> done; // a resource that owns several workloads
  for (const auto& item : items) {
    bool workload =
        item.type.group == "apps" && (item.type.plural == "deployments" ||
                                      item.type.plural == "statefulsets");
    json spec = item.object.value("spec", json::object());
    int replicas = spec.is_object() ? spec.value("replicas", 1) : 0;
    if (!workload || replicas == 0) {
      continue;
    }
    const Item* owner = via ? via(item) : nullptr;
    const Item& target = owner != nullptr ? *owner : item;
    if (!done.insert(target.id()).second) {
      continue;
    }
    json own = target.object.value("spec", json::object());
    json before = own.is_object() && own.contains("replicas") ? own["replicas"]
                                                              : json(nullptr);
    SNAP_TRY(api.merge_patch(target.type, ns, target.name(),
                             {{"spec", {{"replicas", 0}}}}));
    scaled.push_back(
        {target.type, target.name(), before, item.type, item.name(), ns});
    note(owner != nullptr
             ? fmt::format("scaled {} down through {} (its operator builds "
                           "it from there), from {} replicas",
                           item.id(), target.id(), replicas)
             : fmt::format("scaled {} down from {} replicas", item.id(),
                           replicas));
  }
  for (const auto& s : scaled) {
    reporter.progress(fmt::format("waiting for {}/{} to stop",
                                  s.workload_type.name(), s.workload_name),
                      0, 0);
    SNAP_TRY(poll_until(
        timeout_s,
        [&]() -> Expected<bool> {
          json o = SNAP_TRY(api.get(s.workload_type, ns, s.workload_name));
          json st = o.value("status", json::object());
          return !st.is_object() || st.value("replicas", 0) == 0;
        },
        [&] {
          return fmt::format("{}: {}/{} still has pods after {:.0f} s "
                             "(does its operator scale it back up?); it was "
                             "scaled back",
                             label, s.workload_type.name(), s.workload_name,
                             timeout_s);
        },
        250, 5000));
  }
  return {};
}

Expected<void> scale_back(Client& api, const std::vector<Scaled>& scaled,
                          const std::string& label) {
  std::optional<Error> first;
  for (const auto& s : scaled) {
    const std::string& ns = s.ns;
    auto r = api.merge_patch(s.type, ns, s.name,
                             {{"spec", {{"replicas", s.replicas}}}}, true);
    if (!r && !first) {
      std::string value = s.replicas.is_null() ? "1" : s.replicas.dump();
      first = Error{
          r.error().kind,
          fmt::format("{}: could not give {}/{} its replicas back ({}): {} "
                      "(do it by hand: kubectl patch -n {} {} {} --type merge "
                      "-p '{{\"spec\":{{\"replicas\":{}}}}}')",
                      label, s.type.name(), s.name,
                      s.replicas.is_null() ? "unset" : s.replicas.dump(),
                      r.error().message, ns, s.type.name(), s.name,
                      s.replicas.is_null() ? "null" : value)};
    }
  }
  if (first) {
    return tl::unexpected(*first);
  }
  return {};
}

} // namespace snap::adapters::kube
