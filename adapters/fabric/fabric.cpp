// SPDX-License-Identifier: MIT
// Hyperledger Fabric adapter, over the Kubernetes API (no kubectl).
//
// Fabric has no backup API of its own: a node is its custom resource
// (fabric-operator's IBPPeer, IBPOrderer, IBPCA; or another operator's, by
// preset), the objects the operator made for it, the secrets and configmaps
// its workloads refer to, and the data on its PVCs. The Kubernetes backup
// engine (adapters/kube/: graph.hpp collects, volumes.hpp snapshots,
// apply.hpp restores in order) does the generic work; this file adds what
// is Fabric's own:
//
// - which kinds are Fabric's (the preset) and which objects to start from
//   (named RESOURCEs, or every CR of the preset with --all-in-namespace);
// - orderers: a parent's nodes belong with it, and a node's parent is named
//   by its `parent` label, as fabric-operator sets no ownerReference there;
//   a restore creates the nodes before their parent, which would otherwise
//   make them anew;
// - volumes: a peer's state database is snapshotted before its ledger, as
//   Fabric requires (a ledger ahead of its state DB is rebuilt; the other
//   way round is not);
// - each orderer node's genesis block, kept as a file of its own;
// - a CR that owns nothing (its operator has not reconciled it) is said.
//
// Secrets and configmaps are restored before the CR, or fabric-operator
// would enroll new identities and make new CA keys.
//
// Sources: hyperledger-labs/fabric-operator (pkg/offering, controllers),
// vmware-tanzu/velero (pkg/restore), kubernetes-csi/external-snapshotter.

#include <chrono>
#include <random>

#include "adapters/fabric/objects.hpp"
#include "adapters/factories.hpp"
#include "adapters/kube/apply.hpp"
#include "adapters/kube/cluster.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters {
namespace {

using kube::json;
using kube::meta;
using kube::ResourceType;
using kube::str;

constexpr std::string_view k_backup_entry = "payload/backup.json";

std::string preset_of(const AdapterFlags& flags) {
  std::string p = flag_value(flags, "preset");
  return p.empty() ? "fabric-operator" : p;
}

// "20261121t101500z-3f9a": the time, and four hex digits so two saves in
// one second never share VolumeSnapshot names. Lower case, as Kubernetes
// names must be.
std::string new_backup_id() {
  std::random_device rd;
  return fmt::format("{}-{:04x}",
                     to_lower(rfc3339_to_compact(utc_now_rfc3339())),
                     rd() & 0xffff);
}

// The Fabric kinds of a preset, and questions about them.
class Preset {
public:
  explicit Preset(std::string name)
      : m_name(std::move(name)), m_kinds(fabric::preset_kinds(m_name)) {}
  const std::string& name() const { return m_name; }
  bool known() const { return !m_kinds.empty(); }
  const std::vector<fabric::PresetKind>& kinds() const { return m_kinds; }
  // The API groups of the preset's kinds: a bare name two groups serve
  // means the preset's.
  std::vector<std::string> groups() const {
    std::vector<std::string> out;
    for (const auto& k : m_kinds) {
      out.push_back(k.group);
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> plurals() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& k : m_kinds) {
      out.emplace_back(k.plural, k.group);
    }
    return out;
  }
  // The role of type `t` (peer, orderer, ca, console), or "" when it is
  // not a Fabric kind.
  std::string role(const ResourceType& t) const {
    for (const auto& k : m_kinds) {
      if (k.plural == t.plural && k.group == t.group) {
        return k.role;
      }
    }
    return {};
  }
  bool is_fabric(const ResourceType& t) const { return !role(t).empty(); }
  bool is_orderer(const ResourceType& t) const { return role(t) == "orderer"; }

private:
  std::string m_name;
  std::vector<fabric::PresetKind> m_kinds;
};

bool has_parent_label(const json& object) {
  json labels = meta(object).value("labels", json::object());
  return labels.is_object() && labels.contains("parent");
}

// A network comes back tier by tier: the CAs the others enroll with, the
// orderers, the peers that join the orderers' channels, the consoles.
const std::vector<std::string> k_tiers = {"ca", "orderer", "peer", "console"};

std::string tier_name(const std::string& role) { return role + "s"; }

int tier_of(const std::string& role) {
  auto it = std::find(k_tiers.begin(), k_tiers.end(), role);
  return it == k_tiers.end() ? -1 : static_cast<int>(it - k_tiers.begin());
}

// Whether a fabric-operator resource runs, from its status.type
// (api/v1beta1 IBPCRStatusType; each controller's SetStatus): Deployed once
// all its pods run, Warning while running with a certificate to renew;
// Precreated is an orderer node waiting for its channel's config block,
// which it gets from the peers' admins, not from this restore. Error
// stops the wait.
bool runs(const std::string& type, const std::string& role) {
  return type == "Deployed" || type == "Warning" ||
         (role == "orderer" && type == "Precreated");
}

} // namespace

// The archive's payload in words; offline, so inspect needs no connection.
Expected<Fields> describe_fabric(ArchiveReader& in,
                                 const DescribeOptions& opts) {
  bool verify = opts.verify;
  json b = SNAP_TRY(in.read_json(k_backup_entry));
  Fields f = Fields::object();
  f["mode"] = "full manifests; volume data stays in the cluster's CSI "
              "VolumeSnapshots, which the archive names";
  f["namespace"] = b.value("namespace", "");
  f["resources"] = b.value("roots", json::array());
  std::map<std::string, int> counts;
  for (const auto& o : b.value("objects", json::array())) {
    counts[o.value("resource", "")]++;
    if (verify) {
      json obj = SNAP_TRY(in.read_json(o.value("file", "")));
      if (str(obj, "kind") != o.value("kind", "") ||
          str(meta(obj), "name") != o.value("name", "")) {
        return fail(ErrorKind::archive,
                    fmt::format("{} does not hold {} {}", o.value("file", ""),
                                o.value("kind", ""), o.value("name", "")));
      }
    }
  }
  Fields objects = Fields::array();
  for (const auto& [k, n] : counts) {
    objects.push_back(fmt::format("{} {}", n, k));
  }
  f["objects"] = objects;
  Fields snaps = Fields::array();
  for (const auto& s : b.value("volume_snapshots", json::array())) {
    snaps.push_back(fmt::format("{} (pvc {}, {}, {})", s.value("name", ""),
                                s.value("pvc", ""), s.value("role", ""),
                                s.value("restore_size", "?")));
  }
  f["volume_snapshots"] = snaps;
  Fields genesis = Fields::array();
  for (const auto& g : b.value("genesis", json::array())) {
    genesis.push_back(
        fmt::format("{} ({} bytes)", g.value("node", ""), g.value("bytes", 0)));
  }
  if (!genesis.empty()) {
    f["genesis_blocks"] = genesis;
  }
  if (!in.encrypted()) {
    f["warning"] = "the archive holds Secrets (private keys) unencrypted; "
                   "use --encrypt";
  }
  return f;
}

namespace {

class FabricAdapter : public Adapter {
public:
  explicit FabricAdapter(AdapterContext ctx)
      : m_ctx(ctx), m_preset(preset_of(ctx.flags)) {}

  const AdapterInfo& info() const override { return fabric_info(); }

  std::string target_url() const override { return m_cluster.url(); }

  Expected<void> open() override {
    if (!m_preset.known()) {
      return fail(ErrorKind::usage,
                  fmt::format("--preset {}: use fabric-operator or catalyx",
                              m_preset.name()));
    }
    m_cluster = SNAP_TRY(kube::connect(m_ctx, "fabric"));
    return {};
  }

  Expected<SaveResult> save(ArchiveWriter& out) override;
  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override;
  Expected<StatusResult> status(const std::string& id) override;
  Expected<ListResult> list() override;
  Expected<Fields> remove(const std::string& id) override;

  // A save leaves the VolumeSnapshots it took, labelled with its id.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    const json& n = m.source.value("volume_snapshots", json(0));
    if (!n.is_number_unsigned() || n.get<std::uint64_t>() == 0) {
      return std::nullopt;
    }
    return fmt::format("{} VolumeSnapshots {}={} in namespace {}",
                       n.get<std::uint64_t>(), kube::k_backup_label,
                       m.backup_id, m.source.value("namespace", ""));
  }

  Expected<Fields> remove_target_backup(const Manifest& m) override {
    std::string ns = m.source.value("namespace", "");
    if (ns != m_cluster.ns) {
      return fail(ErrorKind::config,
                  fmt::format("fabric: the archive's VolumeSnapshots are in "
                              "namespace {}, not {} (give --namespace {})",
                              ns, m_cluster.ns, ns));
    }
    return remove(m.backup_id);
  }

private:
  kube::Client& api() { return *m_cluster.api; }
  Expected<std::string>
  wait_tier(const std::string& tier,
            const std::vector<const kube::Planned*>& members,
            const std::string& ns, double timeout_s);
  const std::string& ns() const { return m_cluster.ns; }
  double snapshot_timeout() const {
    return seconds_flag(m_ctx.flags, "snapshot-timeout",
                        kube::k_default_snapshot_timeout_s);
  }
  kube::Volumes volumes(const kube::NoteFn& note) {
    return kube::Volumes(api(), m_ctx.reporter, note, "fabric");
  }

  Expected<void> collect_roots(kube::Graph& g);
  Expected<void> collect_orderers(kube::Graph& g);
  void warn_unowned(const kube::Graph& g, json& notes);
  Expected<json> snapshot_volumes(const kube::Graph& g, const std::string& id,
                                  const kube::NoteFn& note);
  Expected<json> write_genesis(const kube::Graph& g, ArchiveWriter& out,
                               const kube::NoteFn& note);

  AdapterContext m_ctx;
  Preset m_preset;
  kube::Cluster m_cluster;
};

Expected<SaveResult> FabricAdapter::save(ArchiveWriter& out) {
  std::string id = new_backup_id();
  json notes = json::array();
  kube::NoteFn note = [&](std::string text) {
    m_ctx.reporter.note("fabric: " + text);
    notes.push_back(std::move(text));
  };
  kube::Graph g(api(), ns(), note);
  SNAP_TRY(collect_roots(g));
  SNAP_TRY(collect_orderers(g));
  SNAP_TRY(g.add_owners());
  SNAP_TRY(g.add_owned(SNAP_TRY(kube::owned_kinds(api(), m_preset.plurals()))));
  warn_unowned(g, notes);
  SNAP_TRY(g.add_referenced(fabric::references_of));
  SNAP_TRY(
      g.add_crds([&](const ResourceType& t) { return m_preset.is_fabric(t); }));
  json snapshots = json::array();
  if (flag_value(m_ctx.flags, "no-volume-snapshots").empty()) {
    bool quiesce = !flag_value(m_ctx.flags, "quiesce").empty();
    std::vector<kube::Scaled> scaled;
    // fabric-operator builds each node's Deployment from its resource and
    // sets a changed replica count back, so a node is scaled through its
    // resource's spec.replicas (all four kinds have it, default 1).
    kube::ScaleVia via = [&](const kube::Item& w) -> const kube::Item* {
      if (m_preset.name() != "fabric-operator") {
        return nullptr;
      }
      for (const auto& ref :
           meta(w.object).value("ownerReferences", json::array())) {
        if (!ref.value("controller", false)) {
          continue;
        }
        for (const auto& item : g.items()) {
          if (m_preset.is_fabric(item.type) &&
              str(meta(item.object), "uid") == str(ref, "uid")) {
            return &item;
          }
        }
      }
      return nullptr;
    };
    auto stopped =
        quiesce ? kube::scale_down(api(), m_ctx.reporter, note, ns(), g.items(),
                                   snapshot_timeout(), scaled, "fabric", via)
                : Expected<void>();
    auto taken = stopped ? snapshot_volumes(g, id, note)
                         : Expected<json>(tl::unexpected(stopped.error()));
    // Whatever happened, the workloads run again as they did.
    auto resumed = kube::scale_back(api(), ns(), scaled, "fabric");
    if (!taken) {
      return tl::unexpected(taken.error());
    }
    if (!resumed) {
      return tl::unexpected(resumed.error());
    }
    snapshots = std::move(*taken);
  }
  json genesis = SNAP_TRY(write_genesis(g, out, note));
  json objects = SNAP_TRY(g.write(
      out, [&](const ResourceType& t) { return m_preset.is_fabric(t); }));
  std::vector<std::string> roots;
  // The network's members by role (ca, orderer, peer, console), each saved
  // Fabric resource once.
  json members = json::object();
  for (const auto& item : g.items()) {
    if (item.role == "root") {
      roots.push_back(item.id());
    }
    if (std::string role = m_preset.role(item.type); !role.empty()) {
      members[role].push_back(item.name());
    }
  }
  // How far apart the volume snapshots were cut (creationTime), in seconds:
  // the smaller, the closer the ledgers and state databases agree.
  std::int64_t first = -1, last = -1;
  for (const auto& s : snapshots) {
    std::int64_t t = rfc3339_epoch_s(s.value("creation_time", ""));
    if (t >= 0) {
      first = first < 0 ? t : std::min(first, t);
      last = std::max(last, t);
    }
  }
  json backup = {{"backup_id", id},           {"namespace", ns()},
                 {"preset", m_preset.name()}, {"roots", roots},
                 {"objects", objects},        {"volume_snapshots", snapshots},
                 {"genesis", genesis},        {"notes", notes}};
  SNAP_TRY(out.add_json("backup.json", backup));
  SaveResult r;
  r.backup_id = id;
  r.kind = "full";
  r.server_version = m_cluster.server_version;
  r.source = {{"namespace", ns()},
              {"resources", roots},
              {"members", members},
              {"objects", objects.size()},
              {"volume_snapshots", snapshots.size()}};
  if (first >= 0) {
    r.source["snapshot_spread_s"] = last - first;
  }
  r.subject = fmt::format("{}: {}", ns(), join_list(roots, " "));
  r.summary = fmt::format("{} in {}: {} objects, {} volume snapshots",
                          join_list(roots, ", "), ns(), objects.size(),
                          snapshots.size());
  return r;
}

// The named resources, or every CR of the preset.
Expected<void> FabricAdapter::collect_roots(kube::Graph& g) {
  std::vector<std::string> names = split_list(join_list(m_ctx.operands));
  bool all = !flag_value(m_ctx.flags, "all-in-namespace").empty();
  if (names.empty() && !all) {
    return fail(ErrorKind::usage,
                "name the resources to save (ibppeers.ibp.com/peer1 …) or "
                "pass --all-in-namespace");
  }
  if (all) {
    for (const auto& k : m_preset.kinds()) {
      auto type = SNAP_TRY(api().resolve_if_served(k.plural, k.group));
      if (!type) {
        continue;
      }
      for (auto& o : SNAP_TRY(api().list(*type, ns()))) {
        names.push_back(type->name() + "/" + str(meta(o), "name"));
      }
    }
    if (names.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: namespace {} holds no resources of "
                              "preset {}",
                              ns(), m_preset.name()));
    }
  }
  for (const auto& text : names) {
    kube::ResourceId rid = SNAP_TRY(kube::parse_resource_id(text));
    ResourceType type = SNAP_TRY(api().resolve_name(rid, m_preset.groups()));
    auto obj = SNAP_TRY(api().get_if(type, ns(), rid.name));
    if (!obj) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: {}/{} is not in namespace {}",
                              type.name(), rid.name, ns()));
    }
    if (meta(*obj).contains("deletionTimestamp")) {
      return fail(ErrorKind::conflict,
                  fmt::format("fabric: {}/{} is being deleted; there is "
                              "nothing stable to save",
                              type.name(), rid.name));
    }
    if (!g.has(str(meta(*obj), "uid"))) {
      g.add(type, *obj, "root");
    }
  }
  return {};
}

// Orderers: a parent's nodes belong with it; a node's parent is named by
// its label (fabric-operator sets no ownerReference there).
Expected<void> FabricAdapter::collect_orderers(kube::Graph& g) {
  for (std::size_t i = 0; i < g.items().size(); ++i) {
    kube::Item item = g.items()[i];
    if (!m_preset.is_orderer(item.type)) {
      continue;
    }
    json labels = meta(item.object).value("labels", json::object());
    std::string parent = labels.is_object() ? str(labels, "parent") : "";
    if (!parent.empty()) {
      auto p = SNAP_TRY(api().get_if(item.type, ns(), parent));
      if (p && !g.has(str(meta(*p), "uid"))) {
        g.add(item.type, *p, "parent");
      }
    } else if (item.role == "root") {
      for (auto& node :
           SNAP_TRY(api().list(item.type, ns(), "parent=" + item.name()))) {
        if (!g.has(str(meta(node), "uid"))) {
          g.add(item.type, node, "node");
        }
      }
    }
  }
  return {};
}

// An operator's resource normally owns its workloads, PVCs and secrets;
// one that owns nothing is saved as its manifest alone, which the operator
// must hear about (objects an orphaning delete left behind, or a resource
// its operator has not reconciled yet).
void FabricAdapter::warn_unowned(const kube::Graph& g, json& notes) {
  for (const auto& root : g.items()) {
    if (root.role != "root" || !m_preset.is_fabric(root.type)) {
      continue;
    }
    bool owns = false;
    for (const auto& item : g.items()) {
      for (const auto& ref :
           meta(item.object).value("ownerReferences", json::array())) {
        owns = owns || str(ref, "uid") == root.uid();
      }
    }
    if (!owns) {
      std::string text = fmt::format(
          "{} owns no objects in {}: no Deployment, PVC, Secret or ConfigMap "
          "has an ownerReference to it, so its volumes are not snapshotted; "
          "the archive holds its manifest and what it names (its operator "
          "has not reconciled it, or a delete orphaned what it owned)",
          root.id(), ns());
      m_ctx.reporter.warn("fabric: " + text);
      notes.push_back(std::move(text));
    }
  }
}

// Every collected PVC, state databases first.
Expected<json> FabricAdapter::snapshot_volumes(const kube::Graph& g,
                                               const std::string& id,
                                               const kube::NoteFn& note) {
  std::vector<kube::VolumeToSnapshot> pvcs;
  for (const auto& item : g.items()) {
    if (item.type.plural == "persistentvolumeclaims" &&
        item.type.group.empty()) {
      pvcs.push_back({item.name(),
                      fabric::pvc_role(item.name(), g.owner_of(item)),
                      item.object.value("spec", json::object())});
    }
  }
  std::stable_sort(pvcs.begin(), pvcs.end(), [](const auto& a, const auto& b) {
    return a.role == "statedb" && b.role != "statedb";
  });
  return volumes(note).snapshot(
      ns(), id, pvcs, flag_value(m_ctx.flags, "volume-snapshot-class"),
      snapshot_timeout());
}

// Writes the genesis block of every orderer node saved, from its
// <node>-genesis secret (key orderer.block).
Expected<json> FabricAdapter::write_genesis(const kube::Graph& g,
                                            ArchiveWriter& out,
                                            const kube::NoteFn& note) {
  auto has_nodes = [&](const kube::Item& parent) {
    for (const auto& item : g.items()) {
      json labels = meta(item.object).value("labels", json::object());
      if (item.type.name() == parent.type.name() && labels.is_object() &&
          str(labels, "parent") == parent.name()) {
        return true;
      }
    }
    return false;
  };
  json genesis = json::array();
  for (const auto& node : g.items()) {
    if (!m_preset.is_orderer(node.type)) {
      continue;
    }
    if (!has_parent_label(node.object) && node.role != "node" &&
        has_nodes(node)) {
      continue; // a parent: its nodes hold the blocks
    }
    std::string secret = node.name() + "-genesis";
    const kube::Item* found = nullptr;
    for (const auto& item : g.items()) {
      if (item.type.name() == "secrets" && item.name() == secret) {
        found = &item;
      }
    }
    json spec = node.object.value("spec", json::object());
    if (found == nullptr) {
      if (!(spec.is_object() && spec.value("useChannelLess", false))) {
        note(fmt::format("orderer {} has no secret {}; no genesis block saved",
                         node.name(), secret));
      }
      continue;
    }
    auto block = base64_decode(
        str(found->object.value("data", json::object()), "orderer.block"));
    if (!block || block->empty()) {
      note(fmt::format("secret {} holds no orderer.block", secret));
      continue;
    }
    std::string file = "genesis/" + node.name() + ".block";
    Sink* sink = SNAP_TRY(out.add_entry(file, "application/octet-stream"));
    SNAP_TRY(sink->write(std::as_bytes(std::span(*block))));
    genesis.push_back({{"node", node.name()},
                       {"secret", secret},
                       {"file", "payload/" + file},
                       {"bytes", block->size()}});
  }
  return genesis;
}

Expected<RestoreReport> FabricAdapter::restore(ArchiveReader& in,
                                               bool dry_run) {
  json b = SNAP_TRY(in.read_json(k_backup_entry));
  bool ns_given = !flag_value(m_ctx.flags, "namespace").empty();
  std::string target_ns = ns_given ? ns() : b.value("namespace", "");
  if (!kube::is_dns_label(target_ns)) {
    return fail(ns_given ? ErrorKind::usage : ErrorKind::archive,
                fmt::format("fabric: '{}' cannot be a namespace (a DNS "
                            "label: lower-case letters, digits and '-'); "
                            "nothing was changed",
                            target_ns));
  }
  kube::Conflict policy =
      SNAP_TRY(kube::parse_conflict(flag_value(m_ctx.flags, "conflict")));
  kube::NoteFn note = [&](std::string text) {
    m_ctx.reporter.note("fabric: " + text);
  };
  kube::Volumes vols = volumes(note);
  kube::Restorer restorer(api(), m_ctx.reporter, vols, note, "fabric",
                          m_preset.plurals());
  kube::RestoreScope scope{
      .ns = target_ns,
      .wanted = split_list(join_list(m_ctx.operands)),
      .allow_cluster_scoped =
          !flag_value(m_ctx.flags, "allow-cluster-scoped").empty(),
      .preferred_groups = m_preset.groups()};
  // The Fabric resources tier by tier (CAs, orderers, peers, consoles);
  // orderer nodes before their parent, which would otherwise make them
  // anew.
  kube::RankFn rank = [this](const ResourceType& t, bool operator_kind,
                             const json& obj) {
    int r = kube::restore_rank(t.name(), operator_kind);
    int tier = tier_of(m_preset.role(t));
    if (!operator_kind || tier < 0) {
      return r;
    }
    return r + 10 * tier + (m_preset.is_orderer(t) && !has_parent_label(obj));
  };
  std::vector<kube::Planned> plan = SNAP_TRY(restorer.plan(in, b, scope, rank));
  for (auto& p : plan) {
    if (std::string role = m_preset.role(p.type); tier_of(role) >= 0) {
      p.tier = tier_name(role);
    }
  }
  double ready_timeout = seconds_flag(m_ctx.flags, "ready-timeout", 600.0);
  bool waits = ready_timeout > 0 && m_preset.name() == "fabric-operator";
  // What is already there decides each object's action, before anything
  // changes.
  std::vector<std::string> existing =
      SNAP_TRY(restorer.decide(plan, target_ns, policy));
  if (dry_run) {
    std::vector<std::string> steps;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      steps.push_back(kube::Restorer::describe_step(plan[i], target_ns));
      const std::string& tier = plan[i].tier;
      if (waits && !tier.empty() &&
          (i + 1 == plan.size() || plan[i + 1].tier != tier)) {
        steps.push_back(fmt::format("wait until the {} run (status Deployed "
                                    "and their Deployments available; at "
                                    "most {} s)",
                                    tier, ready_timeout));
      }
    }
    return RestoreReport{.plan = std::move(steps)};
  }
  if (!existing.empty()) {
    return fail(ErrorKind::conflict,
                fmt::format("fabric: {} object{} already exist{} in "
                            "namespace {} and differ{}: {}; nothing was "
                            "changed (--conflict skip leaves them, "
                            "--conflict replace recreates them)",
                            existing.size(), existing.size() == 1 ? "" : "s",
                            existing.size() == 1 ? "s" : "", target_ns,
                            existing.size() == 1 ? "s" : "",
                            join_list(existing, ", ")));
  }
  if (!waits) {
    return restorer.apply(plan, target_ns, snapshot_timeout());
  }
  return restorer.apply(plan, target_ns, snapshot_timeout(),
                        [&](const std::string& tier,
                            const std::vector<const kube::Planned*>& members) {
                          return wait_tier(tier, members, target_ns,
                                           ready_timeout);
                        });
}

// Waits until every resource of `tier` runs (runs()) and the Deployment of
// its name, where the operator made one, has its replicas available.
Expected<std::string>
FabricAdapter::wait_tier(const std::string& tier,
                         const std::vector<const kube::Planned*>& members,
                         const std::string& ns, double timeout_s) {
  auto started = std::chrono::steady_clock::now();
  auto deployments = SNAP_TRY(api().type_of("apps/v1", "Deployment"));
  std::vector<std::string> waiting; // "peer1: Deploying", as last seen
  std::vector<std::string> names;
  for (const auto* p : members) {
    names.push_back(p->name);
  }
  std::optional<Error> failed;
  auto step = [&]() -> Expected<bool> {
    waiting.clear();
    for (const auto* p : members) {
      auto live = SNAP_TRY(api().get_if(p->type, ns, p->name));
      if (!live) {
        waiting.push_back(p->name + ": gone");
        continue;
      }
      json st = live->value("status", json::object());
      std::string type = st.is_object() ? str(st, "type") : "";
      if (type == "Error") {
        failed = Error{
            ErrorKind::partial,
            fmt::format("fabric: {} {} reports Error ({}: {}), so the {} "
                        "are not ready and the restore stopped there "
                        "(kubectl describe -n {} {} {}; the operator's log "
                        "says more)",
                        p->type.name(), p->name, str(st, "reason"),
                        str(st, "message"), tier, ns, p->type.name(), p->name)};
        return true;
      }
      if (!runs(type, m_preset.role(p->type))) {
        waiting.push_back(
            fmt::format("{}: {}", p->name, type.empty() ? "no status" : type));
        continue;
      }
      auto dep = SNAP_TRY(api().get_if(deployments, ns, p->name));
      if (dep) {
        int want = dep->value("spec", json::object()).value("replicas", 1);
        json dst = dep->value("status", json::object());
        int have = dst.is_object() ? dst.value("availableReplicas", 0) : 0;
        if (have < want) {
          waiting.push_back(fmt::format("{}: {} of {} replicas available",
                                        p->name, have, want));
        }
      }
    }
    m_ctx.reporter.progress(
        fmt::format("waiting for the {}: {}", tier,
                    waiting.empty() ? "ready" : join_list(waiting, ", ")),
        0, 0);
    return waiting.empty();
  };
  auto waited = poll_until(timeout_s, step, [&] {
    return fmt::format("fabric: the {} are not ready after {} s ({}), so "
                       "the restore stopped there (raise --ready-timeout, "
                       "or see kubectl describe -n {} and the operator's "
                       "log)",
                       tier, timeout_s, join_list(waiting, ", "), ns);
  });
  if (!waited) {
    return tl::unexpected(waited.error());
  }
  if (failed) {
    return tl::unexpected(*failed);
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return fmt::format("{} ready: {} ({:.1f} s)", tier, join_list(names, ", "),
                     secs);
}

Expected<StatusResult> FabricAdapter::status(const std::string& id) {
  StatusResult r;
  r.fields["server"] = m_cluster.server_version;
  r.fields["namespace"] = ns();
  kube::Volumes vols = volumes([](std::string) {});
  auto items = vols.of_backup(ns(), id);
  if (!items && id.empty() && items.error().kind == ErrorKind::not_found) {
    r.fields["volume_snapshots"] = "not served by this cluster";
    return r;
  }
  if (!items) {
    return tl::unexpected(items.error());
  }
  Fields snaps = Fields::array();
  bool all_settled = true;
  int ready = 0;
  for (const auto& s : *items) {
    json st = s.value("status", json::object());
    bool ok = st.is_object() && st.value("readyToUse", false);
    std::string err =
        st.is_object() ? str(st.value("error", json::object()), "message") : "";
    ready += ok ? 1 : 0;
    all_settled = all_settled && (ok || !err.empty());
    std::string pvc =
        str(s.value("spec", json::object()).value("source", json::object()),
            "persistentVolumeClaimName");
    snaps.push_back(
        fmt::format("{}: {}{} (backup {}, pvc {})", str(meta(s), "name"),
                    ok ? "ready" : "not ready", err.empty() ? "" : ": " + err,
                    meta(s)
                        .value("labels", json::object())
                        .value(kube::k_backup_label, "?"),
                    pvc.empty() ? "?" : pvc));
  }
  if (!id.empty() && items->empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("fabric: no VolumeSnapshots of backup {} in "
                            "namespace {} (snap list fabric shows the "
                            "backups there)",
                            id, ns()));
  }
  r.fields["volume_snapshots_ready"] =
      fmt::format("{} of {}", ready, items->size());
  r.fields["volume_snapshots"] = snaps;
  r.terminal = all_settled;
  if (!id.empty()) {
    // Complete when every VolumeSnapshot is readyToUse; once each of the
    // others reports status.error the backup is taken as failed (the CSI
    // snapshotter may still retry; status then says so again).
    r.backup = ready == static_cast<int>(items->size()) ? BackupState::complete
               : all_settled                            ? BackupState::failed
                                                        : BackupState::running;
  }
  if (ready < static_cast<int>(items->size())) {
    r.not_ready = fmt::format("fabric: {} of {} VolumeSnapshots are ready "
                              "to use",
                              ready, items->size());
  }
  return r;
}

Expected<ListResult> FabricAdapter::list() {
  kube::Volumes vols = volumes([](std::string) {});
  auto items = SNAP_TRY(vols.of_backup(ns(), ""));
  std::map<std::string, std::pair<int, int>> by_id; // id -> ready, total
  for (const auto& s : items) {
    std::string id =
        meta(s).value("labels", json::object()).value(kube::k_backup_label, "");
    json st = s.value("status", json::object());
    by_id[id].first += st.is_object() && st.value("readyToUse", false);
    by_id[id].second++;
  }
  ListResult rows;
  for (const auto& [id, n] : by_id) {
    rows.push_back(
        {id, {{"volume_snapshots", n.second}, {"ready", n.first == n.second}}});
  }
  return rows;
}

Expected<Fields> FabricAdapter::remove(const std::string& id) {
  kube::Volumes vols = volumes([](std::string) {});
  auto deleted = SNAP_TRY(vols.remove_backup(ns(), id));
  return Fields{{"deleted", id}, {"volume_snapshots", deleted}};
}

} // namespace

const AdapterInfo& fabric_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "fabric",
      .summary = "Hyperledger Fabric on Kubernetes: manifests and CSI "
                 "volume snapshots",
      .caps = {C::save, C::restore, C::status, C::list, C::remove},
      .payload_version = 1,
      .default_addr = "",
      .flags = {{"kubeconfig",
                 "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or "
                 "the pod's service account)",
                 true,
                 {C::save, C::restore, C::status, C::list, C::remove}},
                {"context",
                 "kubeconfig context (default: its current-context)",
                 true,
                 {C::save, C::restore, C::status, C::list, C::remove}},
                {"namespace",
                 "namespace (default: the context's, else default; restore: "
                 "the archive's)",
                 true,
                 {C::save, C::restore, C::status, C::list, C::remove}},
                {"preset",
                 "the Fabric kinds: fabric-operator (ibp.com ibppeers, "
                 "ibporderers, ibpcas, ibpconsoles; default) or catalyx",
                 true,
                 {C::save, C::restore}},
                {"all-in-namespace",
                 "save every resource of the preset in the namespace",
                 false,
                 {C::save}},
                {"volume-snapshot-class",
                 "VolumeSnapshotClass for the PVCs (default: the driver's "
                 "default class)",
                 true,
                 {C::save}},
                {"no-volume-snapshots",
                 "save manifests only, no VolumeSnapshots",
                 false,
                 {C::save}},
                {"quiesce",
                 "scale the saved Deployments and StatefulSets to 0 while "
                 "the volumes are snapshotted, then back",
                 false,
                 {C::save}},
                {"snapshot-timeout",
                 "seconds to wait for each VolumeSnapshot to be ready "
                 "(default 600)",
                 true,
                 {C::save, C::restore}},
                {"conflict",
                 "objects that exist already: fail (default; nothing is "
                 "changed), skip, or replace",
                 true,
                 {C::restore}},
                {"allow-cluster-scoped",
                 "let the restore create cluster-scoped objects other than "
                 "CRDs that the archive holds (refused by default)",
                 false,
                 {C::restore}},
                {"ready-timeout",
                 "seconds to wait for each tier (CAs, orderers, peers, "
                 "consoles) to run before the next (default 600; 0: do not "
                 "wait)",
                 true,
                 {C::restore}}},
      // flag > SNAP_FABRIC_KUBECONFIG > KUBECONFIG > profile (docs/contract.md
      // §3).
      .native_env = {{"kubeconfig", "KUBECONFIG"}},
      .operands = "RESOURCE",
  };
  return info;
}

std::unique_ptr<Adapter> make_fabric(AdapterContext ctx) {
  return std::make_unique<FabricAdapter>(ctx);
}

// What a save reads and writes, kind by kind (graph.cpp's owned kinds, the
// preset's, volumes.cpp's): read every kind the object graph follows; with
// volume snapshots, create and read VolumeSnapshots (and delete the ones a
// failed save leaves, or --prune-target's) and read the cluster's snapshot
// classes, contents and PersistentVolumes; with --quiesce, patch the CRs and
// workloads it scales down. CRDs are read for the archive. `flags` may also
// hold save's "prune-target".
KubeAccess fabric_kube_access(const AdapterFlags& flags) {
  const json read = {"get", "list"};
  KubeAccess a;
  auto rule = [](json groups, json resources, json verbs) {
    return json{{"apiGroups", std::move(groups)},
                {"resources", std::move(resources)},
                {"verbs", std::move(verbs)}};
  };
  bool quiesce = !flag_value(flags, "quiesce").empty();
  json patch = quiesce ? json{"get", "list", "patch"} : read;
  a.rules.push_back(rule({""},
                         {"secrets", "configmaps", "persistentvolumeclaims",
                          "services", "serviceaccounts"},
                         read));
  a.rules.push_back(rule({"apps"}, {"deployments", "statefulsets"}, patch));
  a.rules.push_back(
      rule({"rbac.authorization.k8s.io"}, {"roles", "rolebindings"}, read));
  a.rules.push_back(rule({"networking.k8s.io"}, {"ingresses"}, read));
  a.rules.push_back(rule({"route.openshift.io"}, {"routes"}, read));
  std::map<std::string, json> by_group;
  for (const auto& k : fabric::preset_kinds(preset_of(flags))) {
    by_group[k.group].push_back(k.plural);
  }
  for (auto& [group, plurals] : by_group) {
    a.rules.push_back(rule({group}, std::move(plurals), patch));
  }
  a.cluster_rules.push_back(
      rule({"apiextensions.k8s.io"}, {"customresourcedefinitions"}, read));
  if (flag_value(flags, "no-volume-snapshots").empty()) {
    a.rules.push_back(rule({"snapshot.storage.k8s.io"}, {"volumesnapshots"},
                           {"get", "list", "create", "delete"}));
    a.cluster_rules.push_back(
        rule({"snapshot.storage.k8s.io"}, {"volumesnapshotclasses"}, read));
    // --prune-target sets deletionPolicy: Delete on a removed backup's
    // contents, so the storage snapshot goes with them.
    a.cluster_rules.push_back(rule({"snapshot.storage.k8s.io"},
                                   {"volumesnapshotcontents"},
                                   flag_value(flags, "prune-target").empty()
                                       ? read
                                       : json{"get", "list", "patch"}));
    a.cluster_rules.push_back(rule({""}, {"persistentvolumes"}, read));
  }
  return a;
}

} // namespace snap::adapters
