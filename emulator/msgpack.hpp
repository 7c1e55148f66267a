// SPDX-License-Identifier: MIT
// The MessagePack subset Consul's FSM snapshot (state.bin) uses: maps,
// strings, binary, unsigned integers. Enough to write and read KV records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace snap::emulator::msgpack {

void put_map(std::string& out, std::uint32_t entries);
void put_str(std::string& out, std::string_view s);
void put_uint(std::string& out, std::uint64_t v);
void put_bin_header(std::string& out, std::uint32_t size);

// Decodes one value at `pos` (advanced past it); binary becomes a JSON binary
// value. Throws std::runtime_error on malformed or truncated input.
nlohmann::json decode(std::string_view data, std::size_t& pos);

} // namespace snap::emulator::msgpack
