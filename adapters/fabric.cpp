// SPDX-License-Identifier: MIT
// Hyperledger Fabric adapter, over the Kubernetes API (no kubectl).
//
// Fabric has no backup API of its own: a node is its custom resource
// (fabric-operator's IBPPeer, IBPOrderer, IBPCA; or another operator's, by
// preset), the objects the operator made for it (ownerReferences, followed
// transitively), the secrets and configmaps its workloads refer to, and the
// data on its PVCs. `save` keeps every manifest as the server returned it
// (kind full) and takes a CSI VolumeSnapshot of each PVC, the state DB's
// before the ledger's as Fabric requires, each waited to readyToUse; the
// snapshots stay in the cluster and the archive references them.
//
// `restore` strips what the server sets, then creates in dependency order:
// PVCs from their VolumeSnapshots, service accounts and RBAC, secrets and
// configmaps (before the CR, or fabric-operator would enroll new identities
// and make new CA keys), orderer nodes before their parent, the CRs, and the
// rest. Owner references are re-linked to the new owners' uids afterwards.
// Objects that exist already follow --conflict: fail (nothing is changed),
// skip, or replace (deleted with orphaning, so no owner's delete takes data
// with it, then created). Every object is reported; some failing exits 3.
//
// Facts: shared/api/fabric.md (fabric-operator, Velero, external-snapshotter).

#include <random>
#include <set>

#include "adapters/fabric_objects.hpp"
#include "adapters/factories.hpp"
#include "adapters/kube_client.hpp"
#include "adapters/kube_config.hpp"
#include "snap/json.hpp"
#include "snap/options.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters {
namespace {

using fabric::json;
using fabric::str;
using kube::ResourceType;

constexpr std::string_view k_backup_entry = "payload/backup.json";
constexpr std::string_view k_backup_label = "snap/backup";
constexpr double k_default_snapshot_timeout_s = 600; // Velero's default

const json& meta(const json& o) {
  static const json empty = json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : empty;
}

// One object the backup holds.
struct Item {
  ResourceType type;
  json object;
  std::string role; // root, node, parent, owned, referenced
  std::string uid() const { return str(meta(object), "uid"); }
  std::string name() const { return str(meta(object), "name"); }
  std::string id() const { return type.name() + "/" + name(); }
};

// A VolumeSnapshot this run created, deleted again if the save fails.
struct TakenSnapshot {
  std::string pvc;
  std::string role;
  std::string name;
  std::string klass;
  std::string driver;
};

class FabricAdapter : public Adapter {
public:
  explicit FabricAdapter(AdapterContext ctx) : m_ctx(ctx) {}

  const AdapterInfo& info() const override { return fabric_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    std::string id = backup_id();
    SNAP_TRY(collect_roots());
    SNAP_TRY(collect_owned());
    warn_unowned();
    SNAP_TRY(collect_referenced());
    SNAP_TRY(collect_crds());
    json snapshots = json::array();
    if (flag_value(m_ctx.flags, "no-volume-snapshots").empty()) {
      bool quiesce = !flag_value(m_ctx.flags, "quiesce").empty();
      std::vector<Scaled> scaled;
      auto stopped = quiesce ? scale_down(scaled) : Expected<void>();
      auto taken = stopped ? snapshot_volumes(id)
                           : Expected<json>(tl::unexpected(stopped.error()));
      // Whatever happened, the workloads run again as they did.
      auto resumed = scale_back(scaled);
      if (!taken) {
        return tl::unexpected(taken.error());
      }
      if (!resumed) {
        return tl::unexpected(resumed.error());
      }
      snapshots = std::move(*taken);
    }
    json genesis = SNAP_TRY(write_genesis(out));
    json objects = json::array();
    for (const auto& item : m_items) {
      std::string file = fmt::format(
          "resources/{}/{}.json", item.type.name(),
          item.type.namespaced ? "namespaces/" + m_ns + "/" + item.name()
                               : "cluster/" + item.name());
      SNAP_TRY(out.add_json(file, item.object));
      json owners = json::array();
      for (const auto& ref :
           meta(item.object).value("ownerReferences", json::array())) {
        owners.push_back(str(ref, "uid"));
      }
      objects.push_back({{"resource", item.type.name()},
                         {"api_version", item.type.api_version()},
                         {"kind", item.type.kind},
                         {"plural", item.type.plural},
                         {"namespaced", item.type.namespaced},
                         {"name", item.name()},
                         {"uid", item.uid()},
                         {"role", item.role},
                         {"fabric", is_fabric(item.type)},
                         {"owners", owners},
                         {"file", "payload/" + file}});
    }
    json roots = json::array();
    for (const auto& item : m_items) {
      if (item.role == "root") {
        roots.push_back(item.id());
      }
    }
    json backup = {{"backup_id", id},    {"namespace", m_ns},
                   {"preset", preset()}, {"roots", roots},
                   {"objects", objects}, {"volume_snapshots", snapshots},
                   {"genesis", genesis}, {"notes", m_notes}};
    SNAP_TRY(out.add_json("backup.json", backup));
    SaveResult r;
    r.backup_id = id;
    r.kind = "full";
    r.server_version = m_server_version;
    r.source = {{"namespace", m_ns},
                {"resources", roots},
                {"objects", objects.size()},
                {"volume_snapshots", snapshots.size()}};
    r.subject = fmt::format(
        "{}: {}", m_ns, join_list(roots.get<std::vector<std::string>>(), " "));
    r.summary =
        fmt::format("{} in {}: {} objects, {} volume snapshots",
                    join_list(roots.get<std::vector<std::string>>(), ", "),
                    m_ns, objects.size(), snapshots.size());
    return r;
  }

  Expected<Fields> describe(ArchiveReader& in, bool verify) override {
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
      genesis.push_back(fmt::format("{} ({} bytes)", g.value("node", ""),
                                    g.value("bytes", 0)));
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

  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override {
    json b = SNAP_TRY(in.read_json(k_backup_entry));
    std::string ns = flag_value(m_ctx.flags, "namespace").empty()
                         ? b.value("namespace", "")
                         : m_ns;
    if (!kube::is_dns_label(ns)) {
      return fail(flag_value(m_ctx.flags, "namespace").empty()
                      ? ErrorKind::archive
                      : ErrorKind::usage,
                  fmt::format("fabric: '{}' cannot be a namespace (a DNS "
                              "label: lower-case letters, digits and '-'); "
                              "nothing was changed",
                              ns));
    }
    std::string policy = flag_value(m_ctx.flags, "conflict");
    if (policy.empty()) {
      policy = "fail";
    }
    if (policy != "fail" && policy != "skip" && policy != "replace") {
      return fail(
          ErrorKind::usage,
          fmt::format("--conflict {}: use fail, skip or replace", policy));
    }
    std::vector<Planned> plan = SNAP_TRY(plan_restore(in, b, ns));
    // What is already there decides each object's action, before anything
    // changes.
    std::vector<std::string> existing;
    for (auto& p : plan) {
      auto live = SNAP_TRY(m_kube->get_if(p.type, ns, p.name));
      if (!live) {
        p.action = "create";
        continue;
      }
      p.live_uid = str(meta(*live), "uid");
      bool same = fabric::comparable(*live, ns) == p.saved;
      if (is_crd(p.type)) {
        // Replacing a CRD would delete every object of its kind in the
        // cluster: an installed one is always left as it is.
        p.action = same ? "identical" : "skip";
      } else if (policy == "replace" && !same) {
        p.action = "replace";
      } else if (policy == "fail" && !same) {
        p.action = "conflict";
        existing.push_back(p.type.name() + "/" + p.name);
      } else {
        p.action = same ? "identical" : "skip";
      }
    }
    if (dry_run) {
      std::vector<std::string> steps;
      for (const auto& p : plan) {
        steps.push_back(describe_step(p, ns));
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
                              existing.size() == 1 ? "s" : "", ns,
                              existing.size() == 1 ? "s" : "",
                              join_list(existing, ", ")));
    }
    return apply_restore(plan, ns);
  }

  Expected<StatusResult> status(const std::string& id) override {
    StatusResult r;
    r.fields["server"] = m_server_version;
    r.fields["namespace"] = m_ns;
    auto served = snapshot_type();
    if (!served && id.empty() && served.error().kind == ErrorKind::not_found) {
      r.fields["volume_snapshots"] = "not served by this cluster";
      return r;
    }
    ResourceType vs = SNAP_TRY(std::move(served));
    std::string selector = id.empty()
                               ? std::string(k_backup_label)
                               : fmt::format("{}={}", k_backup_label, id);
    auto items = SNAP_TRY(m_kube->list(vs, m_ns, selector));
    Fields snaps = Fields::array();
    bool all_settled = true;
    int ready = 0;
    for (const auto& s : items) {
      json st = s.value("status", json::object());
      bool ok = st.is_object() && st.value("readyToUse", false);
      std::string err = st.is_object()
                            ? str(st.value("error", json::object()), "message")
                            : "";
      ready += ok ? 1 : 0;
      all_settled = all_settled && (ok || !err.empty());
      std::string pvc =
          str(s.value("spec", json::object()).value("source", json::object()),
              "persistentVolumeClaimName");
      snaps.push_back(fmt::format(
          "{}: {}{} (backup {}, pvc {})", str(meta(s), "name"),
          ok ? "ready" : "not ready", err.empty() ? "" : ": " + err,
          meta(s).value("labels", json::object()).value(k_backup_label, "?"),
          pvc.empty() ? "?" : pvc));
    }
    if (!id.empty() && items.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: no VolumeSnapshots of backup {} in "
                              "namespace {} (snap list fabric shows the "
                              "backups there)",
                              id, m_ns));
    }
    r.fields["volume_snapshots_ready"] =
        fmt::format("{} of {}", ready, items.size());
    r.fields["volume_snapshots"] = snaps;
    r.terminal = all_settled;
    if (ready < static_cast<int>(items.size())) {
      r.not_ready = fmt::format("fabric: {} of {} VolumeSnapshots are ready "
                                "to use",
                                ready, items.size());
    }
    return r;
  }

  Expected<Fields> list() override {
    ResourceType vs = SNAP_TRY(snapshot_type());
    auto items = SNAP_TRY(m_kube->list(vs, m_ns, std::string(k_backup_label)));
    std::map<std::string, std::pair<int, int>> by_id; // id -> ready, total
    for (const auto& s : items) {
      std::string id =
          meta(s).value("labels", json::object()).value(k_backup_label, "");
      json st = s.value("status", json::object());
      by_id[id].first += st.is_object() && st.value("readyToUse", false);
      by_id[id].second++;
    }
    Fields rows = Fields::array();
    for (const auto& [id, n] : by_id) {
      rows.push_back({{"id", id},
                      {"volume_snapshots", n.second},
                      {"ready", n.first == n.second}});
    }
    return rows;
  }

  Expected<Fields> remove(const std::string& id) override {
    ResourceType vs = SNAP_TRY(snapshot_type());
    ResourceType vsc = SNAP_TRY(
        m_kube->resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
    auto items = SNAP_TRY(
        m_kube->list(vs, m_ns, fmt::format("{}={}", k_backup_label, id)));
    if (items.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("fabric: no VolumeSnapshots of backup {} in "
                              "namespace {}",
                              id, m_ns));
    }
    Fields deleted = Fields::array();
    for (const auto& s : items) {
      // A Retain content would orphan the storage snapshot: make deleting
      // the VolumeSnapshot delete it too (Velero's CleanupVolumeSnapshot).
      std::string content = str(s.value("status", json::object()),
                                "boundVolumeSnapshotContentName");
      if (!content.empty()) {
        SNAP_TRY(m_kube->merge_patch(
            vsc, "", content, {{"spec", {{"deletionPolicy", "Delete"}}}}));
      }
      std::string name = str(meta(s), "name");
      SNAP_TRY(m_kube->remove(vs, m_ns, name, kube::Propagation::background));
      deleted.push_back(name);
    }
    return Fields{{"deleted", id}, {"volume_snapshots", deleted}};
  }

  // A save leaves the VolumeSnapshots it took, labelled with its id.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    const json& n = m.source.value("volume_snapshots", json(0));
    if (!n.is_number_unsigned() || n.get<std::uint64_t>() == 0) {
      return std::nullopt;
    }
    return fmt::format("{} VolumeSnapshots {}={} in namespace {}",
                       n.get<std::uint64_t>(), k_backup_label, m.backup_id,
                       m.source.value("namespace", ""));
  }

  Expected<Fields> remove_target_backup(const Manifest& m) override {
    std::string ns = m.source.value("namespace", "");
    if (ns != m_ns) {
      return fail(ErrorKind::config,
                  fmt::format("fabric: the archive's VolumeSnapshots are in "
                              "namespace {}, not {} (give --namespace {})",
                              ns, m_ns, ns));
    }
    return remove(m.backup_id);
  }

private:
  // One object a restore handles.
  struct Planned {
    ResourceType type;
    std::string name;
    std::string old_uid;
    json saved;  // stripped, to compare with what lives
    json object; // ready to create (a PVC then names its snapshot)
    json owner_refs = json::array(); // as saved
    int rank = 0;
    std::string action; // create, replace, skip, identical, conflict
    std::string live_uid;
    json snapshot; // the PVC's volume snapshot record, or null
  };

  // "20261121t101500z-3f9a": the time, and four hex digits so two saves
  // in one second never share VolumeSnapshot names. Lower case, as
  // Kubernetes names must be.
  static std::string backup_id() {
    std::random_device rd;
    return fmt::format("{}-{:04x}",
                       to_lower(rfc3339_to_compact(utc_now_rfc3339())),
                       rd() & 0xffff);
  }

  std::string preset() const {
    std::string p = flag_value(m_ctx.flags, "preset");
    return p.empty() ? "fabric-operator" : p;
  }

  // The API groups of the preset's kinds: a bare name that two groups
  // serve means the preset's.
  std::vector<std::string> preset_groups() const {
    std::vector<std::string> out;
    for (const auto& k : fabric::preset_kinds(preset())) {
      out.push_back(k.group);
    }
    return out;
  }

  bool is_fabric(const ResourceType& t) const {
    for (const auto& k : fabric::preset_kinds(preset())) {
      if (k.plural == t.plural && k.group == t.group) {
        return true;
      }
    }
    return false;
  }

  bool is_orderer(const ResourceType& t) const {
    for (const auto& k : fabric::preset_kinds(preset())) {
      if (k.plural == t.plural && k.group == t.group && k.role == "orderer") {
        return true;
      }
    }
    return false;
  }

  std::string target_url() const override {
    return m_http ? redact_url(m_http->config().base_url) : std::string();
  }

  // Builds the API client from the kubeconfig, with snap's connection flags
  // taking precedence (kubectl's --server, --token, --certificate-authority).
  Expected<void> open() override {
    if (fabric::preset_kinds(preset()).empty()) {
      return fail(
          ErrorKind::usage,
          fmt::format("--preset {}: use fabric-operator or catalyx", preset()));
    }
    HttpConfig cfg = m_ctx.http.config();
    bool addr_given = !cfg.base_url.empty();
    auto target =
        kube::load_target(flag_value(m_ctx.flags, "kubeconfig"),
                          flag_value(m_ctx.flags, "context"), process_env());
    if (!target && !(addr_given && target.error().kind == ErrorKind::config &&
                     flag_value(m_ctx.flags, "kubeconfig").empty())) {
      return tl::unexpected(target.error());
    }
    kube::Target t = target ? *target : kube::Target{};
    if (!addr_given) {
      cfg.base_url = t.server;
    }
    if (cfg.tls.ca_file.empty()) {
      cfg.tls.ca_pem = t.tls.ca_pem;
    }
    if (cfg.tls.cert_file.empty()) {
      cfg.tls.cert_pem = t.tls.cert_pem;
      cfg.tls.key_pem = t.tls.key_pem;
    }
    cfg.tls.insecure = cfg.tls.insecure || t.tls.insecure;
    bool has_token = false;
    for (const auto& [k, v] : cfg.headers) {
      has_token = has_token || k == "Authorization";
    }
    if (!has_token && !t.token.empty()) {
      cfg.headers.emplace_back("Authorization", "Bearer " + t.token);
    }
    if (cfg.basic_user.empty() && !t.user.empty()) {
      cfg.basic_user = t.user;
      cfg.basic_password = t.password;
    }
    m_ns = flag_value(m_ctx.flags, "namespace");
    if (m_ns.empty()) {
      m_ns = t.namespace_name.empty() ? "default" : t.namespace_name;
    }
    m_http = std::make_unique<HttpClient>(std::move(cfg));
    m_kube = std::make_unique<kube::Client>(*m_http, m_ctx.reporter);
    std::string body;
    Request req{.path = "/version"};
    Response resp = SNAP_TRY(m_http->send_small(req, body));
    if (!resp.ok()) {
      resp.error_body = kube::status_text(resp.error_body);
      std::string hint =
          resp.status == 401
              ? "the server did not accept the credentials: check the "
                "token or client certificate"
              : "";
      return tl::unexpected(m_http->status_error(req, resp, hint));
    }
    auto v = parse_untrusted_json(body);
    m_server_version = v.is_object() ? str(v, "gitVersion") : "";
    return {};
  }

  Expected<ResourceType> snapshot_type() {
    auto t =
        m_kube->resolve_if_served("volumesnapshots", "snapshot.storage.k8s.io");
    if (t && !*t) {
      return fail(ErrorKind::not_found,
                  "fabric: the cluster serves no VolumeSnapshots "
                  "(snapshot.storage.k8s.io/v1): install the CSI "
                  "external-snapshotter CRDs and controller, or save with "
                  "--no-volume-snapshots");
    }
    if (!t) {
      return tl::unexpected(t.error());
    }
    return **t;
  }

  bool have(const std::string& uid) const { return m_uids.contains(uid); }

  void add(ResourceType type, json object, std::string role) {
    Item item{std::move(type), std::move(object), std::move(role)};
    m_uids.insert(item.uid());
    m_items.push_back(std::move(item));
  }

  // The named resources (or every CR of the preset), orderer nodes of a
  // parent, and parents by ownerReference or fabric-operator's `parent`
  // label.
  Expected<void> collect_roots() {
    std::vector<std::string> names = split_list(join_list(m_ctx.operands));
    bool all = !flag_value(m_ctx.flags, "all-in-namespace").empty();
    if (names.empty() && !all) {
      return fail(ErrorKind::usage,
                  "name the resources to save (ibppeers.ibp.com/peer1 …) or "
                  "pass --all-in-namespace");
    }
    if (all) {
      for (const auto& k : fabric::preset_kinds(preset())) {
        auto type = SNAP_TRY(m_kube->resolve_if_served(k.plural, k.group));
        if (!type) {
          continue;
        }
        for (auto& o : SNAP_TRY(m_kube->list(*type, m_ns))) {
          names.push_back(type->name() + "/" + str(meta(o), "name"));
        }
      }
      if (names.empty()) {
        return fail(ErrorKind::not_found,
                    fmt::format("fabric: namespace {} holds no resources of "
                                "preset {}",
                                m_ns, preset()));
      }
    }
    for (const auto& text : names) {
      kube::ResourceId rid = SNAP_TRY(kube::parse_resource_id(text));
      ResourceType type = SNAP_TRY(m_kube->resolve_name(rid, preset_groups()));
      auto obj = SNAP_TRY(m_kube->get_if(type, m_ns, rid.name));
      if (!obj) {
        return fail(ErrorKind::not_found,
                    fmt::format("fabric: {}/{} is not in namespace {}",
                                type.name(), rid.name, m_ns));
      }
      if (meta(*obj).contains("deletionTimestamp")) {
        return fail(ErrorKind::conflict,
                    fmt::format("fabric: {}/{} is being deleted; there is "
                                "nothing stable to save",
                                type.name(), rid.name));
      }
      if (!have(str(meta(*obj), "uid"))) {
        add(type, *obj, "root");
      }
    }
    // Orderers: a parent's nodes belong with it; a node's parent is named
    // by its label (fabric-operator sets no ownerReference there).
    for (std::size_t i = 0; i < m_items.size(); ++i) {
      Item item = m_items[i];
      if (!is_orderer(item.type)) {
        continue;
      }
      json labels = meta(item.object).value("labels", json::object());
      std::string parent = labels.is_object() ? str(labels, "parent") : "";
      if (!parent.empty()) {
        auto p = SNAP_TRY(m_kube->get_if(item.type, m_ns, parent));
        if (p && !have(str(meta(*p), "uid"))) {
          add(item.type, *p, "parent");
        }
      } else if (item.role == "root") {
        for (auto& node :
             SNAP_TRY(m_kube->list(item.type, m_ns, "parent=" + item.name()))) {
          if (!have(str(meta(node), "uid"))) {
            add(item.type, node, "node");
          }
        }
      }
    }
    // Owners upward, transitively.
    for (std::size_t i = 0; i < m_items.size(); ++i) {
      json refs =
          meta(m_items[i].object).value("ownerReferences", json::array());
      for (const auto& ref : refs) {
        if (have(str(ref, "uid"))) {
          continue;
        }
        ResourceType t =
            SNAP_TRY(m_kube->type_of(str(ref, "apiVersion"), str(ref, "kind")));
        auto owner = SNAP_TRY(m_kube->get_if(t, m_ns, str(ref, "name")));
        if (owner && str(meta(*owner), "uid") == str(ref, "uid")) {
          add(t, *owner, "parent");
        }
      }
    }
    return {};
  }

  // Lists each kind the operators make once, cached.
  Expected<const std::vector<json>*> listed(const ResourceType& t) {
    auto it = m_lists.find(t.name());
    if (it == m_lists.end()) {
      auto items = SNAP_TRY(m_kube->list(t, m_ns));
      it = m_lists.emplace(t.name(), std::move(items)).first;
    }
    return &it->second;
  }

  Expected<std::vector<ResourceType>> owned_kinds() {
    static const std::pair<const char*, const char*> kinds[] = {
        {"secrets", ""},
        {"configmaps", ""},
        {"persistentvolumeclaims", ""},
        {"services", ""},
        {"serviceaccounts", ""},
        {"deployments", "apps"},
        {"statefulsets", "apps"},
        {"roles", "rbac.authorization.k8s.io"},
        {"rolebindings", "rbac.authorization.k8s.io"},
        {"ingresses", "networking.k8s.io"},
        {"routes", "route.openshift.io"}};
    std::vector<ResourceType> out;
    for (const auto& [plural, group] : kinds) {
      if (auto t = SNAP_TRY(m_kube->resolve_if_served(plural, group))) {
        out.push_back(*t);
      }
    }
    for (const auto& k : fabric::preset_kinds(preset())) {
      if (auto t = SNAP_TRY(m_kube->resolve_if_served(k.plural, k.group))) {
        out.push_back(*t);
      }
    }
    return out;
  }

  // Everything whose ownerReferences reach a collected object, until no
  // more is found. Pods, ReplicaSets and EndpointSlices are left to their
  // controllers.
  Expected<void> collect_owned() {
    std::vector<ResourceType> kinds = SNAP_TRY(owned_kinds());
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& t : kinds) {
        for (const auto& o : *SNAP_TRY(listed(t))) {
          if (have(str(meta(o), "uid"))) {
            continue;
          }
          for (const auto& ref :
               meta(o).value("ownerReferences", json::array())) {
            if (have(str(ref, "uid"))) {
              add(t, o, "owned");
              grew = true;
              break;
            }
          }
        }
      }
    }
    return {};
  }

  // Secrets, configmaps and PVCs the collected workloads and CRs name but
  // do not own (a user-made MSP secret, a registry secret).
  // The CustomResourceDefinitions of the Fabric kinds saved, so a restore
  // into a fresh cluster can serve them. Without RBAC to read them the
  // save goes on, and says so.
  Expected<void> collect_crds() {
    std::set<std::string> kinds;
    for (const auto& item : m_items) {
      if (is_fabric(item.type)) {
        kinds.insert(item.type.name());
      }
    }
    if (kinds.empty()) {
      return {};
    }
    ResourceType crd = SNAP_TRY(
        m_kube->resolve("customresourcedefinitions", "apiextensions.k8s.io"));
    for (const auto& name : kinds) {
      auto got = m_kube->get(crd, "", name);
      if (!got) {
        if (got.error().kind == ErrorKind::auth ||
            got.error().kind == ErrorKind::not_found) {
          note(fmt::format("the CRD {} was not saved ({}); a restore needs it "
                           "installed already",
                           name, got.error().message));
          continue;
        }
        return tl::unexpected(got.error());
      }
      add(crd, std::move(*got), "crd");
    }
    return {};
  }

  Expected<void> collect_referenced() {
    for (std::size_t i = 0; i < m_items.size(); ++i) {
      const Item item = m_items[i];
      for (const auto& ref : fabric::references_of(item.object)) {
        ResourceType t = SNAP_TRY(m_kube->resolve(ref.resource, ""));
        const json* found = nullptr;
        for (const auto& o : *SNAP_TRY(listed(t))) {
          if (str(meta(o), "name") == ref.name) {
            found = &o;
          }
        }
        if (found == nullptr) {
          note(fmt::format("{} refers to {}/{}, which does not exist",
                           item.id(), ref.resource, ref.name));
        } else if (!have(str(meta(*found), "uid"))) {
          add(t, *found, "referenced");
        }
      }
    }
    return {};
  }

  void note(std::string text) {
    m_ctx.reporter.note("fabric: " + text);
    m_notes.push_back(std::move(text));
  }

  // An operator's resource normally owns its workloads, PVCs and secrets;
  // one that owns nothing is saved as its manifest alone, which the
  // operator must hear about (objects an orphaning delete left behind, or a
  // resource its operator has not reconciled yet).
  void warn_unowned() {
    for (const auto& root : m_items) {
      if (root.role != "root" || !is_fabric(root.type)) {
        continue;
      }
      bool owns = false;
      for (const auto& item : m_items) {
        for (const auto& ref :
             meta(item.object).value("ownerReferences", json::array())) {
          owns = owns || str(ref, "uid") == root.uid();
        }
      }
      if (!owns) {
        std::string text = fmt::format(
            "{} owns no objects in {}: no Deployment, PVC, Secret or "
            "ConfigMap has an ownerReference to it, so its volumes are not "
            "snapshotted; the archive holds its manifest and what it names "
            "(its operator has not reconciled it, or a delete orphaned what "
            "it owned)",
            root.id(), m_ns);
        m_ctx.reporter.warn("fabric: " + text);
        m_notes.push_back(std::move(text));
      }
    }
  }

  // The owner a PVC belongs to (for its role), or null.
  json owner_of(const Item& pvc) const {
    for (const auto& ref :
         meta(pvc.object).value("ownerReferences", json::array())) {
      for (const auto& item : m_items) {
        if (item.uid() == str(ref, "uid")) {
          return item.object;
        }
      }
    }
    return json::object();
  }

  // The VolumeSnapshotClass for `driver`: --volume-snapshot-class, else the
  // driver's default class, else its only class (Velero's choice).
  Expected<std::string> snapshot_class(const std::string& driver) {
    std::string given = flag_value(m_ctx.flags, "volume-snapshot-class");
    if (!given.empty()) {
      return given;
    }
    ResourceType t = SNAP_TRY(
        m_kube->resolve("volumesnapshotclasses", "snapshot.storage.k8s.io"));
    std::vector<std::string> matching;
    for (const auto& c : SNAP_TRY(m_kube->list(t, ""))) {
      if (str(c, "driver") != driver) {
        continue;
      }
      json ann = meta(c).value("annotations", json::object());
      if (ann.is_object() &&
          str(ann, "snapshot.storage.kubernetes.io/is-default-class") ==
              "true") {
        return str(meta(c), "name");
      }
      matching.push_back(str(meta(c), "name"));
    }
    if (matching.size() == 1) {
      return matching[0];
    }
    return fail(ErrorKind::config,
                fmt::format("fabric: {} VolumeSnapshotClasses use driver {} "
                            "and none is the default; pass "
                            "--volume-snapshot-class NAME",
                            matching.empty() ? "no" : "several", driver));
  }

  // A workload scaled down for the snapshots, and its replicas before.
  struct Scaled {
    ResourceType type;
    std::string name;
    int replicas = 0;
  };

  // Scales every collected Deployment and StatefulSet that runs to 0 and
  // waits until none of their pods is left, so the volumes are snapshotted
  // at rest. What was scaled is in `scaled` even when this fails.
  Expected<void> scale_down(std::vector<Scaled>& scaled) {
    double timeout_s = seconds_flag(m_ctx.flags, "snapshot-timeout",
                                    k_default_snapshot_timeout_s);
    for (const auto& item : m_items) {
      bool workload =
          item.type.group == "apps" && (item.type.plural == "deployments" ||
                                        item.type.plural == "statefulsets");
      json spec = item.object.value("spec", json::object());
      int replicas = spec.is_object() ? spec.value("replicas", 1) : 0;
      if (!workload || replicas == 0) {
        continue;
      }
      SNAP_TRY(m_kube->merge_patch(item.type, m_ns, item.name(),
                                   {{"spec", {{"replicas", 0}}}}));
      scaled.push_back({item.type, item.name(), replicas});
      note(fmt::format("scaled {} down from {} replicas", item.id(), replicas));
    }
    for (const auto& s : scaled) {
      m_ctx.reporter.progress(
          fmt::format("waiting for {}/{} to stop", s.type.name(), s.name), 0,
          0);
      SNAP_TRY(poll_until(
          timeout_s,
          [&]() -> Expected<bool> {
            json o = SNAP_TRY(m_kube->get(s.type, m_ns, s.name));
            json st = o.value("status", json::object());
            return !st.is_object() || st.value("replicas", 0) == 0;
          },
          [&] {
            return fmt::format("fabric: {}/{} still has pods after {:.0f} s "
                               "(does its operator scale it back up?); it was "
                               "scaled back",
                               s.type.name(), s.name, timeout_s);
          },
          250, 5000));
    }
    return {};
  }

  // Gives every scaled workload its replicas back; sent even after SIGINT.
  Expected<void> scale_back(const std::vector<Scaled>& scaled) {
    std::optional<Error> first;
    for (const auto& s : scaled) {
      auto r = m_kube->merge_patch(
          s.type, m_ns, s.name, {{"spec", {{"replicas", s.replicas}}}}, true);
      if (!r && !first) {
        first = Error{r.error().kind,
                      fmt::format("fabric: could not scale {}/{} back to {} "
                                  "replicas: {} (do it by hand: kubectl scale "
                                  "--replicas={})",
                                  s.type.name(), s.name, s.replicas,
                                  r.error().message, s.replicas)};
      }
    }
    if (first) {
      return tl::unexpected(*first);
    }
    return {};
  }

  // Takes a VolumeSnapshot of every collected PVC on a CSI volume, state
  // DBs first, each cut before the next starts; waits for all to be
  // readyToUse. On any failure the snapshots taken are deleted.
  Expected<json> snapshot_volumes(const std::string& id) {
    std::vector<std::pair<std::string, const Item*>> pvcs;
    for (const auto& item : m_items) {
      if (item.type.plural == "persistentvolumeclaims" &&
          item.type.group.empty()) {
        pvcs.emplace_back(fabric::pvc_role(item.name(), owner_of(item)), &item);
      }
    }
    std::stable_sort(pvcs.begin(), pvcs.end(),
                     [](const auto& a, const auto& b) {
                       return a.first == "statedb" && b.first != "statedb";
                     });
    if (pvcs.empty()) {
      return json::array();
    }
    ResourceType vs = SNAP_TRY(snapshot_type());
    ResourceType pv = SNAP_TRY(m_kube->resolve("persistentvolumes", ""));
    std::vector<TakenSnapshot> taken;
    auto result = take_all(id, pvcs, vs, pv, taken);
    if (!result) {
      for (const auto& s : taken) {
        (void)m_kube->remove(vs, m_ns, s.name, kube::Propagation::background,
                             true);
      }
      return tl::unexpected(result.error());
    }
    return result;
  }

  Expected<json>
  take_all(const std::string& id,
           const std::vector<std::pair<std::string, const Item*>>& pvcs,
           const ResourceType& vs, const ResourceType& pv,
           std::vector<TakenSnapshot>& taken) {
    double timeout_s = seconds_flag(m_ctx.flags, "snapshot-timeout",
                                    k_default_snapshot_timeout_s);
    for (const auto& [role, item] : pvcs) {
      json spec = item->object.value("spec", json::object());
      std::string volume = str(spec, "volumeName");
      if (volume.empty()) {
        note(fmt::format("pvc {} is not bound to a volume; only its manifest "
                         "is saved",
                         item->name()));
        continue;
      }
      auto volume_obj = SNAP_TRY(m_kube->get_if(pv, "", volume));
      json csi = volume_obj ? volume_obj->value("spec", json::object())
                                  .value("csi", json::object())
                            : json::object();
      std::string driver = str(csi, "driver");
      if (driver.empty()) {
        note(fmt::format("pvc {} is not on a CSI volume, so it cannot be "
                         "snapshotted; only its manifest is saved",
                         item->name()));
        continue;
      }
      TakenSnapshot s{item->name(), role,
                      fabric::snapshot_name(item->name(), id),
                      SNAP_TRY(snapshot_class(driver)), driver};
      json body = {
          {"apiVersion", vs.api_version()},
          {"kind", "VolumeSnapshot"},
          {"metadata",
           {{"name", s.name},
            {"namespace", m_ns},
            {"labels",
             {{std::string(k_backup_label), id}, {"snap/pvc", s.pvc}}}}},
          {"spec",
           {{"volumeSnapshotClassName", s.klass},
            {"source", {{"persistentVolumeClaimName", s.pvc}}}}}};
      SNAP_TRY(m_kube->create(vs, m_ns, body));
      taken.push_back(s);
      m_ctx.reporter.progress(
          fmt::format("volume snapshot {} of pvc {} ({})", s.name, s.pvc, role),
          0, 0);
      // The next volume's snapshot must be cut after this one.
      SNAP_TRY(wait_snapshot(vs, s, timeout_s, false));
    }
    json out = json::array();
    ResourceType vsc = SNAP_TRY(
        m_kube->resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
    for (const auto& s : taken) {
      json status = SNAP_TRY(wait_snapshot(vs, s, timeout_s, true));
      std::string content = str(status, "boundVolumeSnapshotContentName");
      json c = SNAP_TRY(m_kube->get(vsc, "", content));
      json cstatus = c.value("status", json::object());
      json restore_size = status.value("restoreSize", json());
      out.push_back(
          {{"name", s.name},
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
  Expected<json> wait_snapshot(const ResourceType& vs, const TakenSnapshot& s,
                               double timeout_s, bool ready) {
    json status;
    std::string last_error;
    SNAP_TRY(poll_until(
        timeout_s,
        [&]() -> Expected<bool> {
          json o = SNAP_TRY(m_kube->get(vs, m_ns, s.name));
          status = o.value("status", json::object());
          if (!status.is_object()) {
            status = json::object();
          }
          std::string err =
              str(status.value("error", json::object()), "message");
          if (!err.empty() && err != last_error) {
            note(fmt::format("volume snapshot {}: {}", s.name, err));
            last_error = err;
          }
          return ready ? status.value("readyToUse", false)
                       : !str(status, "creationTime").empty() ||
                             status.value("readyToUse", false);
        },
        [&] {
          return fmt::format(
              "fabric: VolumeSnapshot {} of pvc {} is not {} after {:.0f} s{}; "
              "the snapshots of this run were deleted (check the CSI driver "
              "with kubectl describe volumesnapshot, or raise "
              "--snapshot-timeout)",
              s.name, s.pvc, ready ? "readyToUse" : "taken", timeout_s,
              last_error.empty() ? "" : " (last error: " + last_error + ")");
        },
        250, 5000));
    return status;
  }

  // Writes the genesis block of every orderer node saved, from its
  // <node>-genesis secret (key orderer.block).
  Expected<json> write_genesis(ArchiveWriter& out) {
    json genesis = json::array();
    for (const auto& node : m_items) {
      if (!is_orderer(node.type)) {
        continue;
      }
      bool parent = !meta(node.object)
                         .value("labels", json::object())
                         .contains("parent") &&
                    node.role != "node" && has_nodes(node);
      if (parent) {
        continue;
      }
      std::string secret = node.name() + "-genesis";
      const Item* found = nullptr;
      for (const auto& item : m_items) {
        if (item.type.name() == "secrets" && item.name() == secret) {
          found = &item;
        }
      }
      json spec = node.object.value("spec", json::object());
      if (found == nullptr) {
        if (!(spec.is_object() && spec.value("useChannelLess", false))) {
          note(fmt::format("orderer {} has no secret {}; no genesis block "
                           "saved",
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

  bool has_nodes(const Item& parent) const {
    for (const auto& item : m_items) {
      json labels = meta(item.object).value("labels", json::object());
      if (item.type.name() == parent.type.name() && labels.is_object() &&
          str(labels, "parent") == parent.name()) {
        return true;
      }
    }
    return false;
  }

  // Restore ---------------------------------------------------------------

  Expected<std::vector<Planned>> plan_restore(ArchiveReader& in, const json& b,
                                              const std::string& ns) {
    std::vector<std::string> wanted = split_list(join_list(m_ctx.operands));
    std::set<std::string> matched;
    std::map<std::string, json> snapshot_of; // pvc -> record
    for (const auto& s : b.value("volume_snapshots", json::array())) {
      snapshot_of[s.value("pvc", "")] = s;
    }
    const json objects = b.value("objects", json::array());
    if (!objects.is_array()) {
      return fail(ErrorKind::archive,
                  "fabric: backup.json has no list of objects");
    }
    // Kinds the archive's CRDs define, for objects whose kind the cluster
    // does not serve yet.
    std::vector<ResourceType> archived_kinds;
    for (const auto& o : objects) {
      if (str(o, "resource") ==
          "customresourcedefinitions.apiextensions.k8s.io") {
        json crd = SNAP_TRY(in.read_json(str(o, "file")));
        for (auto& t : kube::types_of_crd(crd)) {
          archived_kinds.push_back(std::move(t));
        }
      }
    }
    bool allow_cluster =
        !flag_value(m_ctx.flags, "allow-cluster-scoped").empty();
    std::vector<Planned> plan;
    for (const auto& o : objects) {
      if (!wanted.empty()) {
        auto w = std::find_if(
            wanted.begin(), wanted.end(),
            [&](const std::string& text) { return names_record(text, o); });
        if (w == wanted.end()) {
          continue;
        }
        matched.insert(*w);
      }
      std::string id = str(o, "resource") + "/" + str(o, "name");
      json obj = SNAP_TRY(in.read_json(str(o, "file")));
      if (fabric::server_generated(obj)) {
        continue;
      }
      ResourceType t = SNAP_TRY(resolve_saved(o, obj, archived_kinds));
      if (!t.namespaced && !is_crd(t) && !allow_cluster) {
        return fail(ErrorKind::archive,
                    fmt::format("fabric: the archive holds {}, which is "
                                "cluster-scoped; a restore creates only CRDs "
                                "outside the namespace unless "
                                "--allow-cluster-scoped is given; nothing was "
                                "changed",
                                id));
      }
      Planned p{t, str(o, "name"), str(o, "uid")};
      p.owner_refs = meta(obj).value("ownerReferences", json::array());
      p.object = fabric::strip_for_create(obj, ns);
      p.saved = fabric::comparable(obj, ns);
      json fabric_flag = o.value("fabric", json());
      bool fabric_kind = fabric_flag.is_boolean() && fabric_flag.get<bool>();
      p.rank = fabric::restore_rank(t.name(), fabric_kind);
      // Orderer nodes before their parent, which would otherwise make
      // them anew.
      if (fabric_kind &&
          !meta(obj).value("labels", json::object()).contains("parent")) {
        p.rank += 1;
      }
      if (t.name() == "persistentvolumeclaims" &&
          snapshot_of.contains(p.name)) {
        p.snapshot = snapshot_of[p.name];
        if (!kube::is_dns_subdomain(str(p.snapshot, "name"))) {
          return fail(ErrorKind::archive,
                      fmt::format("fabric: the volume snapshot of pvc {} is "
                                  "named '{}', which no VolumeSnapshot can be; "
                                  "nothing was changed",
                                  p.name, str(p.snapshot, "name")));
        }
        p.object["spec"]["dataSource"] = {
            {"apiGroup", "snapshot.storage.k8s.io"},
            {"kind", "VolumeSnapshot"},
            {"name", p.snapshot.value("name", "")}};
        p.object["spec"].erase("dataSourceRef");
      }
      plan.push_back(std::move(p));
    }
    for (const auto& w : wanted) {
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

  // True when `text`, a resource as kubectl names it (configmaps/x,
  // cm/x, ibppeer/p1, IBPPeer.ibp.com/p1), is archived object `o`, by
  // the plural, kind and group the archive records (a short name only
  // through the cluster's discovery, when it serves the kind).
  bool names_record(const std::string& text, const json& o) {
    auto rid = kube::parse_resource_id(text);
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
    auto served = m_kube->resolve_name(*rid, preset_groups());
    return served && served->plural == str(o, "plural") &&
           served->group == group;
  }

  // The type an archived object is restored as: the one the server's
  // discovery names for its apiVersion and kind, or one a CRD in the
  // archive defines, and only when that agrees with what the backup list
  // says; the request path is built from that type, never from the
  // archive's words. Errors: `archive` (nothing was changed), any kind
  // discovery returns.
  Expected<ResourceType>
  resolve_saved(const json& o, const json& obj,
                const std::vector<ResourceType>& archived_kinds) {
    std::string file = str(o, "file");
    auto refuse = [&](std::string why) {
      return fail(ErrorKind::archive,
                  fmt::format("fabric: {}: {}; nothing was changed (the "
                              "archive was altered, or is not one snap "
                              "wrote)",
                              file, why));
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
    if (!kube::is_path_segment_name(name)) {
      return refuse(
          fmt::format("'{}' cannot be the name of a Kubernetes object", name));
    }
    auto served = m_kube->type_of(av, kind);
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
          namespaced.is_boolean() && !namespaced.get<bool>()
              ? " (cluster-scoped)"
              : "",
          kind, t->plural, t->namespaced ? "" : " (cluster-scoped)"));
    }
    return *t;
  }

  static std::string describe_step(const Planned& p, const std::string& ns) {
    std::string id = p.type.name() + "/" + p.name;
    std::string from;
    if (!p.snapshot.is_null()) {
      from = " from volume snapshot " + p.snapshot.value("name", "");
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
    if (p.action == "conflict") {
      return fmt::format("{} exists and differs: the restore fails "
                         "(--conflict fail)",
                         id);
    }
    return fmt::format("skip {} ({})", id,
                       p.action == "identical" ? "exists, identical"
                                               : "exists, --conflict skip");
  }

  // Waits for the VolumeSnapshot a PVC will be made from, importing it
  // from its storage snapshot handle when it is gone.
  Expected<void> ensure_snapshot(const json& rec, const std::string& ns,
                                 double timeout_s) {
    ResourceType vs = SNAP_TRY(snapshot_type());
    std::string name = rec.value("name", "");
    auto live = SNAP_TRY(m_kube->get_if(vs, ns, name));
    if (!live) {
      std::string handle = rec.value("snapshot_handle", "");
      if (handle.empty()) {
        return fail(ErrorKind::not_found,
                    fmt::format("VolumeSnapshot {} is gone and the archive "
                                "has no snapshot handle to import it from",
                                name));
      }
      ResourceType vsc = SNAP_TRY(
          m_kube->resolve("volumesnapshotcontents", "snapshot.storage.k8s.io"));
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
      SNAP_TRY(m_kube->create(vsc, "", c));
      json s = {
          {"apiVersion", vs.api_version()},
          {"kind", "VolumeSnapshot"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"source", {{"volumeSnapshotContentName", content}}}}}};
      SNAP_TRY(m_kube->create(vs, ns, s));
      note(fmt::format("imported VolumeSnapshot {} from snapshot handle {}",
                       name, handle));
    }
    std::string saved_ns = m_ns;
    m_ns = ns;
    auto waited =
        wait_snapshot(vs, TakenSnapshot{rec.value("pvc", ""), "", name, "", ""},
                      timeout_s, true);
    m_ns = saved_ns;
    if (!waited) {
      return tl::unexpected(waited.error());
    }
    return {};
  }

  Expected<void> ensure_namespace(const std::string& ns) {
    ResourceType t = SNAP_TRY(m_kube->resolve("namespaces", ""));
    if (SNAP_TRY(m_kube->get_if(t, "", ns))) {
      return {};
    }
    json body = {{"apiVersion", "v1"},
                 {"kind", "Namespace"},
                 {"metadata", {{"name", ns}}}};
    SNAP_TRY(m_kube->create(t, "", body));
    note(fmt::format("created namespace {}", ns));
    return {};
  }

  static bool fatal(const Error& e) {
    return e.kind == ErrorKind::auth || e.kind == ErrorKind::connect ||
           e.kind == ErrorKind::interrupted;
  }

  Expected<RestoreReport> apply_restore(std::vector<Planned>& plan,
                                        const std::string& ns) {
    SNAP_TRY(ensure_namespace(ns));
    double timeout_s = seconds_flag(m_ctx.flags, "snapshot-timeout",
                                    k_default_snapshot_timeout_s);
    std::map<std::string, std::string> new_uid; // saved uid -> live uid
    std::set<std::string> renewed; // saved uids of objects made in this run
    std::vector<std::string> report;
    std::vector<std::string> failed;
    std::size_t n = 0;
    for (auto& p : plan) {
      ++n;
      std::string id = p.type.name() + "/" + p.name;
      m_ctx.reporter.progress(
          fmt::format("restoring {} ({} of {})", id, n, plan.size()), 0, 0);
      if (p.action == "skip" || p.action == "identical") {
        new_uid[p.old_uid] = p.live_uid;
        report.push_back(describe_step(p, ns));
        continue;
      }
      std::vector<std::string> unlinked;
      auto done = restore_one(p, ns, timeout_s, unlinked);
      for (const auto& u : unlinked) {
        failed.push_back(u.substr(0, u.find(':')));
        report.push_back("failed to re-link the owner of " + u);
      }
      if (!done) {
        if (fatal(done.error())) {
          return tl::unexpected(done.error());
        }
        failed.push_back(id);
        report.push_back(
            fmt::format("failed {}: {}", id, done.error().message));
        continue;
      }
      new_uid[p.old_uid] = *done;
      renewed.insert(p.old_uid);
      report.push_back(fmt::format(
          "{} {}{}", p.action == "replace" ? "replaced" : "created", id,
          p.snapshot.is_null()
              ? ""
              : " from volume snapshot " + p.snapshot.value("name", "")));
    }
    // Owner references point at the owners' new uids, so deleting an
    // owner later garbage-collects as it did before.
    // An object left in place is re-linked too when its owner was made
    // anew (a replaced CR orphans what it owned).
    for (const auto& p : plan) {
      if (p.owner_refs.empty() || !new_uid.contains(p.old_uid)) {
        continue;
      }
      bool kept = p.action == "skip" || p.action == "identical";
      bool owner_renewed = false;
      json refs = json::array();
      for (auto ref : p.owner_refs) {
        auto it = new_uid.find(str(ref, "uid"));
        if (it != new_uid.end() && !it->second.empty()) {
          owner_renewed = owner_renewed || renewed.contains(it->first);
          ref["uid"] = it->second;
          refs.push_back(ref);
        } else if (!kept) {
          // An owner outside what was restored: the live one of that
          // name, if there is one.
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
      auto patched = m_kube->merge_patch(
          p.type, ns, p.name, {{"metadata", {{"ownerReferences", refs}}}});
      if (!patched) {
        if (fatal(patched.error())) {
          return tl::unexpected(patched.error());
        }
        std::string id = p.type.name() + "/" + p.name;
        failed.push_back(id);
        report.push_back(fmt::format("failed to re-link the owners of {}: {}",
                                     id, patched.error().message));
      }
    }
    RestoreReport out{.done = std::move(report),
                      .details = {{"namespace", ns}}};
    if (!failed.empty()) {
      out.verdict = Error{
          ErrorKind::partial,
          fmt::format(
              "fabric: {} of {} objects were not restored: {} (the others "
              "were; see the report above)",
              failed.size(), plan.size(), join_list(failed, ", "))};
    }
    return out;
  }

  // The uid of the live object an owner reference names (by kind and
  // name), or "" when there is none.
  Expected<std::string> live_owner_uid(const json& ref, const std::string& ns) {
    auto type = m_kube->type_of(str(ref, "apiVersion"), str(ref, "kind"));
    if (!type) {
      return std::string();
    }
    auto live = SNAP_TRY(m_kube->get_if(*type, ns, str(ref, "name")));
    return live ? str(meta(*live), "uid") : std::string();
  }

  // Creates one object (after deleting the live one for replace); returns
  // its new uid.
  // An object that pointed to a replaced one: the owner reference it had,
  // which deleting with orphaning strips.
  struct Dependent {
    ResourceType type;
    std::string name;
    json ref;
  };

  // Everything in `ns` (of the kinds an owner can own) whose owner
  // references name `uid`, in the restore set or not.
  Expected<std::vector<Dependent>> dependents_of(const std::string& uid,
                                                 const std::string& ns) {
    std::vector<Dependent> out;
    for (const auto& t : SNAP_TRY(owned_kinds())) {
      for (const auto& o : SNAP_TRY(m_kube->list(t, ns))) {
        for (const auto& ref :
             meta(o).value("ownerReferences", json::array())) {
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
  std::vector<std::string> relink(const std::vector<Dependent>& dependents,
                                  const std::string& uid,
                                  const std::string& ns) {
    std::vector<std::string> failed;
    for (const auto& d : dependents) {
      auto live = m_kube->get_if(d.type, ns, d.name);
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
          live
              ? m_kube->merge_patch(d.type, ns, d.name,
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
  Expected<std::string> restore_one(Planned& p, const std::string& ns,
                                    double timeout_s,
                                    std::vector<std::string>& unlinked) {
    if (!p.snapshot.is_null()) {
      SNAP_TRY(ensure_snapshot(p.snapshot, ns, timeout_s));
    }
    std::vector<Dependent> dependents;
    if (p.action == "replace") {
      // Deleting with orphaning keeps what the object owns but strips its
      // owner reference: found first, re-linked to the new object after.
      dependents = SNAP_TRY(dependents_of(p.live_uid, ns));
      SNAP_TRY(m_kube->remove(p.type, ns, p.name, kube::Propagation::orphan));
      SNAP_TRY(m_kube->wait_gone(p.type, ns, p.name, 60));
    }
    json created = SNAP_TRY(m_kube->create(p.type, ns, p.object));
    if (is_crd(p.type)) {
      SNAP_TRY(wait_established(p.type, p.name));
      m_kube->forget_discovery();
    }
    std::string uid = str(meta(created), "uid");
    for (auto& f : relink(dependents, uid, ns)) {
      unlinked.push_back(std::move(f));
    }
    return uid;
  }

  static bool is_crd(const ResourceType& t) {
    return t.group == "apiextensions.k8s.io" &&
           t.plural == "customresourcedefinitions";
  }

  // Waits until a created CRD is served (condition Established), as
  // objects of its kind cannot be created before.
  Expected<void> wait_established(const ResourceType& t,
                                  const std::string& name) {
    return poll_until(
        60,
        [&]() -> Expected<bool> {
          json crd = SNAP_TRY(m_kube->get(t, "", name));
          json st = crd.value("status", json::object());
          for (const auto& c : st.value("conditions", json::array())) {
            if (str(c, "type") == "Established" && str(c, "status") == "True") {
              return true;
            }
          }
          return false;
        },
        [&] {
          return fmt::format("fabric: the CRD {} is not Established after "
                             "60 s (kubectl describe crd {})",
                             name, name);
        },
        100, 2000);
  }

  AdapterContext m_ctx;
  std::unique_ptr<HttpClient> m_http;
  std::unique_ptr<kube::Client> m_kube;
  std::string m_ns;
  std::string m_server_version;
  std::vector<Item> m_items;
  std::set<std::string> m_uids;
  std::map<std::string, std::vector<json>> m_lists;
  json m_notes = json::array();
};

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

} // namespace snap::adapters
