// SPDX-License-Identifier: MIT
// Consul's snapshot format for the emulator: writing one from KV state, and
// reading one back with the checks Consul's restore makes, in its words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>

namespace snap::emulator {

struct KvEntry {
  std::string value;
  std::uint64_t flags = 0;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
};

using KvStore = std::map<std::string, KvEntry>;

struct SnapshotSpec {
  std::uint64_t index = 0;
  std::uint64_t term = 0;
  std::string leader_addr;
  std::uint64_t padding_bytes = 0; // extra state for benchmarks
  bool random_padding = false;     // incompressible instead of hex text
  std::filesystem::path dir;       // where the file is built
};

// Writes a snapshot of `kv` (gzip tar of meta.json, state.bin, SHA256SUMS)
// into spec.dir and returns its path.
std::filesystem::path write_snapshot(const KvStore& kv,
                                     const SnapshotSpec& spec);

struct RestoredSnapshot {
  KvStore kv;
  std::uint64_t index = 0;
};

// Reads a snapshot as PUT /v1/snapshot receives it; on failure, the error
// text Consul would answer with.
std::variant<RestoredSnapshot, std::string>
read_snapshot(const std::string& body);

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(const std::string& data);

} // namespace snap::emulator
