// SPDX-License-Identifier: MIT
// Logical export and import for Elasticsearch, in the manner of elasticdump
// but whole or not at all: one point in time per index so the documents are
// a consistent view, a count check per index, and an import that reads every
// _bulk item and compares the counts after a refresh.
#include "adapters/elasticsearch/export.hpp"

#include "adapters/elasticsearch/definitions.hpp"
#include "adapters/elasticsearch/page.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <system_error>
#include <thread>
#include <utility>

#include "snap/json.hpp"
#include "snap/scope.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace snap::adapters::es {
namespace {

constexpr std::string_view k_keep_alive = "5m";
// One _bulk request stays well under http.max_content_length (100mb).
constexpr std::size_t k_max_bulk_bytes = 16u << 20;

// Settings Elasticsearch sets itself and refuses on index creation.
bool is_private_setting(const std::string& key) {
  static const char* const k_private[] = {
      "index.uuid",
      "index.creation_date",
      "index.creation_date_string",
      "index.provided_name",
      "index.verified_before_close",
      "index.version.",
      "index.resize.",
      "index.routing.allocation.initial_recovery.",
      "index.shrink.source.",
  };
  for (std::string_view p : k_private) {
    if (p.back() == '.' ? key.starts_with(p) : key == p) {
      return true;
    }
  }
  return false;
}

json portable_settings(const json& flat) {
  json out = json::object();
  for (const auto& [key, value] : flat.items()) {
    if (!is_private_setting(key)) {
      out[key] = value;
    }
  }
  return out;
}

std::string documents_entry(const std::string& index) {
  return "documents/" + index + ".ndjson";
}

Expected<void> write_text(Sink& sink, const std::string& text) {
  return sink.write(
      Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

// Appends each hit to `out` as an action line and its source, byte for
// byte as the server sent it; returns how many.
Expected<std::size_t> render_hits(const SearchPage& page,
                                  const std::string& index, std::string& out,
                                  std::string_view op) {
  const std::string prefix =
      fmt::format("{{\"{}\":{{\"_index\":{},\"_id\":", op, json(index).dump());
  for (const Hit& h : page.hits) {
    if (h.source.empty() || h.id.empty()) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: index {} returns documents "
                              "without _source (disabled in its mapping); a "
                              "logical export cannot read them, use a "
                              "snapshot instead",
                              index));
    }
    out += prefix;
    out += h.id;
    if (!h.routing.empty()) {
      out += ",\"routing\":";
      out += h.routing;
    }
    out += "}}\n";
    // A source indexed pretty-printed comes back so; one line each.
    if (std::memchr(h.source.data(), '\n', h.source.size()) != nullptr ||
        std::memchr(h.source.data(), '\r', h.source.size()) != nullptr) {
      json doc = parse_untrusted_json(h.source);
      if (!doc.is_object()) {
        return fail(ErrorKind::remote,
                    fmt::format("elasticsearch: a document of index {} came "
                                "back as something that is not a JSON "
                                "object; cannot export it",
                                index));
      }
      out += doc.dump();
    } else {
      out += h.source;
    }
    out += '\n';
  }
  return page.hits.size();
}

// What one reader reads: an index or a data stream (`op` "create", so an
// import writes into the stream), in pages of `batch`, the documents
// `query` matches (null: all).
struct Read {
  std::string index;
  std::string op = "index";
  int batch = 5000;
  json query;
};

struct IndexExport {
  std::size_t written = 0;
  std::uint64_t expected = 0;
};

// One page of a search answer, scanned.
Expected<SearchPage> page_of(const std::string& text) {
  return scan_search_page(text);
}

// The text of a JSON string token. Errors: `remote` when it is not one.
Expected<std::string> unquote(std::string_view token) {
  json j = parse_untrusted_json(token);
  if (!j.is_string()) {
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: the search answer holds a "
                            "malformed string ({})",
                            token.substr(0, 40)));
  }
  return j.get<std::string>();
}

void report(Client& c, const std::string& index, const IndexExport& r) {
  c.reporter().progress(
      fmt::format("export {}: {}/{} documents", index, r.written, r.expected),
      r.written, std::max<std::uint64_t>(r.expected, 1));
}

// Reads a point in time page by page (search_after, sorted by _shard_doc,
// 7.12+), or with `slice` ({"id", "max"}) one slice of it, and hands each
// page's lines to `take`; `pit` follows the id each answer gives. Returns
// how many documents were read and how many the point in time holds for
// this reader (track_total_hits on the first page). `take` may move the
// lines out and leave a spare buffer in their place: a page's text and its
// lines are each grown once per reader, not once per page (fresh memory on
// every page costs page faults, most of all on a thread's own heap, which
// glibc gives back to the system as soon as it is free).
using TakePage = std::function<Expected<void>(std::string& lines,
                                              const IndexExport& so_far)>;
Expected<IndexExport> read_pit(Client& c, const Read& rd, std::string& pit,
                               const json& slice, const TakePage& take) {
  const std::string& index = rd.index;
  IndexExport r;
  json after;
  std::string text;
  std::string lines;
  for (bool first = true;; first = false) {
    json body = {{"size", rd.batch},
                 {"pit", {{"id", pit}, {"keep_alive", k_keep_alive}}},
                 {"sort", json::array({{{"_shard_doc", "asc"}}})},
                 {"track_total_hits", first}};
    if (!slice.is_null()) {
      body["slice"] = slice;
    }
    if (!rd.query.is_null()) {
      body["query"] = rd.query;
    }
    if (!after.is_null()) {
      body["search_after"] = after;
    }
    text = SNAP_TRY(c.call_raw("POST", "/_search", body, {}, std::move(text)));
    SearchPage page = SNAP_TRY(page_of(text));
    if (!page.pit_id.empty()) {
      pit = SNAP_TRY(unquote(page.pit_id));
    }
    if (first) {
      r.expected = page.total.value_or(0);
    }
    lines.clear();
    r.written += SNAP_TRY(render_hits(page, index, lines, rd.op));
    SNAP_TRY(take(lines, r));
    if (page.hits.empty() || r.written >= r.expected) {
      return r;
    }
    if (page.hits.back().sort.empty()) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: a search page of {} came "
                              "without sort values; cannot go on",
                              index));
    }
    after = parse_untrusted_json(page.hits.back().sort);
    if (!after.is_array()) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: a search page of {} came "
                              "with malformed sort values; cannot go on",
                              index));
    }
  }
}

// Opens a point in time on `index`; the guard closes it on every way out.
// Elasticsearch: POST <index>/_pit, {"id"}; OpenSearch (2.4+, read with
// one from 3.3): POST <index>/_search/point_in_time, {"pit_id"}.
Expected<std::string> open_pit(Client& c, const std::string& index) {
  Version v = SNAP_TRY(c.version());
  json opened = SNAP_TRY(
      c.call("POST",
             "/" + url_escape(index) +
                 (v.opensearch() ? "/_search/point_in_time" : "/_pit"),
             json(), {.query = fmt::format("keep_alive={}", k_keep_alive)}));
  const char* key = v.opensearch() ? "pit_id" : "id";
  if (!opened.is_object() || !opened.contains(key) ||
      !opened[key].is_string() || opened[key].get<std::string>().empty()) {
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: opening a point in time on {} "
                            "answered no {}",
                            index, key));
  }
  return opened[key].get<std::string>();
}

void close_pit(Client& c, const std::string& pit) {
  auto v = c.version();
  if (v && v->opensearch()) {
    (void)c.call("DELETE", "/_search/point_in_time",
                 json{{"pit_id", json::array({pit})}},
                 {.idempotent = true, .cleanup = true, .ok = {200, 404}});
    return;
  }
  (void)c.call("DELETE", "/_pit", json{{"id", pit}},
               {.idempotent = true, .cleanup = true, .ok = {200, 404}});
}

// Whether documents are read through a point in time sorted by _shard_doc:
// Elasticsearch 7.12+, OpenSearch 3.3+ (before, it has no _shard_doc, and
// search_after over several shards could skip documents).
bool reads_by_pit(const Version& v) {
  return v.opensearch() ? v.os_major > 3 || (v.os_major == 3 && v.os_minor >= 3)
                        : v.at_least(7, 12);
}

// Pages read on this thread go straight into the entry.
TakePage into_entry(Client& c, const std::string& index, Sink& sink) {
  return [&c, &index, &sink](std::string& lines,
                             const IndexExport& so_far) -> Expected<void> {
    SNAP_TRY(write_text(sink, lines));
    report(c, index, so_far);
    return Expected<void>();
  };
}

// One point in time, read in one sequence of pages.
Expected<IndexExport> export_pit(Client& c, const Read& rd, Sink& sink) {
  std::string pit = SNAP_TRY(open_pit(c, rd.index));
  ScopeExit close([&] { close_pit(c, pit); });
  return read_pit(c, rd, pit, json(), into_entry(c, rd.index, sink));
}

// Reads slice `slice` ({"id", "max"}) of an index on `reader`, handing
// each page to `take`; returns its counts (what it read, what its point in
// time or scroll holds for it).
using ReadSlice = std::function<Expected<IndexExport>(
    Client& reader, const json& slice, const TakePage& take)>;

// An index read by slices at once, each on a client and thread of its
// own, each slice's count checked against what its point in time or
// scroll holds for it. The pages go into the entry in a fixed order (page
// k of slice 0, of slice 1, ..., then page k+1), each slice at most
// k_slice_ahead pages ahead of the writer, so memory stays within
// slices x (k_slice_ahead + 3) pages: those queued, the one each reader
// renders into, the one being written, and one written page's buffer kept
// for its reader's next.
constexpr std::size_t k_slice_ahead = 2;

Expected<IndexExport> export_sliced(Client& c,
                                    const std::vector<Client*>& readers,
                                    const Read& rd, Sink& sink,
                                    const std::string& what,
                                    const ReadSlice& read_slice) {
  const std::string& index = rd.index;
  struct Feed {
    std::deque<std::string> pages;
    std::string spare; // a written page's buffer, for the reader's next
    bool done = false;
    std::uint64_t expected = 0; // from its first page
    IndexExport counts;
  };
  const std::size_t n = readers.size();
  std::vector<Feed> feeds(n);
  std::mutex mu;
  std::condition_variable changed;
  bool stop = false;
  std::optional<Error> failed;
  std::vector<std::thread> threads;
  auto finish = [&] {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    changed.notify_all();
    for (auto& t : threads) {
      if (t.joinable()) {
        t.join();
      }
    }
  };
  ScopeExit joined(finish);
  for (std::size_t i = 0; i < n; ++i) {
    auto read_one = [&, i] {
      json slice = {{"id", i}, {"max", n}};
      // Queues a page for the writer and takes back a written page's buffer.
      TakePage queue_page = [&](std::string& lines,
                                const IndexExport& so_far) -> Expected<void> {
        std::unique_lock lock(mu);
        feeds[i].expected = so_far.expected;
        changed.wait(lock, [&] {
          return stop || feeds[i].pages.size() < k_slice_ahead;
        });
        if (stop) {
          return fail(ErrorKind::interrupted, "stopped");
        }
        feeds[i].pages.push_back(std::move(lines));
        lines = std::exchange(feeds[i].spare, {});
        changed.notify_all();
        return {};
      };
      // Nothing may be thrown out of a thread (that aborts snap): an
      // answer of a shape that a JSON read throws on is the server's fault.
      auto got = guard_json(ErrorKind::remote, "elasticsearch", [&] {
        return read_slice(*readers[i], slice, queue_page);
      });
      std::lock_guard lock(mu);
      feeds[i].done = true;
      if (got) {
        feeds[i].counts = *got;
      } else if (!failed && !stop) {
        failed = got.error();
        stop = true;
      }
      changed.notify_all();
    };
    try {
      threads.emplace_back(read_one);
    } catch (const std::system_error&) {
      // The process's thread or pids limit, as an import meets it: the
      // slices that started stop (nothing of theirs is in the entry yet,
      // the writer starts once all run), and the index is read again by
      // as many as started, or by one reader on this thread.
      finish();
      threads.clear();
      if (i >= 2) {
        std::vector<Client*> fewer(readers.begin(),
                                   readers.begin() + static_cast<long>(i));
        return export_sliced(c, fewer, rd, sink, what, read_slice);
      }
      return read_slice(c, json(), into_entry(c, index, sink));
    }
  }
  IndexExport total;
  for (bool more = true; more;) {
    more = false;
    for (std::size_t i = 0; i < n; ++i) {
      std::string lines;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] {
          return failed || !feeds[i].pages.empty() || feeds[i].done;
        });
        if (failed) {
          break;
        }
        if (feeds[i].pages.empty()) {
          continue; // this slice has ended
        }
        lines = std::move(feeds[i].pages.front());
        feeds[i].pages.pop_front();
        more = true;
        total.expected = 0;
        for (const auto& f : feeds) {
          total.expected += f.expected;
        }
      }
      changed.notify_all();
      total.written += static_cast<std::size_t>(
          std::count(lines.begin(), lines.end(), '\n') / 2);
      SNAP_TRY(write_text(sink, lines));
      report(c, index, total);
      std::lock_guard lock(mu);
      if (feeds[i].spare.capacity() < lines.capacity()) {
        feeds[i].spare = std::move(lines);
      }
    }
    std::lock_guard lock(mu);
    if (failed) {
      break;
    }
  }
  finish();
  if (failed) {
    return tl::unexpected(*failed);
  }
  total = IndexExport{};
  for (std::size_t i = 0; i < n; ++i) {
    const IndexExport& r = feeds[i].counts;
    if (r.written != r.expected) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: slice {} of {} of index {} gave "
                              "{} documents but its {} holds {} for it; "
                              "nothing was saved",
                              i, n, index, r.written, what, r.expected));
    }
    total.written += r.written;
    total.expected += r.expected;
  }
  return total;
}

// One point in time read by slices at once (Elasticsearch 7.15+,
// OpenSearch 3.3+).
Expected<IndexExport> export_pit_sliced(Client& c,
                                        const std::vector<Client*>& readers,
                                        const Read& rd, Sink& sink) {
  const std::string pit = SNAP_TRY(open_pit(c, rd.index));
  ScopeExit close([&] { close_pit(c, pit); });
  return export_sliced(
      c, readers, rd, sink, "point in time",
      [&](Client& reader, const json& slice, const TakePage& take) {
        std::string my_pit = pit;
        return read_pit(reader, rd, my_pit, slice, take);
      });
}

Expected<IndexExport> read_scroll(Client& c, const Read& rd, const json& slice,
                                  const TakePage& take);

// A sliced scroll (Elasticsearch before 7.15, OpenSearch before 3.3): each
// slice is a scroll of its own, with the documents whose _id hashes to it,
// so each slice is consistent as of when it was opened (a few
// milliseconds apart) and no document is in two slices.
Expected<IndexExport> export_scroll_sliced(Client& c,
                                           const std::vector<Client*>& readers,
                                           const Read& rd, Sink& sink) {
  return export_sliced(
      c, readers, rd, sink, "scroll",
      [&](Client& reader, const json& slice, const TakePage& take) {
        return read_scroll(reader, rd, slice, take);
      });
}

// Scroll, for clusters before 7.12 (OpenSearch before 3.3), or with
// `slice` one slice of it; each page's lines go to `take`.
Expected<IndexExport> read_scroll(Client& c, const Read& rd, const json& slice,
                                  const TakePage& take) {
  const std::string& index = rd.index;
  json body = {{"size", rd.batch},
               {"sort", json::array({"_doc"})},
               {"track_total_hits", true}};
  if (!slice.is_null()) {
    body["slice"] = slice;
  }
  if (!rd.query.is_null()) {
    body["query"] = rd.query;
  }
  std::string text =
      SNAP_TRY(c.call_raw("POST", "/" + url_escape(index) + "/_search", body,
                          {.query = fmt::format("scroll={}", k_keep_alive)}));
  SearchPage page = SNAP_TRY(page_of(text));
  std::string scroll =
      page.scroll_id.empty() ? "" : SNAP_TRY(unquote(page.scroll_id));
  ScopeExit clear([&] {
    (void)c.call("DELETE", "/_search/scroll",
                 json{{"scroll_id", json::array({scroll})}},
                 {.cleanup = true, .ok = {200, 404}});
  });
  IndexExport r;
  r.expected = page.total.value_or(0);
  std::string lines;
  for (;;) {
    lines.clear();
    r.written += SNAP_TRY(render_hits(page, index, lines, rd.op));
    SNAP_TRY(take(lines, r));
    if (page.hits.empty() || r.written >= r.expected) {
      return r;
    }
    page = SearchPage{}; // its views are into `text`, which is reused
    text = SNAP_TRY(
        c.call_raw("POST", "/_search/scroll",
                   json{{"scroll", k_keep_alive}, {"scroll_id", scroll}}, {},
                   std::move(text)));
    page = SNAP_TRY(page_of(text));
    if (!page.scroll_id.empty()) {
      scroll = SNAP_TRY(unquote(page.scroll_id));
    }
  }
}

Expected<IndexExport> export_scroll(Client& c, const Read& rd, Sink& sink) {
  return read_scroll(c, rd, json(), into_entry(c, rd.index, sink));
}

} // namespace

Expected<std::string> rename_index(const std::string& index,
                                   const std::string& pattern,
                                   const std::string& replacement) {
  if (pattern.empty()) {
    return index;
  }
  // Elasticsearch refuses a name over 255 bytes (MetadataCreateIndexService
  // validateIndexOrAliasName), and libstdc++'s regex recurses per
  // character, so a longer name from an archive is refused before it.
  if (index.size() > 255) {
    return fail(ErrorKind::archive,
                fmt::format("an index name of {} bytes is longer than "
                            "Elasticsearch allows (255): {}…",
                            index.size(), index.substr(0, 40)));
  }
  try {
    return std::regex_replace(index, std::regex(pattern), replacement);
  } catch (const std::regex_error& e) {
    return fail(ErrorKind::usage,
                fmt::format("--rename-pattern '{}' is not a valid regular "
                            "expression: {}",
                            pattern, e.what()));
  }
}

Expected<std::map<std::string, std::string>> index_states(Client& c) {
  json rows = SNAP_TRY(
      c.call("GET", "/_cat/indices", json(),
             {.query = "format=json&h=index,status&expand_wildcards=all"}));
  std::map<std::string, std::string> out;
  if (!rows.is_array()) {
    return out;
  }
  for (const auto& row : rows) {
    if (row.is_object() && row.contains("index") && row["index"].is_string() &&
        row.contains("status") && row["status"].is_string()) {
      out[row["index"].get<std::string>()] = row["status"].get<std::string>();
    }
  }
  return out;
}

namespace {

// The data streams (7.9+) whose backing indices `defs` holds, as the
// target reached them: the backing indices leave `defs`, and each stream
// is recorded with its index template and the component templates that
// template is composed of, so an import makes it a data stream again
// rather than loose .ds- indices. Errors: any kind.
Expected<json> data_streams_reached(Client& c, const Version& v, json& defs) {
  json streams = json::object();
  if (!v.at_least(7, 9)) {
    return streams;
  }
  json listed = SNAP_TRY(c.call("GET", "/_data_stream"));
  if (!listed.is_object() || !listed.contains("data_streams") ||
      !listed["data_streams"].is_array()) {
    return streams;
  }
  for (const auto& ds : listed["data_streams"]) {
    if (!ds.is_object() || !ds.contains("name") || !ds["name"].is_string() ||
        !ds.contains("indices") || !ds["indices"].is_array()) {
      continue;
    }
    std::string name = ds["name"].get<std::string>();
    std::vector<std::string> backing;
    bool reached = false;
    for (const auto& i : ds["indices"]) {
      if (i.is_object() && i.contains("index_name") &&
          i["index_name"].is_string()) {
        backing.push_back(i["index_name"].get<std::string>());
        reached |= defs.contains(backing.back());
      }
    }
    if (!reached) {
      continue;
    }
    for (const auto& b : backing) {
      defs.erase(b);
    }
    std::string tname = ds.contains("template") && ds["template"].is_string()
                            ? ds["template"].get<std::string>()
                            : "";
    json tmpl;
    json components = json::object();
    if (!tname.empty()) {
      tmpl = SNAP_TRY(index_template(c, tname));
    }
    if (tmpl.is_object() && tmpl.contains("composed_of") &&
        tmpl["composed_of"].is_array()) {
      for (const auto& part : tmpl["composed_of"]) {
        if (!part.is_string()) {
          continue;
        }
        std::string pname = part.get<std::string>();
        json body = SNAP_TRY(component_template(c, pname));
        if (body.is_object()) {
          components[pname] = body;
        }
      }
    }
    if (tmpl.is_null()) {
      c.reporter().warn(fmt::format(
          "elasticsearch: data stream {} has no index template the cluster "
          "shows ({}); its documents are exported, but an import needs a "
          "matching template with a data_stream section on the target",
          name, tname.empty() ? "none named" : tname));
    }
    std::string field = "@timestamp";
    if (ds.contains("timestamp_field") && ds["timestamp_field"].is_object() &&
        ds["timestamp_field"].value("name", json()).is_string()) {
      field = ds["timestamp_field"]["name"].get<std::string>();
    }
    streams[name] = {{"template_name", tname},
                     {"index_template", tmpl},
                     {"component_templates", components},
                     {"backing_indices", backing},
                     {"timestamp_field", field}};
  }
  return streams;
}

} // namespace

Expected<SaveResult> export_indices(Client& c, ArchiveWriter& out,
                                    const ExportOptions& o) {
  Version v = SNAP_TRY(c.version());
  std::string target = o.indices.empty() ? "*" : o.indices;
  std::string query = fmt::format("flat_settings=true&expand_wildcards={}",
                                  o.include_hidden ? "open,hidden" : "open");
  json defs = SNAP_TRY(
      c.call("GET", "/" + url_escape(target), json(), {.query = query}));
  // What the pattern also matches: closed indices (left out, or opened for
  // the export and closed again with --open-closed) and hidden ones (left
  // out unless --include-hidden). A name given as it is matches a closed
  // index too (the get-index API's strictExpandOpen does not forbid it).
  json every =
      SNAP_TRY(c.call("GET", "/" + url_escape(target), json(),
                      {.query = "flat_settings=true&expand_wildcards=all"}));
  std::map<std::string, std::string> states = SNAP_TRY(index_states(c));
  std::vector<std::string> closed, hidden, to_open;
  for (const auto& [name, def] : every.items()) {
    if (states[name] == "close") {
      defs.erase(name);
    }
    if (defs.contains(name) || !def.is_object()) {
      continue;
    }
    const json& settings = def.value("settings", json::object());
    bool is_hidden = settings.is_object() &&
                     settings.value("index.hidden", json()) == "true";
    if (states[name] == "close") {
      (o.open_closed && (!is_hidden || o.include_hidden) ? to_open : closed)
          .push_back(name);
    } else if (is_hidden) {
      hidden.push_back(name);
    }
  }
  // Opened for the export, closed again on every way out.
  std::vector<std::string> opened;
  ScopeExit reclose([&] {
    for (const auto& n : opened) {
      (void)c.call("POST", "/" + url_escape(n) + "/_close", json(),
                   {.cleanup = true});
    }
  });
  for (const auto& n : to_open) {
    json r = SNAP_TRY(c.call("POST", "/" + url_escape(n) + "/_open", json(),
                             {.idempotent = false}));
    opened.push_back(n);
    if (!r.is_object() || r.value("shards_acknowledged", json()) != true) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: index {} was opened for the "
                              "export, but its primary shards did not start "
                              "in time; it is closed again and nothing was "
                              "saved",
                              n));
    }
    c.reporter().note(fmt::format("opened closed index {} for the export "
                                  "(it is closed again afterwards)",
                                  n));
    defs[n] = every[n];
  }
  std::vector<std::string> left;
  if (!closed.empty()) {
    left.push_back(fmt::format("closed {} (--open-closed opens each for the "
                               "export and closes it again)",
                               join_list(closed, ", ")));
  }
  if (!hidden.empty()) {
    left.push_back(
        fmt::format("hidden {} (--include-hidden)", join_list(hidden, ", ")));
  }
  if (defs.empty()) {
    return fail(ErrorKind::not_found,
                fmt::format("elasticsearch: no open index matches '{}'{} "
                            "(check --indices)",
                            target,
                            left.empty()
                                ? ""
                                : "; it matches " + join_list(left, "; ")));
  }
  if (!left.empty()) {
    c.reporter().warn(fmt::format("elasticsearch: the export leaves out {}",
                                  join_list(left, "; ")));
  }
  json streams = SNAP_TRY(data_streams_reached(c, v, defs));
  json indices = json::object();
  json counts = json::object();
  std::uint64_t total = 0;
  // Slices of a point in time where documents are read by one (sliced
  // PIT search came with Elasticsearch 7.15 and with OpenSearch's PIT in
  // 2.4, which snap reads by from 3.3); slices of a scroll elsewhere
  // (sliced scroll came with 5.0 and is in every OpenSearch).
  bool sliced = o.slices.size() > 1;
  bool pit_slices =
      sliced && reads_by_pit(v) && (v.opensearch() || v.at_least(7, 15));
  // Reads one index or data stream into its documents entry.
  auto read = [&](const Read& rd) -> Expected<std::uint64_t> {
    Sink* sink = SNAP_TRY(
        out.add_entry(documents_entry(rd.index), "application/x-ndjson"));
    // Slices pay off once an index holds more than one page; the count
    // only decides that (the point in time's own counts are checked), so
    // an index that cannot be counted is read by one reader.
    bool slice_this = false;
    if (sliced) {
      std::string path = "/" + url_escape(rd.index) + "/_count";
      auto n = rd.query.is_null()
                   ? c.call("GET", path)
                   : c.call("POST", path, json{{"query", rd.query}});
      slice_this = n && n->is_object() && (*n)["count"].is_number_unsigned() &&
                   (*n)["count"].get<std::uint64_t>() >
                       static_cast<std::uint64_t>(rd.batch);
    }
    IndexExport r = slice_this && pit_slices
                        ? SNAP_TRY(export_pit_sliced(c, o.slices, rd, *sink))
                    : slice_this
                        ? SNAP_TRY(export_scroll_sliced(c, o.slices, rd, *sink))
                    : reads_by_pit(v) ? SNAP_TRY(export_pit(c, rd, *sink))
                                      : SNAP_TRY(export_scroll(c, rd, *sink));
    if (r.written != r.expected) {
      return fail(ErrorKind::remote,
                  fmt::format("elasticsearch: {} gave {} documents but its "
                              "point in time holds {}; nothing was saved",
                              rd.index, r.written, r.expected));
    }
    counts[rd.index] = r.written;
    total += r.written;
    return r.written;
  };
  for (const auto& [name, def] : defs.items()) {
    std::uint64_t n = SNAP_TRY(read({name, "index", o.batch_size, o.query}));
    indices[name] = {
        {"settings", portable_settings(def.value("settings", json::object()))},
        {"mappings", def.value("mappings", json::object())},
        {"aliases", def.value("aliases", json::object())},
        {"documents", n}};
  }
  for (auto& [name, ds] : streams.items()) {
    ds["documents"] = SNAP_TRY(read({name, "create", o.batch_size, o.query}));
  }
  SNAP_TRY(out.add_json("indices.json", indices));
  if (!streams.empty()) {
    SNAP_TRY(out.add_json("data_streams.json", streams));
  }
  json definitions;
  if (o.include_global_state) {
    definitions = SNAP_TRY(read_definitions(c));
    SNAP_TRY(out.add_json("definitions.json", definitions));
  }

  SaveResult result;
  result.backup_id =
      "export-" + to_lower(rfc3339_to_compact(utc_now_rfc3339()));
  result.kind = "full";
  result.server_version = v.number;
  result.summary =
      streams.empty()
          ? fmt::format("export of {} indices, {} documents", indices.size(),
                        total)
          : fmt::format("export of {} indices and {} data streams, {} "
                        "documents",
                        indices.size(), streams.size(), total);
  result.source = {
      {"mode", "export"},
      {"distribution", v.opensearch() ? "opensearch" : "elasticsearch"},
      {"cluster_name", c.info().value("cluster_name", "")},
      {"cluster_uuid", c.info().value("cluster_uuid", "")},
      {"read_with",
       pit_slices
           ? fmt::format("point in time, {} slices at once", o.slices.size())
       : sliced ? fmt::format("scroll, {} slices at once", o.slices.size())
       : reads_by_pit(v) ? "point in time"
                         : "scroll"},
      {"indices", counts},
      {"documents", total}};
  if (!closed.empty() || !hidden.empty()) {
    result.source["left_out"] = {{"closed", closed}, {"hidden", hidden}};
  }
  if (!opened.empty()) {
    result.source["opened_for_export"] = opened;
  }
  if (!streams.empty()) {
    json names = json::array();
    for (const auto& [name, ds] : streams.items()) {
      names.push_back(name);
    }
    result.source["data_streams"] = names;
  }
  if (!definitions.is_null()) {
    result.source["definitions"] = count_definitions(definitions);
  }
  if (!o.query.is_null()) {
    // A subset: the manifest says which, so nobody takes it for the whole.
    result.source["query"] = o.query;
  }
  return result;
}

namespace {

// The result for document `i` of a _bulk answer's items, each
// {"<action>": {"status", "_id", "error"}}: that inner object, or an empty
// one where the server wrote something else (the document then counts as
// not loaded).
json bulk_item(const json& items, std::size_t i) {
  if (i >= items.size()) {
    return json::object();
  }
  const json& item = items[i];
  if (!item.is_object() || item.size() != 1 || !item.begin()->is_object()) {
    return json::object();
  }
  return *item.begin();
}

// The string at `key` of `object`, other values as JSON text, `fallback`
// when there is none.
std::string text_at(const json& object, const char* key,
                    std::string_view fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return std::string(fallback);
  }
  return it->is_string() ? it->get<std::string>() : dump_json(*it);
}

// Whether a _bulk answer says "errors": false before its items, as
// Elasticsearch and OpenSearch write it (BulkResponse.toXContent: took,
// ingest_took when a pipeline ran, errors, then items). Anything else is
// left to the full parse.
bool bulk_without_errors(std::string_view t) {
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < t.size() &&
           (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t')) {
      ++i;
    }
  };
  skip_ws();
  if (i >= t.size() || t[i] != '{') {
    return false;
  }
  ++i;
  for (int field = 0; field < 3; ++field) {
    skip_ws();
    if (i >= t.size() || t[i] != '"') {
      return false;
    }
    std::size_t end = t.find('"', i + 1);
    if (end == std::string_view::npos) {
      return false;
    }
    std::string_view key = t.substr(i + 1, end - i - 1);
    i = end + 1;
    skip_ws();
    if (i >= t.size() || t[i] != ':') {
      return false;
    }
    ++i;
    skip_ws();
    if (key == "errors") {
      if (t.substr(i, 5) != "false") {
        return false;
      }
      i += 5;
      skip_ws();
      return i < t.size() && (t[i] == ',' || t[i] == '}');
    }
    if (key != "took" && key != "ingest_took") {
      return false;
    }
    std::size_t digits = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      ++i;
    }
    skip_ws();
    if (i == digits || i >= t.size() || t[i] != ',') {
      return false;
    }
    ++i;
  }
  return false;
}

struct LoadStats {
  std::uint64_t loaded = 0;
  std::uint64_t failed = 0;
  std::vector<std::string> examples;
};

// Sends batches of _bulk lines, re-sending items the cluster rejected for
// load (429) with a growing pause and counting the other failures. With
// several clients, as many batches are in flight as there are clients, each
// on a thread of its own, and at most one more waits. A batch in flight is
// held once, as its request body (its documents are freed once they are in
// it), which each sending thread keeps with its last answer for the next
// batch: memory stays within clients + 2 batches of at most
// k_max_bulk_bytes, plus each thread's last answer.
class BulkSender {
public:
  BulkSender(Client& main, std::vector<Client*> senders, LoadStats& stats)
      : m_main(main), m_stats(stats) {
    for (Client* c : senders) {
      try {
        m_workers.emplace_back([this, c] { run(*c); });
      } catch (const std::system_error&) {
        // The process's thread or pids limit: fewer batches in flight
        // (none on threads: send() then loads on the caller's).
        break;
      }
    }
  }
  ~BulkSender() {
    {
      std::lock_guard lock(m_mu);
      m_stop = true;
    }
    m_changed.notify_all();
    for (auto& t : m_workers) {
      t.join();
    }
  }

  Expected<void> send(std::string target, std::vector<std::string> docs) {
    if (m_workers.empty()) {
      return load(m_main, target, std::move(docs), m_buffers);
    }
    std::unique_lock lock(m_mu);
    m_changed.wait(lock, [&] { return m_queue.size() < 1 || m_error; });
    if (m_error) {
      return tl::unexpected(*m_error);
    }
    m_queue.push_back({std::move(target), std::move(docs)});
    lock.unlock();
    m_changed.notify_all();
    return {};
  }

  // Waits until every batch handed over is sent.
  Expected<void> finish() {
    std::unique_lock lock(m_mu);
    m_changed.wait(lock,
                   [&] { return (m_queue.empty() && m_busy == 0) || m_error; });
    if (m_error) {
      return tl::unexpected(*m_error);
    }
    return {};
  }

private:
  struct Batch {
    std::string target;
    std::vector<std::string> docs;
  };
  // A request's body and its answer, kept by each sending thread from one
  // batch to the next: each is grown once, not once a batch (fresh memory
  // every time costs page faults, the most on a thread's own heap).
  struct Buffers {
    std::string body;
    std::string answer;
  };

  void run(Client& c) {
    Buffers buffers;
    std::unique_lock lock(m_mu);
    for (;;) {
      m_changed.wait(lock, [&] { return m_stop || !m_queue.empty(); });
      if (m_queue.empty()) {
        return;
      }
      Batch b = std::move(m_queue.front());
      m_queue.pop_front();
      ++m_busy;
      bool skip = m_error.has_value();
      m_changed.notify_all();
      lock.unlock();
      // As for the slices of an export: nothing thrown leaves the thread.
      auto r = skip ? Expected<void>{}
                    : guard_json(ErrorKind::remote, "elasticsearch", [&] {
                        return load(c, b.target, std::move(b.docs), buffers);
                      });
      lock.lock();
      --m_busy;
      if (!r && !m_error) {
        m_error = r.error();
      }
      m_changed.notify_all();
    }
  }

  Expected<void> load(Client& c, const std::string& target,
                      std::vector<std::string> docs, Buffers& buffers) {
    long delay = 500;
    std::string& body = buffers.body;
    std::vector<std::size_t> ends; // where each document's lines end in body
    for (int attempt = 0; !docs.empty(); ++attempt) {
      body.clear();
      ends.clear();
      for (const auto& d : docs) {
        body += d;
        ends.push_back(body.size());
      }
      const std::size_t count = docs.size();
      std::vector<std::string>().swap(docs); // the body holds them now
      auto doc = [&](std::size_t i) {
        std::size_t from = i == 0 ? 0 : ends[i - 1];
        return body.substr(from, ends[i] - from);
      };
      buffers.answer = SNAP_TRY(c.call_text(
          "POST", "/_bulk", body, {.content_type = "application/x-ndjson"},
          std::move(buffers.answer)));
      const std::string& text = buffers.answer;
      std::vector<std::string> again;
      // Most answers say "errors": false up front; their items (a few
      // hundred bytes a document) need no reading then.
      bool clean = bulk_without_errors(text);
      json answer = clean ? json() : parse_untrusted_json(text);
      if (!clean && !answer.is_object()) {
        return fail(ErrorKind::remote,
                    "elasticsearch: POST /_bulk answered something that is "
                    "not a JSON object; is --addr an Elasticsearch node?");
      }
      // "errors" is a boolean and "items" a list (BulkResponse.toXContent);
      // a server that writes other shapes is not one to load into.
      auto errors = clean ? answer.end() : answer.find("errors");
      auto items = clean ? answer.end() : answer.find("items");
      bool failures = !clean && (errors == answer.end() ||
                                 !errors->is_boolean() || errors->get<bool>());
      if (failures && (items == answer.end() || !items->is_array())) {
        return fail(ErrorKind::remote,
                    "elasticsearch: POST /_bulk answered without \"errors\": "
                    "false and without a list of items; is --addr an "
                    "Elasticsearch node?");
      }
      {
        std::lock_guard lock(m_stats_mu);
        if (!failures) {
          m_stats.loaded += count;
        } else {
          for (std::size_t i = 0; i < count; ++i) {
            const json item = bulk_item(*items, i);
            auto s = item.find("status");
            long status =
                s != item.end() && s->is_number_integer() ? s->get<long>() : 0;
            if (status >= 200 && status < 300) {
              ++m_stats.loaded;
            } else if (status == 429 && attempt < 5) {
              again.push_back(doc(i));
            } else {
              record_failure(target, item);
            }
          }
        }
      }
      docs = std::move(again);
      if (!docs.empty()) {
        {
          std::lock_guard lock(m_stats_mu); // the reporter is not thread-safe
          m_main.reporter().note(fmt::format("{} documents rejected for load "
                                             "(429); sending them again",
                                             docs.size()));
        }
        if (!sleep_unless_interrupted(delay)) {
          return fail(ErrorKind::interrupted, "interrupted");
        }
        delay *= 2;
      }
    }
    return {};
  }

  void record_failure(const std::string& target, const json& item) {
    ++m_stats.failed;
    if (m_stats.examples.size() < 5) {
      // Elasticsearch writes "error" as {type, reason}; before 2.0 it was
      // a string, and a server may write anything.
      auto e = item.find("error");
      bool is_object = e != item.end() && e->is_object();
      std::string type = is_object ? text_at(*e, "type", "error") : "error";
      std::string reason = is_object ? text_at(*e, "reason", "")
                           : e != item.end() && e->is_string()
                               ? e->get<std::string>()
                               : "";
      if (item.empty()) {
        reason = "the answer's item for it is not {\"<action>\": {...}}";
      } else if (reason.empty()) {
        reason = "status " + text_at(item, "status", "missing");
      }
      m_stats.examples.push_back(fmt::format(
          "{}/{}: {}: {}", target, text_at(item, "_id", "?"), type, reason));
    }
  }

  Client& m_main;
  LoadStats& m_stats;
  std::mutex m_stats_mu;
  std::mutex m_mu;
  std::condition_variable m_changed;
  std::deque<Batch> m_queue;
  int m_busy = 0;
  bool m_stop = false;
  std::optional<Error> m_error;
  Buffers m_buffers; // for batches sent on the caller's thread
  std::vector<std::thread> m_workers;
};

// Receives an archived documents file and cuts it into _bulk batches for
// the sender.
class BulkLoader : public Sink {
public:
  BulkLoader(BulkSender& sender, std::string target, int batch)
      : m_sender(sender), m_target(std::move(target)), m_batch(batch) {}

  Expected<void> write(Bytes data) override {
    std::string_view text(reinterpret_cast<const char*>(data.data()),
                          data.size());
    while (!text.empty()) {
      auto nl = text.find('\n');
      if (nl == std::string_view::npos) {
        m_carry.append(text);
        break;
      }
      m_carry.append(text.substr(0, nl));
      text.remove_prefix(nl + 1);
      SNAP_TRY(add_line());
      m_carry.clear();
    }
    return {};
  }

  Expected<void> finish() {
    if (!m_carry.empty()) {
      SNAP_TRY(add_line());
      m_carry.clear();
    }
    if (!m_action.empty()) {
      return fail(ErrorKind::archive, fmt::format("the documents of {} end "
                                                  "with an action line and "
                                                  "no source",
                                                  m_target));
    }
    return flush();
  }

private:
  Expected<void> add_line() {
    if (m_action.empty()) {
      json action = parse_untrusted_json(m_carry);
      // An index's documents are `index` actions, a data stream's `create`.
      const char* op = action.is_object() && action.size() == 1
                           ? (action.contains("index")    ? "index"
                              : action.contains("create") ? "create"
                                                          : nullptr)
                           : nullptr;
      if (op == nullptr || !action[op].is_object()) {
        return fail(ErrorKind::archive,
                    fmt::format("a documents line of {} is not a _bulk "
                                "index or create action",
                                m_target));
      }
      action[op]["_index"] = m_target;
      m_action = action.dump();
      return {};
    }
    m_docs.push_back(m_action + "\n" + m_carry + "\n");
    m_bytes += m_docs.back().size();
    m_action.clear();
    if (m_docs.size() >= static_cast<std::size_t>(m_batch) ||
        m_bytes >= k_max_bulk_bytes) {
      return flush();
    }
    return {};
  }

  Expected<void> flush() {
    if (m_docs.empty()) {
      return {};
    }
    std::vector<std::string> docs = std::move(m_docs);
    m_docs.clear();
    m_bytes = 0;
    return m_sender.send(m_target, std::move(docs));
  }

  BulkSender& m_sender;
  std::string m_target;
  int m_batch;
  std::string m_carry;
  std::string m_action;
  std::vector<std::string> m_docs;
  std::size_t m_bytes = 0;
};

// Counts action/source pairs of a documents file.
class PairCounter : public Sink {
public:
  Expected<void> write(Bytes data) override {
    for (std::byte b : data) {
      if (b == std::byte{'\n'}) {
        ++m_lines;
      }
    }
    return {};
  }
  std::uint64_t lines() const { return m_lines; }

private:
  std::uint64_t m_lines = 0;
};

} // namespace

namespace {

bool has_entry(const ArchiveReader& in, std::string_view path) {
  return in.manifest().entry(path) != nullptr;
}

} // namespace

Expected<Fields> describe_export(ArchiveReader& in, bool verify) {
  json indices = SNAP_TRY(in.read_json(k_indices_entry));
  json streams = has_entry(in, k_streams_entry)
                     ? SNAP_TRY(in.read_json(k_streams_entry))
                     : json::object();
  Fields list = Fields::array();
  Fields stream_list = Fields::array();
  std::uint64_t total = 0;
  auto check = [&](const std::string& name, const json& def,
                   const char* what) -> Expected<std::uint64_t> {
    const json& n = def.is_object() ? def.value("documents", json()) : json();
    std::uint64_t docs = n.is_number_unsigned() ? n.get<std::uint64_t>() : 0;
    if (verify) {
      PairCounter counter;
      SNAP_TRY(in.read_entry("payload/" + documents_entry(name), counter));
      if (counter.lines() != 2 * docs) {
        return fail(ErrorKind::archive,
                    fmt::format("{}: the documents of {} {} hold {} lines, "
                                "not the {} of {} documents",
                                in.path().filename().string(), what, name,
                                counter.lines(), 2 * docs, docs));
      }
    }
    total += docs;
    return docs;
  };
  for (const auto& [name, def] : indices.items()) {
    std::uint64_t docs = SNAP_TRY(check(name, def, "index"));
    list.push_back({{"index", name},
                    {"documents", docs},
                    {"aliases", def.value("aliases", json::object()).size()}});
  }
  for (const auto& [name, def] : streams.items()) {
    std::uint64_t docs = SNAP_TRY(check(name, def, "data stream"));
    stream_list.push_back({{"data_stream", name},
                           {"documents", docs},
                           {"template", def.value("template_name", json(""))}});
  }
  Fields f{{"mode", "logical export (mappings, settings, aliases and "
                    "documents)"},
           {"documents", total},
           {"indices", list}};
  if (!stream_list.empty()) {
    f["data_streams"] = stream_list;
  }
  return f;
}

namespace {

bool template_matches(const json& tmpl, const std::string& name) {
  if (!tmpl.is_object() || !tmpl.contains("index_patterns")) {
    return false;
  }
  json patterns = tmpl["index_patterns"];
  if (patterns.is_string()) {
    patterns = json::array({patterns});
  }
  for (const auto& p : patterns) {
    if (p.is_string() && matches_patterns(name, p.get<std::string>())) {
      return true;
    }
  }
  return false;
}

// What an import does for one data stream of the archive.
struct StreamPlan {
  std::string from, to, template_name;
  bool exists = false;                 // a stream or index `to` is there
  bool create_template = false;        // the cluster lacks it
  std::vector<std::string> components; // component templates to create
};

// Checks and plans the archive's data streams chosen by `o`: the template
// each needs must be the cluster's or come from the archive, and must
// match the stream's (renamed) name. Errors: `usage`, any kind.
Expected<std::vector<StreamPlan>>
plan_streams(Client& c, const json& streams, const ImportOptions& o,
             const std::map<std::string, std::string>& indices_there) {
  std::vector<StreamPlan> out;
  for (const auto& [from, ds] : streams.items()) {
    if (!matches_patterns(from, o.indices) || !ds.is_object()) {
      continue;
    }
    StreamPlan p{
        from,
        SNAP_TRY(rename_index(from, o.rename_pattern, o.rename_replacement)),
        ds.value("template_name", json()).is_string()
            ? ds["template_name"].get<std::string>()
            : ""};
    json there = SNAP_TRY(c.call("GET", "/_data_stream/" + url_escape(p.to),
                                 json(), {.ok = {200, 404}}));
    p.exists =
        indices_there.contains(p.to) ||
        (there.is_object() && there.contains("data_streams") &&
         there["data_streams"].is_array() && !there["data_streams"].empty());
    const json& archived = ds.value("index_template", json());
    json tmpl;
    if (!p.template_name.empty()) {
      tmpl = SNAP_TRY(index_template(c, p.template_name));
    }
    if (tmpl.is_null()) {
      if (!archived.is_object()) {
        return fail(ErrorKind::usage,
                    fmt::format("elasticsearch: data stream {} needs index "
                                "template {}, which neither this cluster nor "
                                "the archive holds; create it first",
                                from, p.template_name));
      }
      tmpl = archived;
      p.create_template = true;
      const json& parts = ds.value("component_templates", json::object());
      if (tmpl.contains("composed_of") && tmpl["composed_of"].is_array()) {
        for (const auto& part : tmpl["composed_of"]) {
          if (!part.is_string()) {
            continue;
          }
          std::string name = part.get<std::string>();
          if (SNAP_TRY(component_template(c, name)).is_null()) {
            if (!parts.is_object() || !parts.contains(name)) {
              return fail(ErrorKind::usage,
                          fmt::format("elasticsearch: index template {} is "
                                      "composed of component template {}, "
                                      "which neither this cluster nor the "
                                      "archive holds; create it first",
                                      p.template_name, name));
            }
            p.components.push_back(name);
          }
        }
      }
    }
    if (!template_matches(tmpl, p.to)) {
      return fail(ErrorKind::usage,
                  fmt::format("elasticsearch: data stream {} would be "
                              "restored as {}, which the index_patterns of "
                              "its template {} ({}) do not match; rename it "
                              "within them",
                              from, p.to, p.template_name,
                              tmpl.value("index_patterns", json()).dump()));
    }
    out.push_back(std::move(p));
  }
  return out;
}

} // namespace

Expected<RestoreReport> import_indices(Client& c, ArchiveReader& in,
                                       const ImportOptions& o, bool dry_run) {
  SNAP_TRY(c.version());
  json indices = SNAP_TRY(in.read_json(k_indices_entry));
  json streams = has_entry(in, k_streams_entry)
                     ? SNAP_TRY(in.read_json(k_streams_entry))
                     : json::object();
  std::vector<std::pair<std::string, std::string>> chosen; // source, target
  for (const auto& [name, def] : indices.items()) {
    if (matches_patterns(name, o.indices)) {
      chosen.emplace_back(name, SNAP_TRY(rename_index(name, o.rename_pattern,
                                                      o.rename_replacement)));
    }
  }
  auto states = SNAP_TRY(index_states(c));
  std::vector<StreamPlan> chosen_streams =
      SNAP_TRY(plan_streams(c, streams, o, states));
  // Definitions first: the indices and streams made below may name them
  // (templates, default pipelines, lifecycle policies). Checked (and
  // refused on a conflict) before anything changes.
  json definitions;
  if (has_entry(in, k_definitions_entry)) {
    if (o.include_global_state) {
      definitions = SNAP_TRY(in.read_json(k_definitions_entry));
    } else {
      c.reporter().warn("elasticsearch: the archive holds templates, "
                        "policies, pipelines or scripts, which this restore "
                        "leaves out; --include-global-state restores them");
    }
  } else if (o.include_global_state) {
    return fail(ErrorKind::usage,
                "--include-global-state: the archive holds no definitions "
                "(it was exported without --include-global-state)");
  }
  std::vector<std::string> def_plan;
  if (!definitions.is_null()) {
    def_plan = SNAP_TRY(put_definitions(c, definitions, o.replace, true));
  }
  if (chosen.empty() && chosen_streams.empty()) {
    return fail(ErrorKind::usage,
                fmt::format("no index or data stream in the archive matches "
                            "--indices '{}'",
                            o.indices));
  }
  std::vector<std::string> existing, existing_streams;
  for (const auto& [from, to] : chosen) {
    if (states.contains(to)) {
      existing.push_back(to);
    }
  }
  for (const auto& p : chosen_streams) {
    if (p.exists) {
      existing_streams.push_back(p.to);
    }
  }
  if ((!existing.empty() || !existing_streams.empty()) && !o.replace) {
    std::vector<std::string> all = existing;
    all.insert(all.end(), existing_streams.begin(), existing_streams.end());
    return fail(ErrorKind::conflict,
                fmt::format("elasticsearch: these indices or data streams "
                            "already exist: {} (add --replace to delete and "
                            "re-create them, or restore under other names "
                            "with --rename-pattern/--rename-replacement)",
                            fmt::join(all, ", ")));
  }
  bool aliases = o.include_aliases || o.rename_pattern.empty();
  std::vector<std::string> plan = def_plan;
  for (const auto& name : existing) {
    plan.push_back(fmt::format("delete index {} (it exists; --replace)", name));
  }
  for (const auto& name : existing_streams) {
    plan.push_back(
        fmt::format("delete data stream {} (it exists; --replace)", name));
  }
  for (const auto& [from, to] : chosen) {
    const json& def = indices[from];
    plan.push_back(fmt::format(
        "create index {}{} with its settings, mappings{}; load {} documents "
        "with _bulk in batches of {}",
        to, from == to ? "" : " (from " + from + ")",
        aliases ? fmt::format(" and {} aliases",
                              def.value("aliases", json::object()).size())
                : " (no aliases: renamed)",
        def.value("documents", 0), o.batch_size));
  }
  for (const auto& p : chosen_streams) {
    for (const auto& part : p.components) {
      plan.push_back(fmt::format("create component template {} (this "
                                 "cluster lacks it)",
                                 part));
    }
    plan.push_back(
        p.create_template
            ? fmt::format("create index template {} (this cluster lacks it)",
                          p.template_name)
            : fmt::format("keep this cluster's index template {}",
                          p.template_name));
    plan.push_back(fmt::format(
        "create data stream {}{}; load {} documents with _bulk create in "
        "batches of {}",
        p.to, p.from == p.to ? "" : " (from " + p.from + ")",
        streams[p.from].value("documents", 0), o.batch_size));
  }
  plan.push_back("refresh them and compare their document counts");
  if (dry_run) {
    return RestoreReport{.plan = std::move(plan)};
  }
  // Templates first: they change nothing that exists, and a cluster that
  // refuses one refuses it before anything is deleted.
  if (!definitions.is_null()) {
    SNAP_TRY(put_definitions(c, definitions, o.replace, false));
  }
  for (const auto& p : chosen_streams) {
    const json& ds = streams[p.from];
    for (const auto& part : p.components) {
      SNAP_TRY(c.call("PUT", "/_component_template/" + url_escape(part),
                      ds["component_templates"][part], {.idempotent = false}));
    }
    if (p.create_template) {
      SNAP_TRY(c.call("PUT", "/_index_template/" + url_escape(p.template_name),
                      ds["index_template"], {.idempotent = false}));
    }
  }
  if (!existing.empty()) {
    // Before anything is deleted, each definition is tried on a probe index
    // (then dropped): a cluster that refuses a mapping or a setting must
    // refuse it while the old index still exists.
    for (const auto& [from, to] : chosen) {
      std::string probe = fmt::format("snap-probe-{}-{}", to, ::getpid());
      json body = {
          {"settings", indices[from].value("settings", json::object())},
          {"mappings", indices[from].value("mappings", json::object())}};
      auto made =
          c.call("PUT", "/" + url_escape(probe), body, {.idempotent = false});
      if (made) {
        SNAP_TRY(c.call("DELETE", "/" + url_escape(probe), json(),
                        {.cleanup = true, .ok = {200, 404}}));
      } else {
        return fail(made.error().kind,
                    fmt::format("{} (the definition of {} is refused by this "
                                "cluster; nothing was deleted)",
                                made.error().message, from));
      }
    }
    for (const auto& batch : name_batches(existing)) {
      SNAP_TRY(c.call("DELETE", "/" + batch, json(), {.idempotent = false}));
    }
  }
  for (const auto& name : existing_streams) {
    if (states.contains(name)) {
      SNAP_TRY(c.call("DELETE", "/" + url_escape(name), json(),
                      {.idempotent = false}));
    } else {
      SNAP_TRY(c.call("DELETE", "/_data_stream/" + url_escape(name), json(),
                      {.idempotent = false}));
    }
  }
  LoadStats stats;
  BulkSender sender(c, o.senders, stats);
  std::vector<std::string> targets;
  auto load = [&](const std::string& from,
                  const std::string& to) -> Expected<void> {
    BulkLoader loader(sender, to, o.batch_size);
    SNAP_TRY(in.read_entry("payload/" + documents_entry(from), loader));
    SNAP_TRY(loader.finish());
    SNAP_TRY(sender.finish());
    c.reporter().progress(
        fmt::format("import {}: {} documents loaded", to, stats.loaded), 0, 0);
    return Expected<void>();
  };
  for (const auto& [from, to] : chosen) {
    const json& def = indices[from];
    json body = {{"settings", def.value("settings", json::object())},
                 {"mappings", def.value("mappings", json::object())}};
    if (aliases) {
      body["aliases"] = def.value("aliases", json::object());
    }
    SNAP_TRY(c.call("PUT", "/" + url_escape(to), body, {.idempotent = false}));
    targets.push_back(to);
    SNAP_TRY(load(from, to));
  }
  for (const auto& p : chosen_streams) {
    SNAP_TRY(c.call("PUT", "/_data_stream/" + url_escape(p.to), json(),
                    {.idempotent = false}));
    targets.push_back(p.to);
    SNAP_TRY(load(p.from, p.to));
  }
  for (const auto& batch : name_batches(targets)) {
    SNAP_TRY(c.call("POST", "/" + batch + "/_refresh"));
  }
  Fields counts = Fields::object();
  std::vector<std::string> short_counts;
  std::uint64_t expected_total = 0;
  auto compare = [&](const std::string& to, const json& def) -> Expected<void> {
    json n = SNAP_TRY(c.call("GET", "/" + url_escape(to) + "/_count"));
    std::uint64_t got = n.value("count", std::uint64_t{0});
    std::uint64_t want = def.value("documents", std::uint64_t{0});
    counts[to] = got;
    expected_total += want;
    if (got != want) {
      short_counts.push_back(fmt::format("{} has {} of {}", to, got, want));
    }
    return Expected<void>();
  };
  for (const auto& [from, to] : chosen) {
    SNAP_TRY(compare(to, indices[from]));
  }
  for (const auto& p : chosen_streams) {
    SNAP_TRY(compare(p.to, streams[p.from]));
  }
  Fields done = {{"indices", counts},
                 {"documents_loaded", stats.loaded},
                 {"documents_failed", stats.failed}};
  if (stats.failed > 0) {
    return fail(ErrorKind::partial,
                fmt::format("elasticsearch: restored {} indices and data "
                            "streams, but {} of {} documents were refused: {}",
                            targets.size(), stats.failed, expected_total,
                            fmt::join(stats.examples, "; ")));
  }
  if (!short_counts.empty()) {
    return fail(ErrorKind::partial,
                fmt::format("elasticsearch: every _bulk item succeeded but "
                            "the counts differ after a refresh: {} (is "
                            "something else writing to these indices?)",
                            fmt::join(short_counts, "; ")));
  }
  return RestoreReport{.details = std::move(done)};
}

} // namespace snap::adapters::es
