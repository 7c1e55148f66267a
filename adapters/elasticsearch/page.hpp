// SPDX-License-Identifier: MIT
// Reads an Elasticsearch search answer without building a JSON tree: a page
// of thousands of hits is scanned once, and each hit's _source is kept as
// the exact bytes the server sent (key order included). Views point into
// the answer's text.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "snap/error.hpp"

namespace snap::adapters::es {

struct Hit {
  std::string_view id;      // the JSON string token, quotes included
  std::string_view routing; // likewise, or empty
  std::string_view source;  // the raw JSON object, or empty when absent
  std::string_view sort;    // the raw JSON array, or empty
};

struct SearchPage {
  std::string_view pit_id;    // JSON string token, or empty
  std::string_view scroll_id; // JSON string token, or empty
  std::optional<std::uint64_t> total;
  std::vector<Hit> hits;
};

// Scans `text`, a search or scroll answer. Errors: `remote` when it is not
// well-formed JSON of that shape.
Expected<SearchPage> scan_search_page(std::string_view text);

} // namespace snap::adapters::es
