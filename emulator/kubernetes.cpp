// SPDX-License-Identifier: MIT
// Kubernetes API server emulator. Paths, Status bodies and list shapes as in
// apimachinery (pkg/apis/meta/v1/types.go) and the API conventions; CRD
// objects keep kind/apiVersion in lists while built-in kinds do not;
// custom resources refuse an update without resourceVersion (apiextensions
// strategy.go AllowUnconditionalUpdate=false) and strategic merge patches
// (415). The snapshot controller follows external-snapshotter's types: a
// VolumeSnapshot is bound to a VolumeSnapshotContent, gets creationTime when
// cut and readyToUse later.
#include "emulator/kubernetes.hpp"
#include "emulator/clock.hpp"

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace snap::emulator {
namespace {

using nlohmann::json;

struct Kind {
  std::string group, version, plural, singular, kind;
  bool namespaced = true;
  bool has_status = false; // status is a subresource: create drops it
  bool custom = false;     // a CRD's kind
  bool served = true;      // false once its CRD is deleted
  std::vector<std::string> short_names;
  std::string gv() const {
    return group.empty() ? version : group + "/" + version;
  }
  // "secrets" or "ibppeers.ibp.com", as Status messages name it.
  std::string qualified() const {
    return group.empty() ? plural : plural + "." + group;
  }
};

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
  case YAML::NodeType::Map: {
    json o = json::object();
    for (const auto& kv : n) {
      o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    }
    return o;
  }
  case YAML::NodeType::Sequence: {
    json a = json::array();
    for (const auto& item : n) {
      a.push_back(yaml_to_json(item));
    }
    return a;
  }
  case YAML::NodeType::Scalar: {
    std::string s = n.as<std::string>();
    if (n.Tag() == "!") { // quoted
      return s;
    }
    if (s == "true" || s == "false") {
      return s == "true";
    }
    return s;
  }
  default:
    return nullptr;
  }
}

json status_body(int code, const std::string& reason, const std::string& msg,
                 const json& details = json()) {
  json s = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
      {"status", "Failure"}, {"message", msg},     {"reason", reason},
      {"code", code}};
  if (!details.is_null()) {
    s["details"] = details;
  }
  return s;
}

void reply(httplib::Response& res, int code, const json& body) {
  res.status = code;
  res.set_content(body.dump(), "application/json");
}

void reply_status(httplib::Response& res, int code, const std::string& reason,
                  const std::string& msg, const json& details = json()) {
  reply(res, code, status_body(code, reason, msg, details));
}

bool label_match(const json& labels, const std::string& selector) {
  std::stringstream in(selector);
  std::string term;
  while (std::getline(in, term, ',')) {
    if (term.empty()) {
      continue;
    }
    auto get = [&](const std::string& k) -> std::optional<std::string> {
      if (labels.is_object() && labels.contains(k) && labels[k].is_string()) {
        return labels[k].get<std::string>();
      }
      return std::nullopt;
    };
    if (auto ne = term.find("!="); ne != std::string::npos) {
      if (get(term.substr(0, ne)) == term.substr(ne + 2)) {
        return false;
      }
    } else if (auto eq = term.find('='); eq != std::string::npos) {
      std::size_t vstart = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      if (get(term.substr(0, eq)) != term.substr(vstart)) {
        return false;
      }
    } else if (term[0] == '!') {
      if (get(term.substr(1))) {
        return false;
      }
    } else if (!get(term)) {
      return false;
    }
  }
  return true;
}

// Parses "1Gi"/"500Mi"/"1000" into bytes.
std::int64_t quantity_bytes(const std::string& q) {
  std::size_t i = 0;
  while (i < q.size() && std::isdigit(static_cast<unsigned char>(q[i]))) {
    ++i;
  }
  std::int64_t n = i == 0 ? 0 : std::stoll(q.substr(0, i));
  std::string unit = q.substr(i);
  static const std::map<std::string, std::int64_t> units = {
      {"", 1},           {"Ki", 1LL << 10}, {"Mi", 1LL << 20},
      {"Gi", 1LL << 30}, {"Ti", 1LL << 40}, {"k", 1000},
      {"M", 1000000},    {"G", 1000000000}};
  auto it = units.find(unit);
  return it == units.end() ? n : n * it->second;
}

class Cluster {
public:
  Cluster(FaultInjector& faults, KubernetesOptions options)
      : m_faults(faults), m_options(std::move(options)) {
    auto core = [&](const char* plural, const char* singular, const char* kind,
                    bool ns, bool status) {
      m_kinds.push_back({"", "v1", plural, singular, kind, ns, status, false});
    };
    core("namespaces", "namespace", "Namespace", false, true);
    core("secrets", "secret", "Secret", true, false);
    core("configmaps", "configmap", "ConfigMap", true, false);
    core("persistentvolumeclaims", "persistentvolumeclaim",
         "PersistentVolumeClaim", true, true);
    core("persistentvolumes", "persistentvolume", "PersistentVolume", false,
         true);
    core("services", "service", "Service", true, true);
    core("serviceaccounts", "serviceaccount", "ServiceAccount", true, false);
    core("pods", "pod", "Pod", true, true);
    m_kinds.push_back({"apps", "v1", "deployments", "deployment", "Deployment",
                       true, true, false});
    m_kinds.push_back({"apps", "v1", "statefulsets", "statefulset",
                       "StatefulSet", true, true, false});
    m_kinds.push_back({"apps", "v1", "replicasets", "replicaset", "ReplicaSet",
                       true, true, false});
    m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "roles", "role",
                       "Role", true, false, false});
    m_kinds.push_back({"rbac.authorization.k8s.io", "v1", "rolebindings",
                       "rolebinding", "RoleBinding", true, false, false});
    m_kinds.push_back({"storage.k8s.io", "v1", "storageclasses", "storageclass",
                       "StorageClass", false, false, false});
    m_kinds.push_back({"networking.k8s.io", "v1", "ingresses", "ingress",
                       "Ingress", true, true, false});
    m_kinds.push_back({"apiextensions.k8s.io", "v1",
                       "customresourcedefinitions", "customresourcedefinition",
                       "CustomResourceDefinition", false, true, false});
    // The short names discovery gives built-in kinds (each registry's
    // ShortNames(), kubernetes pkg/registry/*/*/storage/storage.go).
    const std::map<std::string, std::vector<std::string>> short_names = {
        {"namespaces", {"ns"}},
        {"configmaps", {"cm"}},
        {"persistentvolumeclaims", {"pvc"}},
        {"persistentvolumes", {"pv"}},
        {"services", {"svc"}},
        {"serviceaccounts", {"sa"}},
        {"pods", {"po"}},
        {"deployments", {"deploy"}},
        {"statefulsets", {"sts"}},
        {"replicasets", {"rs"}},
        {"ingresses", {"ing"}},
        {"storageclasses", {"sc"}},
        {"customresourcedefinitions", {"crd", "crds"}}};
    for (auto& k : m_kinds) {
      if (auto it = short_names.find(k.plural); it != short_names.end()) {
        k.short_names = it->second;
      }
    }
    json ns = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata", {{"name", "default"}}}};
    std::string ignored;
    create_locked(*find_kind("", "namespaces"), "", ns, ignored);
  }

  ~Cluster() {
    m_stop = true;
    if (m_controller.joinable()) {
      m_controller.join();
    }
  }

  bool load_crd(const std::string& file, std::string& error) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAllFromFile(file);
    } catch (const YAML::Exception& e) {
      error = file + ": " + e.what();
      return false;
    }
    for (const auto& doc : docs) {
      json crd = yaml_to_json(doc);
      if (!crd.is_object() ||
          crd.value("kind", "") != "CustomResourceDefinition") {
        continue;
      }
      std::string ignored;
      std::lock_guard lock(m_mutex);
      create_locked(
          *find_kind("apiextensions.k8s.io", "customresourcedefinitions"), "",
          crd, ignored);
    }
    return true;
  }

  void start() {
    m_controller = std::thread([this] {
      while (!m_stop) {
        {
          std::lock_guard lock(m_mutex);
          reconcile_locked();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    if (!authenticated(req)) {
      reply_status(res, 401, "Unauthorized", "Unauthorized");
      return;
    }
    std::vector<std::string> seg;
    {
      std::stringstream in(req.path);
      std::string s;
      while (std::getline(in, s, '/')) {
        if (!s.empty()) {
          seg.push_back(httplib::detail::decode_url(s, false));
        }
      }
    }
    std::lock_guard lock(m_mutex);
    if (seg.size() == 1 && seg[0] == "version") {
      reply(res, 200,
            {{"major", "1"},
             {"minor", "29"},
             {"gitVersion", "v1.29.4"},
             {"platform", "linux/amd64"}});
      return;
    }
    if (seg.empty() || (seg[0] != "api" && seg[0] != "apis")) {
      reply_status(res, 404, "NotFound",
                   "the server could not find the "
                   "requested resource");
      return;
    }
    bool core = seg[0] == "api";
    if (req.method == "GET" && discovery(seg, core, res)) {
      return;
    }
    std::size_t base = core ? 2 : 3; // after /api/v1 or /apis/g/v
    if (seg.size() <= base) {
      reply_status(res, 404, "NotFound",
                   "the server could not find the "
                   "requested resource");
      return;
    }
    std::string group = core ? "" : seg[1];
    std::string version = core ? seg[1] : seg[2];
    std::string ns;
    std::size_t i = base;
    if (seg[i] == "namespaces" && seg.size() > i + 2) {
      ns = seg[i + 1];
      i += 2;
    }
    const Kind* kind = find_kind(group, seg[i]);
    if (kind == nullptr || kind->version != version ||
        (!ns.empty() && !kind->namespaced)) {
      reply_status(res, 404, "NotFound",
                   "the server could not find the requested resource");
      return;
    }
    std::string name = seg.size() > i + 1 ? seg[i + 1] : "";
    bool status_sub = seg.size() > i + 2 && seg[i + 2] == "status";
    route(req, res, *kind, ns, name, status_sub);
  }

private:
  bool authenticated(const httplib::Request& req) {
    const std::string& token = m_faults.faults().require_token;
    if (token.empty() && !m_options.client_ca) {
      return true;
    }
    if (!token.empty() &&
        req.get_header_value("Authorization") == "Bearer " + token) {
      return true;
    }
    if (m_options.client_ca && req.ssl != nullptr) {
      X509* cert = SSL_get1_peer_certificate(req.ssl);
      bool ok = cert != nullptr && SSL_get_verify_result(req.ssl) == X509_V_OK;
      X509_free(cert);
      return ok;
    }
    return false;
  }

  const Kind* find_kind(const std::string& group, const std::string& plural) {
    for (const auto& k : m_kinds) {
      if (k.served && k.group == group && k.plural == plural) {
        return &k;
      }
    }
    return nullptr;
  }

  json resource_list(const std::string& gv) {
    json resources = json::array();
    for (const auto& k : m_kinds) {
      if (!k.served || k.gv() != gv) {
        continue;
      }
      json verbs = {"create", "delete", "get", "list", "patch", "update"};
      json entry = {{"name", k.plural},
                    {"singularName", k.singular},
                    {"namespaced", k.namespaced},
                    {"kind", k.kind},
                    {"verbs", verbs}};
      if (!k.short_names.empty()) {
        entry["shortNames"] = k.short_names;
      }
      resources.push_back(entry);
      if (k.has_status) {
        resources.push_back({{"name", k.plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", k.namespaced},
                             {"kind", k.kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    return {{"kind", "APIResourceList"},
            {"apiVersion", "v1"},
            {"groupVersion", gv},
            {"resources", resources}};
  }

  json api_group(const std::string& group) {
    json versions = json::array();
    for (const auto& k : m_kinds) {
      if (!k.served || k.group != group) {
        continue;
      }
      json v = {{"groupVersion", k.gv()}, {"version", k.version}};
      if (std::find(versions.begin(), versions.end(), v) == versions.end()) {
        versions.push_back(v);
      }
    }
    if (versions.empty()) {
      return nullptr;
    }
    return {{"kind", "APIGroup"},
            {"apiVersion", "v1"},
            {"name", group},
            {"versions", versions},
            {"preferredVersion", versions[0]}};
  }

  // /api, /api/v1, /apis, /apis/g, /apis/g/v; false when not one of them.
  bool discovery(const std::vector<std::string>& seg, bool core,
                 httplib::Response& res) {
    if (core && seg.size() == 1) {
      reply(res, 200,
            {{"kind", "APIVersions"},
             {"versions", {"v1"}},
             {"serverAddressByClientCIDRs", json::array()}});
      return true;
    }
    if (core && seg.size() == 2) {
      if (seg[1] != "v1") {
        reply_status(res, 404, "NotFound",
                     "the server could not find the "
                     "requested resource");
      } else {
        reply(res, 200, resource_list("v1"));
      }
      return true;
    }
    if (!core && seg.size() == 1) {
      std::set<std::string> groups;
      json list = json::array();
      for (const auto& k : m_kinds) {
        if (k.served && !k.group.empty() && groups.insert(k.group).second) {
          list.push_back(api_group(k.group));
        }
      }
      reply(res, 200,
            {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}});
      return true;
    }
    if (!core && (seg.size() == 2 || seg.size() == 3)) {
      json g = api_group(seg[1]);
      bool known = !g.is_null();
      if (known && seg.size() == 3) {
        known = false;
        for (const auto& v : g["versions"]) {
          known = known || v["version"] == seg[2];
        }
      }
      if (!known) {
        reply_status(res, 404, "NotFound",
                     "the server could not find the "
                     "requested resource");
      } else {
        reply(res, 200,
              seg.size() == 2 ? g : resource_list(seg[1] + "/" + seg[2]));
      }
      return true;
    }
    return false;
  }

  static std::string key(const Kind& k, const std::string& ns,
                         const std::string& name) {
    return k.gv() + "|" + k.plural + "|" + ns + "|" + name;
  }
  static std::string prefix(const Kind& k, const std::string& ns) {
    return k.gv() + "|" + k.plural + "|" + ns + (ns.empty() ? "" : "|");
  }

  json not_found_details(const Kind& k, const std::string& name) {
    json d = {{"name", name}, {"kind", k.plural}};
    if (!k.group.empty()) {
      d["group"] = k.group;
    }
    return d;
  }

  void route(const httplib::Request& req, httplib::Response& res, const Kind& k,
             const std::string& ns, const std::string& name, bool status_sub) {
    const std::string what = k.qualified();
    if (req.method == "GET" && name.empty()) {
      return list(req, res, k, ns);
    }
    json body;
    if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        return reply_status(res, 400, "BadRequest",
                            "the request body is not a JSON object");
      }
    }
    if (req.method == "POST" && name.empty()) {
      std::string err;
      if (!body.contains("metadata") ||
          body["metadata"].value("name", "").empty()) {
        return reply_status(res, 422, "Invalid",
                            what + " is invalid: metadata.name: Required "
                                   "value: name or generateName is "
                                   "required");
      }
      std::string n = body["metadata"]["name"];
      for (const auto& bad : m_options.reject_create) {
        if (bad == n) {
          return reply_status(res, 422, "Invalid",
                              k.kind + " \"" + n +
                                  "\" is invalid: spec: Invalid value: "
                                  "rejected by the emulator (--reject-create)",
                              not_found_details(k, n));
        }
      }
      if (k.namespaced) {
        body["metadata"]["namespace"] = ns;
        if (!m_objects.contains(key(*find_kind("", "namespaces"), "", ns))) {
          return reply_status(res, 404, "NotFound",
                              "namespaces \"" + ns + "\" not found",
                              {{"name", ns}, {"kind", "namespaces"}});
        }
      }
      if (!body["metadata"].value("resourceVersion", "").empty()) {
        return reply_status(res, 500, "InternalError",
                            "Internal error occurred: resourceVersion should "
                            "not be set on objects to be created");
      }
      if (m_objects.contains(key(k, ns, n))) {
        return reply_status(res, 409, "AlreadyExists",
                            what + " \"" + n + "\" already exists",
                            not_found_details(k, n));
      }
      json created = create_locked(k, ns, body, err);
      return reply(res, 201, created);
    }
    auto it = m_objects.find(key(k, ns, name));
    if (it == m_objects.end()) {
      return reply_status(res, 404, "NotFound",
                          what + " \"" + name + "\" not found",
                          not_found_details(k, name));
    }
    json& live = it->second;
    if (req.method == "GET") {
      return reply(res, 200, live);
    }
    if (req.method == "PUT") {
      std::string rv = body["metadata"].value("resourceVersion", "");
      if (rv.empty() && k.custom) {
        return reply_status(res, 422, "Invalid",
                            k.kind + " \"" + name +
                                "\" is invalid: metadata.resourceVersion: "
                                "Invalid value: 0x0: must be specified for an "
                                "update");
      }
      if (!rv.empty() && rv != live["metadata"].value("resourceVersion", "")) {
        return reply_status(
            res, 409, "Conflict",
            "Operation cannot be fulfilled on " + what + " \"" + name +
                "\": the object has been modified; please apply your changes "
                "to the latest version and try again",
            not_found_details(k, name));
      }
      json next = live;
      if (status_sub) {
        next["status"] = body.value("status", json::object());
      } else {
        json keep_meta = live["metadata"];
        json keep_status = live.value("status", json());
        next = body;
        for (const char* f :
             {"uid", "creationTimestamp", "namespace", "name"}) {
          if (keep_meta.contains(f)) {
            next["metadata"][f] = keep_meta[f];
          }
        }
        if (k.has_status) {
          next["status"] = keep_status;
          if (keep_status.is_null()) {
            next.erase("status");
          }
        }
      }
      next["metadata"]["resourceVersion"] = next_rv();
      live = next;
      return reply(res, 200, live);
    }
    if (req.method == "PATCH") {
      std::string ct = req.get_header_value("Content-Type");
      if (ct.starts_with("application/strategic-merge-patch+json") &&
          k.custom) {
        return reply_status(res, 415, "UnsupportedMediaType",
                            "the body of the request was in an unknown "
                            "format - accepted media types include: "
                            "application/json-patch+json, "
                            "application/merge-patch+json, "
                            "application/apply-patch+yaml");
      }
      if (!ct.starts_with("application/merge-patch+json") &&
          !ct.starts_with("application/strategic-merge-patch+json")) {
        return reply_status(res, 415, "UnsupportedMediaType",
                            "the emulator takes merge patches only");
      }
      json meta = live["metadata"];
      live.merge_patch(body);
      for (const char* f : {"uid", "creationTimestamp", "namespace", "name"}) {
        if (meta.contains(f)) {
          live["metadata"][f] = meta[f];
        }
      }
      live["metadata"]["resourceVersion"] = next_rv();
      return reply(res, 200, live);
    }
    if (req.method == "DELETE") {
      std::string policy = "Background";
      if (!req.body.empty()) {
        json opts = json::parse(req.body, nullptr, false);
        if (opts.is_object()) {
          policy = opts.value("propagationPolicy", policy);
        }
      }
      json gone = live;
      remove_locked(k, ns, name, policy == "Orphan");
      return reply(res, 200, gone);
    }
    reply_status(res, 405, "MethodNotAllowed",
                 "the server does not allow this method on the requested "
                 "resource");
  }

  void list(const httplib::Request& req, httplib::Response& res, const Kind& k,
            const std::string& ns) {
    std::string selector = req.get_param_value("labelSelector");
    long limit =
        req.has_param("limit") ? std::stol(req.get_param_value("limit")) : 0;
    std::string after = req.get_param_value("continue");
    json items = json::array();
    std::string next, last;
    std::string pre =
        ns.empty() ? k.gv() + "|" + k.plural + "|" : prefix(k, ns);
    for (auto it = m_objects.lower_bound(pre);
         it != m_objects.end() && it->first.starts_with(pre); ++it) {
      if (!after.empty() && it->first <= after) {
        continue;
      }
      const json& o = it->second;
      if (!label_match(o["metadata"].value("labels", json::object()),
                       selector)) {
        continue;
      }
      if (limit > 0 && static_cast<long>(items.size()) == limit) {
        next = last;
        break;
      }
      json item = o;
      if (!k.custom) { // built-in lists omit each item's kind/apiVersion
        item.erase("kind");
        item.erase("apiVersion");
      }
      items.push_back(std::move(item));
      last = it->first;
    }
    json meta = {{"resourceVersion", std::to_string(m_rv)}};
    if (!next.empty()) {
      meta["continue"] = next;
    }
    reply_get(res, {{"kind", k.kind + "List"},
                    {"apiVersion", k.gv()},
                    {"metadata", meta},
                    {"items", items}});
  }

  // A list, the one large answer, cut after --fail-after-bytes when that
  // is set.
  void reply_get(httplib::Response& res, const json& body) {
    std::int64_t cut = m_faults.faults().fail_after_bytes;
    if (cut < 0) {
      return reply(res, 200, body);
    }
    auto text = std::make_shared<std::string>(body.dump());
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json", [text, limit = static_cast<std::size_t>(cut)](
                                std::size_t offset, httplib::DataSink& sink) {
          if (offset >= limit) {
            return false; // drop the connection mid-body
          }
          std::size_t n = std::min(text->size() - offset, limit - offset);
          if (n == 0) {
            sink.done();
            return true;
          }
          return sink.write(text->data() + offset, n);
        });
  }

  std::string next_rv() { return std::to_string(++m_rv); }

  void register_crd_locked(const json& crd) {
    const json spec = crd.value("spec", json::object());
    const json names = spec.value("names", json::object());
    for (const auto& v : spec.value("versions", json::array())) {
      if (!v.value("served", false) || !v.value("storage", false)) {
        continue;
      }
      Kind k{spec.value("group", ""),
             v.value("name", ""),
             names.value("plural", ""),
             names.value("singular", ""),
             names.value("kind", ""),
             spec.value("scope", "") == "Namespaced",
             v.contains("subresources") && v["subresources"].contains("status"),
             true};
      for (const auto& n : names.value("shortNames", json::array())) {
        if (n.is_string()) {
          k.short_names.push_back(n.get<std::string>());
        }
      }
      bool revived = false;
      for (auto& old : m_kinds) {
        if (!old.served && old.group == k.group && old.plural == k.plural) {
          old = k;
          revived = true;
        }
      }
      if (!revived) {
        m_kinds.push_back(k);
      }
    }
  }

  json create_locked(const Kind& k, const std::string& ns, json obj,
                     std::string&) {
    json& md = obj["metadata"];
    std::string name = md.value("name", "");
    if (k.namespaced) {
      md["namespace"] = ns;
    }
    char uid[64];
    ++m_uid;
    std::snprintf(uid, sizeof uid, "6f1c%04x-0000-4000-8000-%012llx",
                  static_cast<unsigned>(m_uid & 0xffff), m_uid);
    md["uid"] = uid;
    md["resourceVersion"] = next_rv();
    md["creationTimestamp"] = rfc3339(now_ms(), 0);
    if (k.custom || k.plural == "deployments") {
      md["generation"] = 1;
    }
    obj["kind"] = k.kind;
    obj["apiVersion"] = k.gv();
    if (k.has_status) {
      obj.erase("status");
    }
    if (k.plural == "customresourcedefinitions") {
      // apiextensions-apiserver serves the kind and reports it Established.
      register_crd_locked(obj);
      obj["status"] = {
          {"conditions",
           {{{"type", "NamesAccepted"}, {"status", "True"}},
            {{"type", "Established"}, {"status", "True"}}}},
          {"acceptedNames", obj["spec"].value("names", json::object())}};
    } else if (k.plural == "namespaces") {
      obj["status"] = {{"phase", "Active"}};
    } else if (k.plural == "persistentvolumeclaims") {
      obj["status"] = {{"phase", "Pending"}};
    } else if (k.plural == "services" && obj.contains("spec")) {
      if (obj["spec"].value("clusterIP", "") != "None") {
        std::string ip = "10.96.0." + std::to_string(10 + m_uid % 200);
        obj["spec"]["clusterIP"] = ip;
        obj["spec"]["clusterIPs"] = {ip};
      }
    }
    m_objects[key(k, ns, name)] = obj;
    return obj;
  }

  // Deletes an object; its dependents lose the owner reference (orphan) or,
  // with no owner left, are deleted in turn (background garbage collection).
  void remove_locked(const Kind& k, const std::string& ns,
                     const std::string& name, bool orphan) {
    auto it = m_objects.find(key(k, ns, name));
    if (it == m_objects.end()) {
      return;
    }
    json gone = it->second;
    m_objects.erase(it);
    std::string uid = gone["metadata"].value("uid", "");
    if (k.plural == "customresourcedefinitions") {
      const json spec = gone.value("spec", json::object());
      std::string group = spec.value("group", "");
      std::string plural =
          spec.value("names", json::object()).value("plural", "");
      for (auto& kind : m_kinds) {
        if (kind.group == group && kind.plural == plural && kind.served) {
          std::string pre = kind.gv() + "|" + kind.plural + "|";
          for (auto o = m_objects.lower_bound(pre);
               o != m_objects.end() && o->first.starts_with(pre);) {
            o = m_objects.erase(o);
          }
          kind.served = false;
        }
      }
    }
    if (k.plural == "persistentvolumeclaims") {
      std::string pv =
          gone.value("spec", json::object()).value("volumeName", "");
      if (!pv.empty()) {
        m_objects.erase(key(*find_kind("", "persistentvolumes"), "", pv));
      }
    }
    if (k.plural == "volumesnapshots") {
      std::string content = gone.value("status", json::object())
                                .value("boundVolumeSnapshotContentName", "");
      const Kind* vsc =
          find_kind("snapshot.storage.k8s.io", "volumesnapshotcontents");
      if (vsc != nullptr && !content.empty()) {
        auto c = m_objects.find(key(*vsc, "", content));
        if (c != m_objects.end() &&
            c->second["spec"].value("deletionPolicy", "") == "Delete") {
          m_handles.erase(c->second.value("status", json::object())
                              .value("snapshotHandle", ""));
          m_objects.erase(c);
        }
      }
    }
    if (k.plural == "namespaces") {
      std::vector<std::pair<const Kind*, std::string>> inside;
      for (const auto& [key_, o] : m_objects) {
        if (o["metadata"].value("namespace", "") == name) {
          inside.emplace_back(kind_of(o), o["metadata"].value("name", ""));
        }
      }
      for (const auto& [kk, n] : inside) {
        if (kk != nullptr) {
          remove_locked(*kk, name, n, false);
        }
      }
    }
    std::vector<std::pair<const Kind*, json>> dependents;
    for (auto& [key_, o] : m_objects) {
      json& refs = o["metadata"]["ownerReferences"];
      if (!refs.is_array()) {
        o["metadata"].erase("ownerReferences");
        continue;
      }
      json kept = json::array();
      for (const auto& r : refs) {
        if (r.value("uid", "") != uid) {
          kept.push_back(r);
        }
      }
      if (kept.size() == refs.size()) {
        continue;
      }
      if (kept.empty()) {
        o["metadata"].erase("ownerReferences");
        if (!orphan) {
          dependents.emplace_back(kind_of(o), o);
        }
      } else {
        refs = kept;
      }
    }
    for (const auto& [dk, o] : dependents) {
      if (dk != nullptr) {
        remove_locked(*dk, o["metadata"].value("namespace", ""),
                      o["metadata"].value("name", ""), false);
      }
    }
  }

  const Kind* kind_of(const json& o) {
    std::string av = o.value("apiVersion", "");
    auto slash = av.find('/');
    std::string group = slash == std::string::npos ? "" : av.substr(0, slash);
    for (const auto& k : m_kinds) {
      if (k.served && k.group == group && k.kind == o.value("kind", "")) {
        return &k;
      }
    }
    return nullptr;
  }

  json* object(const Kind* k, const std::string& ns, const std::string& name) {
    if (k == nullptr) {
      return nullptr;
    }
    auto it = m_objects.find(key(*k, ns, name));
    return it == m_objects.end() ? nullptr : &it->second;
  }

  // What the cluster's controllers do: bind PVCs to CSI volumes of their
  // StorageClass (from a ready VolumeSnapshot when dataSource names one),
  // and cut and ready VolumeSnapshots.
  void reconcile_locked() {
    const Kind* pvc_k = find_kind("", "persistentvolumeclaims");
    const Kind* pv_k = find_kind("", "persistentvolumes");
    const Kind* sc_k = find_kind("storage.k8s.io", "storageclasses");
    const Kind* vs_k = find_kind("snapshot.storage.k8s.io", "volumesnapshots");
    const Kind* vsc_k =
        find_kind("snapshot.storage.k8s.io", "volumesnapshotcontents");
    const Kind* cls_k =
        find_kind("snapshot.storage.k8s.io", "volumesnapshotclasses");
    std::vector<json*> pvcs, snaps;
    for (auto& [k, o] : m_objects) {
      if (k.starts_with("v1|persistentvolumeclaims|")) {
        pvcs.push_back(&o);
      } else if (vs_k != nullptr &&
                 k.starts_with(vs_k->gv() + "|volumesnapshots|")) {
        snaps.push_back(&o);
      }
    }
    for (json* pvc : pvcs) {
      json& st = (*pvc)["status"];
      if (st.value("phase", "") == "Bound") {
        continue;
      }
      json spec = pvc->value("spec", json::object());
      std::string ns = (*pvc)["metadata"].value("namespace", "");
      std::string cls = spec.value("storageClassName", "");
      json* sc = cls.empty() ? nullptr : object(sc_k, "", cls);
      if (sc == nullptr) {
        continue;
      }
      std::string data;
      json ds = spec.value("dataSource", json());
      if (ds.is_object() && ds.value("kind", "") == "VolumeSnapshot") {
        json* vs = object(vs_k, ns, ds.value("name", ""));
        if (vs == nullptr ||
            !vs->value("status", json::object()).value("readyToUse", false)) {
          continue; // stays Pending until the snapshot is ready
        }
        json* content =
            object(vsc_k, "",
                   (*vs)["status"].value("boundVolumeSnapshotContentName", ""));
        if (content == nullptr) {
          continue;
        }
        auto h = m_handles.find(content->value("status", json::object())
                                    .value("snapshotHandle", ""));
        if (h == m_handles.end()) {
          continue;
        }
        data = h->second;
      }
      std::string pv_name =
          "pvc-" + (*pvc)["metadata"].value("uid", std::string("x"));
      std::string storage = spec.value("resources", json::object())
                                .value("requests", json::object())
                                .value("storage", "1Gi");
      json pv = {{"apiVersion", "v1"},
                 {"kind", "PersistentVolume"},
                 {"metadata",
                  {{"name", pv_name},
                   {"annotations", {{"snap-emulator/data", data}}}}},
                 {"spec",
                  {{"capacity", {{"storage", storage}}},
                   {"accessModes", spec.value("accessModes", json::array())},
                   {"storageClassName", cls},
                   {"persistentVolumeReclaimPolicy", "Delete"},
                   {"claimRef",
                    {{"namespace", ns},
                     {"name", (*pvc)["metadata"].value("name", "")},
                     {"uid", (*pvc)["metadata"].value("uid", "")}}},
                   {"csi",
                    {{"driver", sc->value("provisioner", "")},
                     {"volumeHandle", "vol-" + pv_name}}}}}};
      std::string ignored;
      json made = create_locked(*pv_k, "", pv, ignored);
      m_objects[key(*pv_k, "", pv_name)]["status"] = {{"phase", "Bound"}};
      (*pvc)["spec"]["volumeName"] = pv_name;
      st = {{"phase", "Bound"},
            {"capacity", {{"storage", storage}}},
            {"accessModes", spec.value("accessModes", json::array())}};
      (*pvc)["metadata"]["resourceVersion"] = next_rv();
    }
    for (json* vs : snaps) {
      reconcile_snapshot(*vs, pvc_k, pv_k, vsc_k, cls_k);
    }
    // Workload controllers: the pods follow spec.replicas.
    for (auto& [k, o] : m_objects) {
      if (!k.starts_with("apps/v1|deployments|") &&
          !k.starts_with("apps/v1|statefulsets|")) {
        continue;
      }
      int want = o.value("spec", json::object()).value("replicas", 1);
      json& st = o["status"];
      if (!st.is_object() || st.value("replicas", -1) != want) {
        st = {{"replicas", want},
              {"readyReplicas", want},
              {"availableReplicas", want}};
        o["metadata"]["resourceVersion"] = next_rv();
      }
    }
  }

  void reconcile_snapshot(json& vs, const Kind* pvc_k, const Kind* pv_k,
                          const Kind* vsc_k, const Kind* cls_k) {
    json& md = vs["metadata"];
    std::string ns = md.value("namespace", "");
    json spec = vs.value("spec", json::object());
    json source = spec.value("source", json::object());
    json& st = vs["status"];
    if (!st.is_object()) {
      st = json::object();
    }
    if (st.value("readyToUse", false)) {
      return;
    }
    // Pre-provisioned: the content names a storage snapshot that exists.
    if (source.contains("volumeSnapshotContentName")) {
      json* c =
          object(vsc_k, "", source.value("volumeSnapshotContentName", ""));
      if (c == nullptr) {
        return;
      }
      std::string handle = (*c)["spec"]
                               .value("source", json::object())
                               .value("snapshotHandle", "");
      if (!m_handles.contains(handle)) {
        st["error"] = {{"message", "snapshot handle " + handle + " not found"},
                       {"time", rfc3339(now_ms(), 0)}};
        return;
      }
      (*c)["status"] = {{"snapshotHandle", handle},
                        {"readyToUse", true},
                        {"restoreSize", 1LL << 30}};
      st = {{"boundVolumeSnapshotContentName",
             source.value("volumeSnapshotContentName", "")},
            {"readyToUse", true},
            {"creationTime", rfc3339(now_ms(), 0)},
            {"restoreSize", "1Gi"}};
      md["resourceVersion"] = next_rv();
      return;
    }
    std::string content_name = st.value("boundVolumeSnapshotContentName", "");
    if (content_name.empty()) {
      std::string cls = spec.value("volumeSnapshotClassName", "");
      json* klass = cls.empty() ? nullptr : object(cls_k, "", cls);
      json* pvc =
          object(pvc_k, ns, source.value("persistentVolumeClaimName", ""));
      if (klass == nullptr || pvc == nullptr ||
          (*pvc)["status"].value("phase", "") != "Bound" ||
          m_options.snapshot_outcome == "error") {
        std::string why =
            klass == nullptr
                ? "Failed to get snapshot class with error "
                  "volumesnapshotclass.snapshot.storage.k8s.io \"" +
                      cls + "\" not found"
            : pvc == nullptr ? "Failed to get source PVC"
            : m_options.snapshot_outcome == "error"
                ? "Failed to check and update snapshot content: failed to "
                  "take snapshot of the volume: rpc error: code = Internal"
                : "the source PVC is not bound yet";
        if (st.value("error", json::object()).value("message", "") != why) {
          st["error"] = {{"message", why}, {"time", rfc3339(now_ms(), 0)}};
          st["readyToUse"] = false;
          md["resourceVersion"] = next_rv();
        }
        return;
      }
      json* pv = object(pv_k, "", (*pvc)["spec"].value("volumeName", ""));
      std::string uid = md.value("uid", "");
      std::string handle = "snapshot-" + uid;
      m_handles[handle] = pv == nullptr
                              ? ""
                              : (*pv)["metadata"]
                                    .value("annotations", json::object())
                                    .value("snap-emulator/data", "");
      content_name = "snapcontent-" + uid;
      std::string size = (*pvc)["status"]
                             .value("capacity", json::object())
                             .value("storage", "1Gi");
      json content = {
          {"apiVersion", vsc_k->gv()},
          {"kind", "VolumeSnapshotContent"},
          {"metadata", {{"name", content_name}}},
          {"spec",
           {{"deletionPolicy", klass->value("deletionPolicy", "Delete")},
            {"driver", klass->value("driver", "")},
            {"volumeSnapshotClassName", cls},
            {"source",
             {{"volumeHandle", pv == nullptr ? ""
                                             : (*pv)["spec"]["csi"].value(
                                                   "volumeHandle", "")}}},
            {"volumeSnapshotRef",
             {{"name", md.value("name", "")},
              {"namespace", ns},
              {"uid", uid}}}}}};
      std::string ignored;
      create_locked(*vsc_k, "", content, ignored);
      m_objects[key(*vsc_k, "", content_name)]["status"] = {
          {"snapshotHandle", handle},
          {"creationTime", now_ms() * 1000000},
          {"restoreSize", quantity_bytes(size)},
          {"readyToUse", false}};
      st = {{"boundVolumeSnapshotContentName", content_name},
            {"creationTime", rfc3339(now_ms(), 0)},
            {"readyToUse", false},
            {"restoreSize", size}};
      m_cut_ms[uid] = now_ms();
      md["resourceVersion"] = next_rv();
      return;
    }
    if (m_options.snapshot_outcome == "never") {
      return;
    }
    auto cut = m_cut_ms.find(md.value("uid", ""));
    if (cut == m_cut_ms.end() ||
        now_ms() - cut->second < m_options.snapshot_ms) {
      return;
    }
    st["readyToUse"] = true;
    if (json* c = object(vsc_k, "", content_name)) {
      (*c)["status"]["readyToUse"] = true;
    }
    md["resourceVersion"] = next_rv();
  }

  FaultInjector& m_faults;
  KubernetesOptions m_options;
  std::deque<Kind> m_kinds; // grows with CRDs; references stay valid
  std::map<std::string, json> m_objects;
  std::map<std::string, std::string> m_handles; // storage snapshots -> data
  std::map<std::string, std::int64_t> m_cut_ms; // VolumeSnapshot uid -> cut
  std::int64_t m_rv = 1000;
  unsigned long long m_uid = 0;
  std::mutex m_mutex;
  std::atomic<bool> m_stop{false};
  std::thread m_controller;
};

} // namespace

bool register_kubernetes(httplib::Server& server, FaultInjector& faults,
                         const KubernetesOptions& options, std::string& error) {
  static std::unique_ptr<Cluster> cluster;
  cluster = std::make_unique<Cluster>(faults, options);
  for (const auto& f : options.crd_files) {
    if (!cluster->load_crd(f, error)) {
      return false;
    }
  }
  cluster->start();
  auto h = [](const httplib::Request& req, httplib::Response& res) {
    cluster->handle(req, res);
  };
  for (const char* pattern : {"/version", R"(/api(/.*)?)", R"(/apis(/.*)?)"}) {
    server.Get(pattern, h);
    server.Post(pattern, h);
    server.Put(pattern, h);
    server.Patch(pattern, h);
    server.Delete(pattern, h);
  }
  return true;
}

} // namespace snap::emulator
