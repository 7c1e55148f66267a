// SPDX-License-Identifier: MIT
// Puts a Kubernetes backup back: every object the archive lists, checked
// against its file and resolved through the server's discovery (never
// through the archive's words), stripped of what the server sets, and
// created in dependency order: CRDs (waited to Established), PVCs from
// their VolumeSnapshots, service accounts and RBAC, secrets and configmaps,
// the operators' custom resources, then the rest. Objects that exist
// already follow the conflict policy: fail (nothing is changed), skip, or
// replace (deleted with orphaning, so no owner's delete takes data with
// it, then created, and what the old one owned re-linked to the new one).
// Owner references are re-linked to the new owners' uids afterwards. Every
// object is reported; some failing makes the restore partial. The caller
// may group objects in tiers and wait for each to run before the next; a
// workload or Service an operator controls is left to that operator.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "adapters/kube/volumes.hpp"

namespace snap::adapters::kube {

enum class Conflict { fail, skip, replace };

// --conflict's value ("" is fail). Errors: `usage`.
Expected<Conflict> parse_conflict(const std::string& text);

// One object a restore handles.
struct Planned {
  ResourceType type;
  std::string name;
  std::string old_uid;
  std::string ns; // where it goes; "" for a cluster-scoped kind
  json saved;     // stripped, to compare with what lives
  json object;    // ready to create (a PVC then names its snapshot)
  json owner_refs = json::array(); // as saved
  int rank = 0;
  // create, replace, skip, identical, conflict, or operator (left to the
  // operator that controls it)
  std::string action;
  std::string live_uid;
  json snapshot; // the PVC's volume snapshot record, or null
  // The archive's copy of the PVC's files (--copy-volumes), written into
  // it once it is created, or null.
  json copy;
  // The tier this object belongs to ("cas", "orderers", …), or "" for
  // none: the restore waits for a tier to be ready before the next one.
  std::string tier;
};

// Waits until the members of `tier` run; an error stops the restore there
// (kind `partial` or `timeout`: what is left is reported; `interrupted`
// and the like end it).
using TierWait = std::function<Expected<std::string>(
    const std::string& tier, const std::vector<const Planned*>& members)>;

// The rank of an archived object in the creation order, given whether its
// kind is one an operator reconciles; kube::restore_rank by default.
using RankFn = std::function<int(const ResourceType& type, bool operator_kind,
                                 const json& object)>;

struct RestoreScope {
  std::string ns; // the archive's objects go here, unless ns_map says
  // The archive's namespace -> the one its objects go to (an archive of
  // several namespaces).
  std::map<std::string, std::string> ns_map;
  std::vector<std::string>
      wanted; // objects as kubectl names them; all if empty
  bool allow_cluster_scoped = false;
  std::vector<std::string> preferred_groups; // for a bare kind name
  // PVCs whose files the archive holds are made empty and filled from
  // the copies instead of from their volume snapshots.
  bool from_copies = false;
};

// Writes the archive's copy of a PVC's files (Planned::copy) into the PVC
// just created in `ns`.
using FillFn =
    std::function<Expected<void>(const Planned& p, const std::string& ns)>;

class Restorer {
public:
  Restorer(Client& api, Reporter& reporter, Volumes& volumes, NoteFn note,
           std::string label,
           std::vector<std::pair<std::string, std::string>> operator_kinds)
      : m_api(api), m_reporter(reporter), m_volumes(volumes),
        m_note(std::move(note)), m_label(std::move(label)),
        m_operator_kinds(std::move(operator_kinds)) {}

  // What the archive's backup.json `backup` holds for `scope`, in creation
  // order. Errors: `archive` (an object that does not match its record,
  // a cluster-scoped one not allowed; nothing was changed), `usage` (a
  // wanted object not in the archive), any.
  Expected<std::vector<Planned>> plan(ArchiveReader& in, const json& backup,
                                      const RestoreScope& scope,
                                      const RankFn& rank);
  // Decides each object's action from what lives where it goes; returns
  // the objects that exist and differ under Conflict::fail.
  Expected<std::vector<std::string>> decide(std::vector<Planned>& plan,
                                            Conflict policy);
  // What fills the PVCs restored from copies; a restore from copies
  // needs it.
  void set_filler(FillFn fill) { m_fill = std::move(fill); }
  // One line for a dry run.
  static std::string describe_step(const Planned& p);
  // Creates the namespaces if needed, then every object in order; returns
  // what was done, with a `partial` verdict when some failed. After the
  // last object of each tier, `wait` (when given) is asked whether the
  // tier runs; its line goes into the report. An object that exists once
  // its controlling owner was created in this run (an operator made it
  // from the restored resource) is taken as in place, not as a conflict.
  Expected<RestoreReport> apply(std::vector<Planned>& plan, double timeout_s,
                                const TierWait& wait = {});

private:
  struct Dependent {
    ResourceType type;
    std::string name;
    json ref;
  };
  // A Deployment, StatefulSet or Service an operator kind controls: the
  // operator makes it from its resource.
  bool regenerated_by_operator(const Planned& p) const;
  bool names_record(const std::string& text, const json& o,
                    const std::vector<std::string>& preferred);
  Expected<ResourceType>
  resolve_saved(const json& o, const json& obj,
                const std::vector<ResourceType>& archived_kinds);
  Expected<void> ensure_namespace(const std::string& ns);
  Expected<std::string> live_owner_uid(const json& ref, const std::string& ns);
  Expected<std::vector<Dependent>> dependents_of(const std::string& uid,
                                                 const std::string& ns);
  std::vector<std::string> relink(const std::vector<Dependent>& dependents,
                                  const std::string& uid,
                                  const std::string& ns);
  Expected<std::string> restore_one(Planned& p, const std::string& ns,
                                    double timeout_s,
                                    std::vector<std::string>& unlinked);
  Expected<void> wait_established(const ResourceType& t,
                                  const std::string& name);

  Client& m_api;
  Reporter& m_reporter;
  Volumes& m_volumes;
  NoteFn m_note;
  std::string m_label;
  std::vector<std::pair<std::string, std::string>> m_operator_kinds;
  FillFn m_fill;
};

bool is_crd(const ResourceType& t);

} // namespace snap::adapters::kube
