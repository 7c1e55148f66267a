#!/usr/bin/env bash
# Benchmark: snap save es --export against elasticdump --type=data, on the
# same snap-emulator elasticsearch holding DOCS small documents in one index
# (default 1 000 000). elasticdump comes from the npm registry into a private
# folder. It runs with --scroll-with-post: the emulator (cpp-httplib) cannot
# read a GET's body, and elasticdump otherwise sends its scroll search as
# GET with a body; the requests are the same otherwise. Reports documents
# per second for each, elasticdump at its default --limit (100) and at
# --limit 5000 (snap's default --batch-size), the ratios, and snap's peak
# RSS. Targets: snap >= 5x elasticdump at equal batch size, RSS < 128 MiB.
#   bash bench/es_export.sh [DOCS]
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-1000000}
[ -x build/snap ] || bash scripts/setup.sh

source bench/lib.sh
install_elasticdump
start_emulator elasticsearch --data-dir "$work"
url=$EMULATOR_URL
load_bench_index "$url" "$docs"
count=$(curl -sf "$url/bench/_count" | sed 's/.*"count":\([0-9]*\).*/\1/')
echo "index holds $count documents" >&2

mkdir -p "$work/out"
run_snap() { # PARALLEL: seconds; peak RSS in $work/time.txt
  rm -f "$work/out/snap.zip"
  local t0 t1
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" build/snap -q --no-progress save es \
    --export --addr "$url" -o "$work/out/snap.zip" ${1:+--parallel "$1"}
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
# One reader, then slices of the point in time (the default: the cores, at
# most 4).
t_one=$(run_snap 1)
t_snap=$(run_snap "")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
size=$(stat -c %s "$work/out/snap.zip")

run_elasticdump() { # LIMIT
  rm -f "$work/out/dump.json"
  local t0 t1
  t0=$(now)
  "$elasticdump" --quiet --input="$url/bench" --output="$work/out/dump.json" \
    --type=data --scroll-with-post ${1:+--limit "$1"} >&2
  t1=$(now)
  local lines
  lines=$(wc -l <"$work/out/dump.json")
  [ "$lines" -eq "$count" ] || { echo "elasticdump wrote $lines of $count" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}
t_ed_default=$(run_elasticdump "")
t_ed_5000=$(run_elasticdump 5000)

rate() { echo "$count / $1" | bc -l; }
printf '%-40s %8s %12s %8s\n' "tool" "seconds" "docs/s" "snap is"
printf '%-40s %8.2f %12.0f %8s\n' "snap save es --export (batch 5000)" "$t_snap" "$(rate "$t_snap")" "-"
printf '%-40s %8.2f %12.0f %7.1fx\n' "snap ... --parallel 1 (one reader)" "$t_one" "$(rate "$t_one")" "$(echo "$t_one / $t_snap" | bc -l)"
printf '%-40s %8.2f %12.0f %7.1fx\n' "elasticdump --type=data (limit 100)" "$t_ed_default" "$(rate "$t_ed_default")" "$(echo "$t_ed_default / $t_snap" | bc -l)"
printf '%-40s %8.2f %12.0f %7.1fx\n' "elasticdump --type=data --limit 5000" "$t_ed_5000" "$(rate "$t_ed_5000")" "$(echo "$t_ed_5000 / $t_snap" | bc -l)"
printf 'snap peak RSS  %.1f MiB; archive %.1f MiB for %d documents\n' \
  "$(echo "$rss / 1024" | bc -l)" "$(echo "$size / 1048576" | bc -l)" "$count"
