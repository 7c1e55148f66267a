// SPDX-License-Identifier: MIT
// Standard base64 (RFC 4648 §4, with padding) for every emulator: Consul's
// KV values, Elasticsearch's and Cloudify's Basic credentials, Kubernetes
// Secret data, Flux ID signatures.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace snap::emulator {

std::string base64_encode(std::string_view bytes);
// The bytes `text` encodes, or nothing when it is not padded base64 (a
// length that is not a multiple of 4, a character outside the alphabet).
std::optional<std::string> base64_decode(std::string_view text);

} // namespace snap::emulator
