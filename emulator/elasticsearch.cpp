// SPDX-License-Identifier: MIT
// Elasticsearch emulator: cluster info and health, authentication, indices
// (create, get, delete, close, open, exists, mappings, settings, aliases),
// documents and _bulk, _cat/indices and _refresh. Search lives in
// es_search.cpp, snapshots and restores in es_snapshots.cpp.
#include "emulator/es_cluster.hpp"

#include <fnmatch.h>

#include <sstream>

#include "emulator/codec.hpp"

namespace snap::emulator::es {

Index new_index(const Cluster& c, const std::string& name, const json& given) {
  Index idx;
  idx.uuid = random_id();
  idx.created_ms = now_ms();
  json settings = {{"index.number_of_shards", "1"},
                   {"index.number_of_replicas", "1"}};
  if (c.major >= 8) {
    settings["index.routing.allocation.include._tier_preference"] =
        "data_content";
  }
  settings.update(given);
  settings["index.uuid"] = idx.uuid;
  settings["index.creation_date"] = std::to_string(idx.created_ms);
  settings["index.provided_name"] = name;
  settings["index.version.created"] = c.major >= 8 ? "8536000" : "7172599";
  idx.settings = settings;
  return idx;
}

Cluster::Cluster(const ElasticsearchOptions& o, FaultInjector& f)
    : opts(o), faults(f), reject_ids(o.reject_ids.begin(), o.reject_ids.end()),
      reject_429_left(o.reject_429) {
  std::sscanf(o.version.c_str(), "%d.%d", &major, &minor);
  if (o.distribution == "opensearch") {
    os_major = std::max(1, major);
    os_minor = minor;
    major = 7;
    minor = 10;
  }
}

void send_json(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void no_handler(const httplib::Request& req, httplib::Response& res) {
  send_json(res,
            {{"error", "no handler found for uri [" + req.path +
                           "] and method [" + req.method + "]"},
             {"status", 400}},
            400);
}

void send_error(httplib::Response& res, int status, const std::string& type,
                const std::string& reason, const json& extra) {
  json cause = {{"type", type}, {"reason", reason}};
  cause.update(extra);
  json err = cause;
  err["root_cause"] = json::array({cause});
  send_json(res, {{"error", err}, {"status", status}}, status);
}

void index_not_found(httplib::Response& res, const std::string& name) {
  send_error(res, 404, "index_not_found_exception",
             "no such index [" + name + "]",
             {{"resource.type", "index_or_alias"},
              {"resource.id", name},
              {"index", name}});
}

bool flag_param(const httplib::Request& req, const char* name, bool fallback) {
  if (!req.has_param(name)) {
    return fallback;
  }
  std::string v = req.get_param_value(name);
  return v.empty() || v == "true";
}

bool valid_index_name(const std::string& name, std::string& why) {
  if (name.empty() || name == "." || name == "..") {
    why = "must not be empty, '.' or '..'";
  } else if (name.find_first_of("\\/*?\"<>| ,#:") != std::string::npos) {
    why = "must not contain the following characters [ , \", *, \\, <, |, "
          ",, >, /, ?]";
  } else if (name[0] == '_' || name[0] == '-' || name[0] == '+') {
    why = "must not start with '_', '-', or '+'";
  } else if (std::any_of(name.begin(), name.end(),
                         [](char ch) { return std::isupper(ch) != 0; })) {
    why = "must be lowercase";
  } else {
    return true;
  }
  return false;
}

namespace {

struct Expand {
  bool open = true, closed = false, hidden = false;
};

Expand parse_expand(const std::string& text) {
  Expand e{false, false, false};
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "all") {
      e = {true, true, true};
    } else if (item == "open") {
      e.open = true;
    } else if (item == "closed") {
      e.closed = true;
    } else if (item == "hidden") {
      e.hidden = true;
    }
  }
  return e;
}

} // namespace

bool resolve(Cluster& c, const std::string& expr, const httplib::Request& req,
             httplib::Response& res, std::vector<std::string>& out,
             const std::string& default_expand) {
  Expand ex = parse_expand(req.has_param("expand_wildcards")
                               ? req.get_param_value("expand_wildcards")
                               : default_expand);
  bool ignore = flag_param(req, "ignore_unavailable", false);
  std::set<std::string> seen;
  auto add = [&](const std::string& n) {
    if (seen.insert(n).second) {
      out.push_back(n);
    }
  };
  auto expandable = [&](const std::string& name, const Index& idx) {
    return (idx.closed ? ex.closed : ex.open) &&
           (!idx.hidden(name) || ex.hidden);
  };
  std::stringstream in(expr.empty() ? "_all" : expr);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) {
      continue;
    }
    if (part[0] == '-' && !out.empty()) {
      std::string glob = part.substr(1);
      std::erase_if(out, [&](const std::string& n) {
        return ::fnmatch(glob.c_str(), n.c_str(), 0) == 0;
      });
      continue;
    }
    if (part == "_all" || part.find('*') != std::string::npos) {
      std::string glob = part == "_all" ? "*" : part;
      // A data stream a wildcard matches stands for its backing indices,
      // hidden as they are (IndexNameExpressionResolver).
      for (const auto& [name, ds] : c.data_streams) {
        if (::fnmatch(glob.c_str(), name.c_str(), 0) == 0 && ex.open) {
          for (const auto& i : ds.indices) {
            add(i);
          }
        }
      }
      for (const auto& [name, idx] : c.indices) {
        bool hit = ::fnmatch(glob.c_str(), name.c_str(), 0) == 0;
        for (const auto& [alias, def] : idx.aliases.items()) {
          hit |= ::fnmatch(glob.c_str(), alias.c_str(), 0) == 0;
        }
        if (hit && expandable(name, idx)) {
          add(name);
        }
      }
      continue;
    }
    if (c.indices.contains(part)) {
      add(part);
      continue;
    }
    if (auto ds = c.data_streams.find(part); ds != c.data_streams.end()) {
      for (const auto& i : ds->second.indices) {
        add(i);
      }
      continue;
    }
    bool alias = false;
    for (const auto& [name, idx] : c.indices) {
      if (idx.aliases.contains(part)) {
        add(name);
        alias = true;
      }
    }
    if (!alias && !ignore) {
      index_not_found(res, part);
      return false;
    }
  }
  return true;
}

namespace {

// 401 security_exception unless the request carries the configured basic
// credentials or API key.
bool authenticated(const Cluster& c, const httplib::Request& req,
                   httplib::Response& res) {
  const auto& o = c.opts;
  if (o.require_user.empty() && o.require_api_key.empty()) {
    return true;
  }
  std::string auth = req.get_header_value("Authorization");
  if ((!o.require_user.empty() &&
       auth == "Basic " + base64_encode(o.require_user)) ||
      (!o.require_api_key.empty() && auth == "ApiKey " + o.require_api_key)) {
    return true;
  }
  std::string reason;
  if (auth.empty()) {
    reason = "missing authentication credentials for REST request [" +
             req.path + "]";
  } else if (auth.starts_with("Basic ")) {
    reason = "unable to authenticate user for REST request [" + req.path + "]";
  } else {
    reason = "unable to authenticate with provided credentials and anonymous "
             "access is not allowed for this request";
  }
  send_error(res, 401, "security_exception", reason,
             {{"header",
               {{"WWW-Authenticate",
                 json::array({"Basic realm=\"security\", charset=\"UTF-8\"",
                              "ApiKey"})}}}});
  res.set_header("WWW-Authenticate",
                 "Basic realm=\"security\", charset=\"UTF-8\"");
  return false;
}

json index_settings_view(const Index& idx, bool flat) {
  return flat ? idx.settings : nest_settings(idx.settings);
}

bool is_private(const std::string& key) {
  for (std::string_view p :
       {"index.uuid", "index.creation_date", "index.provided_name",
        "index.verified_before_close", "index.version.created",
        "index.version.upgraded", "index.resize.source.name",
        "index.resize.source.uuid"}) {
    if (key == p) {
      return true;
    }
  }
  return false;
}

// PUT /{index}
void create_index(Cluster& c, const std::string& name, const json& body,
                  httplib::Response& res) {
  std::string why;
  if (!valid_index_name(name, why)) {
    send_error(res, 400, "invalid_index_name_exception",
               "Invalid index name [" + name + "], " + why, {{"index", name}});
    return;
  }
  std::lock_guard lock(c.mu);
  if (c.indices.contains(name)) {
    const Index& old = c.indices[name];
    send_error(res, 400, "resource_already_exists_exception",
               "index [" + name + "/" + old.uuid + "] already exists",
               {{"index", name}, {"index_uuid", old.uuid}});
    return;
  }
  json flat = flatten_settings(body.value("settings", json::object()));
  for (const auto& [key, value] : flat.items()) {
    if (is_private(key)) {
      send_error(res, 400, "illegal_argument_exception",
                 "private index setting [" + key +
                     "] can not be set explicitly");
      return;
    }
  }
  Index idx = new_index(c, name, flat);
  idx.mappings = body.value("mappings", json::object());
  if (c.major >= 8 && idx.mappings.size() == 1 &&
      idx.mappings.begin().value().is_object() &&
      idx.mappings.begin().value().contains("properties") &&
      !idx.mappings.contains("properties")) {
    send_error(res, 400, "mapper_parsing_exception",
               "Root mapping definition has unsupported parameters:  [" +
                   idx.mappings.begin().key() + " : " +
                   idx.mappings.begin().value().dump() + "]");
    return;
  }
  idx.aliases = body.value("aliases", json::object());
  c.indices[name] = std::move(idx);
  send_json(
      res,
      {{"acknowledged", true}, {"shards_acknowledged", true}, {"index", name}});
}

// The error a write to a closed or recovering index gets, or null.
json write_blocked(const std::string& name, const Index& idx) {
  if (idx.closed) {
    return {{"type", "index_closed_exception"},
            {"reason", "closed"},
            {"index", name}};
  }
  if (idx.recovering()) {
    return {{"type", "unavailable_shards_exception"},
            {"reason", "[" + name + "][0] primary shard is not active"}};
  }
  return nullptr;
}

struct BulkItem {
  std::string op, index, id, routing;
  std::string source; // raw line
  // index and create: the source parsed, and compact, before the lock.
  json parsed;
  std::string compact;
};

// One item of the answer, its fields in the order Elasticsearch writes
// them (BulkItemResponse.toXContent, DocWriteResponse.innerToXContent).
std::string item_json(const BulkItem& it, int status, const std::string& result,
                      const json& error, std::int64_t seq) {
  std::string out = "{" + json(it.op).dump() +
                    ":{\"_index\":" + json(it.index).dump() +
                    ",\"_id\":" + json(it.id).dump();
  if (error.is_null()) {
    out += ",\"_version\":1,\"result\":" + json(result).dump() +
           ",\"_shards\":{\"total\":2,\"successful\":1,\"failed\":0},"
           "\"_seq_no\":" +
           std::to_string(seq) + ",\"_primary_term\":1";
  } else {
    out += ",\"error\":" + error.dump();
  }
  out += ",\"status\":" + std::to_string(status) + "}}";
  return out;
}

void bulk(Cluster& c, const httplib::Request& req, httplib::Response& res,
          const std::string& path_index) {
  std::string type = req.get_header_value("Content-Type");
  if (type.find("application/json") == std::string::npos &&
      type.find("application/x-ndjson") == std::string::npos) {
    send_json(res,
              {{"error", "Content-Type header [" + type + "] is not supported"},
               {"status", 406}},
              406);
    return;
  }
  const std::string& body = req.body;
  if (body.empty() || body.back() != '\n') {
    send_error(res, 400, "illegal_argument_exception",
               "The bulk request must be terminated by a newline [\\n]");
    return;
  }
  std::vector<BulkItem> items;
  std::size_t pos = 0, line_no = 0;
  auto next_line = [&](std::string& line) {
    if (pos >= body.size()) {
      return false;
    }
    auto nl = body.find('\n', pos);
    line.assign(body, pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    return true;
  };
  std::string line;
  while (next_line(line)) {
    if (line.empty()) {
      continue;
    }
    json action = json::parse(line, nullptr, false);
    if (!action.is_object() || action.size() != 1) {
      send_error(res, 400, "illegal_argument_exception",
                 "Malformed action/metadata line [" + std::to_string(line_no) +
                     "], expected START_OBJECT or found [VALUE_STRING]");
      return;
    }
    BulkItem it;
    it.op = action.begin().key();
    const json& meta = action.begin().value();
    if (it.op != "index" && it.op != "create" && it.op != "update" &&
        it.op != "delete") {
      send_error(res, 400, "illegal_argument_exception",
                 "Malformed action/metadata line [" + std::to_string(line_no) +
                     "], expected field [create], [delete], [index] or "
                     "[update] but found [" +
                     it.op + "]");
      return;
    }
    it.index = meta.value("_index", path_index);
    it.id = meta.value("_id", "");
    it.routing = meta.value("routing", "");
    if (it.index.empty()) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: index is missing;");
      return;
    }
    if (it.op != "delete" && !next_line(it.source)) {
      send_error(res, 400, "illegal_argument_exception",
                 "The bulk request must be terminated by a newline [\\n]");
      return;
    }
    // Parsed here, outside the cluster's lock, so requests in flight at
    // once parse their documents at once.
    if (it.op == "index" || it.op == "create") {
      it.parsed = json::parse(it.source, nullptr, false);
      if (it.parsed.is_object()) {
        it.compact = it.parsed.dump();
      }
    }
    items.push_back(std::move(it));
  }
  std::string out = "{\"took\":3,\"errors\":";
  std::string list;
  bool errors = false;
  std::set<std::string> touched;
  {
    std::lock_guard lock(c.mu);
    std::int64_t seq = 0;
    for (auto& it : items) {
      int status = 200;
      std::string result;
      json error;
      // A data stream takes `create` alone, into its write index, and is
      // made on the first write a data stream template matches.
      if (auto ds = c.data_streams.find(it.index);
          ds == c.data_streams.end() && it.op == "create" &&
          !c.indices.contains(it.index)) {
        json ignored;
        create_data_stream(c, it.index, ignored);
      }
      if (auto ds = c.data_streams.find(it.index); ds != c.data_streams.end()) {
        if (it.op != "create") {
          error = {{"type", "illegal_argument_exception"},
                   {"reason", "only write ops with an op_type of create are "
                              "allowed in data streams"}};
        } else {
          it.index = ds->second.indices.back();
          if (it.id.empty()) {
            it.id = random_id(20);
          }
        }
      }
      auto found = c.indices.find(it.index);
      if (found == c.indices.end() && it.op != "delete" && error.is_null()) {
        std::string why;
        if (!valid_index_name(it.index, why)) {
          error = {{"type", "invalid_index_name_exception"},
                   {"reason", "Invalid index name [" + it.index + "], " + why}};
        } else {
          Index idx = new_index(c, it.index);
          found = c.indices.emplace(it.index, std::move(idx)).first;
        }
      }
      if (it.id.empty() && it.op == "index") {
        it.id = random_id(20);
      }
      if (!error.is_null()) {
        status = 400;
      } else if (found == c.indices.end()) {
        status = 404;
        result = "not_found";
      } else if (json blocked = write_blocked(it.index, found->second);
                 !blocked.is_null()) {
        status = blocked["type"] == "index_closed_exception" ? 400 : 503;
        error = blocked;
      } else if (c.reject_429_left > 0) {
        --c.reject_429_left;
        status = 429;
        error = {{"type", "es_rejected_execution_exception"},
                 {"reason", "rejected execution of coordinating operation "
                            "[coordinating_and_primary_bytes=0, "
                            "max_coordinating_and_primary_bytes=0]"}};
      } else if (c.reject_ids.contains(it.id)) {
        status = 400;
        error = {{"type", c.major >= 8 ? "document_parsing_exception"
                                       : "mapper_parsing_exception"},
                 {"reason", "[1:2] failed to parse: document " + it.id +
                                " was refused by the emulator's "
                                "--reject-doc-ids"}};
      } else {
        Index& idx = found->second;
        if (it.op == "delete") {
          bool gone = idx.remove(it.id);
          status = gone ? 200 : 404;
          result = gone ? "deleted" : "not_found";
        } else {
          bool update = it.op == "update";
          json src = update ? json::parse(it.source, nullptr, false)
                            : std::move(it.parsed);
          if (update) {
            auto at = idx.by_id.find(it.id);
            if (at == idx.by_id.end() || !idx.slots[at->second]) {
              status = 404;
              error = {{"type", "document_missing_exception"},
                       {"reason", "[" + it.id + "]: document missing"}};
            } else if (src.is_object() && src.contains("doc")) {
              json merged = json::parse(idx.slots[at->second]->source);
              merged.merge_patch(src["doc"]);
              src = merged;
            }
          }
          if (!error.is_null()) {
          } else if (!src.is_object()) {
            status = 400;
            error = {{"type", "mapper_parsing_exception"},
                     {"reason", "failed to parse"}};
          } else if (it.op == "create" && idx.by_id.contains(it.id)) {
            status = 409;
            error = {{"type", "version_conflict_engine_exception"},
                     {"reason", "[" + it.id +
                                    "]: version conflict, document already "
                                    "exists (current version [1])"}};
          } else if (auto strict = map_dynamically(idx.mappings, src)) {
            status = 400;
            error = {{"type", "strict_dynamic_mapping_exception"},
                     {"reason", "[1:2] " + *strict}};
          } else {
            bool created = idx.put(std::make_shared<const Doc>(
                Doc{it.id, update ? src.dump() : std::move(it.compact),
                    it.routing, json(it.id).dump()}));
            status = created ? 201 : 200;
            result = created ? "created" : "updated";
          }
        }
        touched.insert(it.index);
      }
      if (!error.is_null()) {
        errors = true;
        error["index"] = it.index;
      }
      list += (list.empty() ? "" : ",") +
              item_json(it, status, result, error, seq++);
      if (!error.is_null() || status == 404) {
        continue;
      }
    }
    std::string refresh = req.get_param_value("refresh");
    if (req.has_param("refresh") && refresh != "false") {
      for (const auto& name : touched) {
        c.indices[name].refresh();
      }
    }
  }
  out += errors ? "true" : "false";
  out += ",\"items\":[" + list + "]}";
  res.set_content(out, "application/json");
}

json index_row(const std::string& name, const Index& idx) {
  std::string health = idx.closed ? "" : idx.recovering() ? "red" : "yellow";
  std::string count = std::to_string(idx.view->size());
  return {{"health", health},
          {"status", idx.closed ? "close" : "open"},
          {"index", name},
          {"uuid", idx.uuid},
          {"pri", std::to_string(idx.shards())},
          {"rep", idx.settings.value("index.number_of_replicas", "1")},
          {"docs.count", idx.closed ? json(nullptr) : json(count)},
          {"docs.deleted", idx.closed ? json(nullptr) : json("0")},
          {"store.size", std::to_string(idx.source_bytes)},
          {"pri.store.size", std::to_string(idx.source_bytes)}};
}

void cat_indices(Cluster& c, const httplib::Request& req,
                 httplib::Response& res, const std::string& expr) {
  std::lock_guard lock(c.mu);
  c.advance();
  std::vector<std::string> names;
  if (!resolve(c, expr, req, res, names, "all")) {
    return;
  }
  std::vector<std::string> columns;
  std::stringstream h(req.has_param("h")
                          ? req.get_param_value("h")
                          : "health,status,index,uuid,pri,rep,docs.count,"
                            "docs.deleted,store.size,pri.store.size");
  for (std::string col; std::getline(h, col, ',');) {
    columns.push_back(col);
  }
  json rows = json::array();
  std::string text;
  for (const auto& name : names) {
    json full = index_row(name, c.indices[name]);
    json row = json::object();
    for (const auto& col : columns) {
      row[col] = full.value(col, json(nullptr));
      text += (col == columns.front() ? "" : " ") +
              (row[col].is_string() ? row[col].get<std::string>() : "");
    }
    text += "\n";
    rows.push_back(row);
  }
  if (req.get_param_value("format") == "json") {
    send_json(res, rows);
  } else {
    res.set_content(text, "text/plain; charset=UTF-8");
  }
}

void get_indices(Cluster& c, const httplib::Request& req,
                 httplib::Response& res, const std::string& expr,
                 const std::string& what) {
  std::lock_guard lock(c.mu);
  std::vector<std::string> names;
  if (!resolve(c, expr, req, res, names, what == "" ? "open" : "all")) {
    return;
  }
  bool flat = flag_param(req, "flat_settings", false);
  json out = json::object();
  for (const auto& name : names) {
    const Index& idx = c.indices[name];
    json entry = json::object();
    if (what == "" || what == "_alias") {
      entry["aliases"] = idx.aliases;
    }
    if (what == "" || what == "_mapping") {
      entry["mappings"] = idx.mappings;
    }
    if (what == "" || what == "_settings") {
      entry["settings"] = index_settings_view(idx, flat);
    }
    out[name] = entry;
  }
  send_json(res, out);
}

void open_close(Cluster& c, const httplib::Request& req, httplib::Response& res,
                const std::string& expr, bool close) {
  std::lock_guard lock(c.mu);
  std::vector<std::string> names;
  if (!resolve(c, expr, req, res, names, "open")) {
    return;
  }
  json result = json::object();
  for (const auto& name : names) {
    Index& idx = c.indices[name];
    idx.closed = close;
    if (!close) {
      idx.refresh();
    }
    result[name] = {{"closed", true}};
  }
  json body = {{"acknowledged", true}, {"shards_acknowledged", true}};
  if (close) {
    body["indices"] = result;
  }
  send_json(res, body);
}

json info_body(const Cluster& c) {
  if (c.opensearch()) {
    // OpenSearch's RestMainAction (server/.../rest/action/RestMainAction,
    // MainResponse): version.distribution "opensearch", no build_flavor,
    // and the wire compatibility of the Elasticsearch 7.10.2 it forked.
    json version = {{"distribution", "opensearch"},
                    {"number", c.opts.version},
                    {"build_type", "tar"},
                    {"build_hash", "emulator"},
                    {"build_date", "2025-06-01T00:00:00.000Z"},
                    {"build_snapshot", false},
                    {"lucene_version", c.os_major >= 3 ? "10.1.0" : "9.12.1"},
                    {"minimum_wire_compatibility_version",
                     c.os_major >= 3 ? "2.19.0" : "7.10.0"},
                    {"minimum_index_compatibility_version",
                     c.os_major >= 3 ? "2.0.0" : "7.0.0"}};
    return {{"name", "emulator-node"},
            {"cluster_name", "snap-emulator"},
            {"cluster_uuid", c.cluster_uuid},
            {"version", version},
            {"tagline", "The OpenSearch Project: https://opensearch.org/"}};
  }
  json version = {
      {"number", c.opts.version},
      {"build_flavor", "default"},
      {"build_type", "docker"},
      {"build_hash", "emulator"},
      {"build_date", "2025-06-01T00:00:00.000Z"},
      {"build_snapshot", false},
      {"lucene_version", c.major >= 8 ? "9.12.2" : "8.11.3"},
      {"minimum_wire_compatibility_version", c.major >= 8 ? "7.17.0" : "6.8.0"},
      {"minimum_index_compatibility_version",
       c.major >= 8 ? "7.0.0" : "6.0.0-beta1"}};
  return {{"name", "emulator-node"},
          {"cluster_name", "snap-emulator"},
          {"cluster_uuid", c.cluster_uuid},
          {"version", version},
          {"tagline", "You Know, for Search"}};
}

void register_index_routes(httplib::Server& s, Cluster& c) {
  s.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, info_body(c));
  });
  auto health = [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(c.mu);
    c.advance();
    bool red = false;
    int shards = 0;
    for (const auto& [name, idx] : c.indices) {
      red |= idx.recovering();
      shards += idx.closed ? 0 : idx.shards();
    }
    send_json(res, {{"cluster_name", "snap-emulator"},
                    {"status", red                 ? "red"
                               : c.indices.empty() ? "green"
                                                   : "yellow"},
                    {"timed_out", false},
                    {"number_of_nodes", 1},
                    {"number_of_data_nodes", 1},
                    {"active_primary_shards", shards},
                    {"active_shards", shards},
                    {"relocating_shards", 0},
                    {"initializing_shards", 0},
                    {"unassigned_shards", shards}});
  };
  s.Get("/_cluster/health", health);
  s.Get(R"(/_cluster/health/([^/]+))", health);
  s.Get("/_cat/indices",
        [&](const auto& req, auto& res) { cat_indices(c, req, res, "_all"); });
  s.Get(R"(/_cat/indices/([^/]+))", [&](const auto& req, auto& res) {
    cat_indices(c, req, res, req.matches[1]);
  });
  auto refresh = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(c.mu);
    std::vector<std::string> names;
    std::string expr =
        req.matches.size() > 1 ? std::string(req.matches[1]) : "_all";
    if (!resolve(c, expr, req, res, names)) {
      return;
    }
    for (const auto& n : names) {
      c.indices[n].refresh();
    }
    int n = static_cast<int>(names.size());
    send_json(res, {{"_shards",
                     {{"total", 2 * n}, {"successful", n}, {"failed", 0}}}});
  };
  s.Post("/_refresh", refresh);
  s.Get("/_refresh", refresh);
  s.Post(R"(/([^/_][^/]*)/_refresh)", refresh);
  s.Get(R"(/([^/_][^/]*)/_refresh)", refresh);
  s.Post("/_bulk", [&](const auto& req, auto& res) { bulk(c, req, res, ""); });
  s.Put("/_bulk", [&](const auto& req, auto& res) { bulk(c, req, res, ""); });
  s.Post(R"(/([^/_][^/]*)/_bulk)", [&](const auto& req, auto& res) {
    bulk(c, req, res, req.matches[1]);
  });
  s.Put(R"(/([^/_][^/]*)/_bulk)",
        [&](const auto& req, auto& res) { bulk(c, req, res, req.matches[1]); });
  s.Get("/_alias", [&](const auto& req, auto& res) {
    get_indices(c, req, res, "_all", "_alias");
  });
  for (std::string what : {"_mapping", "_settings", "_alias"}) {
    s.Get("/([^/_][^/]*)/" + what, [&c, what](const auto& req, auto& res) {
      get_indices(c, req, res, req.matches[1], what);
    });
  }
  s.Post(R"(/([^/_][^/]*)/_close)", [&](const auto& req, auto& res) {
    open_close(c, req, res, req.matches[1], true);
  });
  s.Post(R"(/([^/_][^/]*)/_open)", [&](const auto& req, auto& res) {
    open_close(c, req, res, req.matches[1], false);
  });
  // Single documents, for tests that set up and read state.
  auto put_doc = [&](const httplib::Request& req, httplib::Response& res) {
    std::string body =
        "{\"index\":{\"_index\":" + json(std::string(req.matches[1])).dump() +
        ",\"_id\":" + json(std::string(req.matches[2])).dump() + "}}\n" +
        json::parse(req.body, nullptr, false).dump() + "\n";
    httplib::Request inner = req;
    inner.body = body;
    httplib::Response out;
    bulk(c, inner, out, "");
    json r = json::parse(out.body, nullptr, false);
    if (out.status != 200 && out.status != -1) {
      res = out;
      return;
    }
    json item = r["items"][0]["index"];
    send_json(res, item, item.value("status", 200));
  };
  s.Put(R"(/([^/_][^/]*)/_doc/([^/]+))", put_doc);
  s.Post(R"(/([^/_][^/]*)/_doc/([^/]+))", put_doc);
  s.Get(R"(/([^/_][^/]*)/_doc/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string name = req.matches[1], id = req.matches[2];
    auto it = c.indices.find(name);
    if (it == c.indices.end()) {
      index_not_found(res, name);
      return;
    }
    auto at = it->second.by_id.find(id);
    if (at == it->second.by_id.end() || !it->second.slots[at->second]) {
      send_json(res, {{"_index", name}, {"_id", id}, {"found", false}}, 404);
      return;
    }
    send_json(res,
              {{"_index", name},
               {"_id", id},
               {"_version", 1},
               {"found", true},
               {"_source", json::parse(it->second.slots[at->second]->source)}});
  });
  s.Delete(R"(/([^/_][^/]*)/_doc/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string name = req.matches[1], id = req.matches[2];
    auto it = c.indices.find(name);
    if (it == c.indices.end()) {
      index_not_found(res, name);
      return;
    }
    bool gone = it->second.remove(id);
    send_json(res,
              {{"_index", name},
               {"_id", id},
               {"result", gone ? "deleted" : "not_found"}},
              gone ? 200 : 404);
  });
  // Indices themselves, last: /{index} matches any single segment.
  s.Put(R"(/([^/_][^/]*))", [&](const auto& req, auto& res) {
    json body = req.body.empty() ? json::object()
                                 : json::parse(req.body, nullptr, false);
    if (!body.is_object()) {
      send_error(res, 400, "parse_exception", "request body is required");
      return;
    }
    create_index(c, req.matches[1], body, res);
  });
  s.Get(R"(/([^/_][^/]*))", [&](const auto& req, auto& res) {
    get_indices(c, req, res, req.matches[1], "");
  });
  s.Delete(R"(/([^/_][^/]*))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string expr = req.matches[1];
    if (expr.find('*') != std::string::npos || expr == "_all") {
      send_error(res, 400, "illegal_argument_exception",
                 "Wildcard expressions or all indices are not allowed");
      return;
    }
    std::vector<std::string> names;
    if (!resolve(c, expr, req, res, names, "open,closed")) {
      return;
    }
    for (const auto& n : names) {
      std::string ds = stream_of(c, n);
      if (!ds.empty() && c.data_streams[ds].indices.back() == n) {
        send_error(res, 400, "illegal_argument_exception",
                   "index [" + n + "] is the write index for data stream [" +
                       ds + "] and cannot be deleted");
        return;
      }
    }
    for (const auto& n : names) {
      if (std::string ds = stream_of(c, n); !ds.empty()) {
        std::erase(c.data_streams[ds].indices, n);
      }
      c.indices.erase(n);
    }
    send_json(res, {{"acknowledged", true}});
  });
}

} // namespace

} // namespace snap::emulator::es

namespace snap::emulator {

void register_elasticsearch(httplib::Server& server, FaultInjector& faults,
                            const ElasticsearchOptions& options) {
  // Lives as long as the process: the server's handlers refer to it.
  static es::Cluster cluster(options, faults);
  es::Cluster& c = cluster;
  server.set_pre_routing_handler(
      [&c](const httplib::Request& req, httplib::Response& res) {
        if (c.at_least(7, 14)) {
          res.set_header("X-Elastic-Product", "Elasticsearch");
        }
        if (c.faults.intercept(req, res)) {
          return httplib::Server::HandlerResponse::Handled;
        }
        if (!es::authenticated(c, req, res)) {
          close_if_body_unread(req, res);
          return httplib::Server::HandlerResponse::Handled;
        }
        // Netty's HttpObjectDecoder refuses a request line longer than
        // http.max_initial_line_length (4kb by default; HttpTransportSettings
        // SETTING_HTTP_MAX_INITIAL_LINE_LENGTH), and Elasticsearch answers
        // the decoder's failure with a 400 (too_long_http_line_exception
        // from 7.x, too_long_frame_exception before).
        std::size_t line =
            req.method.size() + 1 + req.target.size() + 1 + req.version.size();
        if (line > 4096) {
          es::send_error(res, 400, "too_long_http_line_exception",
                         "An HTTP line is larger than 4096 bytes.");
          res.set_header("Connection", "close");
          return httplib::Server::HandlerResponse::Handled;
        }
        // Elasticsearch reads a GET's body (GET _search {…}); cpp-httplib
        // never does, so say so rather than answer as if it were empty.
        std::string length = req.get_header_value("Content-Length");
        if (req.method == "GET" && !length.empty() && length != "0") {
          es::send_error(res, 400, "illegal_argument_exception",
                         "snap-emulator cannot read the body of a GET "
                         "request; send it with POST (elasticdump: "
                         "--scroll-with-post)");
          res.set_header("Connection", "close");
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  server.set_error_handler(
      [&c](const httplib::Request& req, httplib::Response& res) {
        if (res.status == 404 && res.body.empty()) {
          es::no_handler(req, res);
        }
        (void)c;
      });
  es::register_search_routes(server, c);
  es::register_snapshot_routes(server, c);
  es::register_stream_routes(server, c);
  es::register_definition_routes(server, c);
  es::register_index_routes(server, c);
}

} // namespace snap::emulator
