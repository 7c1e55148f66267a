// SPDX-License-Identifier: MIT
// The query DSL subset the Elasticsearch emulator evaluates (es_query.cpp).
#pragma once

#include <optional>
#include <set>

#include "emulator/es_store.hpp"

namespace snap::emulator::es {

// The error object ({type, reason}) Elasticsearch (or, for a query it
// knows and the emulator does not model, the emulator) answers `q` with,
// or nothing when the emulator evaluates it.
std::optional<json> check_query(const json& q);

// True when document `d` matches `q` (checked by check_query; null: all).
bool doc_matches(const json& q, const Doc& d);

} // namespace snap::emulator::es
