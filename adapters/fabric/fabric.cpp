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
#include <map>
#include <memory>
#include <random>
#include <set>

#include "adapters/fabric/objects.hpp"
#include "adapters/factories.hpp"
#include "adapters/kube/apply.hpp"
#include "adapters/kube/cluster.hpp"
#include "adapters/kube/readiness.hpp"
#include "adapters/kube/volume_copy.hpp"
#include "snap/poll.hpp"
#include "snap/targz.hpp"
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
  bool several = b.value("namespaces", json()).is_array();
  if (several) {
    f["namespaces"] = b["namespaces"];
  } else {
    f["namespace"] = str(b, "namespace");
  }
  f["resources"] = b.value("roots", json::array());
  std::map<std::string, int> counts;
  for (const auto& o : b.value("objects", json::array())) {
    counts[str(o, "resource")]++;
    if (verify) {
      json obj = SNAP_TRY(in.read_json(str(o, "file")));
      if (str(obj, "kind") != str(o, "kind") ||
          str(meta(obj), "name") != str(o, "name")) {
        return fail(ErrorKind::archive,
                    fmt::format("{} does not hold {} {}", str(o, "file"),
                                str(o, "kind"), str(o, "name")));
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
    std::string pvc = str(s, "pvc");
    if (several) {
      pvc = str(s, "namespace") + "/" + pvc;
    }
    snaps.push_back(
        fmt::format("{} (pvc {}, {}, {})", str(s, "name"), pvc, str(s, "role"),
                    str(s, "restore_size").empty() ? std::string("?")
                                                   : str(s, "restore_size")));
  }
  f["volume_snapshots"] = snaps;
  Fields copies = Fields::array();
  const json& copy_list = b.value("volume_copies", json::array());
  for (const auto& c : copy_list.is_array() ? copy_list : json::array()) {
    std::string file = str(c, "file");
    std::uint64_t files = kube::count_of(c, "files");
    if (verify) {
      // Each copy is read to its end as a tar.gz, as the save checked it,
      // once for inspect and restore alike (a restore from copies sends
      // it as it is): a member that would leave the volume is refused.
      auto src = SNAP_TRY(in.open_entry(file));
      TarSummary t = SNAP_TRY(check_tar_gz(*src, file));
      SNAP_TRY(refuse_unsafe_members(t, file));
      if (t.files != files) {
        return fail(ErrorKind::archive,
                    fmt::format("{} holds {} files, backup.json says {}",
                                terminal_safe(file), t.files, files));
      }
    }
    copies.push_back(fmt::format(
        "{}/{}: {} files, {} bytes ({})", terminal_safe(str(c, "namespace")),
        terminal_safe(str(c, "pvc")), files, kube::count_of(c, "bytes"),
        terminal_safe(file)));
  }
  if (!copies.empty()) {
    f["mode"] = "full manifests and a copy of every snapshotted volume's "
                "files; the CSI VolumeSnapshots stay in the cluster too";
    f["volume_copies"] = copies;
  }
  Fields genesis = Fields::array();
  for (const auto& g : b.value("genesis", json::array())) {
    std::string node = str(g, "node");
    if (several) {
      node = str(g, "namespace") + "/" + node;
    }
    genesis.push_back(
        fmt::format("{} ({} bytes)", node, kube::count_of(g, "bytes")));
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
    m_namespaces = split_list(m_cluster.ns);
    for (const auto& n : m_namespaces) {
      if (!kube::is_dns_label(n)) {
        return fail(ErrorKind::usage,
                    fmt::format("fabric: '{}' cannot be a namespace (a DNS "
                                "label: lower-case letters, digits and "
                                "'-'); nothing was changed",
                                n));
      }
    }
    if (m_namespaces.empty()) {
      return fail(ErrorKind::usage, "fabric: --namespace is empty");
    }
    m_cluster.ns = m_namespaces.front();
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
    std::vector<std::string> nss = saved_namespaces(m);
    return fmt::format("{} VolumeSnapshots {}={} in namespace{} {}",
                       n.get<std::uint64_t>(), kube::k_backup_label,
                       m.backup_id, nss.size() == 1 ? "" : "s",
                       join_list(nss, ", "));
  }

  Expected<Fields> remove_target_backup(const Manifest& m) override {
    std::vector<std::string> nss = saved_namespaces(m);
    if (nss != m_namespaces) {
      std::string flags;
      for (const auto& n : nss) {
        flags += " --namespace " + n;
      }
      return fail(ErrorKind::config,
                  fmt::format("fabric: the archive's VolumeSnapshots are in "
                              "namespace{} {}, not {} (give{})",
                              nss.size() == 1 ? "" : "s", join_list(nss, ", "),
                              join_list(m_namespaces, ", "), flags));
    }
    return remove(m.backup_id);
  }

private:
  // The namespaces a manifest's save covered.
  static std::vector<std::string> saved_namespaces(const Manifest& m) {
    const json& list = m.source.value("namespaces", json());
    if (list.is_array()) {
      std::vector<std::string> out;
      for (const auto& n : list) {
        out.push_back(n.is_string() ? n.get<std::string>() : "");
      }
      return out;
    }
    return {str(m.source, "namespace")};
  }
  kube::Client& api() { return *m_cluster.api; }
  Expected<std::vector<std::string>> save_namespaces();
  Expected<std::vector<json>> backup_snapshots(const std::string& id);
  Expected<std::map<std::string, std::string>>
  namespace_map(const std::vector<std::string>& from);
  Expected<void> check_copies(ArchiveReader& in,
                              const std::vector<kube::Planned>& plan);
  // The Deployments and StatefulSets each planned object owned when it was
  // saved, by its saved uid.
  using OwnedWorkloads =
      std::map<std::string, std::vector<const kube::Planned*>>;
  Expected<std::string>
  wait_tier(const std::string& tier,
            const std::vector<const kube::Planned*>& members,
            const OwnedWorkloads& owned, double timeout_s);
  const std::string& ns() const { return m_cluster.ns; }
  double snapshot_timeout() const {
    return seconds_flag(m_ctx.flags, "snapshot-timeout",
                        kube::k_default_snapshot_timeout_s);
  }
  kube::Volumes volumes(const kube::NoteFn& note) {
    return kube::Volumes(api(), m_ctx.reporter, note, "fabric");
  }

  Expected<void> collect_roots(kube::Graph& g, bool network);
  Expected<void> collect_orderers(kube::Graph& g);
  void warn_unowned(const kube::Graph& g, json& notes);
  kube::ScaleVia scale_via(const kube::Graph& g) const;
  Expected<json> snapshot_volumes(const std::vector<const kube::Graph*>& gs,
                                  const std::string& id,
                                  const kube::NoteFn& note);
  Expected<json>
  copy_volumes(const std::vector<std::unique_ptr<kube::Graph>>& gs,
               const std::string& id, const json& snapshots, ArchiveWriter& out,
               const kube::NoteFn& note);
  std::string copy_image() const {
    std::string image = flag_value(m_ctx.flags, "copy-image");
    return image.empty() ? std::string(kube::k_default_copy_image) : image;
  }
  Expected<json> write_genesis(const kube::Graph& g, ArchiveWriter& out,
                               const kube::NoteFn& note, bool by_namespace);

  AdapterContext m_ctx;
  Preset m_preset;
  kube::Cluster m_cluster;
  // --namespace, once or more (several for a network that spans them);
  // the first is m_cluster.ns.
  std::vector<std::string> m_namespaces;
};

// The namespaces a save covers: those --namespace names (the context's by
// default), or with --all-namespaces every namespace that holds a resource
// of the preset, found by listing each kind across the cluster.
Expected<std::vector<std::string>> FabricAdapter::save_namespaces() {
  if (flag_value(m_ctx.flags, "all-namespaces").empty()) {
    return m_namespaces;
  }
  if (!flag_value(m_ctx.flags, "namespace").empty()) {
    return fail(ErrorKind::usage, "fabric: give --namespace or "
                                  "--all-namespaces, not both");
  }
  std::set<std::string> found;
  for (const auto& k : m_preset.kinds()) {
    auto type = SNAP_TRY(api().resolve_if_served(k.plural, k.group));
    if (!type) {
      continue;
    }
    for (const auto& o : SNAP_TRY(api().list(*type, ""))) {
      found.insert(str(meta(o), "namespace"));
    }
  }
  found.erase("");
  if (found.empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("fabric: no namespace holds resources of preset "
                            "{}",
                            m_preset.name()));
  }
  return std::vector<std::string>(found.begin(), found.end());
}

// fabric-operator builds each node's Deployment from its resource and sets
// a changed replica count back, so a node is scaled through its resource's
// spec.replicas (all four kinds have it, default 1).
kube::ScaleVia FabricAdapter::scale_via(const kube::Graph& g) const {
  return [this, &g](const kube::Item& w) -> const kube::Item* {
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
}

Expected<SaveResult> FabricAdapter::save(ArchiveWriter& out) {
  std::string id = new_backup_id();
  json notes = json::array();
  kube::NoteFn note = [&](std::string text) {
    m_ctx.reporter.note("fabric: " + text);
    notes.push_back(std::move(text));
  };
  bool network = !flag_value(m_ctx.flags, "network").empty() ||
                 !flag_value(m_ctx.flags, "all-in-namespace").empty() ||
                 !flag_value(m_ctx.flags, "all-namespaces").empty();
  std::vector<std::string> nss = SNAP_TRY(save_namespaces());
  if (nss.size() > 1 && !network) {
    return fail(ErrorKind::usage,
                "fabric: several namespaces are saved as one network: pass "
                "--network (every resource of the preset in each)");
  }
  bool several = nss.size() > 1;
  // One object graph a namespace; the owned kinds are the same for all.
  std::vector<std::unique_ptr<kube::Graph>> graphs;
  std::vector<const kube::Graph*> views;
  auto owned = SNAP_TRY(kube::owned_kinds(api(), m_preset.plurals()));
  for (const auto& n : nss) {
    auto g = std::make_unique<kube::Graph>(api(), n, note);
    SNAP_TRY(collect_roots(*g, network));
    SNAP_TRY(collect_orderers(*g));
    SNAP_TRY(g->add_owners());
    SNAP_TRY(g->add_owned(owned));
    warn_unowned(*g, notes);
    SNAP_TRY(g->add_referenced(fabric::references_of));
    SNAP_TRY(g->add_crds(
        [&](const ResourceType& t) { return m_preset.is_fabric(t); }));
    views.push_back(g.get());
    graphs.push_back(std::move(g));
  }
  json snapshots = json::array();
  if (!flag_value(m_ctx.flags, "copy-volumes").empty() &&
      !flag_value(m_ctx.flags, "no-volume-snapshots").empty()) {
    return fail(ErrorKind::usage,
                "fabric: --copy-volumes reads each volume from its snapshot; "
                "it cannot go with --no-volume-snapshots");
  }
  if (!flag_value(m_ctx.flags, "copy-volumes").empty()) {
    // A namespace that would refuse the helper pods (Pod Security, RBAC)
    // fails the save before anything is stopped or snapshotted.
    kube::VolumeCopier check(api(), m_ctx.reporter, note, "fabric", id,
                             copy_image(), snapshot_timeout());
    for (const auto& g : graphs) {
      for (const auto& item : g->items()) {
        if (item.type.plural == "persistentvolumeclaims" &&
            item.type.group.empty()) {
          SNAP_TRY(check.preflight(g->ns(), item.name(), true));
          break;
        }
      }
    }
  }
  if (flag_value(m_ctx.flags, "no-volume-snapshots").empty()) {
    bool quiesce = !flag_value(m_ctx.flags, "quiesce").empty();
    // Every namespace stops before the first snapshot, so the network's
    // volumes are cut as close together as the API allows.
    std::vector<kube::Scaled> scaled;
    Expected<void> stopped;
    for (const auto& g : graphs) {
      if (quiesce && stopped) {
        stopped = kube::scale_down(api(), m_ctx.reporter, note, g->ns(),
                                   g->items(), snapshot_timeout(), scaled,
                                   "fabric", scale_via(*g));
      }
    }
    auto taken = stopped ? snapshot_volumes(views, id, note)
                         : Expected<json>(tl::unexpected(stopped.error()));
    // Whatever happened, the workloads run again as they did.
    auto resumed = kube::scale_back(api(), scaled, "fabric");
    if (!taken) {
      return tl::unexpected(taken.error());
    }
    if (!resumed) {
      return tl::unexpected(resumed.error());
    }
    snapshots = std::move(*taken);
  }
  json copies = json::array();
  if (!flag_value(m_ctx.flags, "copy-volumes").empty()) {
    copies = SNAP_TRY(copy_volumes(graphs, id, snapshots, out, note));
  }
  json genesis = json::array();
  json objects = json::array();
  std::set<std::string> written; // a CRD once, whichever namespace uses it
  for (const auto& g : graphs) {
    for (auto& b : SNAP_TRY(write_genesis(*g, out, note, several))) {
      genesis.push_back(std::move(b));
    }
    for (auto& o : SNAP_TRY(g->write(
             out, [&](const ResourceType& t) { return m_preset.is_fabric(t); },
             &written))) {
      objects.push_back(std::move(o));
    }
  }
  std::vector<std::string> roots;
  // The network's members by role (ca, orderer, peer, console), each saved
  // Fabric resource once; "namespace/name" when the network spans several.
  json members = json::object();
  for (const auto& g : graphs) {
    for (const auto& item : g->items()) {
      std::string name = several ? g->ns() + "/" + item.name() : item.name();
      if (item.role == "root") {
        roots.push_back(several ? g->ns() + "/" + item.id() : item.id());
      }
      if (std::string role = m_preset.role(item.type); !role.empty()) {
        members[role].push_back(name);
      }
    }
  }
  // How far apart the volume snapshots were cut (creationTime), in seconds:
  // the smaller, the closer the ledgers and state databases agree.
  std::int64_t first = -1, last = -1;
  for (const auto& s : snapshots) {
    std::int64_t t = rfc3339_epoch_s(str(s, "creation_time"));
    if (t >= 0) {
      first = first < 0 ? t : std::min(first, t);
      last = std::max(last, t);
    }
  }
  json backup = {{"backup_id", id},
                 {"namespace", nss.front()},
                 {"preset", m_preset.name()},
                 {"roots", roots},
                 {"objects", objects},
                 {"volume_snapshots", snapshots},
                 {"volume_copies", copies},
                 {"genesis", genesis},
                 {"notes", notes}};
  if (several) {
    backup["namespaces"] = nss;
  }
  SNAP_TRY(out.add_json("backup.json", backup));
  SaveResult r;
  r.backup_id = id;
  r.kind = "full";
  r.server_version = m_cluster.server_version;
  r.source = {{"namespace", nss.front()},
              {"resources", roots},
              {"members", members},
              {"objects", objects.size()},
              {"volume_snapshots", snapshots.size()}};
  if (!copies.empty()) {
    r.source["volume_copies"] = copies.size();
  }
  if (several) {
    r.source.erase("namespace");
    r.source["namespaces"] = nss;
  }
  if (first >= 0) {
    r.source["snapshot_spread_s"] = last - first;
  }
  std::string where = join_list(nss, ", ");
  r.subject = several ? fmt::format("network in {}", where)
                      : fmt::format("{}: {}", where, join_list(roots, " "));
  r.summary = fmt::format("{} in {}: {} objects, {} volume snapshots",
                          join_list(roots, ", "), where, objects.size(),
                          snapshots.size());
  return r;
}

// The named resources, or with `network` every CR of the preset in the
// graph's namespace.
Expected<void> FabricAdapter::collect_roots(kube::Graph& g, bool network) {
  const std::string& ns = g.ns();
  std::vector<std::string> names = split_list(join_list(m_ctx.operands));
  if (names.empty() && !network) {
    return fail(ErrorKind::usage,
                "name the resources to save (ibppeers.ibp.com/peer1 …) or "
                "pass --network");
  }
  if (network) {
    if (!names.empty()) {
      return fail(ErrorKind::usage,
                  "fabric: --network saves every resource of the preset; "
                  "name no resources with it");
    }
    for (const auto& k : m_preset.kinds()) {
      auto type = SNAP_TRY(api().resolve_if_served(k.plural, k.group));
      if (!type) {
        continue;
      }
      for (auto& o : SNAP_TRY(api().list(*type, ns))) {
        names.push_back(type->name() + "/" + str(meta(o), "name"));
      }
    }
    if (names.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: namespace {} holds no resources of "
                              "preset {}",
                              ns, m_preset.name()));
    }
  }
  for (const auto& text : names) {
    kube::ResourceId rid = SNAP_TRY(kube::parse_resource_id(text));
    ResourceType type = SNAP_TRY(api().resolve_name(rid, m_preset.groups()));
    auto obj = SNAP_TRY(api().get_if(type, ns, rid.name));
    if (!obj) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: {}/{} is not in namespace {}",
                              type.name(), rid.name, ns));
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
      auto p = SNAP_TRY(api().get_if(item.type, g.ns(), parent));
      if (p && !g.has(str(meta(*p), "uid"))) {
        g.add(item.type, *p, "parent");
      }
    } else if (item.role == "root") {
      for (auto& node :
           SNAP_TRY(api().list(item.type, g.ns(), "parent=" + item.name()))) {
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
          root.id(), g.ns());
      m_ctx.reporter.warn("fabric: " + text);
      notes.push_back(std::move(text));
    }
  }
}

// Every collected PVC of every namespace, state databases first.
Expected<json>
FabricAdapter::snapshot_volumes(const std::vector<const kube::Graph*>& gs,
                                const std::string& id,
                                const kube::NoteFn& note) {
  std::vector<kube::VolumeToSnapshot> pvcs;
  for (const auto* g : gs) {
    for (const auto& item : g->items()) {
      if (item.type.plural == "persistentvolumeclaims" &&
          item.type.group.empty()) {
        pvcs.push_back({item.name(),
                        fabric::pvc_role(item.name(), g->owner_of(item)),
                        item.object.value("spec", json::object()), g->ns()});
      }
    }
  }
  std::stable_sort(pvcs.begin(), pvcs.end(), [](const auto& a, const auto& b) {
    return a.role == "statedb" && b.role != "statedb";
  });
  return volumes(note).snapshot(
      ns(), id, pvcs, flag_value(m_ctx.flags, "volume-snapshot-class"),
      snapshot_timeout());
}

// With --copy-volumes: the files of every snapshotted volume, read from its
// snapshot by a helper pod, into the archive. A failed copy fails the save
// and deletes the snapshots it took, which no archive names then.
Expected<json>
FabricAdapter::copy_volumes(const std::vector<std::unique_ptr<kube::Graph>>& gs,
                            const std::string& id, const json& snapshots,
                            ArchiveWriter& out, const kube::NoteFn& note) {
  kube::VolumeCopier copier(api(), m_ctx.reporter, note, "fabric", id,
                            copy_image(), snapshot_timeout());
  json copies = json::array();
  Expected<void> done;
  for (const auto& s : snapshots) {
    json spec = json::object();
    for (const auto& g : gs) {
      for (const auto& item : g->items()) {
        if (g->ns() == str(s, "namespace") &&
            item.type.plural == "persistentvolumeclaims" &&
            item.type.group.empty() && item.name() == str(s, "pvc")) {
          spec = item.object.value("spec", json::object());
        }
      }
    }
    auto c = copier.copy_out(s, spec, out);
    if (!c) {
      done = tl::unexpected(c.error());
      break;
    }
    copies.push_back(std::move(*c));
  }
  auto cleaned = copier.cleanup();
  if (!done) {
    // Sent even after SIGINT, as the snapshots' own undo is.
    if (auto vs = volumes(note).snapshot_type()) {
      for (const auto& s : snapshots) {
        (void)api().remove(*vs, str(s, "namespace"), str(s, "name"),
                           kube::Propagation::background, true);
      }
    }
    return tl::unexpected(done.error());
  }
  if (!cleaned) {
    return tl::unexpected(cleaned.error());
  }
  return copies;
}

// Writes the genesis block of every orderer node saved, from its
// <node>-genesis secret (key orderer.block), as genesis/<node>.block, or
// genesis/<namespace>/<node>.block `by_namespace` (two namespaces may
// each have a node of one name).
Expected<json> FabricAdapter::write_genesis(const kube::Graph& g,
                                            ArchiveWriter& out,
                                            const kube::NoteFn& note,
                                            bool by_namespace) {
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
    std::string file = "genesis/" + (by_namespace ? g.ns() + "/" : "") +
                       node.name() + ".block";
    Sink* sink = SNAP_TRY(out.add_entry(file, "application/octet-stream"));
    SNAP_TRY(sink->write(std::as_bytes(std::span(*block))));
    genesis.push_back({{"node", node.name()},
                       {"namespace", g.ns()},
                       {"secret", secret},
                       {"file", "payload/" + file},
                       {"bytes", block->size()}});
  }
  return genesis;
}

// Where each namespace of the archive (`from`) goes: to itself; to
// --namespace for an archive of one; or as --namespace-map SRC=DST says
// (repeatable), each archive namespace to its own. Errors: `usage`.
Expected<std::map<std::string, std::string>>
FabricAdapter::namespace_map(const std::vector<std::string>& from) {
  std::map<std::string, std::string> map;
  for (const auto& n : from) {
    map[n] = n;
  }
  bool ns_given = !flag_value(m_ctx.flags, "namespace").empty();
  std::string mapping = flag_value(m_ctx.flags, "namespace-map");
  if (ns_given && !mapping.empty()) {
    return fail(ErrorKind::usage, "fabric: give --namespace or "
                                  "--namespace-map, not both");
  }
  if (ns_given) {
    if (m_namespaces.size() > 1 || from.size() > 1) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: the archive holds namespace{} {}; "
                              "restore into one namespace with --namespace, "
                              "or map each with --namespace-map SRC=DST",
                              from.size() == 1 ? "" : "s",
                              join_list(from, ", ")));
    }
    map[from.front()] = ns();
    return map;
  }
  std::set<std::string> mapped;
  for (const auto& pair : split_list(mapping)) {
    auto eq = pair.find('=');
    std::string src = pair.substr(0, eq);
    std::string dst = eq == std::string::npos ? "" : pair.substr(eq + 1);
    if (eq == std::string::npos || !kube::is_dns_label(dst)) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: --namespace-map {}: give SRC=DST, "
                              "DST a namespace name (lower-case letters, "
                              "digits and '-')",
                              pair));
    }
    if (!map.contains(src)) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: --namespace-map {}: the archive holds "
                              "no namespace {} (it holds {})",
                              pair, src, join_list(from, ", ")));
    }
    if (!mapped.insert(src).second) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: --namespace-map names {} twice", src));
    }
    map[src] = dst;
  }
  std::map<std::string, std::string> by_target;
  for (const auto& [src, dst] : map) {
    auto [it, fresh] = by_target.emplace(dst, src);
    if (!fresh) {
      return fail(ErrorKind::usage,
                  fmt::format("fabric: namespaces {} and {} would both go to "
                              "{}, where their objects could take each "
                              "other's names; map them apart",
                              it->second, src, dst));
    }
  }
  return map;
}

Expected<RestoreReport> FabricAdapter::restore(ArchiveReader& in,
                                               bool dry_run) {
  json b = SNAP_TRY(in.read_json(k_backup_entry));
  // The archive's namespaces: one, or the list a network save records.
  std::vector<std::string> from;
  if (const json& list = b.value("namespaces", json()); list.is_array()) {
    for (const auto& n : list) {
      from.push_back(n.is_string() ? n.get<std::string>() : "");
    }
  } else {
    from.push_back(str(b, "namespace"));
  }
  for (const auto& n : from) {
    if (!kube::is_dns_label(n)) {
      return fail(ErrorKind::archive,
                  fmt::format("fabric: '{}' cannot be a namespace (a DNS "
                              "label: lower-case letters, digits and '-'); "
                              "nothing was changed",
                              n));
    }
  }
  auto ns_map = SNAP_TRY(namespace_map(from));
  std::vector<std::string> targets;
  for (const auto& n : from) {
    targets.push_back(ns_map[n]);
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
      .ns = targets.front(),
      .ns_map = ns_map,
      .wanted = split_list(join_list(m_ctx.operands)),
      .allow_cluster_scoped =
          !flag_value(m_ctx.flags, "allow-cluster-scoped").empty(),
      .preferred_groups = m_preset.groups(),
      .from_copies = !flag_value(m_ctx.flags, "from-copies").empty()};
  // The Fabric resources tier by tier (CAs, orderers, peers, consoles) in
  // every namespace; orderer nodes before their parent, which would
  // otherwise make them anew.
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
  SNAP_TRY(check_copies(in, plan));
  // The helper objects that write volume copies carry a run id of their
  // own, so they never share a name with a save's.
  kube::VolumeCopier copier(api(), m_ctx.reporter, note, "fabric",
                            new_backup_id(), copy_image(), snapshot_timeout());
  std::set<std::string> admitted;
  for (const auto& p : plan) {
    if (!p.copy.is_null() && admitted.insert(p.ns).second) {
      SNAP_TRY(copier.preflight(p.ns, p.name, false));
    }
  }
  for (auto& p : plan) {
    if (std::string role = m_preset.role(p.type); tier_of(role) >= 0) {
      p.tier = tier_name(role);
    }
  }
  double ready_timeout = seconds_flag(m_ctx.flags, "ready-timeout", 600.0);
  bool waits = ready_timeout > 0;
  // fabric-operator's status schema is known (runs()); CatalyX's is not
  // public, so its resources are read by the generic kstatus rules.
  std::string ready_means =
      m_preset.name() == "fabric-operator"
          ? "status Deployed, and the Deployments and StatefulSets they own "
            "ready"
          : "no condition Reconciling or Stalled and none Ready but True, "
            "and the Deployments and StatefulSets they own ready";
  // What is already there decides each object's action, before anything
  // changes.
  std::vector<std::string> existing = SNAP_TRY(restorer.decide(plan, policy));
  if (dry_run) {
    std::vector<std::string> steps;
    for (std::size_t i = 0; i < from.size(); ++i) {
      if (from[i] != targets[i]) {
        steps.push_back(fmt::format("namespace {} of the archive goes to {}",
                                    from[i], targets[i]));
      }
    }
    for (std::size_t i = 0; i < plan.size(); ++i) {
      steps.push_back(kube::Restorer::describe_step(plan[i]));
      const std::string& tier = plan[i].tier;
      if (waits && !tier.empty() &&
          (i + 1 == plan.size() || plan[i + 1].tier != tier)) {
        steps.push_back(fmt::format("wait until the {} run ({}; at most "
                                    "{} s)",
                                    tier, ready_means, ready_timeout));
      }
    }
    return RestoreReport{.plan = std::move(steps)};
  }
  if (!existing.empty()) {
    return fail(ErrorKind::conflict,
                fmt::format("fabric: {} object{} already exist{} in "
                            "namespace{} {} and differ{}: {}; nothing was "
                            "changed (--conflict skip leaves them, "
                            "--conflict replace recreates them)",
                            existing.size(), existing.size() == 1 ? "" : "s",
                            existing.size() == 1 ? "s" : "",
                            targets.size() == 1 ? "" : "s",
                            join_list(targets, ", "),
                            existing.size() == 1 ? "s" : "",
                            join_list(existing, ", ")));
  }
  restorer.set_filler([&](const kube::Planned& p, const std::string& to) {
    return copier.copy_in(p.copy, to, p.name, in);
  });
  OwnedWorkloads owned;
  for (const auto& p : plan) {
    if (p.type.group != "apps" ||
        (p.type.plural != "deployments" && p.type.plural != "statefulsets")) {
      continue;
    }
    for (const auto& ref : p.owner_refs) {
      if (std::string uid = kube::str(ref, "uid"); !uid.empty()) {
        owned[uid].push_back(&p);
      }
    }
  }
  kube::TierWait wait;
  if (waits) {
    wait = [&](const std::string& tier,
               const std::vector<const kube::Planned*>& members) {
      return wait_tier(tier, members, owned, ready_timeout);
    };
  }
  auto report = restorer.apply(plan, snapshot_timeout(), wait);
  auto cleaned = copier.cleanup();
  if (report && !cleaned) {
    m_ctx.reporter.warn(cleaned.error().message);
  }
  return report;
}

// Before anything changes: every copy a restore from copies writes is in
// the archive. (A copy larger than one request body the helper pod takes
// goes in parts: VolumeCopier::copy_in.)
Expected<void>
FabricAdapter::check_copies(ArchiveReader& in,
                            const std::vector<kube::Planned>& plan) {
  for (const auto& p : plan) {
    if (p.copy.is_null()) {
      continue;
    }
    std::string file = str(p.copy, "file");
    const auto& entries = in.manifest().entries;
    auto e = std::find_if(entries.begin(), entries.end(),
                          [&](const auto& m) { return m.path == file; });
    if (e == entries.end()) {
      return fail(ErrorKind::archive,
                  fmt::format("fabric: the copy of pvc {} names {}, which the "
                              "archive does not hold; nothing was changed",
                              p.name, terminal_safe(file)));
    }
  }
  return {};
}

// Waits until every resource of `tier` (in whichever namespace) runs and
// so do the Deployments and StatefulSets it owned when saved, which its
// operator makes again (kube::workload_readiness). A fabric-operator
// resource runs by its status.type (runs()), and the Deployment of its
// name, where the operator made one, counts too; any other preset's by the
// generic rules (kube::resource_readiness).
Expected<std::string>
FabricAdapter::wait_tier(const std::string& tier,
                         const std::vector<const kube::Planned*>& members,
                         const OwnedWorkloads& owned, double timeout_s) {
  auto started = std::chrono::steady_clock::now();
  auto deployments = SNAP_TRY(api().type_of("apps/v1", "Deployment"));
  std::vector<std::string> waiting; // "peer1: Deploying", as last seen
  std::vector<std::string> names;
  std::vector<std::string> nss;
  for (const auto* p : members) {
    if (std::find(nss.begin(), nss.end(), p->ns) == nss.end()) {
      nss.push_back(p->ns);
    }
  }
  // "org1/peer1" when the tier spans namespaces.
  auto label = [&](const kube::Planned* p) {
    return nss.size() > 1 ? p->ns + "/" + p->name : p->name;
  };
  for (const auto* p : members) {
    names.push_back(label(p));
  }
  std::optional<Error> failed;
  auto step = [&]() -> Expected<bool> {
    waiting.clear();
    for (const auto* p : members) {
      const std::string& ns = p->ns;
      auto live = SNAP_TRY(api().get_if(p->type, ns, p->name));
      if (!live) {
        waiting.push_back(label(p) + ": gone");
        continue;
      }
      // Stops the wait: the restore ends there with what is left.
      auto stop = [&](const std::string& who, const std::string& why) {
        failed = Error{
            ErrorKind::partial,
            fmt::format("fabric: {} reports {}, so the {} are not ready and "
                        "the restore stopped there (kubectl describe -n {} "
                        "{}; the operator's log says more)",
                        who, why, tier, ns, who)};
      };
      std::string who = p->type.name() + " " + p->name;
      bool known_status = m_preset.name() == "fabric-operator";
      if (known_status) {
        json st = live->value("status", json::object());
        std::string type = st.is_object() ? str(st, "type") : "";
        if (type == "Error") {
          stop(who, fmt::format("Error ({}: {})", str(st, "reason"),
                                str(st, "message")));
          return true;
        }
        if (!runs(type, m_preset.role(p->type))) {
          waiting.push_back(fmt::format("{}: {}", label(p),
                                        type.empty() ? "no status" : type));
          continue;
        }
      } else if (auto r = kube::resource_readiness(*live); r.failed()) {
        stop(who, r.why);
        return true;
      } else if (!r.ready()) {
        waiting.push_back(label(p) + ": " + r.why);
        continue;
      }
      std::vector<std::pair<ResourceType, std::string>> workloads;
      if (auto it = owned.find(p->old_uid); it != owned.end()) {
        for (const auto* w : it->second) {
          workloads.emplace_back(w->type, w->name);
        }
      }
      if (known_status &&
          std::none_of(workloads.begin(), workloads.end(), [&](const auto& w) {
            return w.first.plural == "deployments" && w.second == p->name;
          })) {
        // Made by the operator since the save: counted where it exists.
        if (SNAP_TRY(api().get_if(deployments, ns, p->name))) {
          workloads.emplace_back(deployments, p->name);
        }
      }
      for (const auto& [type, name] : workloads) {
        std::string what = type.name() + "/" + name;
        auto w = SNAP_TRY(api().get_if(type, ns, name));
        if (!w) {
          waiting.push_back(label(p) + ": " + what + " not made yet");
          continue;
        }
        auto r = kube::workload_readiness(*w);
        if (r.failed()) {
          stop(what, r.why);
          return true;
        }
        if (!r.ready()) {
          waiting.push_back(label(p) + ": " + what + " " + r.why);
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
                       tier, timeout_s, join_list(waiting, ", "),
                       join_list(nss, ", kubectl describe -n "));
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

// The VolumeSnapshots of backup `id` (of every backup when empty) in each
// namespace given.
Expected<std::vector<json>>
FabricAdapter::backup_snapshots(const std::string& id) {
  kube::Volumes vols = volumes([](std::string) {});
  std::vector<json> out;
  for (const auto& n : m_namespaces) {
    for (auto& s : SNAP_TRY(vols.of_backup(n, id))) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

Expected<StatusResult> FabricAdapter::status(const std::string& id) {
  StatusResult r;
  r.fields["server"] = m_cluster.server_version;
  r.fields["namespace"] = join_list(m_namespaces, ", ");
  auto items = backup_snapshots(id);
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
    std::string name = str(meta(s), "name");
    if (m_namespaces.size() > 1) {
      name = str(meta(s), "namespace") + "/" + name;
    }
    snaps.push_back(fmt::format("{}: {}{} (backup {}, pvc {})", name,
                                ok ? "ready" : "not ready",
                                err.empty() ? "" : ": " + err,
                                meta(s)
                                    .value("labels", json::object())
                                    .value(kube::k_backup_label, "?"),
                                pvc.empty() ? "?" : pvc));
  }
  if (!id.empty() && items->empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("fabric: no VolumeSnapshots of backup {} in "
                            "namespace{} {} (snap list fabric shows the "
                            "backups there)",
                            id, m_namespaces.size() == 1 ? "" : "s",
                            join_list(m_namespaces, ", ")));
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
  auto items = SNAP_TRY(backup_snapshots(""));
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

// Deletes backup `id`'s VolumeSnapshots in each namespace given (a network
// backup's in all of its namespaces); `not_found` only when no namespace
// has any.
Expected<Fields> FabricAdapter::remove(const std::string& id) {
  kube::Volumes vols = volumes([](std::string) {});
  std::vector<std::string> deleted, helpers;
  std::optional<Error> none;
  for (const auto& n : m_namespaces) {
    // What a killed --copy-volumes left: its helper pods and claims.
    for (auto& h :
         SNAP_TRY(kube::VolumeCopier::remove_leftovers(api(), n, id))) {
      helpers.push_back(m_namespaces.size() > 1 ? n + "/" + h : h);
    }
    auto here = vols.remove_backup(n, id);
    if (!here && here.error().kind == ErrorKind::not_found) {
      none = here.error();
      continue;
    }
    for (auto& name : SNAP_TRY(std::move(here))) {
      deleted.push_back(m_namespaces.size() > 1 ? n + "/" + name : name);
    }
  }
  if (deleted.empty() && none && helpers.empty()) {
    if (m_namespaces.size() > 1) {
      none->message = fmt::format("fabric: no VolumeSnapshots of backup {} "
                                  "in namespaces {}",
                                  id, join_list(m_namespaces, ", "));
    }
    return tl::unexpected(*none);
  }
  Fields f{{"deleted", id}, {"volume_snapshots", deleted}};
  if (!helpers.empty()) {
    f["volume_copy_helpers"] = helpers;
  }
  return f;
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
                 "the archive's); save, status, list and delete take several "
                 "(repeatable) for a network that spans them",
                 true,
                 {C::save, C::restore, C::status, C::list, C::remove},
                 true},
                {"all-namespaces",
                 "save: the network in every namespace that holds resources "
                 "of the preset (implies --network)",
                 false,
                 {C::save}},
                {"namespace-map",
                 "restore: SRC=DST puts the archive's namespace SRC into DST "
                 "(repeatable), to launch a copy of a network",
                 true,
                 {C::restore},
                 true},
                {"preset",
                 "the Fabric kinds: fabric-operator (ibp.com ibppeers, "
                 "ibporderers, ibpcas, ibpconsoles; default) or catalyx",
                 true,
                 {C::save, C::restore}},
                {"network",
                 "save the whole network: every CA, orderer, peer and "
                 "console of the preset in each namespace, with all they own "
                 "and name",
                 false,
                 {C::save}},
                {"all-in-namespace",
                 "the same as --network (its older name)",
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
                {"copy-volumes",
                 "also copy each snapshotted volume's files into the archive "
                 "(read from the snapshot by a short-lived helper pod through "
                 "the API server's pods/proxy)",
                 false,
                 {C::save}},
                {"copy-image",
                 "the helper pod's image for --copy-volumes and --from-copies "
                 "(busybox with httpd and tar; default "
                 "docker.io/library/busybox:1.36.1)",
                 true,
                 {C::save, C::restore}},
                {"from-copies",
                 "restore: make each PVC empty and write the archive's copy "
                 "of its files into it, instead of restoring it from its "
                 "VolumeSnapshot (for a cluster that lost its snapshots)",
                 false,
                 {C::restore}},
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
  // --copy-volumes: the helper PVC, pod, Secret, ConfigMap and
  // NetworkPolicy of each copy, and the pod's proxy that the files leave
  // through.
  if (!flag_value(flags, "copy-volumes").empty()) {
    a.rules.push_back(
        rule({""}, {"pods", "persistentvolumeclaims", "secrets", "configmaps"},
             {"get", "list", "create", "delete"}));
    a.rules.push_back(rule({""}, {"pods/proxy"}, {"get", "create"}));
    a.rules.push_back(rule({"networking.k8s.io"}, {"networkpolicies"},
                           {"get", "list", "create", "delete"}));
  }
  // A network in several namespaces (or all) is read in each: the
  // namespace's rules go to the ClusterRole, as a Role grants nothing
  // outside its own namespace.
  if (!flag_value(flags, "all-namespaces").empty() ||
      split_list(flag_value(flags, "namespace")).size() > 1) {
    for (auto& r : a.rules) {
      a.cluster_rules.push_back(std::move(r));
    }
    a.rules = json::array();
  }
  return a;
}

} // namespace snap::adapters
