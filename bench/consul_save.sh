#!/usr/bin/env bash
# Benchmark: snap save consul against curl -o on the same snapshot URL.
# The emulator serves a snapshot of SIZE bytes of state (default 1 GiB),
# built once before timing: CONTENT 'random' (default) is incompressible, so
# the snapshot itself is about SIZE; 'text' compresses about 2:1 as real
# Consul state does, so snap has twice as many bytes to decompress and check.
# Reports each tool's throughput, the ratio, and snap's peak RSS from
# /usr/bin/time -v. Targets: ratio >= 0.6 (random) and 0.25 (text) on 2
# cores shared with the emulator, 0.8 and 0.5 with 8 free cores; RSS <= 64 MiB.
#   bash bench/consul_save.sh [SIZE_BYTES] [RUNS] [random|text]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
runs=${2:-3}
content=${3:-random}
[ -x build/snap ] || bash scripts/setup.sh

source bench/lib.sh

start_emulator consul --snapshot-bytes "$size" --snapshot-content "$content" \
  --data-dir "$work"
url=$EMULATOR_URL
mkdir -p "$work/out"

echo "building the snapshot once (state of $size bytes)…" >&2
curl -sf -o /dev/null "$url/v1/snapshot"
snap_bytes=$(ls -l "$work"/snapshot-*.tgz | awk '{print $5}')
echo "snapshot: $snap_bytes bytes compressed" >&2

# The emulator's CPU time so far (user + system), in seconds: on shared
# cores what it spends serving is taken from snap.
hz=$(getconf CLK_TCK)
emulator_cpu() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$EMULATOR_PID/stat"; }
best_curl=999999; best_snap=999999; rss=0; cpu=0; emu=0
for i in $(seq "$runs"); do
  t0=$(now)
  curl -sf -o "$work/out/curl.snap" "$url/v1/snapshot"
  t1=$(now)
  rm -f "$work/out/curl.snap"
  t_curl=$(echo "$t1 - $t0" | bc -l)

  e0=$(emulator_cpu)
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" build/snap -q --no-progress save consul \
    --addr "$url" -o "$work/out/snap.zip"
  t1=$(now)
  e1=$(emulator_cpu)
  t_snap=$(echo "$t1 - $t0" | bc -l)
  r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  c=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/time.txt")
  rm -f "$work/out/snap.zip"
  (( r > rss )) && rss=$r
  best_curl=$(least "$t_curl" "$best_curl")
  if (( $(echo "$t_snap < $best_snap" | bc -l) )); then
    cpu=$c
    emu=$(echo "$e1 - $e0" | bc -l)
  fi
  best_snap=$(least "$t_snap" "$best_snap")
  printf 'run %d: curl %.2f s, snap %.2f s, snap peak RSS %d KiB\n' \
    "$i" "$t_curl" "$t_snap" "$r" >&2
done
mib=$(echo "$snap_bytes / 1048576" | bc -l)
printf 'snapshot        %.0f MiB (gzip of %d bytes of %s state)\n' "$mib" "$size" "$content"
printf 'curl -o         %.2f s  %.0f MiB/s (best of %d)\n' "$best_curl" \
  "$(echo "$mib / $best_curl" | bc -l)" "$runs"
printf 'snap save       %.2f s  %.0f MiB/s (best of %d; download, verify, archive, re-verify)\n' \
  "$best_snap" "$(echo "$mib / $best_snap" | bc -l)" "$runs"
if [ "$content" = random ]; then targets="0.6 on 2 shared cores, 0.8 on 8 free"
else targets="0.25 on 2 shared cores, 0.5 on 8 free"; fi
printf 'ratio           %.2f of curl throughput (target >= %s)\n' \
  "$(echo "$best_curl / $best_snap" | bc -l)" "$targets"
printf 'peak RSS        %.1f MiB (target <= 64 MiB)\n' "$(echo "$rss / 1024" | bc -l)"
# Where the time goes. A save hashes the snapshot once as it arrives (the
# manifest's sha256, with the zip's CRC-32), inflates it and hashes the state
# inside (Consul's SHA256SUMS), each on a thread of its own; the read-back
# check of the written archive is of CRC-32s, not a third SHA-256.
sha=$(openssl speed -evp sha256 -bytes 1048576 -seconds 1 2>/dev/null |
  awk '/^sha256/ {print $2}' | tr -d k)
sha_mib=$(echo "$sha * 1000 / 1048576" | bc -l)
need=$(echo "($snap_bytes + $size) / 1048576 / $sha_mib" | bc -l)
printf 'snap CPU        %.2f s user+sys in the best run, on %d cores shared with the emulator\n' \
  "$cpu" "$(nproc)"
printf 'SHA-256 floor   %.2f s of CPU: 2 passes at %.0f MiB/s (openssl speed)\n' \
  "$need" "$sha_mib"
# With every core busy, no schedule of the save's threads ends before the
# CPU that snap and the emulator spend, spread over all cores.
cores=$(nproc)
floor=$(echo "($cpu + $emu) / $cores" | bc -l)
printf 'CPU floor       %.2f s: snap %.2f s + emulator %.2f s of CPU over %d cores\n' \
  "$floor" "$cpu" "$emu" "$cores"
# Each stage alone, on the same snapshot: the slowest one is the least a
# pipelined save can take.
curl -sf -o "$work/out/stage.snap" "$url/v1/snapshot"
t0=$(now); openssl dgst -sha256 "$work/out/stage.snap" >/dev/null; t1=$(now)
printf 'stage: SHA-256  %.2f s (the snapshot, openssl dgst)\n' "$(echo "$t1 - $t0" | bc -l)"
# ISA-L's inflate alone, as snap runs it (bench/inflate.c): one thread, since
# a gzip stream inflates in order, so on compressible state it is the floor.
cc -O2 -o "$work/inflate" bench/inflate.c -lisal
read -r t_inflate _ < <("$work/inflate" "$work/out/stage.snap")
printf 'stage: inflate  %.2f s (ISA-L, one thread, as snap inflates)\n' "$t_inflate"
# The best a save can do here: its slowest one-thread stage (inflate, or
# one SHA-256 pass) or the CPU floor, whichever is longer.
bound=$(echo "if ($t_inflate > $floor) $t_inflate else $floor" | bc -l)
sha_pass=$(echo "$snap_bytes / 1048576 / $sha_mib" | bc -l)
bound=$(echo "if ($sha_pass > $bound) $sha_pass else $bound" | bc -l)
printf 'ceiling         %.2f of curl (curl -o / %.2f s, the longest of those): snap is at %.0f%% of it\n' \
  "$(echo "$best_curl / $bound" | bc -l)" "$bound" \
  "$(echo "100 * $bound / $best_snap" | bc -l)"
t0=$(now); cp "$work/out/stage.snap" "$work/out/copy.snap"; sync "$work/out/copy.snap"; t1=$(now)
printf 'stage: write    %.2f s (cp and sync of the snapshot)\n' "$(echo "$t1 - $t0" | bc -l)"
rm -f "$work/out/copy.snap" "$work/out/stage.snap"
# curl -o leaves its file in the page cache; snap fsyncs the archive before
# it says "saved", so a download that is as durable is the fair floor.
best_sync=999999
for i in $(seq "$runs"); do
  t0=$(now)
  curl -sf -o "$work/out/curl.snap" "$url/v1/snapshot"
  sync "$work/out/curl.snap"
  t1=$(now)
  rm -f "$work/out/curl.snap"
  best_sync=$(least "$t1 - $t0" "$best_sync")
done
printf 'curl -o, sync   %.2f s  %.0f MiB/s (best of %d: as durable as snap'"'"'s archive)\n' \
  "$best_sync" "$(echo "$mib / $best_sync" | bc -l)" "$runs"
printf 'ratio (durable) %.2f of curl -o with sync\n' "$(echo "$best_sync / $best_snap" | bc -l)"
# The same race with both outputs in memory (tmpfs), where fsync costs
# nothing: what the pipeline does when the disk is not the limit. On a disk
# slower than the download, the save's tail is its fsync, and curl -o, which
# leaves its file to the page cache, does not wait for it.
shm=/dev/shm
free_kib=$(df -Pk "$shm" 2>/dev/null | awk 'NR == 2 {print $4}')
if [ -n "$free_kib" ] && (( free_kib * 1024 > 3 * snap_bytes )); then
  mem=$(mktemp -d -p "$shm")
  best_mc=999999; best_ms=999999
  for i in $(seq "$runs"); do
    t0=$(now); curl -sf -o "$mem/curl.snap" "$url/v1/snapshot"; t1=$(now)
    rm -f "$mem/curl.snap"
    best_mc=$(least "$t1 - $t0" "$best_mc")
    t0=$(now)
    build/snap -q --no-progress save consul --addr "$url" -o "$mem/snap.zip"
    t1=$(now)
    rm -f "$mem/snap.zip"
    best_ms=$(least "$t1 - $t0" "$best_ms")
  done
  rm -rf "$mem"
  printf 'in memory       curl -o %.2f s, snap %.2f s: ratio %.2f (best of %d each, both writing to tmpfs: no disk)\n' \
    "$best_mc" "$best_ms" "$(echo "$best_mc / $best_ms" | bc -l)" "$runs"
else
  echo "in memory       skipped: $shm has no room for two copies of the snapshot"
fi
