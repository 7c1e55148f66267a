// SPDX-License-Identifier: MIT
// The emulated API server's front: who may call (bearer token or client
// certificate), discovery (/api, /apis, resource lists with short names),
// and get, list, create, update, merge patch and delete of every kind, with
// Status errors as apimachinery writes them (pkg/apis/meta/v1/types.go)
// and the API conventions. CRD objects keep kind/apiVersion in lists while
// built-in kinds do not; custom resources refuse an update without
// resourceVersion (apiextensions strategy.go AllowUnconditionalUpdate=false)
// and strategic merge patches (415).
#include "emulator/kubernetes/cluster.hpp"

#include <openssl/ssl.h>

#include <set>
#include <sstream>

#include "emulator/clock.hpp"

namespace snap::emulator::kube {

json status_body(int code, const std::string& reason, const std::string& msg,
                 const json& details) {
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
                  const std::string& msg, const json& details) {
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

void Cluster::handle(const httplib::Request& req, httplib::Response& res) {
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
  // pods/NAME:PORT/proxy/PATH relays to the pod; the pod's answer may
  // take long, so it runs outside the lock.
  if (seg.size() >= 7 && seg[0] == "api" && seg[1] == "v1" &&
      seg[2] == "namespaces" && seg[4] == "pods" && seg[6] == "proxy") {
    std::string rest;
    for (std::size_t i = 7; i < seg.size(); ++i) {
      rest += "/" + seg[i];
    }
    pod_proxy(req, res, seg[3], seg[5], rest);
    return;
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

bool Cluster::authenticated(const httplib::Request& req) {
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

const Kind* Cluster::find_kind(const std::string& group,
                               const std::string& plural) {
  for (const auto& k : m_kinds) {
    if (k.served && k.group == group && k.plural == plural) {
      return &k;
    }
  }
  return nullptr;
}

json Cluster::resource_list(const std::string& gv) {
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

json Cluster::api_group(const std::string& group) {
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
bool Cluster::discovery(const std::vector<std::string>& seg, bool core,
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

// metadata.generation is the server's: an update keeps the stored value
// and adds one when the object's desired state changed.
// - Deployment (kubernetes pkg/registry/apps/deployment/strategy.go,
//   PrepareForUpdate): when spec or the annotations change; StatefulSet
//   (registry/apps/statefulset/strategy.go): when spec changes.
// - A custom resource (apiextensions-apiserver
//   pkg/registry/customresource/strategy.go, PrepareForUpdate): when
//   anything but metadata and status changes (anything but metadata where
//   status is no subresource).
namespace {
void keep_generation(const Kind& k, const json& live, json& next) {
  const json& was = live["metadata"];
  if (!was.contains("generation") || !was["generation"].is_number_integer()) {
    return;
  }
  auto part = [](const json& o, const char* f) {
    return o.contains(f) ? o[f] : json();
  };
  bool changed = false;
  if (k.custom) {
    json a = live, b = next;
    for (json* o : {&a, &b}) {
      o->erase("metadata");
      if (k.has_status) {
        o->erase("status");
      }
    }
    changed = a != b;
  } else {
    changed =
        part(live, "spec") != part(next, "spec") ||
        (k.plural == "deployments" &&
         part(was, "annotations") != part(next["metadata"], "annotations"));
  }
  next["metadata"]["generation"] =
      was["generation"].get<std::int64_t>() + (changed ? 1 : 0);
}
} // namespace

json Cluster::not_found_details(const Kind& k, const std::string& name) {
  json d = {{"name", name}, {"kind", k.plural}};
  if (!k.group.empty()) {
    d["group"] = k.group;
  }
  return d;
}

void Cluster::route(const httplib::Request& req, httplib::Response& res,
                    const Kind& k, const std::string& ns,
                    const std::string& name, bool status_sub) {
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
  // metav1 validation ValidateDryRun: "All" is the only value.
  bool dry_run = req.has_param("dryRun");
  if (dry_run && req.get_param_value("dryRun") != "All") {
    return reply_status(res, 422, "Invalid",
                        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: "
                        "Unsupported value: []string{" +
                            json(req.get_param_value("dryRun")).dump() +
                            "}: supported values: \"All\"");
  }
  if (dry_run && req.method != "POST") {
    return reply_status(res, 400, "BadRequest",
                        "dryRun is modelled for create only");
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
    if (auto bad = invalid(k, body, nullptr)) {
      return reply_status(res, 422, "Invalid", *bad, not_found_details(k, n));
    }
    // Pod Security admission, a validating admission plugin: after the
    // object's validation (pod_security.cpp).
    if (k.plural == "pods" && k.group.empty()) {
      if (auto refused = pod_security_refusal(ns, body)) {
        return reply_status(res, 403, "Forbidden", *refused,
                            not_found_details(k, n));
      }
    }
    if (m_objects.contains(key(k, ns, n))) {
      return reply_status(res, 409, "AlreadyExists",
                          what + " \"" + n + "\" already exists",
                          not_found_details(k, n));
    }
    if (dry_run) {
      // dryRun=All: validated and admitted, answered, never stored.
      return reply(res, 201, body);
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
    if (!status_sub) {
      if (auto bad = invalid(k, body, &live)) {
        return reply_status(res, 422, "Invalid", *bad,
                            not_found_details(k, name));
      }
    }
    json next = live;
    if (status_sub) {
      next["status"] = body.value("status", json::object());
    } else {
      json keep_meta = live["metadata"];
      json keep_status = live.value("status", json());
      next = body;
      for (const char* f : {"uid", "creationTimestamp", "namespace", "name"}) {
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
    keep_generation(k, live, next);
    next["metadata"]["resourceVersion"] = next_rv();
    live = next;
    return reply(res, 200, live);
  }
  if (req.method == "PATCH") {
    std::string ct = req.get_header_value("Content-Type");
    if (ct.starts_with("application/strategic-merge-patch+json") && k.custom) {
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
    json patched = live;
    patched.merge_patch(body);
    for (const char* f : {"uid", "creationTimestamp", "namespace", "name"}) {
      if (meta.contains(f)) {
        patched["metadata"][f] = meta[f];
      }
    }
    if (auto bad = invalid(k, patched, &live)) {
      return reply_status(res, 422, "Invalid", *bad,
                          not_found_details(k, name));
    }
    keep_generation(k, live, patched);
    live = std::move(patched);
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

void Cluster::list(const httplib::Request& req, httplib::Response& res,
                   const Kind& k, const std::string& ns) {
  std::string selector = req.get_param_value("labelSelector");
  long limit =
      req.has_param("limit") ? std::stol(req.get_param_value("limit")) : 0;
  std::string after = req.get_param_value("continue");
  json items = json::array();
  std::string next, last;
  std::string pre = ns.empty() ? k.gv() + "|" + k.plural + "|" : prefix(k, ns);
  for (auto it = m_objects.lower_bound(pre);
       it != m_objects.end() && it->first.starts_with(pre); ++it) {
    if (!after.empty() && it->first <= after) {
      continue;
    }
    const json& o = it->second;
    if (!label_match(o["metadata"].value("labels", json::object()), selector)) {
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
void Cluster::reply_get(httplib::Response& res, const json& body) {
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

} // namespace snap::emulator::kube

namespace snap::emulator {

using kube::Cluster;
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
