// SPDX-License-Identifier: MIT
// Signature checks as FluxOS 8.17 makes them: signatureVerifier.js calls
// bitcoinjs-message ~2.2 verify(), which recovers the public key with the
// secp256k1 module (libsecp256k1, the library linked here) and compares its
// HASH160 with the address's payload, ignoring the version byte. Written
// apart from snap's signer so that the two meet only in the test vectors of
// bitcoinjs-message's test/fixtures.json.
#include "emulator/flux_id.hpp"
#include "emulator/codec.hpp"

#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

namespace snap::emulator {
namespace {

std::string md(const EVP_MD* type, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, type, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string hash160(std::string_view data) {
  return md(EVP_ripemd160(), md(EVP_sha256(), data));
}

std::string hash256(std::string_view data) {
  return md(EVP_sha256(), md(EVP_sha256(), data));
}

// bs58check.decode: throws (nothing here) on a bad character or checksum.
std::optional<std::string> bs58check_decode(std::string_view text) {
  static const std::string alphabet =
      "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::vector<unsigned> big; // base 256 digits, most significant first
  for (char c : text) {
    auto v = alphabet.find(c);
    if (v == std::string::npos) {
      return std::nullopt;
    }
    unsigned carry = static_cast<unsigned>(v);
    for (auto it = big.rbegin(); it != big.rend(); ++it) {
      carry += *it * 58;
      *it = carry % 256;
      carry /= 256;
    }
    while (carry > 0) {
      big.insert(big.begin(), carry % 256);
      carry /= 256;
    }
  }
  std::string out;
  for (char c : text) {
    if (c != '1') {
      break;
    }
    out.push_back('\0');
  }
  for (unsigned b : big) {
    out.push_back(static_cast<char>(b));
  }
  if (out.size() < 4 || hash256(out.substr(0, out.size() - 4)).substr(0, 4) !=
                            out.substr(out.size() - 4)) {
    return std::nullopt;
  }
  return out.substr(0, out.size() - 4);
}

// magicHash(message) with the Bitcoin prefix; login phrases are ASCII, so
// JavaScript's string length is the byte count.
std::string magic_hash(std::string_view message) {
  std::string buf = "\x18"
                    "Bitcoin Signed Message:\n";
  std::size_t n = message.size();
  if (n < 0xfd) {
    buf.push_back(static_cast<char>(n));
  } else {
    buf.push_back('\xfd');
    buf.push_back(static_cast<char>(n & 0xff));
    buf.push_back(static_cast<char>((n >> 8) & 0xff));
  }
  buf.append(message);
  return hash256(buf);
}

} // namespace

bool verify_bitcoin_message(std::string_view message, std::string_view address,
                            std::string_view signature) {
  auto sig = base64_decode(signature);
  if (!sig || sig->size() != 65) {
    return false; // "Invalid signature length"
  }
  int flag = static_cast<unsigned char>((*sig)[0]) - 27;
  if (flag > 15 || flag < 0) {
    return false; // "Invalid signature parameter"
  }
  bool compressed = (flag & 12) != 0;
  bool segwit = (flag & 8) != 0;
  bool bech32 = segwit && (flag & 4) != 0;
  if (bech32) {
    return false; // a bc1 address: FluxOS's Flux IDs are P2PKH
  }
  static secp256k1_context* ctx =
      secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  secp256k1_ecdsa_recoverable_signature rsig;
  secp256k1_pubkey pub;
  std::string hash = magic_hash(message);
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(
          ctx, &rsig, reinterpret_cast<const unsigned char*>(sig->data() + 1),
          flag & 3) ||
      !secp256k1_ecdsa_recover(
          ctx, &pub, &rsig,
          reinterpret_cast<const unsigned char*>(hash.data()))) {
    return false;
  }
  unsigned char ser[65];
  std::size_t len = sizeof ser;
  secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pub,
                                compressed ? SECP256K1_EC_COMPRESSED
                                           : SECP256K1_EC_UNCOMPRESSED);
  std::string actual =
      hash160(std::string_view(reinterpret_cast<char*>(ser), len));
  if (segwit) {
    // P2SH-P2WPKH: the redeem script 0x00 0x14 <pubkey hash>.
    actual = hash160(std::string("\x00\x14", 2) + actual);
  }
  auto expected = bs58check_decode(address);
  return expected && expected->size() >= 1 && expected->substr(1) == actual;
}

} // namespace snap::emulator
