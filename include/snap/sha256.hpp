// SPDX-License-Identifier: MIT
// Incremental SHA-256 over OpenSSL EVP, also usable as a Sink.
#pragma once

#include <memory>
#include <string>

#include "snap/io.hpp"

namespace snap {

class Sha256 : public Sink {
public:
  Sha256();
  ~Sha256() override;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(Bytes data);
  Expected<void> write(Bytes data) override {
    update(data);
    return {};
  }
  bool reset() override;
  // Lowercase hex of the digest; the object must not be updated afterwards.
  std::string hex();

private:
  struct Ctx;
  std::unique_ptr<Ctx> m_ctx;
};

// Hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

} // namespace snap
