// SPDX-License-Identifier: MIT
// Cluster-wide definitions in a logical export (--include-global-state):
// what a restore needs so that the indices it makes get their templates,
// lifecycle and pipelines again, the way a snapshot's global state would
// bring them, but per definition: nothing is overwritten unless --replace.
//
// Read from GET _component_template, _index_template, _ilm/policy (each
// answer's "policy", without version, modified_date and in_use_by, which
// the cluster sets), _ingest/pipeline, and the stored scripts of the
// cluster state (there is no API that lists them: GET _cluster/state/
// metadata?filter_path=metadata.stored_scripts). Put back with PUT
// _component_template/<name>, _ilm/policy/<name> {"policy"},
// _ingest/pipeline/<id>, _scripts/<id> {"script"}, _index_template/<name>.
// Managed definitions (_meta.managed: true, which Elasticsearch sets on
// those it installs and keeps up to date) and dot-named ones are left out.
// OpenSearch has no ILM: there its index-management plugin's ISM policies
// (_plugins/_ism/policies) are kept instead, without what the plugin sets
// itself, and an update names the seq_no and primary term it read.
#include "adapters/elasticsearch/definitions.hpp"

#include <functional>

#include "snap/text.hpp"

namespace snap::adapters::es {
namespace {

bool managed(const std::string& name, const json& body) {
  if (name.empty() || name[0] == '.') {
    return true;
  }
  if (!body.is_object()) {
    return false;
  }
  const json& meta = body.contains("_meta") ? body["_meta"]
                     : body.contains("policy") && body["policy"].is_object() &&
                             body["policy"].contains("_meta")
                         ? body["policy"]["_meta"]
                         : json();
  return meta.is_object() && meta.value("managed", json()) == true;
}

// {name: body} of a list answer [{"name", key: body}].
json from_list(const json& answer, const char* list, const char* key) {
  json out = json::object();
  if (!answer.is_object() || !answer.contains(list) ||
      !answer[list].is_array()) {
    return out;
  }
  for (const auto& item : answer[list]) {
    if (item.is_object() && item.contains("name") && item["name"].is_string() &&
        item.contains(key) && item[key].is_object()) {
      std::string name = item["name"].get<std::string>();
      if (!managed(name, item[key])) {
        out[name] = item[key];
      }
    }
  }
  return out;
}

// {name: body} of a map answer {name: body}, `pick` choosing the body.
json from_map(const json& answer,
              const std::function<json(const json&)>& pick) {
  json out = json::object();
  if (!answer.is_object()) {
    return out;
  }
  for (const auto& [name, value] : answer.items()) {
    json body = pick(value);
    if (body.is_object() && !managed(name, body)) {
      out[name] = body;
    }
  }
  return out;
}

// An ISM policy as its PUT takes it: without what the plugin sets itself
// (policy_id, last_updated_time, schema_version, the creating user, and
// each ISM template's last_updated_time).
json ism_policy(const json& policy) {
  if (!policy.is_object()) {
    return json();
  }
  json p = policy;
  for (const char* k :
       {"policy_id", "last_updated_time", "schema_version", "user"}) {
    p.erase(k);
  }
  if (p.contains("ism_template") && p["ism_template"].is_array()) {
    for (auto& t : p["ism_template"]) {
      if (t.is_object()) {
        t.erase("last_updated_time");
      }
    }
  }
  return json{{"policy", p}};
}

struct Kind {
  const char* key;   // in definitions.json
  const char* label; // in messages
  std::string (*path)(const std::string& name);
  // The body as the GET of one answers it, in the archive's form, or null
  // when it is not there.
  json (*current)(const json& answer, const std::string& name);
};

const Kind k_kinds[] = {
    {"component_templates", "component template",
     [](const std::string& n) {
       return "/_component_template/" + url_escape(n);
     },
     [](const json& a, const std::string& n) {
       return named_body(a, "component_templates", "component_template", n);
     }},
    {"lifecycle_policies", "lifecycle policy",
     [](const std::string& n) { return "/_ilm/policy/" + url_escape(n); },
     [](const json& a, const std::string& n) {
       return a.is_object() && a.contains(n) && a[n].is_object() &&
                      a[n].contains("policy")
                  ? json{{"policy", a[n]["policy"]}}
                  : json();
     }},
    // OpenSearch's Index State Management (the index-management plugin):
    // GET _plugins/_ism/policies/<id> {"_id", "_seq_no", "_primary_term",
    // "policy"}; an update must name the seq_no and primary term read.
    {"ism_policies", "ISM policy",
     [](const std::string& n) {
       return "/_plugins/_ism/policies/" + url_escape(n);
     },
     [](const json& a, const std::string&) {
       return a.is_object() && a.contains("policy") ? ism_policy(a["policy"])
                                                    : json();
     }},
    {"ingest_pipelines", "ingest pipeline",
     [](const std::string& n) { return "/_ingest/pipeline/" + url_escape(n); },
     [](const json& a, const std::string& n) {
       return a.is_object() && a.contains(n) && a[n].is_object() ? a[n]
                                                                 : json();
     }},
    {"stored_scripts", "stored script",
     [](const std::string& n) { return "/_scripts/" + url_escape(n); },
     [](const json& a, const std::string&) {
       return a.is_object() && a.value("found", json()) == true &&
                      a.contains("script") && a["script"].is_object()
                  ? json{{"script", a["script"]}}
                  : json();
     }},
    {"index_templates", "index template",
     [](const std::string& n) { return "/_index_template/" + url_escape(n); },
     [](const json& a, const std::string& n) {
       return named_body(a, "index_templates", "index_template", n);
     }},
};

// Whether the cluster's definition `now` is the archive's `saved`. A stored
// script is its language and source: the cluster state the export read it
// from may carry options that GET _scripts does not show.
bool same_definition(const Kind& k, const json& now, const json& saved) {
  if (std::string_view(k.key) != "stored_scripts") {
    return now == saved;
  }
  auto part = [](const json& d, const char* f) {
    return d.is_object() && d.contains("script") && d["script"].is_object()
               ? d["script"].value(f, json())
               : json();
  };
  return part(now, "lang") == part(saved, "lang") &&
         part(now, "source") == part(saved, "source");
}

} // namespace

json named_body(const json& answer, const char* list, const char* key,
                const std::string& name) {
  if (!answer.is_object() || !answer.contains(list) ||
      !answer[list].is_array()) {
    return json();
  }
  for (const auto& item : answer[list]) {
    if (item.is_object() && item.value("name", json()) == name &&
        item.contains(key) && item[key].is_object()) {
      return item[key];
    }
  }
  return json();
}

Expected<json> index_template(Client& c, const std::string& name) {
  json got = SNAP_TRY(c.call("GET", "/_index_template/" + url_escape(name),
                             json(), {.ok = {200, 404}}));
  return named_body(got, "index_templates", "index_template", name);
}

Expected<json> component_template(Client& c, const std::string& name) {
  json got = SNAP_TRY(c.call("GET", "/_component_template/" + url_escape(name),
                             json(), {.ok = {200, 404}}));
  return named_body(got, "component_templates", "component_template", name);
}

Expected<json> read_definitions(Client& c) {
  Version v = SNAP_TRY(c.version());
  json defs = json::object();
  defs["component_templates"] =
      from_list(SNAP_TRY(c.call("GET", "/_component_template")),
                "component_templates", "component_template");
  defs["index_templates"] =
      from_list(SNAP_TRY(c.call("GET", "/_index_template")), "index_templates",
                "index_template");
  if (v.opensearch()) {
    // Index State Management is a plugin: a cluster without it has no
    // handler for the path.
    defs["lifecycle_policies"] = json::object();
    defs["ism_policies"] = json::object();
    auto listed =
        c.call("GET", "/_plugins/_ism/policies", json(), {.ok = {200, 404}});
    if (!listed) {
      c.reporter().warn(fmt::format("elasticsearch: ISM policies are left "
                                    "out: {}",
                                    listed.error().message));
    } else if (listed->is_object() && listed->contains("policies") &&
               (*listed)["policies"].is_array()) {
      for (const auto& p : (*listed)["policies"]) {
        if (p.is_object() && p.contains("_id") && p["_id"].is_string() &&
            p.contains("policy")) {
          std::string id = p["_id"].get<std::string>();
          if (!managed(id, json::object())) {
            defs["ism_policies"][id] = ism_policy(p["policy"]);
          }
        }
      }
    }
  } else {
    defs["lifecycle_policies"] =
        from_map(SNAP_TRY(c.call("GET", "/_ilm/policy")), [](const json& p) {
          return p.is_object() && p.contains("policy") &&
                         p["policy"].is_object()
                     ? json{{"policy", p["policy"]}}
                     : json();
        });
  }
  // With no pipeline at all, the answer is 404 {} (GetPipelineResponse
  // is found only when it holds one).
  defs["ingest_pipelines"] = from_map(
      SNAP_TRY(c.call("GET", "/_ingest/pipeline", json(), {.ok = {200, 404}})),
      [](const json& p) { return p; });
  json state =
      SNAP_TRY(c.call("GET", "/_cluster/state/metadata", json(),
                      {.query = "filter_path=metadata.stored_scripts"}));
  json scripts = json::object();
  if (state.is_object() && state.contains("metadata") &&
      state["metadata"].is_object() &&
      state["metadata"].contains("stored_scripts")) {
    scripts = state["metadata"]["stored_scripts"];
  }
  defs["stored_scripts"] = from_map(scripts, [](const json& s) {
    return s.is_object() && s.contains("source") ? json{{"script", s}} : json();
  });
  return defs;
}

json count_definitions(const json& defs) {
  json out = json::object();
  for (const Kind& k : k_kinds) {
    out[k.key] =
        defs.is_object() && defs.contains(k.key) && defs[k.key].is_object()
            ? defs[k.key].size()
            : 0;
  }
  return out;
}

Expected<std::vector<std::string>> put_definitions(Client& c, const json& defs,
                                                   bool replace, bool dry_run) {
  Version v = SNAP_TRY(c.version());
  struct Step {
    const Kind* kind;
    std::string name;
    bool exists;
    std::string query; // an ISM update: the seq_no and primary term read
  };
  std::vector<Step> steps;
  std::vector<std::string> plan, differ;
  for (const Kind& k : k_kinds) {
    if (!defs.is_object() || !defs.contains(k.key) ||
        !defs[k.key].is_object()) {
      continue;
    }
    const json& group = defs[k.key];
    if (std::string_view(k.key) == "ism_policies" && !group.empty() &&
        !v.opensearch()) {
      return fail(ErrorKind::usage,
                  fmt::format("elasticsearch: the archive holds {} ISM "
                              "policies, which Elasticsearch does not have "
                              "(it has ILM); restore without "
                              "--include-global-state, or into OpenSearch",
                              group.size()));
    }
    if (std::string_view(k.key) == "lifecycle_policies" && !group.empty() &&
        v.opensearch()) {
      return fail(ErrorKind::usage,
                  fmt::format("elasticsearch: the archive holds {} ILM "
                              "policies, which OpenSearch does not have; "
                              "restore without --include-global-state, or "
                              "into Elasticsearch",
                              group.size()));
    }
    for (const auto& [name, body] : group.items()) {
      json answer =
          SNAP_TRY(c.call("GET", k.path(name), json(), {.ok = {200, 404}}));
      json now = k.current(answer, name);
      if (now.is_null()) {
        plan.push_back(fmt::format("create {} {}", k.label, name));
        steps.push_back({&k, name, false});
      } else if (same_definition(k, now, body)) {
        plan.push_back(
            fmt::format("keep {} {} (the same is there)", k.label, name));
      } else if (replace) {
        plan.push_back(fmt::format("replace {} {} (it differs; --replace)",
                                   k.label, name));
        std::string query;
        if (std::string_view(k.key) == "ism_policies") {
          query = fmt::format("if_seq_no={}&if_primary_term={}",
                              answer.value("_seq_no", json(0)).dump(),
                              answer.value("_primary_term", json(0)).dump());
        }
        steps.push_back({&k, name, true, query});
      } else {
        differ.push_back(fmt::format("{} {}", k.label, name));
      }
    }
  }
  if (!differ.empty()) {
    return fail(ErrorKind::conflict,
                fmt::format("elasticsearch: these definitions exist and "
                            "differ from the archive's: {} (add --replace "
                            "to overwrite them, or restore without "
                            "--include-global-state); nothing was changed",
                            join_list(differ, ", ")));
  }
  if (dry_run) {
    return plan;
  }
  for (const Step& s : steps) {
    SNAP_TRY(c.call("PUT", s.kind->path(s.name), defs[s.kind->key][s.name],
                    {.query = s.query, .idempotent = true, .ok = {200, 201}}));
  }
  return plan;
}

} // namespace snap::adapters::es
