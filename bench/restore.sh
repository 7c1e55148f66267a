#!/usr/bin/env bash
# Benchmark: restores. (1) snap restore consul of a snapshot of SIZE bytes of
# state (default 256 MiB) against curl -T of the same snapshot file to PUT
# /v1/snapshot, on one snap-emulator consul: snap verifies the archive
# (every SHA-256, Consul's own checks) before it sends a byte, so the ratio
# says what that costs. (2) snap restore es of an export of DOCS documents
# (default 500 000) against elasticdump's load of the same documents
# (--limit 5000, snap's --batch-size), each into an empty index on one
# snap-emulator elasticsearch. Reports times, ratios and snap's peak RSS.
# Targets: import >= 3x elasticdump, RSS <= 128 MiB.
#   bash bench/restore.sh [SIZE_BYTES] [DOCS]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-268435456}
docs=${2:-500000}
[ -x build/snap ] || bash scripts/setup.sh

source bench/lib.sh
rss_of() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

# (1) Consul.
start_emulator consul --snapshot-bytes "$size" --snapshot-content text \
  --data-dir "$work"
url=$EMULATOR_URL
build/snap -q --no-progress save consul --addr "$url" -o "$work/consul.zip"
curl -sf -o "$work/consul.snap" "$url/v1/snapshot"
t0=$(now)
curl -sf -o /dev/null -T "$work/consul.snap" "$url/v1/snapshot"
t1=$(now)
t_curl=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
/usr/bin/time -v -o "$work/time.txt" build/snap -q --no-progress restore \
  consul "$work/consul.zip" --addr "$url" --yes
t1=$(now)
t_snap=$(echo "$t1 - $t0" | bc -l)
mib=$(echo "$(stat -c %s "$work/consul.snap") / 1048576" | bc -l)
printf 'consul snapshot %.0f MiB (gzip of %d bytes of state)\n' "$mib" "$size"
printf 'curl -T         %.2f s  (PUT /v1/snapshot, no checks)\n' "$t_curl"
printf 'snap restore    %.2f s  (verify every SHA-256 and the snapshot, then PUT)\n' "$t_snap"
printf 'ratio           %.2f of curl\n' "$(echo "$t_curl / $t_snap" | bc -l)"
printf 'peak RSS        %.1f MiB\n' "$(echo "$(rss_of "$work/time.txt") / 1024" | bc -l)"
stop_emulator

# (2) Elasticsearch import.
install_elasticdump
start_emulator elasticsearch --data-dir "$work"
url=$EMULATOR_URL
load_bench_index "$url" "$docs"
build/snap -q --no-progress save es --export --indices bench --addr "$url" \
  -o "$work/es.zip"
"$elasticdump" --input="$url/bench" --output="$work/bench.json" --type=data \
  --limit 5000 --scroll-with-post >/dev/null 2>&1
count() { curl -sf "$url/bench/_count" | sed 's/.*"count":\([0-9]*\).*/\1/'; }

curl -sf -o /dev/null -X DELETE "$url/bench"
t0=$(now)
/usr/bin/time -v -o "$work/time.txt" build/snap -q --no-progress restore es \
  "$work/es.zip" --addr "$url" --yes
t1=$(now)
t_snap=$(echo "$t1 - $t0" | bc -l)
n_snap=$(count)
rss=$(rss_of "$work/time.txt")

curl -sf -o /dev/null -X DELETE "$url/bench"
curl -sf -o /dev/null -X PUT -H 'Content-Type: application/json' \
  --data '{}' "$url/bench"
t0=$(now)
"$elasticdump" --input="$work/bench.json" --output="$url/bench" --type=data \
  --limit 5000 >/dev/null 2>&1
curl -sf -o /dev/null --data-binary "" "$url/_refresh"
t1=$(now)
t_dump=$(echo "$t1 - $t0" | bc -l)
n_dump=$(count)
printf 'es documents    %d (snap restored %d, elasticdump loaded %d)\n' \
  "$docs" "$n_snap" "$n_dump"
printf 'elasticdump     %.2f s  %.0f docs/s (--limit 5000)\n' "$t_dump" \
  "$(echo "$n_dump / $t_dump" | bc -l)"
printf 'snap restore    %.2f s  %.0f docs/s (verify, create, _bulk, refresh, count)\n' \
  "$t_snap" "$(echo "$n_snap / $t_snap" | bc -l)"
printf 'ratio           %.1fx elasticdump (target >= 3)\n' \
  "$(echo "$t_dump / $t_snap" | bc -l)"
printf 'peak RSS        %.1f MiB (target <= 128 MiB)\n' "$(echo "$rss / 1024" | bc -l)"
