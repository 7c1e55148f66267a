// SPDX-License-Identifier: MIT
// The part of Elasticsearch's query DSL the emulator evaluates, so that an
// export's --query is tested against a server that filters: match_all,
// match_none, term, terms, range, exists, ids, prefix, match (any of the
// query's lowercased words, the standard analyzer's default OR) and bool
// (must, filter, should, must_not, minimum_should_match), after the query
// builders of elastic/elasticsearch server/src/main/java/org/elasticsearch/
// index/query/. A query of another type, or a known one in a shape not
// modelled, is refused with 400 rather than answered as if it matched
// everything; an unknown type gets Elasticsearch's own parsing_exception
// ("unknown query [x]", AbstractQueryBuilder.parseInnerQueryBuilder).
// Fields are read from _source by dotted path; keyword and text fields are
// not told apart (term compares the whole value, match the words).
#include "emulator/es_query.hpp"

#include <cctype>

namespace snap::emulator::es {
namespace {

const std::set<std::string> k_known = {"match_all",
                                       "match_none",
                                       "term",
                                       "terms",
                                       "range",
                                       "exists",
                                       "ids",
                                       "prefix",
                                       "match",
                                       "bool",
                                       "wildcard",
                                       "regexp",
                                       "fuzzy",
                                       "match_phrase",
                                       "multi_match",
                                       "query_string",
                                       "simple_query_string",
                                       "nested",
                                       "constant_score",
                                       "dis_max",
                                       "function_score",
                                       "geo_distance",
                                       "script",
                                       "terms_set"};
const std::set<std::string> k_modelled = {
    "match_all", "match_none", "term",   "terms", "range",
    "exists",    "ids",        "prefix", "match", "bool"};

// The values at dotted `path` in `src` (arrays flattened).
void values_at(const json& src, const std::string& path, std::size_t from,
               std::vector<const json*>& out) {
  if (src.is_array()) {
    for (const auto& v : src) {
      values_at(v, path, from, out);
    }
    return;
  }
  if (from >= path.size()) {
    out.push_back(&src);
    return;
  }
  if (!src.is_object()) {
    return;
  }
  // A field name may itself hold dots ({"a.b": 1}); try the longest first.
  for (std::size_t end = path.size(); end > from; --end) {
    if (end != path.size() && path[end] != '.') {
      continue;
    }
    auto it = src.find(path.substr(from, end - from));
    if (it != src.end()) {
      values_at(*it, path, end == path.size() ? end : end + 1, out);
    }
  }
}

std::vector<const json*> field_values(const json& src,
                                      const std::string& field) {
  std::vector<const json*> out;
  values_at(src, field, 0, out);
  std::erase_if(out, [](const json* v) { return v->is_null(); });
  return out;
}

bool same_value(const json& doc, const json& q) {
  if (doc.is_number() && q.is_number()) {
    return doc.get<double>() == q.get<double>();
  }
  if (doc.is_number() && q.is_string()) {
    try {
      return doc.get<double>() == std::stod(q.get<std::string>());
    } catch (...) {
      return false;
    }
  }
  if (doc.is_boolean() && q.is_string()) {
    return (doc.get<bool>() ? "true" : "false") == q.get<std::string>();
  }
  return doc == q;
}

// -1, 0, 1, or 2 when the two cannot be compared.
int compare(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int r = a.get<std::string>().compare(b.get<std::string>());
    return r < 0 ? -1 : r > 0 ? 1 : 0;
  }
  return 2;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char ch : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  return out;
}

// The one field and its body of a leaf query ({"term": {"f": …}}).
bool leaf(const json& body, std::string& field, json& value) {
  if (!body.is_object() || body.size() != 1) {
    return false;
  }
  field = body.begin().key();
  value = body.begin().value();
  return true;
}

json as_list(const json& v) {
  return v.is_array() ? v : v.is_null() ? json::array() : json::array({v});
}

} // namespace

std::optional<json> check_query(const json& q) {
  auto error = [](const std::string& type, const std::string& reason) {
    return json{{"type", type}, {"reason", reason}};
  };
  if (!q.is_object() || q.size() != 1) {
    return error("parsing_exception",
                 "[_na] query malformed, must start with start_object");
  }
  const std::string& type = q.begin().key();
  const json& body = q.begin().value();
  if (!k_known.contains(type)) {
    return error("parsing_exception", "unknown query [" + type + "]");
  }
  if (!k_modelled.contains(type)) {
    return error("parsing_exception",
                 "snap-emulator does not evaluate query [" + type + "]");
  }
  if (type == "bool") {
    if (!body.is_object()) {
      return error("parsing_exception", "[bool] malformed query");
    }
    for (const char* part : {"must", "filter", "should", "must_not"}) {
      if (body.contains(part)) {
        for (const auto& sub : as_list(body[part])) {
          if (auto e = check_query(sub)) {
            return e;
          }
        }
      }
    }
    return std::nullopt;
  }
  if (!body.is_object()) {
    return error("parsing_exception",
                 "[" + type +
                     "] query malformed, no start_object after "
                     "query name");
  }
  if (type == "exists" && !body.contains("field")) {
    return error("parsing_exception", "[exists] must be provided with a "
                                      "[field]");
  }
  if (type == "ids" &&
      !(body.contains("values") && body["values"].is_array())) {
    return error("parsing_exception", "[ids] query malformed, no values");
  }
  if ((type == "term" || type == "terms" || type == "range" ||
       type == "prefix" || type == "match") &&
      body.empty()) {
    return error("parsing_exception",
                 "[" + type + "] query malformed, no field");
  }
  return std::nullopt;
}

bool query_matches(const json& q, const Doc& d, const json& src) {
  const std::string& type = q.begin().key();
  const json& body = q.begin().value();
  if (type == "match_all") {
    return true;
  }
  if (type == "match_none") {
    return false;
  }
  if (type == "ids") {
    for (const auto& v : body["values"]) {
      if (v.is_string() && v.get<std::string>() == d.id) {
        return true;
      }
    }
    return false;
  }
  if (type == "exists") {
    return body["field"].is_string() &&
           !field_values(src, body["field"].get<std::string>()).empty();
  }
  if (type == "bool") {
    auto all = [&](const char* part) {
      for (const auto& sub : as_list(body.value(part, json()))) {
        if (!query_matches(sub, d, src)) {
          return false;
        }
      }
      return true;
    };
    if (!all("must") || !all("filter")) {
      return false;
    }
    for (const auto& sub : as_list(body.value("must_not", json()))) {
      if (query_matches(sub, d, src)) {
        return false;
      }
    }
    json should = as_list(body.value("should", json()));
    if (should.empty()) {
      return true;
    }
    // BoolQueryBuilder: with no must or filter, one should clause must
    // match; with them, none need to, unless minimum_should_match says.
    bool scoring_only = body.contains("must") || body.contains("filter");
    int needed = body.contains("minimum_should_match") &&
                         body["minimum_should_match"].is_number_integer()
                     ? body["minimum_should_match"].get<int>()
                 : scoring_only ? 0
                                : 1;
    int hit = 0;
    for (const auto& sub : should) {
      hit += query_matches(sub, d, src) ? 1 : 0;
    }
    return hit >= needed;
  }
  std::string field;
  json value;
  if (!leaf(body, field, value)) {
    return false;
  }
  std::vector<const json*> have = field_values(src, field);
  if (type == "term" || type == "prefix" || type == "match") {
    if (value.is_object()) {
      value = value.value(type == "match" ? "query" : "value", json());
    }
  }
  for (const json* v : have) {
    if (type == "term" && same_value(*v, value)) {
      return true;
    }
    if (type == "terms" && value.is_array()) {
      for (const auto& one : value) {
        if (same_value(*v, one)) {
          return true;
        }
      }
    }
    if (type == "prefix" && v->is_string() && value.is_string() &&
        v->get<std::string>().starts_with(value.get<std::string>())) {
      return true;
    }
    if (type == "match") {
      if (!v->is_string()) {
        if (same_value(*v, value)) {
          return true;
        }
        continue;
      }
      std::string text =
          value.is_string() ? value.get<std::string>() : value.dump();
      auto in_doc = words(v->get<std::string>());
      for (const auto& w : words(text)) {
        if (std::find(in_doc.begin(), in_doc.end(), w) != in_doc.end()) {
          return true;
        }
      }
    }
    if (type == "range" && value.is_object()) {
      bool ok = true;
      for (const auto& [op, bound] : value.items()) {
        int c = compare(*v, bound);
        if (op == "gte" || op == "from") {
          ok &= c == 0 || c == 1;
        } else if (op == "gt") {
          ok &= c == 1;
        } else if (op == "lte" || op == "to") {
          ok &= c == 0 || c == -1;
        } else if (op == "lt") {
          ok &= c == -1;
        }
      }
      if (ok) {
        return true;
      }
    }
  }
  return false;
}

bool doc_matches(const json& q, const Doc& d) {
  if (q.is_null()) {
    return true;
  }
  json src = json::parse(d.source, nullptr, false);
  return query_matches(q, d, src);
}

} // namespace snap::emulator::es
