// SPDX-License-Identifier: MIT
// A Flux ID: the secp256k1 key behind a Flux login, and the Bitcoin
// signed-message signatures FluxOS checks (services/signatureVerifier.js,
// bitcoinjs-message 2.2).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "snap/error.hpp"

namespace snap::adapters::flux {

class FluxId {
public:
  FluxId() = default;
  FluxId(const FluxId&) = delete;
  FluxId& operator=(const FluxId&) = delete;
  FluxId(FluxId&& other) noexcept;
  FluxId& operator=(FluxId&& other) noexcept;
  ~FluxId();

  // The key in `text`: WIF (what ZelCore and SSP export: base58check of
  // 0x80, the 32 bytes and 0x01 for a compressed key) or 64 hex digits
  // (compressed). `where` names its source in messages; the key itself
  // never appears in one.
  static Expected<FluxId> parse(std::string_view text, std::string_view where);
  // The key file at `path`, which should be readable by its owner alone.
  static Expected<FluxId> load(const std::string& path);

  // The P2PKH address FluxOS knows this ID by ("1…").
  const std::string& zelid() const { return m_zelid; }
  // `message` signed as bitcoinjs-message's sign() does: double SHA-256 of
  // "\x18Bitcoin Signed Message:\n" + varint(length) + message, an RFC 6979
  // deterministic low-s signature, as base64 of the 65-byte compact form
  // whose first byte is 27 + recovery id (+ 4 for a compressed key).
  std::string sign(std::string_view message) const;

private:
  std::array<unsigned char, 32> m_key{};
  bool m_compressed = true;
  std::string m_zelid;
};

// Bitcoin's base58 alphabet, with a 4-byte double-SHA-256 checksum
// (base58check).
std::string base58check_encode(std::string_view payload);

} // namespace snap::adapters::flux
