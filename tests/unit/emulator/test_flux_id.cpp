// SPDX-License-Identifier: MIT
// The emulated node's signature check against bitcoinjs-message's own test
// vectors (test/fixtures.json, "verify" and "invalid"), so that it stands on
// the library FluxOS uses rather than on snap's signer.
#include <catch2/catch.hpp>

#include "emulator/flux_id.hpp"

namespace snap::emulator {

TEST_CASE("the emulated node verifies signed messages as bitcoinjs-message",
          "[unit][flux]") {
  const std::string msg = "vires is numeris";
  CHECK(verify_bitcoin_message(msg, "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM",
                               "G8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHE"
                               "pmnF7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0="));
  CHECK(verify_bitcoin_message(msg, "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs",
                               "H8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHE"
                               "pmnF7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0="));
  // P2SH-P2WPKH (flag + 8).
  CHECK(verify_bitcoin_message(msg, "3JvL6Ymt8MVWiCNHC7oWU6nLeHNJKLZGLN",
                               "JF8nHqFr3K2UKYahhX3soVeoW8W1ECNbr0wfck7lzyXjCS"
                               "5Q16Ek45zyBuy1Fiy9sTPKVgsqqOuPvbycuVSSVl8="));
}

TEST_CASE("the emulated node refuses what bitcoinjs-message refuses",
          "[unit][flux]") {
  const std::string sig_u = "G8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHEpmnF"
                            "7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0=";
  const std::string sig_c = "H8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHEpmnF"
                            "7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0=";
  // The wrong message, the wrong address, and no cross-verifying between a
  // compressed and an uncompressed key.
  CHECK(!verify_bitcoin_message("foobar", "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM",
                                sig_u));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "1111111111111111111114oLvT2", sig_c));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", sig_c));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs", sig_u));
  // A flag byte out of range, a short signature, text that is not base64,
  // an address whose checksum fails.
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM",
                                "K" + sig_u.substr(1)));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM",
                                sig_u.substr(0, 60)));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", "!!!!"));
  CHECK(!verify_bitcoin_message("vires is numeris",
                                "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvN", sig_u));
}

} // namespace snap::emulator
