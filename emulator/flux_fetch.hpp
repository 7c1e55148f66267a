// SPDX-License-Identifier: MIT
// How a FluxOS node fetches a URL a user gave it (a remote restore's
// archive, or its size first), with the node's SSRF rules.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace snap::emulator {

struct FetchRules {
  // Addresses the emulated network treats as public, as a URL's host on
  // the internet is: a test's file server on 127.0.0.1 stands for one.
  // Every other loopback, private, link-local or reserved address is
  // refused, as FluxOS refuses it.
  std::vector<std::string> public_addresses;
  long timeout_ms = 15000; // axios `timeout` of both requests
};

// IOUtils.js getRemoteFileSize: a HEAD through validated redirects, the
// Content-Length as a number; nullopt where FluxOS answers "Error fetching
// file size" (any failure, said no more precisely).
std::optional<std::uint64_t> remote_file_size(const std::string& url,
                                              const FetchRules& rules);

// IOUtils.js downloadFileFromUrl: a GET through validated redirects into
// `file`, tried 4 times in all; false on failure.
bool download_file(const std::string& url, const std::filesystem::path& file,
                   const FetchRules& rules);

} // namespace snap::emulator
