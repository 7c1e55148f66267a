// SPDX-License-Identifier: MIT
// Parsing JSON that snap did not write (archives, config files, server
// answers) with bounds: nlohmann's parser keeps its own stack, but copying,
// comparing and printing a document recurse once per level, so a document
// nested 100,000 deep would overflow the stack long after it parsed.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "snap/error.hpp"

namespace snap {

// No document snap reads nests deeper than this: Kubernetes objects and
// Elasticsearch mappings stay under 50 (Elasticsearch's own limit on
// mapping depth is 20 objects), and Jackson, which Elasticsearch parses
// with, refuses past 1,000.
inline constexpr int k_max_json_depth = 512;

// True when the arrays and objects of `text` nest no deeper than
// `max_depth` (strings are skipped; the text need not be valid JSON).
bool json_depth_within(std::string_view text, int max_depth = k_max_json_depth);

// Parses `text`, which came from outside snap. Returns a discarded value
// (is_discarded()) when it is not JSON or nests deeper than
// k_max_json_depth; `why`, when given, then says which in a few words.
nlohmann::json parse_untrusted_json(std::string_view text,
                                    std::string* why = nullptr);

// `value` as JSON text with `indent` (-1 for compact), invalid UTF-8 in
// strings replaced by U+FFFD rather than thrown on.
std::string dump_json(const nlohmann::json& value, int indent = -1);
std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

// The words of a nlohmann exception without its "[json.exception.…] "
// prefix.
std::string json_error_text(const nlohmann::json::exception& e);

// Runs `f` (returning an Expected), turning a nlohmann exception that a
// document of the wrong shape raises inside it (a string where a number
// belongs) into an error of `kind`: "<what>: <why>".
template <class F>
auto guard_json(ErrorKind kind, std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    return fail(kind, fmt::format("{}: {}", what, json_error_text(e)));
  }
}

} // namespace snap
