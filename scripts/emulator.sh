# Sourced by the demo and the benchmarks: start_emulator ARGS… starts
# build/snap-emulator in the background, waits for its "listening on" line,
# and sets EMULATOR_PID and EMULATOR_URL. stop_emulator ends it.
start_emulator() {
  local out
  out=$(mktemp)
  build/snap-emulator "$@" --port 0 >"$out" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$out" && break
    sleep 0.1
  done
  EMULATOR_URL="http://$(sed -n 's/^listening on //p' "$out")"
  rm -f "$out"
  [ "$EMULATOR_URL" != "http://" ] || { echo "snap-emulator did not start" >&2; return 1; }
}

stop_emulator() {
  if [ -n "${EMULATOR_PID:-}" ]; then
    kill "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
    EMULATOR_PID=""
  fi
  return 0
}
