// SPDX-License-Identifier: MIT
// Verification of a Consul snapshot (.snap) as it streams past, with the rules
// of Consul's own snapshot.Verify: one gzip stream holding a tar of exactly
// meta.json, state.bin and SHA256SUMS, every sum matching, no bytes after the
// tar's end, meta.json's Size equal to state.bin's length, Version 0 or 1.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "adapters/consul/state.hpp"
#include "snap/io.hpp"

namespace snap::adapters {

struct ConsulSnapshotMeta {
  std::string id;
  std::uint64_t index = 0;
  std::uint64_t term = 0;
  int version = 0;
  std::uint64_t size = 0; // state.bin's length
  // state.bin's records by type and its KV keys by prefix; when they could
  // not be read, `records_error` says why (the snapshot is still whole:
  // Consul's own check is of the sums, as here).
  std::optional<ConsulStateStats> records;
  std::string records_error;
};

class ConsulSnapshotVerifier : public Sink {
public:
  // `view`: how state.bin's KV keys are broken down.
  explicit ConsulSnapshotVerifier(ConsulKvView view = {});
  ~ConsulSnapshotVerifier() override;
  Expected<void> write(Bytes data) override;
  bool reset() override;
  // Ends the stream and checks it whole. Errors: `archive` with Consul's own
  // wording of what is wrong ("unexpected EOF", "hash check failed for …").
  Expected<ConsulSnapshotMeta> finish();
  // meta.json's fields as soon as it has streamed past, before the rest is
  // checked (for a quick look); nullopt until then.
  std::optional<ConsulSnapshotMeta> peek_meta() const;

  struct State;

private:
  std::unique_ptr<State> m_state;
};

} // namespace snap::adapters
