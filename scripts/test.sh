#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# The object-storage tests run against s3rver, installed here from the npm
# registry (with Debian's nodejs and npm when the machine has no npm); the
# completion tests drive fish, the JSON tests python3-jsonschema (Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Tools only the tests use: npm for s3rver, fish to drive its completion,
# Debian's python3-jsonschema to check --json documents against
# docs/json.schema.json.
wanted=()
command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)
command -v fish >/dev/null 2>&1 || wanted+=(fish)
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 || wanted+=(python3-jsonschema)
if ((${#wanted[@]})); then
  echo "test: installing ${wanted[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${wanted[@]}"
fi
if [ ! -x build/npm/node_modules/.bin/s3rver ]; then
  echo "test: installing s3rver from the npm registry" >&2
  npm install --prefix build/npm --no-audit --no-fund --silent s3rver@3
fi
export SNAP_S3RVER="$PWD/build/npm/node_modules/.bin/s3rver"

cd build
ctest --output-on-failure -j "$(nproc)" --timeout 300
