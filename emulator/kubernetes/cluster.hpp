// SPDX-License-Identifier: MIT
// The emulated Kubernetes API server's one state, shared by its three
// parts: api.cpp (authentication, discovery, the REST verbs, Status
// errors), store.cpp (kinds, objects, resourceVersions, CRDs, the garbage
// collector) and controllers.cpp (what runs in the background: PVC binding,
// the CSI snapshot controller, and with --fabric-operator fabric-operator's
// reconcile of the ibp.com resources). One mutex guards it; *_locked members
// expect it held.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/codec.hpp"
#include "emulator/kubernetes.hpp"

namespace snap::emulator::kube {

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

json status_body(int code, const std::string& reason, const std::string& msg,
                 const json& details = json());

void reply(httplib::Response& res, int code, const json& body);

void reply_status(httplib::Response& res, int code, const std::string& reason,
                  const std::string& msg, const json& details = json());

bool label_match(const json& labels, const std::string& selector);

// Parses "1Gi"/"500Mi"/"1000" into bytes.
std::int64_t quantity_bytes(const std::string& q);

class Cluster {
public:
  Cluster(FaultInjector& faults, KubernetesOptions options);
  ~Cluster();
  bool load_crd(const std::string& file, std::string& error);
  void start();
  void handle(const httplib::Request& req, httplib::Response& res);

private:
  bool authenticated(const httplib::Request& req);
  const Kind* find_kind(const std::string& group, const std::string& plural);
  json resource_list(const std::string& gv);
  json api_group(const std::string& group);
  // /api, /api/v1, /apis, /apis/g, /apis/g/v; false when not one of them.
  bool discovery(const std::vector<std::string>& seg, bool core,
                 httplib::Response& res);
  static std::string key(const Kind& k, const std::string& ns,
                         const std::string& name);
  static std::string prefix(const Kind& k, const std::string& ns);
  json not_found_details(const Kind& k, const std::string& name);
  void route(const httplib::Request& req, httplib::Response& res, const Kind& k,
             const std::string& ns, const std::string& name, bool status_sub);
  void list(const httplib::Request& req, httplib::Response& res, const Kind& k,
            const std::string& ns);
  // A list, the one large answer, cut after --fail-after-bytes when that
  // is set.
  void reply_get(httplib::Response& res, const json& body);
  std::string next_rv();
  void register_crd_locked(const json& crd);
  json create_locked(const Kind& k, const std::string& ns, json obj,
                     std::string&);
  // kube-apiserver's validation of a built-in kind (validation.cpp): the
  // Invalid message, or nothing. `live` is the stored object on update.
  static std::optional<std::string> invalid(const Kind& k, const json& obj,
                                            const json* live);
  // Deletes an object; its dependents lose the owner reference (orphan) or,
  // with no owner left, are deleted in turn (background garbage collection).
  void remove_locked(const Kind& k, const std::string& ns,
                     const std::string& name, bool orphan);
  const Kind* kind_of(const json& o);
  json* object(const Kind* k, const std::string& ns, const std::string& name);
  // What the cluster's controllers do: bind PVCs to CSI volumes of their
  // StorageClass (from a ready VolumeSnapshot when dataSource names one),
  // and cut and ready VolumeSnapshots.
  void reconcile_locked();
  void reconcile_snapshot(json& vs, const Kind* pvc_k, const Kind* pv_k,
                          const Kind* vsc_k, const Kind* cls_k);
  // Pods made directly: Pending until their PVCs are bound, then Running
  // with an IP after --pod-ms (pods.cpp).
  void reconcile_pods_locked();
  // The message of Pod Security admission's refusal of `pod` in `ns`
  // (enforce mode, from the namespace's labels), or nullopt (pod_security.cpp).
  // Whether the namespace's NetworkPolicies let the API server reach `port`
  // of `pod` (pods.cpp).
  bool ingress_allowed_locked(const std::string& ns, const json& pod, int port);
  std::optional<std::string> pod_security_refusal(const std::string& ns,
                                                  const json& pod);
  // GET/POST pods/NAME[:PORT]/proxy/PATH: the API server's relay to the
  // pod, reaching a busybox httpd's CGI scripts (pods.cpp).
  void pod_proxy(const httplib::Request& req, httplib::Response& res,
                 const std::string& ns, const std::string& name_port,
                 const std::string& path);
  // The folder of a volume's or snapshot's files, and a copy of one into
  // another (a snapshot cut, a PVC restored from one).
  std::filesystem::path volume_path(const std::string& handle) const;
  void copy_volume(const std::string& from, const std::string& to);
  // fabric-operator's reconcile of the ibp.com resources.
  void reconcile_fabric_operator_locked();
  void reconcile_node_locked(const Kind& k, json& cr);
  void reconcile_workload_locked(const std::string& key, json& o,
                                 bool deployment);

  FaultInjector& m_faults;
  KubernetesOptions m_options;
  std::deque<Kind> m_kinds; // grows with CRDs; references stay valid
  std::map<std::string, json> m_objects;
  std::map<std::string, std::string> m_handles; // storage snapshots -> data
  std::map<std::string, std::int64_t> m_cut_ms; // VolumeSnapshot uid -> cut
  // A Fabric node's uid -> when its pods were scheduled (replicas > 0).
  std::map<std::string, std::int64_t> m_pods_since;
  std::map<std::string, std::int64_t> m_jobs_since; // Job key -> pod start
  // Deployment or StatefulSet uid -> the generation its pods run and when
  // that generation was written.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>>
      m_workloads_since;
  std::map<std::string, std::int64_t> m_pod_bound; // pod key -> PVCs bound
  std::filesystem::path m_volume_root;
  bool m_own_volume_root = false; // a temporary folder, removed at the end
  std::int64_t m_rv = 1000;
  unsigned long long m_uid = 0;
  std::mutex m_mutex;
  std::atomic<bool> m_stop{false};
  std::thread m_controller;
};

} // namespace snap::emulator::kube
