// SPDX-License-Identifier: MIT
// Composable index templates, data streams and system features in the
// Elasticsearch emulator, after Elasticsearch's own sources:
// MetadataIndexTemplateService (PUT _index_template), MetadataCreateDataStream
// Service (a data stream is made from the template whose index_patterns
// match and which has a data_stream section; its backing indices are named
// .ds-<stream>-<yyyy.MM.dd>-<generation, 6 digits>, hidden), and
// SystemIndices (features own system indices, which snapshots hold as
// feature states). A data stream takes only `create` writes, on its last
// backing index (TransportBulkAction); its write index cannot be deleted
// directly (MetadataDeleteIndexService). Component templates
// (_component_template, 7.8+) must exist before an index template names
// them in composed_of (MetadataIndexTemplateService.validateIndexTemplateV2:
// invalid_index_template_exception); a new backing index takes the
// components' mappings, then the template's own, merged in order. Rollover
// (POST <stream>/_rollover) adds the next generation's backing index and
// makes it the write index (MetadataRolloverService).
#include "emulator/es_cluster.hpp"

#include <fnmatch.h>

#include <ctime>

#include <fmt/format.h>

namespace snap::emulator::es {
namespace {

const std::vector<std::pair<std::string, std::string>> k_features = {
    {"tasks", ".tasks"}, {"geoip", ".geoip_databases"}};

std::string backing_name(const std::string& stream, int generation) {
  std::time_t t = now_ms() / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y.%m.%d", &tm);
  return fmt::format(".ds-{}-{}-{:06d}", stream, day, generation);
}

json stream_json(const Cluster& c, const std::string& name,
                 const DataStream& ds) {
  json indices = json::array();
  for (const auto& i : ds.indices) {
    auto it = c.indices.find(i);
    indices.push_back(
        {{"index_name", i},
         {"index_uuid", it == c.indices.end() ? "" : it->second.uuid}});
  }
  return {{"name", name},       {"timestamp_field", {{"name", "@timestamp"}}},
          {"indices", indices}, {"generation", ds.generation},
          {"status", "GREEN"},  {"template", ds.template_name},
          {"hidden", false},    {"system", false}};
}

// A backing index of template `tname`: the component templates' mappings,
// then the template's own, merged property by property.
Index backing_index(const Cluster& c, const std::string& tname,
                    const std::string& name) {
  Index idx = new_index(c, name, {{"index.hidden", "true"}});
  const json& t = c.index_templates.at(tname);
  json mappings = json::object();
  auto merge = [&](const json& tmpl) {
    json m = tmpl.is_object() && tmpl.contains("template") &&
                     tmpl["template"].is_object()
                 ? tmpl["template"].value("mappings", json::object())
                 : json::object();
    if (m.is_object()) {
      mappings.merge_patch(m);
    }
  };
  for (const auto& part : t.value("composed_of", json::array())) {
    if (part.is_string()) {
      if (auto it = c.component_templates.find(part.get<std::string>());
          it != c.component_templates.end()) {
        merge(it->second);
      }
    }
  }
  merge(t);
  idx.mappings = mappings;
  return idx;
}

} // namespace

std::string feature_of(const std::string& name) {
  for (const auto& [feature, index] : k_features) {
    if (index == name) {
      return feature;
    }
  }
  return "";
}

std::string stream_of(const Cluster& c, const std::string& index) {
  for (const auto& [name, ds] : c.data_streams) {
    if (std::find(ds.indices.begin(), ds.indices.end(), index) !=
        ds.indices.end()) {
      return name;
    }
  }
  return "";
}

bool create_data_stream(Cluster& c, const std::string& name, json& error) {
  if (c.data_streams.contains(name) || c.indices.contains(name)) {
    error = {{"type", "resource_already_exists_exception"},
             {"reason", "data_stream [" + name + "] already exists"}};
    return false;
  }
  std::string chosen;
  for (const auto& [tname, t] : c.index_templates) {
    if (!t.contains("data_stream")) {
      continue;
    }
    for (const auto& p : t.value("index_patterns", json::array())) {
      if (p.is_string() &&
          ::fnmatch(p.get<std::string>().c_str(), name.c_str(), 0) == 0) {
        chosen = tname;
      }
    }
  }
  if (chosen.empty()) {
    error = {{"type", "illegal_argument_exception"},
             {"reason", "no matching index template found for data stream [" +
                            name + "]"}};
    return false;
  }
  std::string backing = backing_name(name, 1);
  c.indices[backing] = backing_index(c, chosen, backing);
  c.data_streams[name] = DataStream{{backing}, chosen, 1};
  return true;
}

void register_stream_routes(httplib::Server& s, Cluster& c) {
  s.Put(R"(/_index_template/([^/]+))", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("index_patterns")) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: index patterns are missing;");
      return;
    }
    std::lock_guard lock(c.mu);
    std::string name = req.matches[1];
    std::vector<std::string> missing;
    if (body.contains("composed_of") && body["composed_of"].is_array()) {
      for (const auto& part : body["composed_of"]) {
        if (part.is_string() &&
            !c.component_templates.contains(part.get<std::string>())) {
          missing.push_back(part.get<std::string>());
        }
      }
    }
    if (!missing.empty()) {
      std::string list = "[";
      for (std::size_t i = 0; i < missing.size(); ++i) {
        list += (i > 0 ? ", " : "") + missing[i];
      }
      list += "]";
      send_error(res, 400, "invalid_index_template_exception",
                 "index_template [" + name +
                     "] invalid, cause [index "
                     "template [" +
                     name + "] specifies component templates " + list +
                     " that do not exist]");
      return;
    }
    if (flag_param(req, "create", false) && c.index_templates.contains(name)) {
      send_error(res, 400, "illegal_argument_exception",
                 "index template [" + name + "] already exists");
      return;
    }
    c.index_templates[name] = body;
    send_json(res, {{"acknowledged", true}});
  });
  s.Put(R"(/_component_template/([^/]+))", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("template")) {
      send_error(res, 400, "x_content_parse_exception",
                 "[1:2] Required [template]");
      return;
    }
    std::lock_guard lock(c.mu);
    c.component_templates[req.matches[1]] = body;
    send_json(res, {{"acknowledged", true}});
  });
  s.Get(R"(/_component_template/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    auto it = c.component_templates.find(req.matches[1]);
    if (it == c.component_templates.end()) {
      send_error(res, 404, "resource_not_found_exception",
                 "component template matching [" + req.matches[1].str() +
                     "] not found");
      return;
    }
    send_json(res,
              {{"component_templates",
                {{{"name", it->first}, {"component_template", it->second}}}}});
  });
  s.Post(R"(/([^/_][^/]*)/_rollover)", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    auto it = c.data_streams.find(req.matches[1]);
    if (it == c.data_streams.end()) {
      send_error(res, 400, "illegal_argument_exception",
                 "rollover target [" + req.matches[1].str() +
                     "] does not exist");
      return;
    }
    DataStream& ds = it->second;
    std::string old_index = ds.indices.back();
    std::string next = backing_name(it->first, ds.generation + 1);
    c.indices[next] = backing_index(c, ds.template_name, next);
    ds.indices.push_back(next);
    ++ds.generation;
    send_json(res, {{"acknowledged", true},
                    {"shards_acknowledged", true},
                    {"old_index", old_index},
                    {"new_index", next},
                    {"rolled_over", true},
                    {"dry_run", false},
                    {"conditions", json::object()}});
  });
  s.Get(R"(/_index_template/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    auto it = c.index_templates.find(req.matches[1]);
    if (it == c.index_templates.end()) {
      send_error(res, 404, "resource_not_found_exception",
                 "index template matching [" + req.matches[1].str() +
                     "] not found");
      return;
    }
    send_json(res, {{"index_templates",
                     {{{"name", it->first}, {"index_template", it->second}}}}});
  });
  s.Put(R"(/_data_stream/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    json error;
    if (!create_data_stream(c, req.matches[1], error)) {
      send_error(res, 400, error["type"], error["reason"]);
      return;
    }
    send_json(res, {{"acknowledged", true}});
  });
  auto get = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(c.mu);
    std::string pattern = req.matches.size() > 1 ? req.matches[1].str() : "*";
    json list = json::array();
    for (const auto& [name, ds] : c.data_streams) {
      if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
        list.push_back(stream_json(c, name, ds));
      }
    }
    if (list.empty() && pattern.find('*') == std::string::npos) {
      index_not_found(res, pattern);
      return;
    }
    send_json(res, {{"data_streams", list}});
  };
  s.Get("/_data_stream", get);
  s.Get(R"(/_data_stream/([^/]+))", get);
  s.Delete(R"(/_data_stream/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    auto it = c.data_streams.find(req.matches[1]);
    if (it == c.data_streams.end()) {
      index_not_found(res, req.matches[1]);
      return;
    }
    for (const auto& i : it->second.indices) {
      c.indices.erase(i);
    }
    c.data_streams.erase(it);
    send_json(res, {{"acknowledged", true}});
  });
}

} // namespace snap::emulator::es
