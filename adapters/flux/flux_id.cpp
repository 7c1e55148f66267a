// SPDX-License-Identifier: MIT
// Flux ID keys and Bitcoin signed messages.
//
// Why part of this is written here: the curve work is libsecp256k1's
// (Bitcoin Core's library, the one FluxOS's secp256k1 npm module binds):
// RFC 6979 nonces, low-s signatures and the recovery id the compact form
// needs, none of which OpenSSL 3.0 offers. What is left, base58check and
// the message digest, is a few lines that no Debian package provides.
#include "adapters/flux/flux_id.hpp"

#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sys/stat.h>

#include "snap/io.hpp"
#include "snap/text.hpp"

namespace snap::adapters::flux {
namespace {

constexpr std::string_view k_alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string sha256d(std::string_view data) {
  return digest(EVP_sha256(), digest(EVP_sha256(), data));
}

std::string base58_encode(std::string_view bytes) {
  std::vector<unsigned char> digits; // base 58, least significant first
  for (unsigned char byte : bytes) {
    unsigned carry = byte;
    for (auto& d : digits) {
      carry += static_cast<unsigned>(d) << 8;
      d = static_cast<unsigned char>(carry % 58);
      carry /= 58;
    }
    for (; carry > 0; carry /= 58) {
      digits.push_back(static_cast<unsigned char>(carry % 58));
    }
  }
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && bytes[i] == '\0'; ++i) {
    out.push_back('1');
  }
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    out.push_back(k_alphabet[*it]);
  }
  return out;
}

// The payload of base58check `text`, or nothing when a character is not
// base58 or the checksum does not match.
std::optional<std::string> base58check_decode(std::string_view text) {
  std::vector<unsigned char> bytes; // base 256, least significant first
  for (char c : text) {
    auto pos = k_alphabet.find(c);
    if (pos == std::string_view::npos) {
      return std::nullopt;
    }
    unsigned carry = static_cast<unsigned>(pos);
    for (auto& b : bytes) {
      carry += static_cast<unsigned>(b) * 58;
      b = static_cast<unsigned char>(carry & 0xff);
      carry >>= 8;
    }
    for (; carry > 0; carry >>= 8) {
      bytes.push_back(static_cast<unsigned char>(carry & 0xff));
    }
  }
  std::string out;
  for (std::size_t i = 0; i < text.size() && text[i] == '1'; ++i) {
    out.push_back('\0');
  }
  out.append(bytes.rbegin(), bytes.rend());
  if (out.size() < 4) {
    return std::nullopt;
  }
  std::string payload = out.substr(0, out.size() - 4);
  if (sha256d(payload).substr(0, 4) != out.substr(out.size() - 4)) {
    return std::nullopt;
  }
  return payload;
}

struct Context {
  secp256k1_context* ctx;
  Context() : ctx(secp256k1_context_create(SECP256K1_CONTEXT_NONE)) {
    // Blinds the signing against side channels, as the library advises.
    unsigned char seed[32];
    if (RAND_bytes(seed, sizeof seed) == 1 &&
        secp256k1_context_randomize(ctx, seed) != 1) {
      // Unblinded signing is still correct; the library says so too.
    }
  }
  ~Context() { secp256k1_context_destroy(ctx); }
};

secp256k1_context* context() {
  static Context c;
  return c.ctx;
}

} // namespace

std::string base58check_encode(std::string_view payload) {
  std::string data(payload);
  data += sha256d(payload).substr(0, 4);
  return base58_encode(data);
}

FluxId::FluxId(FluxId&& other) noexcept
    : m_key(other.m_key), m_compressed(other.m_compressed),
      m_zelid(std::move(other.m_zelid)) {
  OPENSSL_cleanse(other.m_key.data(), other.m_key.size());
}

FluxId& FluxId::operator=(FluxId&& other) noexcept {
  if (this != &other) {
    m_key = other.m_key;
    m_compressed = other.m_compressed;
    m_zelid = std::move(other.m_zelid);
    OPENSSL_cleanse(other.m_key.data(), other.m_key.size());
  }
  return *this;
}

FluxId::~FluxId() { OPENSSL_cleanse(m_key.data(), m_key.size()); }

Expected<FluxId> FluxId::parse(std::string_view text, std::string_view where) {
  FluxId id;
  std::string raw;
  if (text.size() == 64 &&
      text.find_first_not_of("0123456789abcdefABCDEF") == text.npos) {
    for (std::size_t i = 0; i < 64; i += 2) {
      raw.push_back(static_cast<char>(
          std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    }
    id.m_compressed = true;
  } else {
    auto payload = base58check_decode(text);
    bool ok = payload && !payload->empty() && (*payload)[0] == '\x80' &&
              (payload->size() == 33 ||
               (payload->size() == 34 && (*payload)[33] == '\x01'));
    if (!ok) {
      if (payload) {
        OPENSSL_cleanse(payload->data(), payload->size());
      }
      return fail(ErrorKind::config,
                  fmt::format("flux: {} does not hold a Flux ID private key "
                              "(write the key in WIF, as ZelCore or SSP "
                              "export it, or as 64 hex digits)",
                              where));
    }
    id.m_compressed = payload->size() == 34;
    raw = payload->substr(1, 32);
    OPENSSL_cleanse(payload->data(), payload->size());
  }
  std::memcpy(id.m_key.data(), raw.data(), 32);
  OPENSSL_cleanse(raw.data(), raw.size());
  secp256k1_pubkey pub;
  if (!secp256k1_ec_seckey_verify(context(), id.m_key.data()) ||
      !secp256k1_ec_pubkey_create(context(), &pub, id.m_key.data())) {
    return fail(ErrorKind::config,
                fmt::format("flux: the key in {} is not a valid secp256k1 "
                            "private key (is it the Flux ID's key?)",
                            where));
  }
  unsigned char ser[65];
  std::size_t len = sizeof ser;
  secp256k1_ec_pubkey_serialize(context(), ser, &len, &pub,
                                id.m_compressed ? SECP256K1_EC_COMPRESSED
                                                : SECP256K1_EC_UNCOMPRESSED);
  std::string hash160 =
      digest(EVP_ripemd160(),
             digest(EVP_sha256(),
                    std::string_view(reinterpret_cast<char*>(ser), len)));
  id.m_zelid = base58check_encode(std::string(1, '\0') + hash160);
  return id;
}

Expected<FluxId> FluxId::load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return fail(ErrorKind::config,
                fmt::format("flux: key file {} can be read by others (mode "
                            "{:o}); run chmod 600 {} first",
                            path, st.st_mode & 0777, path));
  }
  std::string text = SNAP_TRY(read_small_file(path, "key file", 4096));
  auto id = parse(trim_copy(text), fmt::format("key file {}", path));
  OPENSSL_cleanse(text.data(), text.size());
  return id;
}

std::string FluxId::sign(std::string_view message) const {
  std::string data = "\x18"
                     "Bitcoin Signed Message:\n";
  std::size_t n = message.size();
  if (n < 0xfd) {
    data.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    data += {'\xfd', static_cast<char>(n & 0xff), static_cast<char>(n >> 8)};
  } else {
    data.push_back('\xfe');
    for (int i = 0; i < 4; ++i) {
      data.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
  }
  data += message;
  std::string hash = sha256d(data);
  secp256k1_ecdsa_recoverable_signature sig;
  // The default nonce function is RFC 6979's; its signatures are low-s.
  secp256k1_ecdsa_sign_recoverable(
      context(), &sig, reinterpret_cast<const unsigned char*>(hash.data()),
      m_key.data(), nullptr, nullptr);
  unsigned char compact[64];
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact,
                                                          &recid, &sig);
  std::string out(1, static_cast<char>(27 + recid + (m_compressed ? 4 : 0)));
  out.append(reinterpret_cast<char*>(compact), 64);
  return base64_encode(out);
}

} // namespace snap::adapters::flux
