// SPDX-License-Identifier: MIT
// The Kubernetes API as the backup engine needs it, without kubectl: API
// discovery (resource names as kubectl spells them), and get, list, create,
// merge-patch and delete of any kind, with the server's Status errors turned
// into one line. Paths follow client-go's dynamic client.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/adapter.hpp"

namespace snap::adapters::kube {

using nlohmann::json;

// One kind the server serves, as discovery describes it.
struct ResourceType {
  std::string group; // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;

  // "v1" or "ibp.com/v1beta1", an object's apiVersion.
  std::string api_version() const;
  // "secrets" or "ibppeers.ibp.com", as kubectl names the resource.
  std::string name() const;
};

// The parts of "<plural>[.<version>].<group>/<name>" (group and version may
// be empty). Errors: `usage` for text without a '/' or an empty part.
struct ResourceId {
  std::string plural, version, group, name;
};
Expected<ResourceId> parse_resource_id(std::string_view text);

// The name rules of apimachinery (pkg/util/validation): a DNS-1123 label
// ("fab", "v1beta1", a plural), a DNS-1123 subdomain ("ibp.com"), and the
// rule every object name must meet to be a path segment (not "." or "..",
// no '/' or '%'; path.ValidatePathSegmentName).
bool is_dns_label(std::string_view s);
bool is_dns_subdomain(std::string_view s);
bool is_path_segment_name(std::string_view s);
// A kind as Kubernetes spells one ("IBPPeer"): a letter, then letters and
// digits.
bool is_kind_name(std::string_view s);

// The types a CustomResourceDefinition object defines: one per served
// version of spec.versions, or nothing when its names are not valid.
std::vector<ResourceType> types_of_crd(const json& crd);

// Delete propagation (apimachinery DeletionPropagation).
enum class Propagation { background, orphan, foreground };

// How Client::call sends one request.
struct CallOptions {
  std::string query;
  std::string content_type = "application/json";
  bool cleanup = false;    // sent even after SIGINT
  bool missing_ok = false; // a 404 is an answer (status 404, body null)
};

class Client {
public:
  explicit Client(HttpClient& http) : m_http(http) {}

  // The type `plural` names in `group` (preferred version unless `version`
  // is given). Errors: `not_found` when the server does not serve it, any
  // kind.
  Expected<ResourceType> resolve(const std::string& plural,
                                 const std::string& group,
                                 const std::string& version = {});
  // The type a user's name for it means, as kubectl resolves it: `id`'s
  // resource part may be a plural, a singular, a kind (any case) or a
  // short name, with or without its group (and version). Without a group,
  // every served group is searched; the core group wins, then a group of
  // `preferred` (say, the preset's); any other tie is an error naming the
  // candidates. Errors: `not_found` when nothing matches, `usage` when the
  // name is ambiguous, any kind.
  Expected<ResourceType>
  resolve_name(const ResourceId& id, const std::vector<std::string>& preferred);

  // Like resolve, but nothing when the group or kind is not served (say,
  // OpenShift routes on a plain cluster).
  Expected<std::optional<ResourceType>>
  resolve_if_served(const std::string& plural, const std::string& group);
  // The type of an object's apiVersion and kind (for ownerReferences);
  // `not_found` without a request when the words cannot name a type.
  Expected<ResourceType> type_of(const std::string& api_version,
                                 const std::string& kind);

  // The collection or object path: /api/v1/namespaces/ns/secrets/name.
  // An empty `ns` with a namespaced kind is the collection across every
  // namespace (/apis/ibp.com/v1beta1/ibppeers), as client-go's
  // makeURLSegments leaves the segment out; only a list means anything
  // there.
  std::string path(const ResourceType& t, const std::string& ns,
                   const std::string& name = {}) const;

  Expected<json> get(const ResourceType& t, const std::string& ns,
                     const std::string& name);
  // Nothing for a 404.
  Expected<std::optional<json>>
  get_if(const ResourceType& t, const std::string& ns, const std::string& name);
  // Every item, page by page (limit/continue, restarted once on 410), with
  // kind and apiVersion filled in as the list omits them for built-in kinds.
  Expected<std::vector<json>> list(const ResourceType& t, const std::string& ns,
                                   const std::string& label_selector = {});
  // POST; the created object. Errors: `conflict` for AlreadyExists, any.
  Expected<json> create(const ResourceType& t, const std::string& ns,
                        const json& object);
  // POST with dryRun=All: the create's validation and admission (Pod
  // Security included) without storing anything. Errors: as create's.
  Expected<json> admit(const ResourceType& t, const std::string& ns,
                       const json& object);
  // PUT of a whole object, carrying the resourceVersion it was read at.
  // Errors: `conflict` when it changed since, any.
  Expected<json> replace(const ResourceType& t, const std::string& ns,
                         const std::string& name, const json& object);
  // PATCH with application/merge-patch+json.
  // With `cleanup`, it goes out even after SIGINT (undoing a scale-down).
  Expected<json> merge_patch(const ResourceType& t, const std::string& ns,
                             const std::string& name, const json& patch,
                             bool cleanup = false);
  // DELETE with DeleteOptions; a 404 counts as done.
  Expected<void> remove(const ResourceType& t, const std::string& ns,
                        const std::string& name, Propagation p,
                        bool cleanup = false);
  // Polls GET until the object is gone (it may linger while finalizers
  // run). Errors: `timeout` after `timeout_s`.
  Expected<void> wait_gone(const ResourceType& t, const std::string& ns,
                           const std::string& name, double timeout_s);

  // Drops what discovery learnt, after a CRD was created.
  void forget_discovery() {
    m_preferred.clear();
    m_resource_lists.clear();
    m_groups.reset();
  }

  HttpClient& http() { return m_http; }

private:
  Expected<JsonAnswer> call(const std::string& method, const std::string& path,
                            const json& body, const CallOptions& o = {});
  Expected<const json*> resources_of(const std::string& group,
                                     const std::string& version);
  HttpClient& m_http;
  // The preferred version of `group`, or "" when it is not served.
  Expected<std::string> preferred_version(const std::string& group);
  // The served groups with their preferred versions (GET /apis), once.
  Expected<const std::vector<std::pair<std::string, std::string>>*>
  served_groups();
  std::map<std::string, std::string> m_preferred; // group -> version
  std::map<std::string, json> m_resource_lists;   // "g/v" -> resources
  std::optional<std::vector<std::pair<std::string, std::string>>> m_groups;
};

// "reason: message" from a Status body, or the body's first line.
std::string status_text(const std::string& body);

} // namespace snap::adapters::kube
