// SPDX-License-Identifier: MIT
// Elasticsearch emulator: _search (the queries es_query.cpp evaluates, sort
// by _doc or _shard_doc,
// search_after, track_total_hits, slice with a point in time or a
// scroll), points in
// time, scroll and _count. A search sees what the last refresh made
// visible. Each index is one shard, its documents in Lucene doc id order.
#include "emulator/es_cluster.hpp"
#include "emulator/es_query.hpp"

namespace snap::emulator::es {
namespace {

constexpr int k_max_result_window = 10000;
constexpr int k_view_shift = 40; // sort value = view << 40 | position

struct Page {
  std::vector<std::pair<std::string, View>> views;
  std::int64_t start = 0; // global position of the first hit
  // A sliced search: the [begin, end) doc ids of each view it sees.
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  json query; // null: every document
  // A sliced scroll: per view, (sub_id, sub_max) of its _id terms.
  std::vector<std::pair<int, int>> term_slices;
};

// Lucene's StringHelper.murmurhash3_x86_32 (MurmurHash3, x86, 32 bits).
std::int32_t murmurhash3_x86_32(const std::string& bytes, std::uint32_t seed) {
  constexpr std::uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  auto rotl = [](std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  std::uint32_t h = seed;
  std::size_t n = bytes.size(), rounded = n & ~std::size_t{3};
  auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
  };
  for (std::size_t i = 0; i < rounded; i += 4) {
    std::uint32_t k =
        byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
    k = rotl(k * c1, 15) * c2;
    h = rotl(h ^ k, 13) * 5 + 0xe6546b64;
  }
  std::uint32_t k = 0;
  switch (n & 3) {
  case 3:
    k = byte(rounded + 2) << 16;
    [[fallthrough]];
  case 2:
    k |= byte(rounded + 1) << 8;
    [[fallthrough]];
  case 1:
    k |= byte(rounded);
    k = rotl(k * c1, 15) * c2;
    h ^= k;
  }
  h ^= static_cast<std::uint32_t>(n);
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return static_cast<std::int32_t>(h);
}

// Whether document `d` of view `vi` is in the page's slice of _id terms:
// TermsSliceQuery keeps a term whose murmurhash3_x86_32 (seed 7919)
// floorMod max is the slice's id (elastic/elasticsearch and OpenSearch
// server/.../search/slice/TermsSliceQuery.java, SliceQuery.contains).
// Elasticsearch hashes the _id term's encoded bytes (Uid.encodeId); the
// emulator hashes the id's UTF-8, so which slice holds a document differs,
// while every document is still in exactly one.
bool in_term_slice(const Page& p, std::size_t vi, const Doc& d) {
  if (p.term_slices.empty()) {
    return true;
  }
  auto [id, max] = p.term_slices[vi];
  if (max <= 1) {
    return max == 1;
  }
  std::int32_t h = murmurhash3_x86_32(d.id, 7919);
  return ((h % max) + max) % max == id;
}

std::pair<std::int64_t, std::int64_t> range_of(const Page& p, std::size_t vi) {
  if (p.ranges.empty()) {
    return {0, static_cast<std::int64_t>(p.views[vi].second->size())};
  }
  return p.ranges[vi];
}

std::int64_t total_docs(const Page& p) {
  std::int64_t n = 0;
  for (std::size_t vi = 0; vi < p.views.size(); ++vi) {
    auto [begin, end] = range_of(p, vi);
    if (p.query.is_null() && p.term_slices.empty()) {
      n += end - begin;
      continue;
    }
    for (std::int64_t j = begin; j < end; ++j) {
      const Doc& d = *(*p.views[vi].second)[j];
      n += in_term_slice(p, vi, d) && doc_matches(p.query, d) ? 1 : 0;
    }
  }
  return n;
}

// The doc ids of shard `shard` (of `shards`) that slice `id` of `max` sees,
// as SliceBuilder.toFilter and DocIdSliceQuery choose them for a point in
// time (elastic/elasticsearch server/.../search/slice/): with fewer slices
// than shards a slice takes whole shards (shard % max); otherwise each
// shard is shared by the slices id % shards == shard, which split its doc
// ids into contiguous ranges, the first (max_doc % n) one longer.
// Which part of shard `shard` (of `shards`) slice `id` of `max` reads, as
// SliceBuilder.toFilter decides before it builds the slice query: (sub_id,
// sub_max) of the shard's documents, sub_max 0 for none and 1 for all.
std::pair<int, int> slice_target(int id, int max, int shard, int shards) {
  if (shards <= 1) {
    return {id, max};
  }
  if (max < shards) {
    return {0, shard % max == id ? 1 : 0};
  }
  if (id % shards != shard) {
    return {0, 0};
  }
  return {id / shards, max / shards + (max % shards > shard ? 1 : 0)};
}

std::pair<std::int64_t, std::int64_t>
slice_range(int id, int max, int shard, int shards, std::int64_t max_doc) {
  auto [sub_id, sub_max] = slice_target(id, max, shard, shards);
  if (sub_max <= 1) {
    return {0, sub_max == 1 ? max_doc : 0};
  }
  std::int64_t rem = max_doc % sub_max, quot = max_doc / sub_max;
  std::int64_t begin = sub_id < rem ? (quot + 1) * sub_id
                                    : rem * (quot + 1) + (sub_id - rem) * quot;
  std::int64_t size = sub_id < rem ? quot + 1 : quot;
  return {begin, begin + size};
}

// Streams `body`, cutting the connection once --fail-after-bytes bytes of
// search answers have gone out in all.
void send_search_body(Cluster& c, httplib::Response& res, std::string body) {
  std::int64_t limit = c.faults.faults().fail_after_bytes;
  if (limit < 0) {
    res.set_content(std::move(body), "application/json");
    return;
  }
  std::int64_t before =
      c.search_bytes.fetch_add(static_cast<std::int64_t>(body.size()));
  std::int64_t room = std::max<std::int64_t>(0, limit - before);
  auto text = std::make_shared<std::string>(std::move(body));
  res.set_chunked_content_provider(
      "application/json",
      [text, room](std::size_t offset, httplib::DataSink& sink) {
        std::size_t end = std::min<std::size_t>(text->size(), room);
        if (offset >= end) {
          if (end == text->size()) {
            sink.done();
            return true;
          }
          return false; // drop the connection mid-body
        }
        return sink.write(text->data() + offset, end - offset);
      });
}

// Appends the hits of a page to `out` as Elasticsearch writes them.
// `next` is then the global position after the last hit.
void render_hits(const Cluster& c, const Page& p, int size, bool with_sort,
                 std::string& out, std::size_t& count,
                 std::int64_t* next = nullptr) {
  count = 0;
  std::int64_t skip = p.start;
  std::int64_t before = 0; // documents of the views before this one
  for (std::size_t vi = 0; vi < p.views.size() && count < (std::size_t)size;
       before += static_cast<std::int64_t>(p.views[vi].second->size()), ++vi) {
    const auto& [name, view] = p.views[vi];
    auto n = static_cast<std::int64_t>(view->size());
    if (skip >= n) {
      skip -= n;
      continue;
    }
    auto [begin, end] = range_of(p, vi);
    skip = std::max(skip, begin);
    std::string head = "{\"_index\":" + json(name).dump();
    // Types left the hits with Elasticsearch 8 and OpenSearch 2.
    if (c.opensearch() ? c.os_major < 2 : c.major < 8) {
      head += ",\"_type\":\"_doc\"";
    }
    head += ",\"_id\":";
    for (std::int64_t j = skip; j < end && count < (std::size_t)size; ++j) {
      const Doc& d = *(*view)[j];
      if (!in_term_slice(p, vi, d) || !doc_matches(p.query, d)) {
        continue;
      }
      if (count > 0) {
        out += ',';
      }
      out += head;
      out += d.id_json;
      out += with_sort ? ",\"_score\":null" : ",\"_score\":1.0";
      if (!d.routing.empty()) {
        out += ",\"_routing\":";
        out += json(d.routing).dump();
      }
      out += ",\"_source\":";
      out += d.source;
      if (with_sort) {
        out += ",\"sort\":[";
        out +=
            std::to_string((static_cast<std::int64_t>(vi) << k_view_shift) | j);
        out += ']';
      }
      out += '}';
      ++count;
      if (next != nullptr) {
        *next = before + j + 1;
      }
    }
    skip = 0;
  }
}

std::string render_total(const json& track, std::int64_t total) {
  if (track.is_boolean() && !track.get<bool>()) {
    return "";
  }
  std::int64_t cap = track.is_boolean()          ? INT64_MAX
                     : track.is_number_integer() ? track.get<std::int64_t>()
                                                 : k_max_result_window;
  bool eq = total <= cap;
  return "\"total\":{\"value\":" + std::to_string(eq ? total : cap) +
         ",\"relation\":\"" + (eq ? "eq" : "gte") + "\"},";
}

bool check_readable(Cluster& c, const std::string& name,
                    httplib::Response& res) {
  Index& idx = c.indices[name];
  if (idx.closed) {
    send_error(res, 400, "index_closed_exception", "closed",
               {{"index", name}, {"index_uuid", idx.uuid}});
    return false;
  }
  if (idx.recovering()) {
    send_error(res, 503, "search_phase_execution_exception",
               "all shards failed",
               {{"phase", "query"},
                {"grouped", true},
                {"failed_shards", json::array()}});
    return false;
  }
  idx.maybe_refresh();
  return true;
}

void sweep(Cluster& c) {
  std::erase_if(c.contexts, [](const auto& kv) { return kv.second.expired(); });
}

void context_missing(httplib::Response& res, const std::string& id) {
  send_error(res, 404, "search_context_missing_exception",
             "No search context found for id [" + id + "]");
}

// Applies a search body's "slice" to `page`, or answers the error
// Elasticsearch gives: SliceBuilder's setters refuse an id below 0, a max
// of 1 or less and an id not below max while the body is parsed (so a 400
// x_content_parse_exception); SearchRequest.validate refuses a slice
// without a scroll or point in time; createSliceQuery refuses [_id] with a
// point in time. Slicing a point in time came with 7.15 (#75162); this
// emulator refuses it before. It models the default strategy only (no
// "field"): DocIdSliceQuery for an Elasticsearch point in time,
// TermsSliceQuery on _id for a scroll and for an OpenSearch point in
// time.
bool slice_page(Cluster& c, const json& slice, bool scroll, bool pit,
                Page& page, httplib::Response& res) {
  auto parse_error = [&](const std::string& field, const std::string& why) {
    send_error(res, 400, "x_content_parse_exception",
               "[slice] failed to parse field [" + field + "]",
               {{"caused_by",
                 {{"type", "illegal_argument_exception"}, {"reason", why}}}});
    return false;
  };
  if (!slice.is_object() || !slice.value("id", json()).is_number_integer() ||
      !slice.value("max", json()).is_number_integer()) {
    send_error(res, 400, "x_content_parse_exception",
               "[slice] id and max must be integers");
    return false;
  }
  std::int64_t id = slice["id"].get<std::int64_t>();
  std::int64_t max = slice["max"].get<std::int64_t>();
  if (id < 0) {
    return parse_error("id", "id must be greater than or equal to 0");
  }
  if (max <= 1) {
    return parse_error("max", "max must be greater than 1");
  }
  if (id >= max) {
    return parse_error("max", "max must be greater than id");
  }
  if (!scroll && !pit) {
    send_error(res, 400, "action_request_validation_exception",
               "Validation Failed: 1: [slice] can only be used with [scroll] "
               "or [point-in-time] requests;");
    return false;
  }
  if (slice.contains("field") && slice["field"] == "_id" && pit &&
      !c.opensearch()) {
    send_error(res, 400, "illegal_argument_exception",
               "cannot slice on [_id] when using [point-in-time]");
    return false;
  }
  if (slice.contains("field") ||
      (pit && !c.opensearch() && !c.at_least(7, 15))) {
    send_error(res, 400, "illegal_argument_exception",
               "snap-emulator slices a scroll, or a point in time of "
               "Elasticsearch 7.15 and later or of OpenSearch, by the "
               "default strategy only");
    return false;
  }
  int shards = static_cast<int>(page.views.size());
  // OpenSearch slices a point in time as it slices a scroll (its PIT came
  // with 2.4, search slicing included: documentation-website
  // search-plugins/searching-data/point-in-time.md): SearchService.
  // parseSource accepts a slice in a scroll or PIT reader context, and
  // SliceBuilder's default field stays _id, so TermsSliceQuery splits
  // each shard. index.max_slices_per_pit bounds max as
  // index.max_slices_per_scroll does for a scroll (IndexSettings).
  if (scroll || (pit && c.opensearch())) {
    // The default field of a sliced scroll is _id (TermsSliceQuery), and
    // index.max_slices_per_scroll (1024) bounds max
    // (SliceBuilder.toFilter).
    if (max > 1024) {
      send_error(res, 400, "illegal_argument_exception",
                 "The number of slices [" + std::to_string(max) +
                     "] is too large. It must be less than [1024]. This "
                     "limit can be set by changing the [index.max_slices_per_" +
                     std::string(scroll ? "scroll" : "pit") +
                     "] index level setting.");
      return false;
    }
    for (int vi = 0; vi < shards; ++vi) {
      page.term_slices.push_back(slice_target(
          static_cast<int>(id), static_cast<int>(max), vi, shards));
    }
    return true;
  }
  for (int vi = 0; vi < shards; ++vi) {
    page.ranges.push_back(
        slice_range(static_cast<int>(id), static_cast<int>(max), vi, shards,
                    static_cast<std::int64_t>(page.views[vi].second->size())));
  }
  return true;
}

void search(Cluster& c, const httplib::Request& req, httplib::Response& res,
            const std::string& expr) {
  json body =
      req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    send_error(res, 400, "parsing_exception",
               "request body or source parameter is required");
    return;
  }
  int size = body.value("size", req.has_param("size")
                                    ? std::stoi(req.get_param_value("size"))
                                    : 10);
  int from = body.value("from", 0);
  if (from + size > k_max_result_window) {
    send_error(res, 400, "illegal_argument_exception",
               "Result window is too large, from + size must be less than or "
               "equal to: [10000] but was [" +
                   std::to_string(from + size) +
                   "]. See the scroll api for a more efficient way to request "
                   "large data sets. This limit can be set by changing the "
                   "[index.max_result_window] index level setting.");
    return;
  }
  json query;
  if (body.contains("query")) {
    if (auto e = check_query(body["query"])) {
      send_error(res, 400, (*e)["type"], (*e)["reason"]);
      return;
    }
    // match_all selects everything: no document needs reading for it.
    if (!(body["query"].size() == 1 && body["query"].contains("match_all"))) {
      query = body["query"];
    }
    if (from > 0 && !query.is_null()) {
      send_error(res, 400, "parsing_exception",
                 "snap-emulator pages a query by search_after or scroll, "
                 "not by from");
      return;
    }
  }
  bool has_sort = body.contains("sort");
  if (body.contains("search_after") && !has_sort) {
    send_error(res, 400, "action_request_validation_exception",
               "Validation Failed: 1: [search_after] requires [sort];");
    return;
  }
  bool scroll = req.has_param("scroll");
  if (scroll && (from > 0 || (req.has_param("from") &&
                              req.get_param_value("from") != "0"))) {
    send_error(res, 400, "action_request_validation_exception",
               "Validation Failed: 1: using [from] is not allowed in a scroll "
               "context;");
    return;
  }
  json track = body.value("track_total_hits", json(nullptr));
  Page page;
  std::string pit_id;
  std::lock_guard lock(c.mu);
  c.advance();
  sweep(c);
  if (body.contains("pit")) {
    if (!expr.empty()) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: [indices] cannot be used with point "
                 "in time. Do not specify any index with point in time.;");
      return;
    }
    if (scroll) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: using [point in time] is not allowed "
                 "in a scroll context;");
      return;
    }
    pit_id = body["pit"].value("id", "");
    auto it = c.contexts.find(pit_id);
    if (it == c.contexts.end()) {
      context_missing(res, pit_id);
      return;
    }
    if (auto ka = parse_time_ms(body["pit"].value("keep_alive", ""))) {
      it->second.keep_alive_ms = *ka;
    }
    it->second.last_used_ms = now_ms();
    page.views = it->second.views;
  } else {
    std::vector<std::string> names;
    if (!resolve(c, expr.empty() ? "_all" : expr, req, res, names)) {
      return;
    }
    for (const auto& n : names) {
      if (!check_readable(c, n, res)) {
        return;
      }
      page.views.emplace_back(n, c.indices[n].view);
    }
  }
  // OpenSearch has a _shard_doc sort only from 3.3 (ShardDocSortBuilder,
  // opensearch-project/OpenSearch #18924); before, the name is a field no
  // mapping has.
  if (c.opensearch() &&
      (c.os_major < 3 || (c.os_major == 3 && c.os_minor < 3)) &&
      body.contains("sort") &&
      body["sort"].dump().find("_shard_doc") != std::string::npos) {
    send_error(res, 400, "search_phase_execution_exception",
               "all shards failed",
               {{"phase", "query"},
                {"grouped", true},
                {"failed_shards",
                 json::array({{{"shard", 0},
                               {"reason",
                                {{"type", "query_shard_exception"},
                                 {"reason", "No mapping found for [_shard_doc] "
                                            "in order to sort on"}}}}})}});
    return;
  }
  if (body.contains("slice") &&
      !slice_page(c, body["slice"], scroll, !pit_id.empty(), page, res)) {
    return;
  }
  page.start = from;
  page.query = query;
  if (body.contains("search_after")) {
    const json& after = body["search_after"];
    std::int64_t v =
        after.is_array() && !after.empty() && after[0].is_number_integer()
            ? after[0].get<std::int64_t>()
            : -1;
    std::int64_t vi = v >> k_view_shift;
    std::int64_t j = v & ((std::int64_t{1} << k_view_shift) - 1);
    std::int64_t start = 0;
    for (std::int64_t i = 0; i < vi && i < (std::int64_t)page.views.size();
         ++i) {
      start += static_cast<std::int64_t>(page.views[i].second->size());
    }
    page.start = start + j + 1;
  }
  // Counted only when the answer shows it (a query's count reads every
  // document of the view).
  bool counted = scroll || !(track.is_boolean() && !track.get<bool>());
  std::int64_t total = counted ? total_docs(page) : 0;
  std::string scroll_id;
  if (scroll) {
    auto ka = parse_time_ms(req.get_param_value("scroll"));
    if (!ka) {
      send_error(res, 400, "illegal_argument_exception",
                 "failed to parse setting [scroll] with value [" +
                     req.get_param_value("scroll") +
                     "] as a time value: unit is missing or unrecognized");
      return;
    }
    scroll_id =
        "FGluY2x1ZGVfY29udGV4dF91dWlkDXF1ZXJ5QW5kRmV0Y2gB" + random_id(24);
    SearchContext ctx{page.views, *ka,   now_ms(), 0,
                      size,       query, total,    page.term_slices};
    c.contexts[scroll_id] = ctx;
  }
  std::string out = "{";
  if (!pit_id.empty()) {
    out += "\"pit_id\":" + json(pit_id).dump() + ",";
  }
  if (scroll) {
    out += "\"_scroll_id\":" + json(scroll_id).dump() + ",";
  }
  int shards = static_cast<int>(page.views.size());
  out += "\"took\":2,\"timed_out\":false,\"_shards\":{\"total\":" +
         std::to_string(shards) + ",\"successful\":" + std::to_string(shards) +
         ",\"skipped\":0,\"failed\":0},\"hits\":{" +
         render_total(scroll && track.is_null() ? json(true) : track, total) +
         "\"max_score\":" + (has_sort ? "null" : "1.0") + ",\"hits\":[";
  out.reserve(out.size() + static_cast<std::size_t>(size) * 160);
  std::size_t count = 0;
  std::int64_t next = page.start;
  render_hits(c, page, size, has_sort, out, count, &next);
  out += "]}}";
  if (scroll) {
    c.contexts[scroll_id].scroll_pos = static_cast<std::size_t>(next);
  }
  send_search_body(c, res, std::move(out));
}

void scroll_next(Cluster& c, const httplib::Request& req,
                 httplib::Response& res, std::string id) {
  json body =
      req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_object() && body.contains("scroll_id")) {
    id = body.value("scroll_id", "");
  } else if (req.has_param("scroll_id")) {
    id = req.get_param_value("scroll_id");
  }
  std::lock_guard lock(c.mu);
  sweep(c);
  auto it = c.contexts.find(id);
  if (it == c.contexts.end() || id.empty()) {
    context_missing(res, id);
    return;
  }
  SearchContext& ctx = it->second;
  std::string keep = body.is_object() ? body.value("scroll", "") : "";
  if (keep.empty()) {
    keep = req.get_param_value("scroll");
  }
  if (auto ka = parse_time_ms(keep)) {
    ctx.keep_alive_ms = *ka;
  }
  ctx.last_used_ms = now_ms();
  Page page{ctx.views,
            static_cast<std::int64_t>(ctx.scroll_pos),
            {},
            ctx.query,
            ctx.term_slices};
  std::string out =
      "{\"_scroll_id\":" + json(id).dump() +
      ",\"took\":1,\"timed_out\":false,\"_shards\":{\"total\":1,"
      "\"successful\":1,\"skipped\":0,\"failed\":0},\"hits\":{" +
      render_total(json(true), ctx.total >= 0 ? ctx.total : total_docs(page)) +
      "\"max_score\":null,\"hits\":[";
  std::size_t count = 0;
  std::int64_t next = page.start;
  render_hits(c, page, ctx.size, true, out, count, &next);
  out += "]}}";
  ctx.scroll_pos = static_cast<std::size_t>(next);
  send_search_body(c, res, std::move(out));
}

void count(Cluster& c, const httplib::Request& req, httplib::Response& res,
           const std::string& expr) {
  std::lock_guard lock(c.mu);
  c.advance();
  std::vector<std::string> names;
  if (!resolve(c, expr, req, res, names)) {
    return;
  }
  json body =
      req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  json query = body.is_object() ? body.value("query", json()) : json();
  if (query.is_object() && query.size() == 1 && query.contains("match_all")) {
    query = json(); // everything, without reading a document
  }
  if (!query.is_null()) {
    if (auto e = check_query(query)) {
      send_error(res, 400, (*e)["type"], (*e)["reason"]);
      return;
    }
  }
  std::size_t n = 0;
  for (const auto& name : names) {
    if (!check_readable(c, name, res)) {
      return;
    }
    for (const auto& d : *c.indices[name].view) {
      n += doc_matches(query, *d) ? 1 : 0;
    }
  }
  int shards = static_cast<int>(names.size());
  send_json(res, {{"count", n},
                  {"_shards",
                   {{"total", shards},
                    {"successful", shards},
                    {"skipped", 0},
                    {"failed", 0}}}});
}

// Opens a point in time on the indices of the path's first group, kept
// alive as its keep_alive parameter says (answered with `no_keep_alive`
// when missing). Returns its id and how many indices (shards) it holds, or
// nothing when the error is answered.
std::optional<std::pair<std::string, int>>
open_context(Cluster& c, const httplib::Request& req, httplib::Response& res,
             const std::string& no_keep_alive) {
  auto ka = parse_time_ms(req.get_param_value("keep_alive"));
  if (!ka) {
    send_error(res, 400, "action_request_validation_exception", no_keep_alive);
    return std::nullopt;
  }
  std::lock_guard lock(c.mu);
  c.advance();
  std::vector<std::string> names;
  if (!resolve(c, req.matches[1], req, res, names)) {
    return std::nullopt;
  }
  SearchContext ctx{{}, *ka, now_ms()};
  for (const auto& n : names) {
    if (!check_readable(c, n, res)) {
      return std::nullopt;
    }
    ctx.views.emplace_back(n, c.indices[n].view);
  }
  std::string id = random_id(60) + "AAAAAAAAAAA==";
  c.contexts[id] = ctx;
  return std::pair{id, static_cast<int>(names.size())};
}

} // namespace

void register_search_routes(httplib::Server& s, Cluster& c) {
  auto any_index = [&](const httplib::Request& req, httplib::Response& res) {
    search(c, req, res, "");
  };
  auto in_index = [&](const httplib::Request& req, httplib::Response& res) {
    search(c, req, res, req.matches[1]);
  };
  auto next = [&](const httplib::Request& req, httplib::Response& res) {
    scroll_next(c, req, res,
                req.matches.size() > 1 ? std::string(req.matches[1]) : "");
  };
  auto clear = [&](const httplib::Request& req, httplib::Response& res) {
    json body = req.body.empty() ? json::object()
                                 : json::parse(req.body, nullptr, false);
    std::vector<std::string> ids;
    if (req.matches.size() > 1) {
      ids.push_back(req.matches[1]);
    } else if (body.is_object() && body["scroll_id"].is_string()) {
      ids.push_back(body["scroll_id"]);
    } else if (body.is_object() && body["scroll_id"].is_array()) {
      for (const auto& id : body["scroll_id"]) {
        ids.push_back(id.get<std::string>());
      }
    }
    std::lock_guard lock(c.mu);
    int freed = 0;
    for (const auto& id : ids) {
      freed += static_cast<int>(c.contexts.erase(id));
    }
    send_json(res, {{"succeeded", true}, {"num_freed", freed}},
              freed > 0 || ids.empty() ? 200 : 404);
  };
  s.Get("/_search/scroll", next);
  s.Post("/_search/scroll", next);
  s.Delete("/_search/scroll", clear);
  s.Get(R"(/_search/scroll/([^/]+))", next);
  s.Post(R"(/_search/scroll/([^/]+))", next);
  s.Delete(R"(/_search/scroll/([^/]+))", clear);
  s.Get("/_search", any_index);
  s.Post("/_search", any_index);
  s.Get(R"(/([^/_][^/]*)/_search)", in_index);
  s.Post(R"(/([^/_][^/]*)/_search)", in_index);
  auto count_all = [&](const auto& req, auto& res) {
    count(c, req, res, "_all");
  };
  auto count_some = [&](const auto& req, auto& res) {
    count(c, req, res, req.matches[1]);
  };
  s.Get("/_count", count_all);
  s.Post("/_count", count_all);
  s.Get(R"(/([^/_][^/]*)/_count)", count_some);
  s.Post(R"(/([^/_][^/]*)/_count)", count_some);
  s.Post(R"(/([^/_][^/]*)/_pit)", [&](const auto& req, auto& res) {
    // x-pack's point in time; OpenSearch has its own, under
    // /{index}/_search/point_in_time (2.4+), and no /_pit handler.
    if (!c.at_least(7, 10) || c.opensearch()) {
      no_handler(req, res);
      return;
    }
    auto opened = open_context(
        c, req, res, "Validation Failed: 1: [keep_alive] is not specified;");
    if (!opened) {
      return;
    }
    json out = {{"id", opened->first}};
    if (c.major >= 8) {
      int n = opened->second;
      out["_shards"] = {
          {"total", n}, {"successful", n}, {"skipped", 0}, {"failed", 0}};
    }
    send_json(res, out);
  });
  // OpenSearch's own point in time (2.4+; rest-api-spec create_pit and
  // delete_pit, CreatePitResponse {"pit_id", "_shards", "creation_time"},
  // DeletePitResponse {"pits": [{"successful", "pit_id"}]}).
  s.Post(R"(/([^/_][^/]*)/_search/point_in_time)", [&](const auto& req,
                                                       auto& res) {
    if (!c.opensearch() || (c.os_major == 2 && c.os_minor < 4) ||
        c.os_major < 2) {
      no_handler(req, res);
      return;
    }
    auto opened = open_context(
        c, req, res, "Validation Failed: 1: keep alive not specified;");
    if (!opened) {
      return;
    }
    int n = opened->second;
    send_json(
        res,
        {{"pit_id", opened->first},
         {"_shards",
          {{"total", n}, {"successful", n}, {"skipped", 0}, {"failed", 0}}},
         {"creation_time", now_ms()}});
  });
  s.Delete("/_search/point_in_time", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!c.opensearch() || !body.is_object() || !body.contains("pit_id") ||
        !body["pit_id"].is_array()) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: no pit ids specified;");
      return;
    }
    std::lock_guard lock(c.mu);
    json pits = json::array();
    bool any = false;
    for (const auto& id : body["pit_id"]) {
      bool freed =
          id.is_string() && c.contexts.erase(id.get<std::string>()) > 0;
      any |= freed;
      pits.push_back({{"successful", freed}, {"pit_id", id}});
    }
    send_json(res, {{"pits", pits}}, any ? 200 : 404);
  });
  s.Delete("/_pit", [&](const auto& req, auto& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("id")) {
      send_error(res, 400, "action_request_validation_exception",
                 "Validation Failed: 1: point in time id is not specified;");
      return;
    }
    std::lock_guard lock(c.mu);
    int freed =
        static_cast<int>(c.contexts.erase(body.value("id", std::string())));
    send_json(res, {{"succeeded", true}, {"num_freed", freed}},
              freed > 0 ? 200 : 404);
  });
}

} // namespace snap::emulator::es
