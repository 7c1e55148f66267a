// SPDX-License-Identifier: MIT
// Cluster-wide definitions in the Elasticsearch emulator, as the REST
// actions of elastic/elasticsearch answer them: lifecycle policies
// (x-pack ilm: RestGetLifecycleAction, RestPutLifecycleAction; a policy
// comes back with version, modified_date and in_use_by, and a missing one
// is resource_not_found_exception "Lifecycle policy not found: [name]"),
// ingest pipelines (RestGetPipelineAction: the answer is 404 with {} when
// it holds no pipeline, GetPipelineResponse.isFound; a pipeline without
// processors is refused, "[processors] required property is missing"),
// stored scripts (RestPutStoredScriptAction, RestGetStoredScriptAction:
// {"_id", "found", "script"}; listed only in the cluster state's
// metadata.stored_scripts) and the lists of composable and component
// templates. OpenSearch has no _ilm (it answers "no handler found"); its
// index-management plugin keeps ISM policies (opensearch-project/
// index-management, documentation-website _im-plugin/ism/api.md): PUT
// _plugins/_ism/policies/<id> {"policy"} creates one (201) and stores it
// with policy_id, last_updated_time, schema_version and error_notification;
// an existing one is changed only with if_seq_no and if_primary_term that
// match (409 otherwise); GET answers {"_id", "_version", "_seq_no",
// "_primary_term", "policy"}, a missing one 404 "Policy not found", and
// the list {"policies": [...], "total_policies"}.
#include "emulator/es_cluster.hpp"

#include <fnmatch.h>

namespace snap::emulator::es {
namespace {

json policy_answer(const Cluster& c, const std::string& name,
                   const Cluster::Policy& p) {
  json templates = json::array();
  for (const auto& [tname, t] : c.index_templates) {
    const json& tmpl = t.value("template", json::object());
    const json& settings = tmpl.value("settings", json::object());
    if (settings.is_object() &&
        (settings.value("index.lifecycle.name", json()) == name ||
         (settings.contains("index") && settings["index"].is_object() &&
          settings["index"].contains("lifecycle") &&
          settings["index"]["lifecycle"].value("name", json()) == name))) {
      templates.push_back(tname);
    }
  }
  return {{"version", p.version},
          {"modified_date", p.modified},
          {"policy", p.policy},
          {"in_use_by",
           {{"indices", json::array()},
            {"data_streams", json::array()},
            {"composable_templates", templates}}}};
}

} // namespace

void register_definition_routes(httplib::Server& s, Cluster& c) {
  s.Get("/_index_template", [&](const auto&, auto& res) {
    std::lock_guard lock(c.mu);
    json list = json::array();
    for (const auto& [name, t] : c.index_templates) {
      list.push_back({{"name", name}, {"index_template", t}});
    }
    send_json(res, {{"index_templates", list}});
  });
  s.Get("/_component_template", [&](const auto&, auto& res) {
    std::lock_guard lock(c.mu);
    json list = json::array();
    for (const auto& [name, t] : c.component_templates) {
      list.push_back({{"name", name}, {"component_template", t}});
    }
    send_json(res, {{"component_templates", list}});
  });

  auto get_policies = [&](const httplib::Request& req, httplib::Response& res) {
    if (c.opensearch()) {
      no_handler(req, res);
      return;
    }
    std::lock_guard lock(c.mu);
    json out = json::object();
    if (req.matches.size() > 1) {
      std::string name = req.matches[1];
      auto it = c.policies.find(name);
      if (it == c.policies.end()) {
        send_error(res, 404, "resource_not_found_exception",
                   "Lifecycle policy not found: [" + name + "]");
        return;
      }
      out[name] = policy_answer(c, name, it->second);
    } else {
      for (const auto& [name, p] : c.policies) {
        out[name] = policy_answer(c, name, p);
      }
    }
    send_json(res, out);
  };
  s.Get("/_ilm/policy", get_policies);
  s.Get(R"(/_ilm/policy/([^/]+))", get_policies);
  s.Put(R"(/_ilm/policy/([^/]+))", [&](const auto& req, auto& res) {
    if (c.opensearch()) {
      no_handler(req, res);
      return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("policy") ||
        !body["policy"].is_object()) {
      send_error(res, 400, "x_content_parse_exception",
                 "[1:2] [put_lifecycle_request] policy doesn't support "
                 "values of this type; give {\"policy\": {...}}");
      return;
    }
    std::lock_guard lock(c.mu);
    auto& p = c.policies[req.matches[1]];
    p.version += 1;
    p.modified = "2026-01-01T00:00:00.000Z";
    p.policy = body["policy"];
    send_json(res, {{"acknowledged", true}});
  });

  auto ism_answer = [](const std::string& id, const Cluster::IsmPolicy& p) {
    return json{{"_id", id},
                {"_version", 1},
                {"_seq_no", p.seq_no},
                {"_primary_term", 1},
                {"policy", p.policy}};
  };
  s.Get("/_plugins/_ism/policies", [&, ism_answer](const auto& req, auto& res) {
    if (!c.opensearch()) {
      no_handler(req, res);
      return;
    }
    std::lock_guard lock(c.mu);
    json list = json::array();
    for (const auto& [id, p] : c.ism) {
      json one = ism_answer(id, p);
      one.erase("_version");
      list.push_back(one);
    }
    send_json(res, {{"policies", list}, {"total_policies", list.size()}});
  });
  s.Get(R"(/_plugins/_ism/policies/([^/]+))",
        [&, ism_answer](const auto& req, auto& res) {
          if (!c.opensearch()) {
            no_handler(req, res);
            return;
          }
          std::lock_guard lock(c.mu);
          auto it = c.ism.find(req.matches[1]);
          if (it == c.ism.end()) {
            send_error(res, 404, "status_exception", "Policy not found");
            return;
          }
          send_json(res, ism_answer(it->first, it->second));
        });
  s.Put(R"(/_plugins/_ism/policies/([^/]+))",
        [&, ism_answer](const auto& req, auto& res) {
          if (!c.opensearch()) {
            no_handler(req, res);
            return;
          }
          json body = json::parse(req.body, nullptr, false);
          if (!body.is_object() || !body.contains("policy") ||
              !body["policy"].is_object() ||
              !body["policy"].contains("default_state") ||
              !body["policy"].contains("states")) {
            send_error(res, 400, "illegal_argument_exception",
                       "Failed to parse policy: default_state and states are "
                       "required");
            return;
          }
          std::lock_guard lock(c.mu);
          std::string id = req.matches[1];
          auto it = c.ism.find(id);
          bool created = it == c.ism.end();
          if (!created) {
            if (req.get_param_value("if_seq_no") !=
                    std::to_string(it->second.seq_no) ||
                req.get_param_value("if_primary_term") != "1") {
              send_error(res, 409, "version_conflict_engine_exception",
                         "[" + id +
                             "]: version conflict, document already exists "
                             "(current version [1])");
              return;
            }
          }
          json policy = body["policy"];
          policy["policy_id"] = id;
          policy["last_updated_time"] = now_ms();
          policy["schema_version"] = 1;
          if (!policy.contains("error_notification")) {
            policy["error_notification"] = nullptr;
          }
          Cluster::IsmPolicy& p = c.ism[id];
          p.seq_no = c.ism_seq++;
          p.policy = policy;
          json out = ism_answer(id, p);
          out["policy"] = {{"policy", policy}};
          send_json(res, out, created ? 201 : 200);
        });

  auto get_pipelines = [&](const httplib::Request& req,
                           httplib::Response& res) {
    std::lock_guard lock(c.mu);
    std::string pattern =
        req.matches.size() > 1 ? std::string(req.matches[1]) : "*";
    json out = json::object();
    for (const auto& [id, p] : c.pipelines) {
      if (::fnmatch(pattern.c_str(), id.c_str(), 0) == 0) {
        out[id] = p;
      }
    }
    send_json(res, out, out.empty() ? 404 : 200);
  };
  s.Get("/_ingest/pipeline", get_pipelines);
  s.Get(R"(/_ingest/pipeline/([^/]+))", get_pipelines);
  s.Put(R"(/_ingest/pipeline/([^/]+))", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("processors")) {
      send_error(res, 400, "parse_exception",
                 "[processors] required property is missing",
                 {{"property_name", "processors"}});
      return;
    }
    std::lock_guard lock(c.mu);
    c.pipelines[req.matches[1]] = body;
    send_json(res, {{"acknowledged", true}});
  });

  s.Put(R"(/_scripts/([^/]+))", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("script") ||
        !body["script"].is_object() || !body["script"].contains("source")) {
      send_error(res, 400, "illegal_argument_exception",
                 "must specify source for stored script");
      return;
    }
    json script = body["script"];
    if (!script.contains("lang")) {
      send_error(res, 400, "illegal_argument_exception",
                 "must specify lang for stored script");
      return;
    }
    std::lock_guard lock(c.mu);
    c.scripts[req.matches[1]] = script;
    send_json(res, {{"acknowledged", true}});
  });
  s.Get(R"(/_scripts/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string id = req.matches[1];
    auto it = c.scripts.find(id);
    if (it == c.scripts.end()) {
      send_json(res, {{"_id", id}, {"found", false}}, 404);
      return;
    }
    send_json(res, {{"_id", id}, {"found", true}, {"script", it->second}});
  });
  // The cluster state's metadata, as far as the stored scripts go; with
  // filter_path=metadata.stored_scripts and none stored, {} (the filter
  // leaves nothing).
  s.Get("/_cluster/state/metadata", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    json scripts = json::object();
    for (const auto& [id, sc] : c.scripts) {
      scripts[id] = sc;
    }
    bool filtered =
        req.get_param_value("filter_path") == "metadata.stored_scripts";
    if (filtered && scripts.empty()) {
      send_json(res, json::object());
      return;
    }
    json meta = {{"stored_scripts", scripts}};
    if (!filtered) {
      meta["cluster_uuid"] = c.cluster_uuid;
    }
    send_json(res, {{"metadata", meta}});
  });
}

} // namespace snap::emulator::es
