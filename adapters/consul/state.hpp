// SPDX-License-Identifier: MIT
// What a Consul snapshot's state.bin holds, counted as it streams past: the
// records by type, with their sizes, and the KV store's keys by prefix, as
// `consul snapshot inspect` (with -kvdetails) reports them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/error.hpp"

namespace snap::adapters {

// Which KV keys to break down, and how deep: -kvdepth and -kvfilter.
struct ConsulKvView {
  int depth = 2;
  std::string filter;
  // Past this many prefixes, further ones are counted under "(more)",
  // so that memory stays bounded whatever the key space.
  std::size_t max_prefixes = 10000;
};

struct ConsulTally {
  std::string name;
  std::uint64_t count = 0;
  std::uint64_t size = 0;
};

struct ConsulStateStats {
  // By size, largest first, then by name (sortTypeStats).
  std::vector<ConsulTally> types;
  std::uint64_t total_size = 0;
  std::vector<ConsulTally> kv; // the same order
  std::uint64_t kv_total_size = 0;

  nlohmann::ordered_json to_json() const;
  // The manifest's form back; nullopt when `j` is not one.
  static std::optional<ConsulStateStats> from_json(const nlohmann::json& j);
};

// The name Consul gives message type `t` (structs.MessageType.String()).
std::string consul_message_type_name(unsigned t);

// 1.5KB, 12.3MB, 0: Consul's ByteSize.
std::string consul_byte_size(std::uint64_t bytes);

class ConsulStateReader {
public:
  explicit ConsulStateReader(ConsulKvView view = {});
  ~ConsulStateReader();
  ConsulStateReader(ConsulStateReader&&) noexcept;
  ConsulStateReader& operator=(ConsulStateReader&&) noexcept;

  void feed(const unsigned char* data, std::size_t n);
  // The counts once the whole state.bin has passed; `archive` when it is
  // not the FSM's header and records (with Consul's words where it has
  // them).
  Expected<ConsulStateStats> finish();

  struct Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace snap::adapters
