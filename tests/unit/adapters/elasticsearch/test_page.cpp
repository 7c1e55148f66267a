// SPDX-License-Identifier: MIT
// The DOM-free scan of Elasticsearch search answers: exact _source bytes,
// string escapes, nesting, and refusal of what is not well-formed.
#include <catch2/catch.hpp>

#include "adapters/elasticsearch/export.hpp"
#include "adapters/elasticsearch/page.hpp"

using snap::adapters::es::scan_search_page;

TEST_CASE("a search page gives each hit's raw id, routing, source and sort",
          "[unit][elasticsearch]") {
  std::string text = R"({"pit_id":"abc==","took":2,"timed_out":false,
    "_shards":{"total":1,"successful":1,"skipped":0,"failed":0},
    "hits":{"total":{"value":2,"relation":"eq"},"max_score":null,
      "hits":[
        {"_index":"i","_id":"a\"1","_score":null,
         "_source":{"b":[1,{"c":"}]\\"},null],"a":"x"},"sort":[7]},
        {"_index":"i","_id":"2","_routing":"r1","_source":{},
         "sort":[8, "tie"]}]}})";
  auto page = scan_search_page(text);
  REQUIRE(page);
  CHECK(page->pit_id == "\"abc==\"");
  REQUIRE(page->total);
  CHECK(*page->total == 2);
  REQUIRE(page->hits.size() == 2);
  CHECK(page->hits[0].id == R"("a\"1")");
  CHECK(page->hits[0].source == R"({"b":[1,{"c":"}]\\"},null],"a":"x"})");
  CHECK(page->hits[0].sort == "[7]");
  CHECK(page->hits[0].routing.empty());
  CHECK(page->hits[1].routing == "\"r1\"");
  CHECK(page->hits[1].source == "{}");
  CHECK(page->hits[1].sort == R"([8, "tie"])");
}

TEST_CASE("scroll pages, integer totals and empty hits scan too",
          "[unit][elasticsearch]") {
  auto page = scan_search_page(
      R"({"_scroll_id":"FGlu","hits":{"total":12,"hits":[]}})");
  REQUIRE(page);
  CHECK(page->scroll_id == "\"FGlu\"");
  CHECK(*page->total == 12);
  CHECK(page->hits.empty());
}

TEST_CASE("a cut or malformed answer is refused", "[unit][elasticsearch]") {
  std::string whole =
      R"({"hits":{"total":{"value":1},"hits":[{"_id":"1","_source":{"a":"b"}}]}})";
  for (std::size_t cut : {1ul, 10ul, 40ul, whole.size() - 1}) {
    INFO(cut);
    CHECK_FALSE(scan_search_page(whole.substr(0, cut)));
  }
  CHECK_FALSE(scan_search_page(R"({"hits":{"hits":[{"_id":1,}]}})"));
  CHECK_FALSE(scan_search_page(R"({"hits":{"hits":[{"_source":"text"}]}})"));
  CHECK_FALSE(scan_search_page(whole + "x"));
  CHECK(scan_search_page(whole));
}

TEST_CASE("an index name is renamed only when Elasticsearch could hold it",
          "[unit][elasticsearch]") {
  using snap::adapters::es::rename_index;
  auto renamed = rename_index("logs", "(.+)", "copy-$1");
  REQUIRE(renamed);
  CHECK(*renamed == "copy-logs");
  // A name from a rewritten archive longer than Elasticsearch allows is
  // refused before the regular expression sees it.
  auto refused = rename_index(std::string(1 << 20, 'a'), "(.+)", "copy-$1");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == snap::ErrorKind::archive);
  CHECK(refused.error().message.find("longer than Elasticsearch allows") !=
        std::string::npos);
}
