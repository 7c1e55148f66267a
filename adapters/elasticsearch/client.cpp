// SPDX-License-Identifier: MIT
#include "adapters/elasticsearch/client.hpp"

#include <fnmatch.h>

#include "snap/json.hpp"
#include "snap/poll.hpp"
#include "snap/text.hpp"

namespace snap::adapters::es {
namespace {

// A search page of --batch-size documents is held while it is written out;
// this bounds what one answer may weigh.
constexpr std::size_t k_max_answer = 512u << 20;

std::string hint_for(long status, const std::string& type) {
  if (status == 401) {
    return "check --user/--password-file or --api-key-file";
  }
  if (status == 403) {
    return "the user lacks a privilege this call needs";
  }
  if (type == "repository_missing_exception") {
    return "check --repository, or register it: PUT _snapshot/<name>";
  }
  if (type == "concurrent_snapshot_execution_exception") {
    return "another snapshot or delete is running; see snap status "
           "elasticsearch";
  }
  if (status == 429) {
    return "the cluster is overloaded; retry later";
  }
  return "";
}

} // namespace

std::string error_text(const std::string& body) {
  json j = parse_untrusted_json(body);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object()) {
      return fmt::format("{}: {}", e.value("type", "error"),
                         e.value("reason", ""));
    }
    if (e.is_string()) {
      return e.get<std::string>();
    }
  }
  auto nl = body.find('\n');
  return trim_copy(body.substr(0, nl));
}

std::vector<std::string> name_batches(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    std::string escaped = url_escape(n);
    if (out.empty() ||
        out.back().size() + 1 + escaped.size() > k_names_per_line) {
      out.push_back(escaped);
    } else {
      out.back() += "," + escaped;
    }
  }
  return out;
}

bool matches_patterns(const std::string& name, const std::string& patterns) {
  std::vector<std::string> list = split_list(patterns);
  if (list.empty()) {
    return true;
  }
  bool included = false;
  for (const auto& p : list) {
    bool exclude = p[0] == '-';
    std::string glob = exclude ? p.substr(1) : p;
    if (glob == "_all") {
      glob = "*";
    }
    if (::fnmatch(glob.c_str(), name.c_str(), 0) == 0) {
      included = !exclude;
    }
  }
  return included;
}

namespace {

Request request_for(std::string method, std::string path,
                    const CallOptions& o) {
  return {.method = std::move(method),
          .path = std::move(path),
          .query = o.query,
          .idempotent = o.idempotent,
          .cleanup = o.cleanup};
}

} // namespace

namespace {

// The hint for a refused answer, from its status and the server's error
// type.
std::string refusal_hint(long status, const std::string& body) {
  std::string type;
  json e = parse_untrusted_json(body);
  if (e.is_object() && e.contains("error") && e["error"].is_object()) {
    type = e["error"].value("type", "");
  }
  return hint_for(status, type);
}

} // namespace

Expected<std::string> Client::send_text(Request& req, const std::string* text,
                                        std::string buffer,
                                        const CallOptions& o) {
  std::optional<ViewSource> src; // `text` outlives the call
  if (text != nullptr) {
    src.emplace(*text);
    req.body = &*src;
    req.content_type = o.content_type;
  }
  std::string answer = std::move(buffer);
  Response resp = SNAP_TRY(m_http.send_small(req, answer, k_max_answer));
  if (std::find(o.ok.begin(), o.ok.end(), resp.status) == o.ok.end()) {
    std::string raw = resp.error_body;
    resp.error_body = error_text(raw);
    return tl::unexpected(
        m_http.status_error(req, resp, refusal_hint(resp.status, raw)));
  }
  return answer;
}

Expected<json> Client::send(Request& req, const std::string* text,
                            const CallOptions& o) {
  JsonCall call{.request = req,
                .content_type = o.content_type,
                .ok = o.ok,
                .max_bytes = k_max_answer,
                .who = "elasticsearch",
                .not_json_hint = "is --addr an Elasticsearch node?"};
  if (text != nullptr) {
    call.body = *text;
    call.has_body = true;
  }
  call.error_text = error_text;
  call.hint = [](const Response& resp, const std::string& body) {
    return refusal_hint(resp.status, body);
  };
  return SNAP_TRY(call_json(m_http, std::move(call))).body;
}

Expected<std::string> Client::call_raw(std::string method, std::string path,
                                       const json& body, const CallOptions& o,
                                       std::string buffer) {
  Request req = request_for(std::move(method), std::move(path), o);
  std::string text = body.dump();
  return send_text(req, &text, std::move(buffer), o);
}

Expected<json> Client::call(std::string method, std::string path,
                            const json& body, const CallOptions& o) {
  Request req = request_for(std::move(method), std::move(path), o);
  if (body.is_null()) {
    return send(req, nullptr, o);
  }
  std::string text = body.dump();
  return send(req, &text, o);
}

Expected<std::string> Client::call_text(std::string method, std::string path,
                                        const std::string& body,
                                        const CallOptions& o,
                                        std::string buffer) {
  Request req = request_for(std::move(method), std::move(path), o);
  return send_text(req, &body, std::move(buffer), o);
}

Expected<long> Client::head(const std::string& path) {
  Request req{.method = "HEAD", .path = path};
  std::string ignored;
  Response resp = SNAP_TRY(m_http.send_small(req, ignored, 1 << 20));
  if (resp.status == 200 || resp.status == 404) {
    return resp.status;
  }
  resp.error_body = error_text(resp.error_body);
  return tl::unexpected(
      m_http.status_error(req, resp, hint_for(resp.status, "")));
}

Expected<Version> Client::version() {
  if (m_version) {
    return *m_version;
  }
  m_info = SNAP_TRY(call("GET", "/"));
  std::string number, distribution;
  if (m_info.is_object() && m_info.contains("version") &&
      m_info["version"].is_object()) {
    const json& ver = m_info["version"];
    if (ver.contains("number") && ver["number"].is_string()) {
      number = ver["number"].get<std::string>();
    }
    // OpenSearch names itself here (its MainResponse); Elasticsearch does
    // not, and OpenSearch's compatibility mode may report 7.10.2 as the
    // number while the distribution still says opensearch.
    if (ver.contains("distribution") && ver["distribution"].is_string()) {
      distribution = ver["distribution"].get<std::string>();
    }
  }
  Version v{number};
  if (number.empty() ||
      std::sscanf(number.c_str(), "%d.%d", &v.major, &v.minor) != 2) {
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: GET {} did not answer with an "
                            "Elasticsearch or OpenSearch version (is --addr "
                            "such a node?)",
                            redact_url(m_http.config().base_url)));
  }
  if (distribution == "opensearch") {
    if (v.major < 1 || v.major > 3) {
      return fail(ErrorKind::unsupported,
                  fmt::format("elasticsearch: OpenSearch {} is not supported "
                              "(snap speaks to OpenSearch 1.x to 3.x)",
                              number));
    }
    v.os_major = v.major;
    v.os_minor = v.minor;
    v.major = 7;
    v.minor = 10;
  } else if (v.major < 7) {
    return fail(ErrorKind::unsupported,
                fmt::format("elasticsearch: version {} is not supported "
                            "(snap speaks to Elasticsearch 7.0 and later and "
                            "OpenSearch 1.x to 3.x)",
                            number));
  }
  m_version = v;
  return v;
}

Expected<json> get_snapshot(Client& c, const std::string& repo,
                            const std::string& name) {
  json got =
      SNAP_TRY(c.call("GET", fmt::format("/_snapshot/{}/{}", url_escape(repo),
                                         url_escape(name))));
  const json& list = got.contains("snapshots")
                         ? got["snapshots"]
                         : got.value("responses", json::array());
  for (const auto& s : list) {
    if (s.value("snapshot", "") == name) {
      return s;
    }
    // The 7.x multi-repository answer nests the list per repository.
    for (const auto& inner : s.value("snapshots", json::array())) {
      if (inner.value("snapshot", "") == name) {
        return inner;
      }
    }
  }
  return fail(ErrorKind::not_found,
              fmt::format("elasticsearch: snapshot {} is not in repository "
                          "{} (snap list elasticsearch --repository {})",
                          name, repo, repo));
}

namespace {

void report_status(Reporter& r, const json& st) {
  const json& shards = st.value("shards_stats", json::object());
  const json& stats = st.value("stats", json::object());
  auto size = [&](const char* key) -> std::uint64_t {
    if (!stats.contains(key)) {
      return 0;
    }
    return stats[key].value("size_in_bytes", std::uint64_t{0});
  };
  std::uint64_t total = size("incremental");
  std::uint64_t done = stats.contains("processed") ? size("processed") : 0;
  r.progress(fmt::format("snapshot: shards {}/{}", shards.value("done", 0),
                         shards.value("total", 0)),
             done, std::max(total, done));
}

} // namespace

Expected<json> take_snapshot(Client& c, const std::string& repo,
                             const std::string& name, const json& body,
                             double timeout_s) {
  const std::string path =
      fmt::format("/_snapshot/{}/{}", url_escape(repo), url_escape(name));
  SNAP_TRY(c.call("PUT", path, body,
                  {.query = "wait_for_completion=false", .idempotent = false}));
  c.reporter().note(fmt::format("snapshot {}:{} started", repo, name));
  std::string state = "INIT";
  SNAP_TRY(poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        json st = SNAP_TRY(c.call("GET", path + "/_status"));
        for (const auto& s : st.value("snapshots", json::array())) {
          if (s.value("snapshot", "") == name) {
            state = s.value("state", "");
            report_status(c.reporter(), s);
          }
        }
        return state != "INIT" && state != "STARTED";
      },
      [&] {
        return fmt::format("elasticsearch: snapshot {}:{} is still {} after "
                           "{:.0f} s (raise --wait-timeout; it goes on in "
                           "the cluster: snap status elasticsearch {})",
                           repo, name, state, timeout_s, name);
      },
      200, 5000,
      [&] {
        return fmt::format("snapshot {}:{} goes on in the cluster: follow it "
                           "with snap status elasticsearch {}, then snap "
                           "download elasticsearch {} (or snap delete "
                           "elasticsearch {})",
                           repo, name, name, name, name);
      }));
  // _status says SUCCESS for a PARTIAL snapshot; GET tells them apart.
  return get_snapshot(c, repo, name);
}

std::optional<Error> snapshot_verdict(const json& info) {
  std::string state = info.value("state", "");
  if (state == "SUCCESS") {
    return std::nullopt;
  }
  std::string where = fmt::format("{}:{}", info.value("repository", "?"),
                                  info.value("snapshot", "?"));
  std::string failures;
  int shown = 0;
  const json& list = info.value("failures", json::array());
  for (const auto& f : list) {
    if (shown++ == 3) {
      failures += fmt::format("; and {} more", list.size() - 3);
      break;
    }
    failures += fmt::format("{}{}[{}]: {}", failures.empty() ? "" : "; ",
                            f.value("index", "?"), f.value("shard_id", -1),
                            f.value("reason", "?"));
  }
  const json& shards = info.value("shards", json::object());
  if (state == "PARTIAL") {
    return Error{ErrorKind::partial,
                 fmt::format("elasticsearch: snapshot {} is PARTIAL: {} of {} "
                             "shards failed ({}); the shards that failed are "
                             "not in it",
                             where, shards.value("failed", 0),
                             shards.value("total", 0), failures)};
  }
  std::string reason = info.value("reason", "");
  return Error{ErrorKind::remote,
               fmt::format("elasticsearch: snapshot {} ended {}: {}", where,
                           state.empty() ? "without a state" : state,
                           !reason.empty()    ? reason
                           : failures.empty() ? "no reason given"
                                              : failures)};
}

Expected<void> wait_recovery(Client& c, const std::vector<std::string>& indices,
                             double timeout_s) {
  if (indices.empty()) {
    return {};
  }
  // One list that fits the request line, or every recovery of the cluster
  // (the answer is keyed by index, and only these are read).
  auto batches = name_batches(indices);
  std::string path =
      batches.size() > 1 ? "/_recovery" : "/" + batches[0] + "/_recovery";
  std::size_t done_shards = 0, total_shards = 0;
  return poll_until(
      timeout_s,
      [&]() -> Expected<bool> {
        json rec = SNAP_TRY(c.call("GET", path));
        std::uint64_t bytes = 0, bytes_total = 0;
        done_shards = total_shards = 0;
        bool all = true;
        for (const auto& name : indices) {
          const json& shards = rec.contains(name)
                                   ? rec[name].value("shards", json::array())
                                   : json::array();
          all &= !shards.empty();
          for (const auto& s : shards) {
            if (s.value("type", "") != "SNAPSHOT") {
              continue;
            }
            ++total_shards;
            bool done = s.value("stage", "") == "DONE";
            done_shards += done ? 1 : 0;
            all &= done;
            const json& size =
                s.value("index", json::object()).value("size", json::object());
            bytes += size.value("recovered_in_bytes", std::uint64_t{0});
            bytes_total += size.value("total_in_bytes", std::uint64_t{0});
          }
        }
        c.reporter().progress(
            fmt::format("recovery: shards {}/{}", done_shards, total_shards),
            bytes, std::max(bytes, bytes_total));
        return all;
      },
      [&] {
        return fmt::format("elasticsearch: the restored indices are still "
                           "recovering after {:.0f} s ({} of {} shards done; "
                           "raise --wait-timeout, or follow it with snap "
                           "status elasticsearch)",
                           timeout_s, done_shards, total_shards);
      },
      200, 5000,
      [&] {
        return fmt::format("the restored indices go on recovering in the "
                           "cluster ({} of {} shards done): follow them with "
                           "snap status elasticsearch",
                           done_shards, total_shards);
      });
}

} // namespace snap::adapters::es
