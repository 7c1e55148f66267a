#!/usr/bin/env bash
# The demo: start snap-emulator consul, write a few keys, save them with snap,
# inspect the archive, change the keys, restore, and show the keys back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh snap snap-emulator

snap=$PWD/build/snap
work=$(mktemp -d)
source scripts/emulator.sh
cleanup() {
  stop_emulator
  rm -rf "$work"
}
trap cleanup EXIT

start_emulator consul
addr=$EMULATOR_URL
export CONSUL_HTTP_ADDR=$addr

show_keys() {
  for key in app/greeting app/replicas app/feature-flag; do
    printf '  %-18s %s\n' "$key" "$(curl -s "$addr/v1/kv/$key?raw" || true)"
  done
}
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "== snap demo against snap-emulator consul at $addr"
curl -s -X PUT --data-binary 'hello, operator' "$addr/v1/kv/app/greeting" >/dev/null
curl -s -X PUT --data-binary '3' "$addr/v1/kv/app/replicas" >/dev/null
curl -s -X PUT --data-binary 'on' "$addr/v1/kv/app/feature-flag" >/dev/null
echo "Keys written:"; show_keys

step snap save consul -o "$work/"
"$snap" save consul -o "$work/"
archive=$(ls "$work"/consul-*.zip)

step snap inspect "$(basename "$archive")"
"$snap" inspect "$archive"

echo; echo "Changing the keys (the incident):"
curl -s -X PUT --data-binary 'oops' "$addr/v1/kv/app/greeting" >/dev/null
curl -s -X DELETE "$addr/v1/kv/app/replicas" >/dev/null
show_keys

step snap restore consul "$(basename "$archive")" --yes
"$snap" restore consul "$archive" --yes

echo; echo "Keys after the restore:"; show_keys
echo; echo "== demo done: saved, verified, restored"
