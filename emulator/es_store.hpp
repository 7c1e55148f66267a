// SPDX-License-Identifier: MIT
// The state behind the Elasticsearch emulator: indices with their settings,
// mappings, aliases and documents; searcher views that only a refresh
// advances (refresh_interval 1s, as a real index); snapshot repositories.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/clock.hpp"

namespace snap::emulator::es {

using nlohmann::json;

struct Doc {
  std::string id;
  std::string source; // compact JSON text
  std::string routing;
  std::string id_json; // `id` as a JSON string, rendered once
};
using DocPtr = std::shared_ptr<const Doc>;
// What a search sees: the live documents at the last refresh, in order.
using View = std::shared_ptr<const std::vector<DocPtr>>;

struct Recovery {
  std::string repository, snapshot;
  std::int64_t start_ms = 0, end_ms = 0;
  std::uint64_t bytes = 0;
};

struct Index {
  std::string uuid;
  std::int64_t created_ms = 0;
  json settings = json::object(); // flat "index.x" -> string
  json mappings = json::object();
  json aliases = json::object(); // name -> definition
  bool closed = false;
  std::vector<DocPtr> slots; // nullptr: deleted
  std::unordered_map<std::string, std::size_t> by_id;
  std::size_t live = 0;
  std::uint64_t source_bytes = 0;
  View view = std::make_shared<const std::vector<DocPtr>>();
  bool dirty = false;
  std::int64_t last_write_ms = 0;
  std::optional<Recovery> recovery;

  int shards() const;
  bool hidden(const std::string& name) const;
  bool recovering() const;
  // Makes every write so far visible to searches.
  void refresh();
  // Refreshes when a write is older than the 1 s refresh interval.
  void maybe_refresh();
  // A full view of the documents now, refreshed or not (snapshots copy it).
  View current() const;
  // Stores `doc` (replacing one with the same id); true when created.
  bool put(DocPtr doc);
  bool remove(const std::string& id);
};

// A data stream: its backing indices, oldest first (the last one takes
// writes), and the composable template it came from.
struct DataStream {
  std::vector<std::string> indices;
  std::string template_name;
  int generation = 1;
};

// A copy of an index as a snapshot holds it.
struct SnapshotIndex {
  json settings, mappings, aliases;
  View docs;
  std::uint64_t bytes = 0;
  int shards = 1;
  bool failed = false; // its shard 0 failed (PARTIAL)
};

struct Snapshot {
  std::string name, uuid;
  std::string state = "IN_PROGRESS"; // then SUCCESS, PARTIAL or FAILED
  std::string outcome;               // the state it will end in
  std::string reason;
  bool include_global_state = true;
  json metadata;
  json feature_states = json::array();
  std::int64_t start_ms = 0, end_ms = 0;
  std::map<std::string, SnapshotIndex> indices;
  std::map<std::string, DataStream> data_streams;
};

struct Repository {
  std::string type;
  json settings;
  std::string uuid;
  std::map<std::string, Snapshot> snapshots;
};

// A point in time or a scroll: a view kept alive between pages.
struct SearchContext {
  std::vector<std::pair<std::string, View>> views; // index name, documents
  std::int64_t keep_alive_ms = 0;
  std::int64_t last_used_ms = 0;
  std::size_t scroll_pos = 0; // scroll only
  int size = 10;              // scroll only
  json query;                 // scroll only: null, every document
  std::int64_t total = -1;    // scroll only: the hits, counted once
  // A sliced scroll: per view, the slice of its _id terms it reads
  // (sub_id, sub_max; sub_max 0: none, 1: every document).
  std::vector<std::pair<int, int>> term_slices;
  bool expired() const { return now_ms() > last_used_ms + keep_alive_ms; }
};

// Parses an Elasticsearch time value ("5m", "30s", "1h", "500ms").
std::optional<std::int64_t> parse_time_ms(const std::string& text);

// Flattens settings as given on creation ({"index":{"a":1}} or
// {"number_of_shards":1}) into "index.a" -> "1".
json flatten_settings(const json& settings);
// The nested form GET returns without flat_settings.
json nest_settings(const json& flat);

// Adds the fields of `source` that `mappings` lacks, as dynamic mapping
// does; returns an error reason under "dynamic": "strict".
std::optional<std::string> map_dynamically(json& mappings, const json& source);

std::string random_id(std::size_t length = 22);

} // namespace snap::emulator::es
