// SPDX-License-Identifier: MIT
// Output: results on stdout (text, or exactly one JSON document with --json),
// logs and progress on stderr, the progress bar only on a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "snap/adapter.hpp"
#include "snap/options.hpp"

namespace snap {

// What a command produced: text for people, a document for --json.
struct CommandResult {
  std::string text;
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  std::optional<Error> error; // set for a partial result that still prints
};

// An error as --json shows it: {"kind", "message", "exit_code"}.
nlohmann::ordered_json error_json(const Error& err);

class Output : public Reporter {
public:
  explicit Output(const GlobalOptions& global);
  // Prints `result` on stdout as text or JSON.
  void print(const CommandResult& result);
  // Prints `err` as one line on stderr, or as {"error":…} on stdout with
  // --json.
  void print_error(const Error& err);
  // A warning on stderr (even with --quiet: it is about safety).
  void warn(std::string_view text) override;
  // Reporter: a note on stderr with --verbose; a progress bar on a TTY.
  void note(std::string_view text) override;
  void progress(std::string_view label, std::uint64_t done,
                std::uint64_t total) override;
  // Clears a drawn progress line.
  void end_progress();

private:
  // With --json: progress as JSON lines on stderr (docs/json.md), at most
  // one a second per label; the first always, and the last one held back is
  // written when the label changes or the progress ends.
  void json_progress(std::string_view label, std::uint64_t done,
                     std::uint64_t total);
  const GlobalOptions& m_global;
  // Notes and progress come from several threads (the HTTP log of parallel
  // _bulk senders and export slices): one writer at a time.
  std::recursive_mutex m_mu;
  bool m_bar_enabled = false;
  bool m_bar_drawn = false;
  std::string m_label;
  std::chrono::steady_clock::time_point m_start;
  std::chrono::steady_clock::time_point m_last_draw;
  std::string m_json_label;
  std::chrono::steady_clock::time_point m_json_start;
  std::chrono::steady_clock::time_point m_json_last;
  std::string m_json_pending; // the latest line held back by the rate limit
};

// `line` cut to fit `columns` terminal columns (one left free), ending in
// "…" when cut; unchanged when `columns` is 0 (unknown).
std::string fit_width(const std::string& line, int columns);

// "4.1 MiB"
std::string human_bytes(std::uint64_t bytes);

// Fields as aligned "Key: value" lines.
std::string fields_to_text(const Fields& fields, int indent = 0);

} // namespace snap
