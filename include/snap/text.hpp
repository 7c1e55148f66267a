// SPDX-License-Identifier: MIT
// Small text helpers shared by the CLI and the adapters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace snap {

// The candidate closest to `word` by edit distance, or "" when none is close
// enough to suggest ("did you mean").
std::string closest_match(std::string_view word,
                          const std::vector<std::string>& candidates);

// `s` with every character outside [A-Za-z0-9._-] replaced by '_', for use in
// file names and the one-line archive header.
std::string safe_token(std::string_view s);

// `s` in lower case (ASCII).
std::string to_lower(std::string_view s);

// `s` without leading and trailing white space.
std::string trim_copy(std::string_view s);

// `text` as a whole unsigned decimal number (digits only, nothing around
// them, no overflow), or nullopt.
std::optional<std::uint64_t> whole_number(std::string_view text);

// The non-empty, trimmed items of a comma-separated list ("a, b,,c").
std::vector<std::string> split_list(std::string_view s);
// `items` joined with `sep` ("a,b").
std::string join_list(const std::vector<std::string>& items,
                      std::string_view sep = ",");

// `s` fit to print on a terminal: control characters (C0, DEL and C1, the
// newline too unless `keep_newlines`) and bytes that are not UTF-8 become
// visible escapes (\x1b), so text from an archive or a server can neither
// send terminal sequences nor forge a line of output.
std::string terminal_safe(std::string_view s, bool keep_newlines = false);

// True when `s` is well-formed UTF-8.
bool is_utf8(std::string_view s);

// Standard base64 (RFC 4648 §4) decoded, white space ignored; nothing when
// the text is not base64.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// The current UTC time as RFC 3339 ("2026-11-21T10:15:00Z") and in the
// compact form used in file names ("20261121T101500Z").
std::string utc_now_rfc3339();
// Milliseconds since the epoch as RFC 3339 UTC with milliseconds
// ("2024-05-29T16:26:40.000Z"); "" for a negative or unrepresentable time.
std::string epoch_ms_to_rfc3339(std::int64_t ms);
std::string rfc3339_to_compact(std::string_view rfc3339);
// Seconds since the epoch of an RFC 3339 UTC time (fractions ignored); -1
// when it cannot be read.
std::int64_t rfc3339_epoch_s(const std::string& rfc3339);

} // namespace snap
