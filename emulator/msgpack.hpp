// SPDX-License-Identifier: MIT
// MessagePack as Consul's FSM snapshot (state.bin) is written: maps,
// arrays, raw strings, unsigned integers, booleans and nil, each in the
// form Consul's encoder picks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace snap::emulator::msgpack {

void put_map(std::string& out, std::uint32_t entries);
void put_array(std::string& out, std::uint32_t items);
void put_str(std::string& out, std::string_view s);
// The head of a raw string of `size` bytes (a Go []byte is written so).
void put_raw_header(std::string& out, std::uint64_t size);
void put_uint(std::string& out, std::uint64_t v);
void put_bool(std::string& out, bool v);
void put_nil(std::string& out);
// A JSON document's maps (in their order), arrays, strings, unsigned
// numbers, booleans and nulls.
void put_value(std::string& out, const nlohmann::ordered_json& v);

// Decodes one value at `pos` (advanced past it); binary becomes a JSON binary
// value. Throws std::runtime_error on malformed or truncated input.
nlohmann::json decode(std::string_view data, std::size_t& pos);

} // namespace snap::emulator::msgpack
