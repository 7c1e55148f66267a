// SPDX-License-Identifier: MIT
#include "adapters/elasticsearch/page.hpp"

#include "snap/text.hpp"

#include <fmt/format.h>

namespace snap::adapters::es {
namespace {

// A cursor over JSON text that can skip any value and step through objects
// and arrays; it checks structure as it goes.
class Cursor {
public:
  explicit Cursor(std::string_view t) : m_t(t) {}

  bool ok() const { return m_ok; }
  std::size_t pos() const { return m_p; }

  void ws() {
    while (m_p < m_t.size() && (m_t[m_p] == ' ' || m_t[m_p] == '\n' ||
                                m_t[m_p] == '\r' || m_t[m_p] == '\t')) {
      ++m_p;
    }
  }
  bool eat(char c) {
    ws();
    if (m_p < m_t.size() && m_t[m_p] == c) {
      ++m_p;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return m_p < m_t.size() && m_t[m_p] == c;
  }
  // A string token, quotes included.
  std::string_view string() {
    ws();
    std::size_t start = m_p;
    if (m_p >= m_t.size() || m_t[m_p] != '"') {
      return bad();
    }
    for (++m_p; m_p < m_t.size(); ++m_p) {
      char c = m_t[m_p];
      if (c == '\\') {
        ++m_p;
      } else if (c == '"') {
        ++m_p;
        return m_t.substr(start, m_p - start);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        break;
      }
    }
    return bad();
  }
  // Any value, returned as its raw text.
  std::string_view value(int depth = 0) {
    ws();
    if (m_p >= m_t.size() || depth > 512) {
      return bad();
    }
    std::size_t start = m_p;
    char c = m_t[m_p];
    if (c == '"') {
      return string();
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++m_p;
      if (!eat(close)) {
        do {
          if (c == '{') {
            string();
            if (!eat(':')) {
              return bad();
            }
          }
          value(depth + 1);
          if (!m_ok) {
            return {};
          }
        } while (eat(','));
        if (!eat(close)) {
          return bad();
        }
      }
      return m_t.substr(start, m_p - start);
    }
    for (; m_p < m_t.size(); ++m_p) {
      char ch = m_t[m_p];
      if (ch == '{' || ch == '}' || ch == '[' || ch == ']' || ch == ',' ||
          ch == ':' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' ||
          ch == '"') {
        break;
      }
    }
    if (m_p == start) {
      return bad();
    }
    return m_t.substr(start, m_p - start);
  }
  // Calls `on_key(key)` for each member of an object; `on_key` must consume
  // the member's value.
  template <class F> void object(F&& on_key) {
    if (!eat('{')) {
      bad();
      return;
    }
    if (eat('}')) {
      return;
    }
    do {
      std::string_view key = string();
      if (!m_ok || !eat(':')) {
        bad();
        return;
      }
      on_key(key);
      if (!m_ok) {
        return;
      }
    } while (eat(','));
    if (!eat('}')) {
      bad();
    }
  }
  template <class F> void array(F&& on_item) {
    if (!eat('[')) {
      bad();
      return;
    }
    if (eat(']')) {
      return;
    }
    do {
      on_item();
      if (!m_ok) {
        return;
      }
    } while (eat(','));
    if (!eat(']')) {
      bad();
    }
  }
  std::string_view bad() {
    m_ok = false;
    return {};
  }

private:
  std::string_view m_t;
  std::size_t m_p = 0;
  bool m_ok = true;
};

void scan_hit(Cursor& c, SearchPage& page) {
  Hit h;
  c.object([&](std::string_view key) {
    if (key == "\"_id\"") {
      h.id = c.string();
    } else if (key == "\"_routing\"") {
      h.routing = c.string();
    } else if (key == "\"_source\"") {
      if (!c.peek('{')) {
        c.bad();
        return;
      }
      h.source = c.value();
    } else if (key == "\"sort\"") {
      h.sort = c.value();
    } else {
      c.value();
    }
  });
  page.hits.push_back(h);
}

void scan_hits(Cursor& c, SearchPage& page) {
  c.object([&](std::string_view key) {
    if (key == "\"hits\"") {
      c.array([&] { scan_hit(c, page); });
    } else if (key == "\"total\"") {
      if (c.peek('{')) {
        c.object([&](std::string_view k) {
          std::string_view v = c.value();
          if (k == "\"value\"") {
            page.total = whole_number(v);
          }
        });
      } else {
        page.total = whole_number(c.value());
      }
    } else {
      c.value();
    }
  });
}

} // namespace

Expected<SearchPage> scan_search_page(std::string_view text) {
  SearchPage page;
  Cursor c(text);
  c.object([&](std::string_view key) {
    if (key == "\"hits\"") {
      scan_hits(c, page);
    } else if (key == "\"pit_id\"") {
      page.pit_id = c.string();
    } else if (key == "\"_scroll_id\"") {
      page.scroll_id = c.string();
    } else {
      c.value();
    }
  });
  c.ws();
  if (!c.ok() || c.pos() != text.size()) {
    return fail(ErrorKind::remote,
                fmt::format("elasticsearch: a search answer is not well-formed "
                            "JSON (near byte {} of {})",
                            c.pos(), text.size()));
  }
  return page;
}

} // namespace snap::adapters::es
