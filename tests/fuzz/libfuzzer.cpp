// SPDX-License-Identifier: MIT
// libFuzzer's entry point for one target, chosen at build time
// (SNAP_FUZZ_TARGET): scripts/fuzz.sh builds one such binary per target
// with clang, -fsanitize=fuzzer,address,undefined.
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/targets.hpp"

namespace {
const snap::fuzz::Target* g_target = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_target = snap::fuzz::find_target(SNAP_FUZZ_TARGET);
  if (g_target == nullptr) {
    std::fprintf(stderr, "no fuzz target %s\n", SNAP_FUZZ_TARGET);
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  g_target->run(data, size);
  return 0;
}
