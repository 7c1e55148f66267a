#!/usr/bin/env bash
# Long fuzz runs: builds each fuzz target (tests/fuzz/targets.hpp) with
# clang as a libFuzzer binary under ASan and UBSan into build-fuzz/, and runs
# them side by side, one per core, for SECONDS each (default 600) over a copy
# of their seed corpus. Findings (crash-*, leak-*, timeout-*) land in
# build-fuzz/findings/<target>/; add each to tests/fuzz/corpus/<target>/ once
# fixed, so the ctest run keeps it. Needs clang and libclang-rt-dev (Debian).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(archive manifest consul_snapshot es_page targz kubeconfig)
fi

for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "fuzz: installing $p" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$p"
  }
done

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSNAP_LIBFUZZER=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" \
  --target "${targets[@]/#/fuzz_}" >/dev/null

out=build-fuzz/findings
mkdir -p "$out"
running=0
for t in "${targets[@]}"; do
  mkdir -p "$out/$t" "build-fuzz/corpus/$t"
  cp -n tests/fuzz/corpus/"$t"/* "build-fuzz/corpus/$t/" 2>/dev/null || true
  # Leak checking stays off: snap is a short-lived process, and the
  # libraries it uses keep process-long caches.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    build-fuzz/tests/fuzz_"$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$t/" \
    "build-fuzz/corpus/$t" >"$out/$t.log" 2>&1 &
  running=$((running + 1))
  if ((running >= $(nproc))); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

status=0
for t in "${targets[@]}"; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -n 1)
  found=$(find "$out/$t" -type f | wc -l)
  printf 'fuzz %-16s %10s executions, %s, %s findings\n' "$t" "${runs:-?}" \
    "${cov:-cov: ?}" "$found"
  ((found == 0)) || status=1
done
exit $status
