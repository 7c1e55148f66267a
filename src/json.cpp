// SPDX-License-Identifier: MIT
// Bounded parsing of untrusted JSON (see json.hpp).
#include "snap/json.hpp"

namespace snap {

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i; // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
    case '"':
      in_string = true;
      break;
    case '[':
    case '{':
      if (++depth > max_depth) {
        return false;
      }
      break;
    case ']':
    case '}':
      --depth;
      break;
    default:
      break;
    }
  }
  return true;
}

nlohmann::json parse_untrusted_json(std::string_view text, std::string* why) {
  if (!json_depth_within(text)) {
    if (why != nullptr) {
      *why = fmt::format("nested deeper than {} levels", k_max_json_depth);
    }
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    if (why != nullptr) {
      *why = json_error_text(e);
    }
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

std::string json_error_text(const nlohmann::json::exception& e) {
  // "[json.exception.parse_error.101] parse error at line 1, …": the part
  // after the bracket says what and where.
  std::string_view what = e.what();
  auto close = what.find("] ");
  return std::string(close == what.npos ? what : what.substr(close + 2));
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false,
                    nlohmann::json::error_handler_t::replace);
}

std::string dump_json(const nlohmann::ordered_json& value, int indent) {
  return value.dump(indent, ' ', false,
                    nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace snap
