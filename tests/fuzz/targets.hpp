// SPDX-License-Identifier: MIT
// The fuzz targets: each takes any bytes and feeds them to one of the
// readers that face input snap did not write. A target returns normally
// whatever the bytes; a crash, a sanitizer report or a hang is a finding.
// Two drivers run them: tests/fuzz/driver.cpp (a deterministic mutator,
// run by ctest on every build) and tests/fuzz/libfuzzer.cpp (libFuzzer
// under ASan and UBSan, scripts/fuzz.sh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace snap::fuzz {

struct Target {
  std::string_view name;
  void (*run)(const std::uint8_t* data, std::size_t size);
};

// Every target: archive (a whole archive file, opened, verified and
// described by its adapter), manifest (manifest text and header line),
// consul_snapshot (the .snap verifier), es_page (an Elasticsearch search
// answer), targz (the tar.gz checker), kubeconfig.
const std::vector<Target>& targets();

// The target called `name`, or nullptr.
const Target* find_target(std::string_view name);

} // namespace snap::fuzz
