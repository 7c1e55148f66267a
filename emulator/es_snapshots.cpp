// SPDX-License-Identifier: MIT
// Elasticsearch emulator: snapshot repositories (fs, kept in memory, its
// location checked against path.repo), snapshots that stay IN_PROGRESS for
// --snapshot-ms and end SUCCESS, PARTIAL or FAILED, _status with per-shard
// stages, restores with their refusals, and _recovery while restored
// indices recover.
#include "emulator/clock.hpp"
#include "emulator/es_cluster.hpp"

#include <fnmatch.h>

#include <regex>
#include <sstream>
#include <thread>

namespace snap::emulator::es {

void Cluster::advance() {
  std::int64_t now = now_ms();
  for (auto& [rname, repo] : repos) {
    for (auto& [sname, s] : repo.snapshots) {
      if (s.state == "IN_PROGRESS" && now >= s.start_ms + opts.snapshot_ms) {
        s.state = s.outcome;
        s.end_ms = now;
        if (s.state == "FAILED") {
          s.reason = "[" + rname + ":" + sname +
                     "] failed to update snapshot in repository";
        }
      }
    }
  }
}

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) {
      out.push_back(item);
    }
  }
  return out;
}

std::vector<std::string> names_of(const json& v) {
  if (v.is_string()) {
    return split(v.get<std::string>());
  }
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& x : v) {
      out.push_back(x.get<std::string>());
    }
  }
  return out;
}

bool glob(const std::string& pattern, const std::string& name) {
  return pattern == "_all" || ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

std::string where(const std::string& repo, const std::string& snap) {
  return "[" + repo + ":" + snap + "]";
}

void repository_missing(httplib::Response& res, const std::string& repo) {
  send_error(res, 404, "repository_missing_exception",
             "[" + repo + "] missing");
}

void snapshot_missing(httplib::Response& res, const std::string& repo,
                      const std::string& snap) {
  send_error(res, 404, "snapshot_missing_exception",
             where(repo, snap) + " is missing");
}

int total_shards(const Snapshot& s) {
  int n = 0;
  for (const auto& [name, i] : s.indices) {
    n += i.shards;
  }
  return n;
}

int failed_shards(const Snapshot& s) {
  if (s.state != "PARTIAL") {
    return 0;
  }
  int n = 0;
  for (const auto& [name, i] : s.indices) {
    n += i.failed ? 1 : 0;
  }
  return n;
}

json snapshot_info(const Cluster& c, const std::string& repo,
                   const Snapshot& s) {
  json indices = json::array();
  for (const auto& [name, i] : s.indices) {
    indices.push_back(name);
  }
  json streams = json::array();
  for (const auto& [name, ds] : s.data_streams) {
    streams.push_back(name);
  }
  bool running = s.state == "IN_PROGRESS";
  int total = running ? 0 : total_shards(s);
  int failed = failed_shards(s);
  json failures = json::array();
  for (const auto& [name, i] : s.indices) {
    if (i.failed && s.state == "PARTIAL") {
      failures.push_back(
          {{"index", name},
           {"index_uuid", name},
           {"shard_id", 0},
           {"reason", "IndexShardSnapshotFailedException[primary shard is "
                      "not allocated]"},
           {"node_id", "emulator-node"},
           {"status", "INTERNAL_SERVER_ERROR"}});
    }
  }
  json info = {{"snapshot", s.name}, {"uuid", s.uuid}};
  if (c.at_least(7, 14)) {
    info["repository"] = repo;
  }
  info.update({{"version_id", c.major >= 8 ? 8536000 : 7172599},
               {"version", c.opts.version},
               {"indices", indices},
               {"data_streams", streams},
               {"include_global_state", s.include_global_state},
               {"state", s.state},
               {"start_time", rfc3339(s.start_ms, 3)},
               {"start_time_in_millis", s.start_ms}});
  if (!s.metadata.is_null()) {
    info["metadata"] = s.metadata;
  }
  if (!running) {
    info["end_time"] = rfc3339(s.end_ms, 3);
    info["end_time_in_millis"] = s.end_ms;
    info["duration_in_millis"] = s.end_ms - s.start_ms;
  }
  if (!s.reason.empty()) {
    info["reason"] = s.reason;
  }
  info["failures"] = failures;
  info["shards"] = {{"total", total},
                    {"failed", failed},
                    {"successful", s.state == "FAILED" ? 0 : total - failed}};
  if (c.at_least(7, 12)) {
    info["feature_states"] = s.feature_states;
  }
  return info;
}

// One entry of a _status answer.
json status_entry(const Cluster& c, const std::string& repo,
                  const Snapshot& s) {
  bool running = s.state == "IN_PROGRESS";
  double f = running
                 ? std::min(1.0, double(now_ms() - s.start_ms) /
                                     double(std::max(1L, c.opts.snapshot_ms)))
                 : 1.0;
  auto stats = [&](std::uint64_t bytes, double part) {
    auto done = static_cast<std::uint64_t>(double(bytes) * part);
    return json{
        {"incremental", {{"file_count", 1}, {"size_in_bytes", bytes}}},
        {"processed",
         {{"file_count", part >= 1 ? 1 : 0}, {"size_in_bytes", done}}},
        {"total", {{"file_count", 1}, {"size_in_bytes", bytes}}},
        {"start_time_in_millis", s.start_ms},
        {"time_in_millis", (running ? now_ms() : s.end_ms) - s.start_ms}};
  };
  int total = total_shards(s);
  int done = static_cast<int>(double(total) * f);
  int failed = failed_shards(s);
  std::uint64_t bytes = 0;
  json indices = json::object();
  int seen = 0;
  for (const auto& [name, i] : s.indices) {
    bytes += i.bytes;
    json shards = json::object();
    int idone = 0, ifailed = 0;
    for (int k = 0; k < i.shards; ++k, ++seen) {
      std::string stage = seen < done ? "DONE" : "STARTED";
      if (!running && i.failed && k == 0 && s.state == "PARTIAL") {
        stage = "FAILURE";
      }
      if (!running && s.state == "FAILED") {
        stage = "FAILURE";
      }
      idone += stage == "DONE" ? 1 : 0;
      ifailed += stage == "FAILURE" ? 1 : 0;
      shards[std::to_string(k)] = {{"stage", stage},
                                   {"stats", stats(i.bytes / i.shards, f)}};
    }
    indices[name] = {{"shards_stats",
                      {{"initializing", 0},
                       {"started", i.shards - idone - ifailed},
                       {"finalizing", 0},
                       {"done", idone},
                       {"failed", ifailed},
                       {"total", i.shards}}},
                     {"stats", stats(i.bytes, f)},
                     {"shards", shards}};
  }
  std::string state = running               ? "STARTED"
                      : s.state == "FAILED" ? "FAILED"
                                            : "SUCCESS";
  return {{"snapshot", s.name},
          {"repository", repo},
          {"uuid", s.uuid},
          {"state", state},
          {"include_global_state", s.include_global_state},
          {"shards_stats",
           {{"initializing", 0},
            {"started", running ? total - done : 0},
            {"finalizing", 0},
            {"done", running ? done : total - failed},
            {"failed", running ? 0 : failed},
            {"total", total}}},
          {"stats", stats(bytes, f)},
          {"indices", indices}};
}

bool valid_snapshot_name(const std::string& name, std::string& why) {
  if (name.empty()) {
    why = "cannot be empty";
  } else if (name.find_first_of("\\/*?\"<>| ,#") != std::string::npos) {
    why = "must not contain the following characters [ , \", *, \\, <, |, "
          ",, >, /, ?]";
  } else if (name[0] == '_') {
    why = "must not start with '_'";
  } else if (std::any_of(name.begin(), name.end(),
                         [](char ch) { return std::isupper(ch) != 0; })) {
    why = "must be lowercase";
  } else {
    return true;
  }
  return false;
}

void put_repository(Cluster& c, const httplib::Request& req,
                    httplib::Response& res, const std::string& name) {
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("type")) {
    send_error(res, 400, "action_request_validation_exception",
               "Validation Failed: 1: type is missing;");
    return;
  }
  std::string type = body.value("type", "");
  json settings = body.value("settings", json::object());
  if (type != "fs" && type != "url") {
    send_error(res, 500, "repository_exception",
               "[" + name + "] repository type [" + type + "] does not exist");
    return;
  }
  if (type == "fs") {
    std::string loc = settings.value("location", "");
    if (loc.empty()) {
      send_error(res, 500, "repository_exception",
                 "[" + name + "] missing location");
      return;
    }
    std::filesystem::path p(loc);
    if (p.is_relative()) {
      p = c.opts.path_repo / p;
    }
    p = p.lexically_normal();
    std::string root = c.opts.path_repo.lexically_normal().string();
    if (c.opts.path_repo.empty() || !p.string().starts_with(root)) {
      send_error(res, 500, "repository_exception",
                 "[" + name + "] location [" + loc +
                     "] doesn't match any of the locations specified by "
                     "path.repo");
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(p, ec);
  }
  std::lock_guard lock(c.mu);
  Repository& r = c.repos[name];
  if (r.uuid.empty()) {
    r.uuid = random_id();
    // A repository registered where one was: its snapshots are read back.
    auto kept = c.stored.find(settings.value("location", name));
    if (kept != c.stored.end()) {
      r.snapshots = std::move(kept->second);
      c.stored.erase(kept);
    }
  }
  r.type = type;
  r.settings = settings;
  send_json(res, {{"acknowledged", true}});
}

void get_repositories(Cluster& c, httplib::Response& res,
                      const std::string& expr) {
  std::lock_guard lock(c.mu);
  json out = json::object();
  for (const auto& pattern : split(expr.empty() ? "_all" : expr)) {
    bool found = false;
    for (const auto& [name, r] : c.repos) {
      if (glob(pattern, name)) {
        out[name] = {
            {"type", r.type}, {"uuid", r.uuid}, {"settings", r.settings}};
        found = true;
      }
    }
    if (!found && pattern.find('*') == std::string::npos && pattern != "_all") {
      repository_missing(res, pattern);
      return;
    }
  }
  send_json(res, out);
}

// Feature states came with Elasticsearch 7.12. Before, and in OpenSearch
// (forked from 7.10), RestoreSnapshotRequest.source refuses a field it
// does not know ("Unknown parameter <name>"), while
// CreateSnapshotRequest.source skips it: a create with feature_states
// succeeds and ignores them (OpenSearch's CreateSnapshotRequest, which
// Camunda's OpenSearch backup repository relies on when it sends
// featureStates "none").
bool unknown_feature_states(const Cluster& c, const json& body,
                            httplib::Response& res) {
  if (c.at_least(7, 12) || !body.contains("feature_states")) {
    return false;
  }
  send_error(res, 400, "illegal_argument_exception",
             "Unknown parameter feature_states");
  return true;
}

void create_snapshot(Cluster& c, const httplib::Request& req,
                     httplib::Response& res, const std::string& repo,
                     const std::string& name) {
  json body =
      req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    send_error(res, 400, "parse_exception", "failed to parse the body");
    return;
  }
  if (!c.at_least(7, 12)) {
    body.erase("feature_states");
  }
  std::string why;
  if (!valid_snapshot_name(name, why)) {
    send_error(res, 400, "invalid_snapshot_name_exception",
               where(repo, name) + " Invalid snapshot name [" + name + "], " +
                   why);
    return;
  }
  // CreateSnapshotRequest.validate: the user metadata, as compact JSON, is
  // at most 1024 bytes.
  if (const json& md = body.value("metadata", json()); md.is_object()) {
    std::size_t n = md.dump().size();
    if (n > 1024) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: metadata must be smaller than 1024 "
                 "bytes, but was [" +
                     std::to_string(n) + "];");
      return;
    }
  }
  std::unique_lock lock(c.mu);
  c.advance();
  auto r = c.repos.find(repo);
  if (r == c.repos.end()) {
    repository_missing(res, repo);
    return;
  }
  if (r->second.snapshots.contains(name)) {
    send_error(res, 400, "invalid_snapshot_name_exception",
               where(repo, name) + " Invalid snapshot name [" + name +
                   "], snapshot with the same name already exists");
    return;
  }
  std::string expr;
  for (const auto& n : names_of(body.value("indices", json("_all")))) {
    expr += (expr.empty() ? "" : ",") + n;
  }
  httplib::Request scoped = req;
  scoped.params.clear();
  if (body.value("ignore_unavailable", false)) {
    scoped.params.emplace("ignore_unavailable", "true");
  }
  // CreateSnapshotRequest.source: expand_wildcards as a string or a list.
  if (const json& ew = body.value("expand_wildcards", json());
      ew.is_string() || ew.is_array()) {
    std::string v;
    for (const auto& e : ew.is_string() ? json::array({ew}) : ew) {
      v += (v.empty() ? "" : ",") + e.get<std::string>();
    }
    scoped.params.emplace("expand_wildcards", v);
  }
  std::vector<std::string> names;
  if (!resolve(c, expr, scoped, res, names, "open")) {
    return;
  }
  bool partial = body.value("partial", false);
  if (c.opts.outcome == "partial" && !partial && !names.empty()) {
    send_error(res, 500, "snapshot_exception",
               where(repo, name) + " Indices don't have primary shards [" +
                   names.back() + "]");
    return;
  }
  Snapshot s;
  s.name = name;
  s.uuid = random_id();
  s.outcome = c.opts.outcome == "partial"  ? "PARTIAL"
              : c.opts.outcome == "failed" ? "FAILED"
                                           : "SUCCESS";
  s.include_global_state = body.value("include_global_state", true);
  s.metadata = body.value("metadata", json());
  s.start_ms = now_ms();
  // Feature states (SnapshotsService): those named, or with no
  // feature_states every feature when include_global_state is true (its
  // default); ["none"] for none. Their system indices go in with them.
  std::vector<std::string> features;
  json wanted = body.value("feature_states", json());
  for (const auto& [index, idx] : c.indices) {
    std::string f = feature_of(index);
    bool take = f.empty()          ? false
                : wanted.is_null() ? s.include_global_state
                                   : std::find(wanted.begin(), wanted.end(),
                                               f) != wanted.end();
    if (take) {
      s.feature_states.push_back(
          {{"feature_name", f}, {"indices", json::array({index})}});
      names.push_back(index);
    }
  }
  // A data stream is in the snapshot when its backing indices are.
  for (const auto& [ds_name, ds] : c.data_streams) {
    bool all = !ds.indices.empty();
    for (const auto& i : ds.indices) {
      all = all && std::find(names.begin(), names.end(), i) != names.end();
    }
    if (all) {
      s.data_streams[ds_name] = ds;
    }
  }
  for (const auto& n : names) {
    const Index& idx = c.indices[n];
    SnapshotIndex si{idx.settings,
                     idx.mappings,
                     idx.aliases,
                     idx.current(),
                     idx.source_bytes,
                     idx.shards(),
                     s.outcome == "PARTIAL" && n == names.back()};
    s.indices[n] = std::move(si);
  }
  r->second.snapshots[name] = s;
  if (!flag_param(req, "wait_for_completion", false)) {
    send_json(res, {{"accepted", true}});
    return;
  }
  lock.unlock();
  std::this_thread::sleep_for(std::chrono::milliseconds(c.opts.snapshot_ms));
  lock.lock();
  c.advance();
  send_json(res, {{"snapshot",
                   snapshot_info(c, repo, c.repos[repo].snapshots[name])}});
}

// The snapshots of `repo` that `expr` names, or false after a 404.
bool pick_snapshots(Cluster& c, const httplib::Request& req,
                    httplib::Response& res, const std::string& repo,
                    const std::string& expr, std::vector<Snapshot*>& out) {
  auto r = c.repos.find(repo);
  if (r == c.repos.end()) {
    repository_missing(res, repo);
    return false;
  }
  bool ignore = flag_param(req, "ignore_unavailable", false);
  for (const auto& pattern : split(expr)) {
    bool found = false;
    for (auto& [name, s] : r->second.snapshots) {
      bool current = pattern == "_current" && s.state == "IN_PROGRESS";
      if (current || (pattern != "_current" && glob(pattern, name))) {
        if (std::find(out.begin(), out.end(), &s) == out.end()) {
          out.push_back(&s);
        }
        found = true;
      }
    }
    bool wild = pattern.find('*') != std::string::npos || pattern == "_all" ||
                pattern == "_current";
    if (!found && !wild && !ignore) {
      snapshot_missing(res, repo, pattern);
      return false;
    }
  }
  std::sort(out.begin(), out.end(), [](const Snapshot* a, const Snapshot* b) {
    return a->start_ms < b->start_ms;
  });
  return true;
}

void snapshot_status(Cluster& c, const httplib::Request& req,
                     httplib::Response& res, const std::string& repo,
                     const std::string& snap) {
  std::lock_guard lock(c.mu);
  c.advance();
  json list = json::array();
  if (!snap.empty()) {
    std::vector<Snapshot*> picked;
    if (!pick_snapshots(c, req, res, repo, snap, picked)) {
      return;
    }
    for (const Snapshot* s : picked) {
      list.push_back(status_entry(c, repo, *s));
    }
  } else {
    if (!repo.empty() && !c.repos.contains(repo)) {
      repository_missing(res, repo);
      return;
    }
    for (const auto& [rname, r] : c.repos) {
      if (!repo.empty() && rname != repo) {
        continue;
      }
      for (const auto& [name, s] : r.snapshots) {
        if (s.state == "IN_PROGRESS") {
          list.push_back(status_entry(c, rname, s));
        }
      }
    }
  }
  send_json(res, {{"snapshots", list}});
}

void restore(Cluster& c, const httplib::Request& req, httplib::Response& res,
             const std::string& repo, const std::string& name) {
  json body =
      req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    send_error(res, 400, "parse_exception", "failed to parse the body");
    return;
  }
  if (unknown_feature_states(c, body, res)) {
    return;
  }
  std::unique_lock lock(c.mu);
  c.advance();
  std::vector<Snapshot*> picked;
  if (!pick_snapshots(c, req, res, repo, name, picked) || picked.empty()) {
    if (picked.empty() && res.body.empty()) {
      snapshot_missing(res, repo, name);
    }
    return;
  }
  Snapshot& s = *picked.front();
  auto refuse = [&](const std::string& why) {
    send_error(res, 500, "snapshot_restore_exception",
               where(repo, name) + " " + why);
  };
  if (s.state != "SUCCESS" && s.state != "PARTIAL") {
    refuse("unsupported snapshot state [" + s.state + "]");
    return;
  }
  if (body.value("include_global_state", false) && !s.include_global_state) {
    refuse("cannot restore global state since the snapshot was created "
           "without global state");
    return;
  }
  std::vector<std::string> patterns =
      names_of(body.value("indices", json("_all")));
  std::string rename_pattern = body.value("rename_pattern", "");
  std::string rename_to = body.value("rename_replacement", "");
  bool aliases = body.value("include_aliases", true);
  bool partial = body.value("partial", false);
  auto matches = [&](const std::string& name) {
    bool in = false;
    for (const auto& p : patterns) {
      if (p[0] == '-') {
        in &= !glob(p.substr(1), name);
      } else {
        in |= glob(p, name);
      }
    }
    return in;
  };
  // RestoreService.startRestore: system indices come back only with their
  // feature state; naming one is refused. A data stream named (or matched)
  // brings its backing indices and comes back as a data stream; a backing
  // index named alone comes back as a plain index.
  std::map<std::string, std::string> system; // index -> feature
  for (const auto& f : s.feature_states) {
    for (const auto& i : f.value("indices", json::array())) {
      system[i.get<std::string>()] = f.value("feature_name", "");
    }
  }
  std::vector<std::string> named_system;
  for (const auto& p : patterns) {
    if (system.contains(p)) {
      named_system.push_back(p);
    }
  }
  if (!named_system.empty()) {
    std::string list;
    for (const auto& n : named_system) {
      list += (list.empty() ? "" : ", ") + n;
    }
    send_error(res, 400, "illegal_argument_exception",
               "requested system indices [" + list +
                   "], but system indices can only be restored as part of a "
                   "feature state");
    return;
  }
  json wanted_features = body.value("feature_states", json());
  std::set<std::string> features;
  for (const auto& f : s.feature_states) {
    std::string name = f.value("feature_name", "");
    bool take = wanted_features.is_null()
                    ? body.value("include_global_state", false)
                    : std::find(wanted_features.begin(), wanted_features.end(),
                                name) != wanted_features.end();
    if (take) {
      features.insert(name);
    }
  }
  if (wanted_features.is_array()) {
    for (const auto& f : wanted_features) {
      bool known = false;
      for (const auto& have : s.feature_states) {
        known = known || have.value("feature_name", "") == f;
      }
      if (f.is_string() && f != "none" && !known) {
        send_error(res, 400, "snapshot_restore_exception",
                   where(repo, name) + " requested feature states [" +
                       f.get<std::string>() + "] are not present in snapshot");
        return;
      }
    }
  }
  std::map<std::string, std::string> from_stream; // backing index -> stream
  std::set<std::string> streams;
  for (const auto& [ds_name, ds] : s.data_streams) {
    if (matches(ds_name)) {
      streams.insert(ds_name);
      for (const auto& i : ds.indices) {
        from_stream[i] = ds_name;
      }
    }
  }
  // RestoreService: index_settings change each restored index's settings
  // (the "index." prefix added), ignore_index_settings remove them (exact
  // keys or simple * patterns); a few can be neither changed nor removed.
  static const std::set<std::string> unmodifiable = {
      "index.number_of_shards", "index.version.created", "index.uuid",
      "index.creation_date", "index.history.uuid"};
  std::set<std::string> unremovable = unmodifiable;
  unremovable.insert(
      {"index.number_of_replicas", "index.auto_expand_replicas"});
  json change = json::object();
  const json wanted_settings =
      flatten_settings(body.value("index_settings", json::object()));
  for (const auto& [k, v] : wanted_settings.items()) {
    std::string key = k.rfind("index.", 0) == 0 ? k : "index." + k;
    if (unmodifiable.contains(key)) {
      refuse("cannot modify setting [" + key + "] on restore");
      return;
    }
    change[key] = v;
  }
  std::vector<std::string> ignored;
  const json& ignore_list = body.value("ignore_index_settings", json());
  for (const auto& v : ignore_list.is_string() ? names_of(ignore_list)
                       : ignore_list.is_array()
                           ? ignore_list.get<std::vector<std::string>>()
                           : std::vector<std::string>{}) {
    if (v.find('*') == std::string::npos && unremovable.contains(v)) {
      refuse("cannot remove setting [" + v + "] on restore");
      return;
    }
    ignored.push_back(v);
  }
  std::vector<std::pair<std::string, std::string>> plan; // from, to
  for (const auto& [index, si] : s.indices) {
    bool in = system.contains(index)
                  ? features.contains(system[index])
                  : from_stream.contains(index) || matches(index);
    if (!in) {
      continue;
    }
    std::string to = index;
    // System indices are never renamed, and a feature state replaces the
    // feature's live indices (testSystemIndicesCannotBeRenamed).
    bool from_feature = system.contains(index);
    if (!rename_pattern.empty() && !from_feature) {
      try {
        to = std::regex_replace(index, std::regex(rename_pattern), rename_to);
      } catch (const std::regex_error&) {
        send_error(res, 400, "illegal_argument_exception",
                   "invalid rename_pattern [" + rename_pattern + "]");
        return;
      }
    }
    if (si.failed && !partial) {
      refuse("index [" + index +
             "] wasn't fully snapshotted - cannot "
             "restore");
      return;
    }
    auto existing = c.indices.find(to);
    if (existing != c.indices.end() && !existing->second.closed &&
        !from_feature) {
      refuse("cannot restore index [" + to +
             "] because an open index with same name already exists in the "
             "cluster. Either close or delete the existing index or restore "
             "the index under a different name by providing a rename "
             "pattern and replacement name");
      return;
    }
    plan.emplace_back(index, to);
  }
  for (const auto& ds_name : streams) {
    if (c.data_streams.contains(ds_name)) {
      refuse("cannot restore data stream [" + ds_name +
             "] because a data stream with the same name already exists in "
             "the cluster");
      return;
    }
  }
  int shards = 0;
  json restored = json::array();
  for (const auto& [from, to] : plan) {
    const SnapshotIndex& si = s.indices[from];
    Index idx;
    idx.uuid = random_id();
    idx.created_ms = now_ms();
    idx.settings = si.settings;
    for (const auto& pattern : ignored) {
      for (auto it = idx.settings.begin(); it != idx.settings.end();) {
        if (!unremovable.contains(it.key()) &&
            ::fnmatch(pattern.c_str(), it.key().c_str(), 0) == 0) {
          it = idx.settings.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [k, v] : change.items()) {
      idx.settings[k] = v;
    }
    idx.settings["index.uuid"] = idx.uuid;
    idx.settings["index.provided_name"] = to;
    idx.mappings = si.mappings;
    idx.aliases = aliases ? si.aliases : json::object();
    // partial=true: the shard that failed in the snapshot (shard 0) is
    // recreated empty, its documents gone (RestoreService; the emulator
    // routes a document by its own hash of the id, not murmur3).
    bool empty_shard0 = si.failed && s.state == "PARTIAL";
    for (const auto& d : *si.docs) {
      if (empty_shard0 &&
          std::hash<std::string>{}(d->id) %
                  static_cast<std::size_t>(std::max(1, si.shards)) ==
              0) {
        continue;
      }
      idx.by_id[d->id] = idx.slots.size();
      idx.slots.push_back(d);
      idx.source_bytes += d->source.size();
    }
    idx.live = idx.slots.size();
    idx.view = empty_shard0 ? idx.current() : si.docs;
    idx.recovery =
        Recovery{repo, name, now_ms(), now_ms() + c.opts.recovery_ms, si.bytes};
    shards += idx.shards();
    c.indices[to] = std::move(idx);
    restored.push_back(to);
  }
  for (const auto& ds_name : streams) {
    c.data_streams[ds_name] = s.data_streams[ds_name];
  }
  if (!flag_param(req, "wait_for_completion", false)) {
    send_json(res, {{"accepted", true}});
    return;
  }
  lock.unlock();
  std::this_thread::sleep_for(std::chrono::milliseconds(c.opts.recovery_ms));
  // RestoreInfo (server/.../snapshots/RestoreInfo.java): shards that could
  // not be recovered count as failed, and the answer is still a 200.
  int failed = std::min(shards, c.opts.restore_failed_shards);
  send_json(res, {{"snapshot",
                   {{"snapshot", name},
                    {"indices", restored},
                    {"shards",
                     {{"total", shards},
                      {"failed", failed},
                      {"successful", shards - failed}}}}}});
}

void recovery(Cluster& c, const httplib::Request& req, httplib::Response& res,
              const std::string& expr) {
  std::lock_guard lock(c.mu);
  std::vector<std::string> names;
  if (!resolve(c, expr, req, res, names)) {
    return;
  }
  bool active_only = flag_param(req, "active_only", false);
  json out = json::object();
  std::int64_t now = now_ms();
  for (const auto& name : names) {
    const Index& idx = c.indices[name];
    json shards = json::array();
    for (int k = 0; k < idx.shards(); ++k) {
      json shard = {{"id", k}, {"primary", true}};
      if (idx.recovery) {
        const Recovery& r = *idx.recovery;
        double f = std::min(
            1.0, double(now - r.start_ms) /
                     double(std::max<std::int64_t>(1, r.end_ms - r.start_ms)));
        auto total = r.bytes / static_cast<std::uint64_t>(idx.shards());
        auto done = static_cast<std::uint64_t>(double(total) * f);
        char pct[16];
        std::snprintf(pct, sizeof pct, "%.1f%%", f * 100);
        shard["type"] = "SNAPSHOT";
        shard["stage"] = f >= 1 ? "DONE" : "INDEX";
        shard["source"] = {{"repository", r.repository},
                           {"snapshot", r.snapshot},
                           {"version", c.opts.version},
                           {"index", name}};
        shard["index"] = {{"size",
                           {{"total_in_bytes", total},
                            {"reused_in_bytes", 0},
                            {"recovered_in_bytes", done},
                            {"percent", pct}}}};
      } else {
        shard["type"] = "EMPTY_STORE";
        shard["stage"] = "DONE";
        shard["source"] = json::object();
      }
      if (!active_only || shard["stage"] != "DONE") {
        shards.push_back(shard);
      }
    }
    if (!shards.empty()) {
      out[name] = {{"shards", shards}};
    }
  }
  send_json(res, out);
}

} // namespace

void register_snapshot_routes(httplib::Server& s, Cluster& c) {
  s.Get("/_snapshot/_status", [&](const auto& req, auto& res) {
    snapshot_status(c, req, res, "", "");
  });
  s.Get("/_snapshot",
        [&](const auto&, auto& res) { get_repositories(c, res, "_all"); });
  s.Get(R"(/_snapshot/([^/]+)/_status)", [&](const auto& req, auto& res) {
    snapshot_status(c, req, res, req.matches[1], "");
  });
  s.Get(R"(/_snapshot/([^/]+)/([^/]+)/_status)",
        [&](const auto& req, auto& res) {
          snapshot_status(c, req, res, req.matches[1], req.matches[2]);
        });
  s.Post(R"(/_snapshot/([^/]+)/([^/]+)/_restore)",
         [&](const auto& req, auto& res) {
           restore(c, req, res, req.matches[1], req.matches[2]);
         });
  s.Get(R"(/_snapshot/([^/]+)/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    c.advance();
    std::string repo = req.matches[1];
    std::vector<Snapshot*> picked;
    if (!pick_snapshots(c, req, res, repo, req.matches[2], picked)) {
      return;
    }
    json list = json::array();
    for (const Snapshot* snap : picked) {
      list.push_back(snapshot_info(c, repo, *snap));
    }
    send_json(res,
              {{"snapshots", list}, {"total", list.size()}, {"remaining", 0}});
  });
  auto create = [&](const httplib::Request& req, httplib::Response& res) {
    create_snapshot(c, req, res, req.matches[1], req.matches[2]);
  };
  // VerifyRepositoryAction and BlobStoreRepository.verify: the master
  // writes a test blob, each data node reads it and writes its own; a node
  // that cannot fails the whole call (500 repository_verification_exception)
  // with "[repo] [[<node id>, '<its failure>'], …]". Routed before the
  // snapshot create route, as Elasticsearch's router does.
  s.Post(R"(/_snapshot/([^/]+)/_verify)", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string repo = req.matches[1];
    auto it = c.repos.find(repo);
    if (it == c.repos.end()) {
      repository_missing(res, repo);
      return;
    }
    const std::string& other = c.opts.unshared_node;
    if (!other.empty()) {
      std::string store = it->second.settings.value("location", repo);
      std::string id = "x" + std::to_string(std::hash<std::string>{}(other));
      send_error(
          res, 500, "repository_verification_exception",
          "[" + repo + "] [[" + id + ", 'RemoteTransportException[[" + other +
              "][127.0.0.1:9300][internal:admin/repository/verify]]; nested: "
              "RepositoryVerificationException[[" +
              repo + "] a file written by master to the store [" + store +
              "] cannot be accessed on the node [{" + other + "}{" + id +
              "}{127.0.0.1}{127.0.0.1:9300}]. This might indicate that the "
              "store [" +
              store +
              "] is not shared between this node and the master node or that "
              "permissions on the store don't allow reading files written by "
              "the master node];']]");
      return;
    }
    send_json(res,
              {{"nodes", {{"emulator-node-id", {{"name", "emulator-node"}}}}}});
  });
  // The repository integrity check, from 8.16 (x-pack snapshot-repo-test-
  // kit, integrity/): RestRepositoryVerifyIntegrityAction routes POST
  // /_snapshot/{repository}/_verify_integrity; a repository that is not
  // registered fails before the response starts (404
  // repository_missing_exception); otherwise RepositoryVerifyIntegrity-
  // ResponseStream answers 200 with {"log": [chunks], "results": {status,
  // final_repository_generation, total_anomalies, result}}, result "pass"
  // without anomalies, else "fail". Each chunk (ResponseChunk.toXContent)
  // has timestamp_in_millis and, by its type, a snapshot's info, an index's
  // restorability ({name, uuid} and snapshot_restorability counts), or an
  // anomaly (its text and the snapshot's name and uuid). --repo-anomaly
  // makes the first snapshot's shard data unreadable. Before 8.16 the path
  // is the create-snapshot route, which refuses a name starting with '_'.
  s.Post(R"(/_snapshot/([^/]+)/_verify_integrity)", [&](const auto& req,
                                                        auto& res) {
    if (!c.at_least(8, 16)) {
      create_snapshot(c, req, res, req.matches[1], "_verify_integrity");
      return;
    }
    std::lock_guard lock(c.mu);
    std::string repo = req.matches[1];
    auto it = c.repos.find(repo);
    if (it == c.repos.end()) {
      repository_missing(res, repo);
      return;
    }
    const Repository& r = it->second;
    std::int64_t now = now_ms();
    json log = json::array();
    std::map<std::string, std::pair<int, int>> restorable; // index
    const std::string& anomaly = c.opts.repo_anomaly;
    bool first = true;
    std::string damaged; // the snapshot the anomaly is in
    for (const auto& [name, snap] : r.snapshots) {
      if (snap.state == "IN_PROGRESS") {
        continue;
      }
      log.push_back({{"timestamp_in_millis", now},
                     {"snapshot", snapshot_info(c, repo, snap)}});
      bool bad = first && !anomaly.empty();
      if (bad) {
        damaged = name;
        log.push_back(
            {{"timestamp_in_millis", now},
             {"anomaly", anomaly},
             {"snapshot", {{"snapshot", snap.name}, {"uuid", snap.uuid}}}});
      }
      first = false;
      for (const auto& [index, i] : snap.indices) {
        restorable[index].first++;
        restorable[index].second += bad || i.failed ? 0 : 1;
      }
    }
    for (const auto& [index, n] : restorable) {
      log.push_back({{"timestamp_in_millis", now},
                     {"index",
                      {{"name", index},
                       {"uuid", "i" + std::to_string(std::hash<std::string>{}(
                                          repo + "/" + index))}}},
                     {"snapshot_restorability",
                      {{"total_snapshot_count", n.first},
                       {"restorable_snapshot_count", n.second}}}});
    }
    auto count = static_cast<std::int64_t>(r.snapshots.size());
    std::int64_t indices = static_cast<std::int64_t>(restorable.size());
    int anomalies = damaged.empty() ? 0 : 1;
    json status = {
        {"repository",
         {{"name", repo}, {"uuid", r.uuid}, {"generation", count}}},
        {"snapshots", {{"verified", count}, {"total", count}}},
        {"indices", {{"verified", indices}, {"total", indices}}},
        {"index_snapshots", {{"verified", indices}, {"total", indices}}},
        {"blobs", {{"verified", 0}}}};
    send_json(res, {{"log", log},
                    {"results",
                     {{"status", status},
                      {"final_repository_generation", count},
                      {"total_anomalies", anomalies},
                      {"result", anomalies == 0 ? "pass" : "fail"}}}});
  });
  s.Put(R"(/_snapshot/([^/]+)/([^/]+))", create);
  s.Post(R"(/_snapshot/([^/]+)/([^/]+))", create);
  s.Delete(R"(/_snapshot/([^/]+)/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    std::string repo = req.matches[1];
    std::vector<Snapshot*> picked;
    if (!pick_snapshots(c, req, res, repo, req.matches[2], picked)) {
      return;
    }
    for (const Snapshot* snap : picked) {
      c.repos[repo].snapshots.erase(snap->name);
    }
    send_json(res, {{"acknowledged", true}});
  });
  auto put_repo = [&](const httplib::Request& req, httplib::Response& res) {
    put_repository(c, req, res, req.matches[1]);
  };
  s.Put(R"(/_snapshot/([^/]+))", put_repo);
  s.Post(R"(/_snapshot/([^/]+))", put_repo);
  s.Get(R"(/_snapshot/([^/]+))", [&](const auto& req, auto& res) {
    get_repositories(c, res, req.matches[1]);
  });
  s.Delete(R"(/_snapshot/([^/]+))", [&](const auto& req, auto& res) {
    std::lock_guard lock(c.mu);
    auto it = c.repos.find(req.matches[1]);
    if (it == c.repos.end()) {
      repository_missing(res, req.matches[1]);
      return;
    }
    // Unregistering leaves the repository's contents in storage.
    c.stored[it->second.settings.value("location", it->first)] =
        std::move(it->second.snapshots);
    c.repos.erase(it);
    send_json(res, {{"acknowledged", true}});
  });
  s.Get("/_recovery",
        [&](const auto& req, auto& res) { recovery(c, req, res, "_all"); });
  s.Get(R"(/([^/_][^/]*)/_recovery)", [&](const auto& req, auto& res) {
    recovery(c, req, res, req.matches[1]);
  });
}

} // namespace snap::emulator::es
