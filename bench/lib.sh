# Shared by the benchmarks (sourced): a private work folder removed on exit
# with the emulator, elasticdump from the npm registry, and the benchmark
# index of DOCS small documents.
source scripts/emulator.sh
work=$(mktemp -d -p "${BENCH_DIR:-/tmp}")
cleanup() {
  stop_emulator
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
least() { echo "if ($1 < $2) $1 else $2" | bc -l; } # the smaller of two times

install_elasticdump() { # sets $elasticdump
  echo "installing elasticdump from the npm registry…" >&2
  (cd "$work" && npm install --silent --no-audit --no-fund elasticdump@6 >/dev/null 2>&1)
  elasticdump="$work/node_modules/.bin/elasticdump"
  "$elasticdump" --version >&2
}

load_bench_index() { # URL DOCS: index "bench" with DOCS documents, refreshed
  local url=$1 docs=$2 f
  echo "loading $docs documents…" >&2
  awk -v n="$docs" -v prefix="$work/bulk" 'BEGIN {
    for (i = 0; i < n; i++) {
      f = sprintf("%s-%05d.ndjson", prefix, int(i / 50000))
      printf "{\"index\":{\"_index\":\"bench\",\"_id\":\"%d\"}}\n", i > f
      printf "{\"n\":%d,\"user\":\"user%d\",\"msg\":\"event number %d from the benchmark\",\"ok\":%s}\n", i, i % 1000, i, (i % 3 == 0 ? "true" : "false") > f
      if (i % 50000 == 49999) close(f)
    }
  }'
  for f in "$work"/bulk-*.ndjson; do
    curl -sf -o /dev/null -H 'Content-Type: application/x-ndjson' \
      --data-binary "@$f" "$url/_bulk"
    rm -f "$f"
  done
  curl -sf -o /dev/null --data-binary "" "$url/_refresh"
}
