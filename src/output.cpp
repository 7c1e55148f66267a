// SPDX-License-Identifier: MIT
// Printing. The progress line is redrawn at most 10 times a second and only
// when stderr is a terminal, so cron and CI logs stay clean.
#include "snap/output.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <sys/ioctl.h>
#include <unistd.h>

#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap {

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* k_units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes)
                   : fmt::format("{:.1f} {}", v, k_units[unit]);
}

namespace {

std::string value_text(const Fields& v) {
  if (v.is_string()) {
    return terminal_safe(v.get<std::string>());
  }
  if (v.is_null()) {
    return "-";
  }
  if (v.is_boolean()) {
    return v.get<bool>() ? "yes" : "no";
  }
  if (v.is_array() && v.empty()) {
    return "none";
  }
  // A list of words reads as one: "logs, metrics".
  if (v.is_array() && std::all_of(v.begin(), v.end(), [](const Fields& x) {
        return x.is_string() || x.is_number();
      })) {
    std::string out;
    for (const auto& x : v) {
      out += (out.empty() ? "" : ", ") + value_text(x);
    }
    return out;
  }
  return terminal_safe(dump_json(v));
}

// "backup_id" -> "Backup ID": JSON keys stay stable, people get words.
std::string label(std::string_view raw) {
  const std::string safe = terminal_safe(raw);
  std::string_view key = safe;
  std::string out;
  std::size_t start = 0;
  while (start <= key.size()) {
    auto end = key.find('_', start);
    if (end == std::string_view::npos) {
      end = key.size();
    }
    std::string word(key.substr(start, end - start));
    if (word == "id" || word == "url" || word == "ms") {
      for (auto& c : word) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    } else if (word == "sha256") {
      word = "SHA-256";
    }
    out += (out.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!out.empty()) {
    out[0] =
        static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  }
  return out;
}

} // namespace

std::string fields_to_text(const Fields& fields, int indent) {
  std::size_t width = 0;
  for (const auto& [k, v] : fields.items()) {
    if (!v.is_object()) {
      width = std::max(width, label(k).size());
    }
  }
  std::string out;
  std::string pad(static_cast<std::size_t>(indent), ' ');
  for (const auto& [k, v] : fields.items()) {
    if (v.is_object()) {
      out += fmt::format("{}{}:\n{}", pad, label(k),
                         fields_to_text(v, indent + 2));
    } else if (v.is_array() && !v.empty() &&
               std::all_of(v.begin(), v.end(),
                           [](const Fields& row) { return row.is_array(); })) {
      // Rows, the first the header: an aligned table under the label.
      out += fmt::format("{}{}:\n", pad, label(k));
      std::vector<std::size_t> widths;
      std::vector<std::vector<std::string>> cells;
      for (const auto& row : v) {
        auto& line = cells.emplace_back();
        for (const auto& cell : row) {
          line.push_back(cell.is_string() && cell.get<std::string>().empty()
                             ? std::string()
                             : value_text(cell));
          if (widths.size() < line.size()) {
            widths.push_back(0);
          }
          widths[line.size() - 1] =
              std::max(widths[line.size() - 1], line.back().size());
        }
      }
      for (const auto& line : cells) {
        std::string text = pad + "  ";
        for (std::size_t i = 0; i < line.size(); ++i) {
          text += i + 1 < line.size()
                      ? fmt::format("{:<{}}", line[i], widths[i] + 4)
                      : line[i];
        }
        out += text + "\n";
      }
    } else if (v.is_array() && !v.empty() && v.front().is_object()) {
      out += fmt::format("{}{}:\n", pad, label(k));
      for (const auto& item : v) {
        out += fields_to_text(item, indent + 2);
        out += "\n";
      }
    } else {
      out += fmt::format("{}{:<{}}  {}\n", pad, label(k) + ":", width + 1,
                         value_text(v));
    }
  }
  return out;
}

Output::Output(const GlobalOptions& global) : m_global(global) {
  m_bar_enabled = ::isatty(STDERR_FILENO) != 0;
}

void Output::print(const CommandResult& result) {
  std::lock_guard lock(m_mu);
  end_progress();
  if (m_global.json) {
    std::fputs((dump_json(result.json, 2) + "\n").c_str(), stdout);
  } else if (!result.text.empty() && !m_global.quiet) {
    // Values were made safe where they were put in; this catches any
    // escape sequence that came in another way.
    std::string text = terminal_safe(result.text, true);
    std::fputs(text.c_str(), stdout);
    if (text.back() != '\n') {
      std::fputc('\n', stdout);
    }
  }
  std::fflush(stdout);
}

nlohmann::ordered_json error_json(const Error& err) {
  return {{"kind", kind_name(err.kind)},
          {"message", err.message},
          {"exit_code", exit_code(err.kind)}};
}

void Output::print_error(const Error& err) {
  std::lock_guard lock(m_mu);
  end_progress();
  if (m_global.json) {
    nlohmann::ordered_json doc = {{"error", error_json(err)}};
    std::fputs((dump_json(doc, 2) + "\n").c_str(), stdout);
    std::fflush(stdout);
    return;
  }
  std::fprintf(stderr, "snap: %s\n", terminal_safe(err.message).c_str());
}

void Output::warn(std::string_view text) {
  std::lock_guard lock(m_mu);
  end_progress();
  std::fprintf(stderr, "snap: warning: %s\n", terminal_safe(text).c_str());
}

void Output::note(std::string_view text) {
  std::lock_guard lock(m_mu);
  if (m_global.verbose) {
    end_progress();
    std::fprintf(stderr, "snap: %s\n", terminal_safe(text).c_str());
  }
}

namespace {

// The width of the terminal on stderr, or 0 when unknown.
int terminal_columns() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 0;
}

} // namespace

std::string fit_width(const std::string& line, int columns) {
  if (columns <= 0) {
    return line;
  }
  // The last column stays free: some terminals wrap on writing into it.
  auto room = static_cast<std::size_t>(std::max(columns - 1, 1));
  std::size_t count = 0, cut = line.size();
  std::size_t before_last = 0; // where the room-th code point starts
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) {
      continue; // a UTF-8 continuation byte
    }
    if (count == room - 1) {
      before_last = i;
    }
    if (count == room) {
      cut = i;
      break;
    }
    ++count;
  }
  if (cut == line.size()) {
    return line;
  }
  return line.substr(0, before_last) + "…";
}

void Output::progress(std::string_view label, std::uint64_t done,
                      std::uint64_t total) {
  std::lock_guard lock(m_mu);
  // The flags are read here, not at construction: Output exists before the
  // command line is parsed.
  if (m_global.json && !m_global.no_progress && !m_global.quiet) {
    json_progress(label, done, total);
    return;
  }
  if (!m_bar_enabled || m_global.no_progress || m_global.quiet ||
      m_global.json) {
    return;
  }
  using namespace std::chrono;
  auto now = steady_clock::now();
  if (std::string safe = terminal_safe(label); safe != m_label) {
    end_progress();
    m_label = std::move(safe);
    m_start = now;
  }
  if (m_bar_drawn && now - m_last_draw < milliseconds(100) &&
      !(total > 0 && done >= total)) {
    return;
  }
  m_last_draw = now;
  double secs = duration<double>(now - m_start).count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  std::string line;
  if (done == 0 && total == 0) {
    line = std::string(m_label); // a step of a task, not a transfer
  } else if (total > 0) {
    int pct = static_cast<int>(100.0 * static_cast<double>(done) /
                               static_cast<double>(total));
    int filled = pct / 5;
    double eta = rate > 0
                     ? static_cast<double>(total - std::min(done, total)) / rate
                     : 0;
    line = fmt::format("{} [{:<20}] {:>3}% {} / {} {}/s ETA {:.0f}s", m_label,
                       std::string(static_cast<std::size_t>(filled), '#'), pct,
                       human_bytes(done), human_bytes(total),
                       human_bytes(static_cast<std::uint64_t>(rate)), eta);
  } else {
    line = fmt::format("{} {} {}/s", m_label, human_bytes(done),
                       human_bytes(static_cast<std::uint64_t>(rate)));
  }
  // One line, never wrapped: a line wider than the terminal would leave a
  // stale copy behind at every redraw.
  line = fit_width(line, terminal_columns());
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  m_bar_drawn = true;
}

void Output::json_progress(std::string_view label, std::uint64_t done,
                           std::uint64_t total) {
  using namespace std::chrono;
  auto now = steady_clock::now();
  bool first = label != m_json_label;
  if (first) {
    end_progress();
    m_json_label = std::string(label);
    m_json_start = now;
  }
  nlohmann::ordered_json line = {{"type", "progress"}, {"label", label}};
  if (done == 0 && total == 0) {
    line["type"] = "step"; // a step of a task the target runs
  } else {
    line["done"] = done;
    line["total"] =
        total == 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(total);
    line["elapsed_s"] =
        std::round(duration<double>(now - m_json_start).count() * 10) / 10;
  }
  m_json_pending = dump_json(line) + "\n";
  if (first || now - m_json_last >= seconds(1)) {
    m_json_last = now;
    std::fputs(m_json_pending.c_str(), stderr);
    std::fflush(stderr);
    m_json_pending.clear();
  }
}

void Output::end_progress() {
  std::lock_guard lock(m_mu);
  if (!m_json_pending.empty()) {
    std::fputs(m_json_pending.c_str(), stderr);
    std::fflush(stderr);
    m_json_pending.clear();
  }
  if (m_bar_drawn) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    m_bar_drawn = false;
  }
  m_label.clear();
}

} // namespace snap
