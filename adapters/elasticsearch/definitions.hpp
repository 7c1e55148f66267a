// SPDX-License-Identifier: MIT
// The cluster-wide definitions a logical export carries with
// --include-global-state: component and composable index templates,
// lifecycle policies (ILM; OpenSearch's ISM), ingest pipelines and stored
// scripts, and their import.
#pragma once

#include "adapters/elasticsearch/client.hpp"

namespace snap::adapters::es {

// payload/definitions.json: {"component_templates": {name: body},
// "index_templates": {name: body}, "lifecycle_policies": {name: policy},
// "lifecycle": "ilm"|"ism", "ingest_pipelines": {id: body},
// "stored_scripts": {id: {lang, source[, options]}}}, each body as its PUT
// takes it.
inline constexpr std::string_view k_definitions_entry =
    "payload/definitions.json";

// The first object of `answer`'s list `list` (GET _index_template and
// _component_template answer [{"name", key: body}]) named `name`, else
// null.
nlohmann::json named_body(const nlohmann::json& answer, const char* list,
                          const char* key, const std::string& name);

// Composable index template `name` (GET _index_template/<name>), or null
// when the cluster has none of that name. Errors: any kind but a 404.
Expected<nlohmann::json> index_template(Client& c, const std::string& name);
// Component template `name` (GET _component_template/<name>), likewise.
Expected<nlohmann::json> component_template(Client& c, const std::string& name);

// Reads the cluster's definitions, leaving out what the cluster manages
// itself (_meta.managed true, a name starting with '.'): those come with
// every cluster of the version. Errors: any kind.
Expected<nlohmann::json> read_definitions(Client& c);

// How many definitions of each kind `defs` holds, e.g. {"index_templates":
// 2, ...}.
nlohmann::json count_definitions(const nlohmann::json& defs);

// Puts `defs` into the cluster, in dependency order (component templates,
// lifecycle policies, pipelines and scripts before the index templates
// that name them): one missing is created, one that is there and the same
// is left, one that differs is a conflict unless `replace`. With `dry_run`
// only the plan lines are returned. Errors: `conflict` (before any
// change), `usage` (ILM into OpenSearch or ISM into Elasticsearch), any
// kind.
Expected<std::vector<std::string>> put_definitions(Client& c,
                                                   const nlohmann::json& defs,
                                                   bool replace, bool dry_run);

} // namespace snap::adapters::es
