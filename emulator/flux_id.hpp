// SPDX-License-Identifier: MIT
// How FluxOS checks a Flux ID's signature (services/signatureVerifier.js).
#pragma once

#include <string_view>

namespace snap::emulator {

// bitcoinjs-message 2.2's verify(message, address, signature): the
// signature is base64 of 65 bytes, the first 27 + recovery id (+4 for a
// compressed key, +8 for P2SH-P2WPKH, +12 for P2WPKH); the public key
// recovered from it must hash to the address's payload. Anything it would
// throw on (a bad length, flag, base64, checksum or point) is false, as
// verifySignature's catch makes it.
bool verify_bitcoin_message(std::string_view message, std::string_view address,
                            std::string_view signature);

} // namespace snap::emulator
