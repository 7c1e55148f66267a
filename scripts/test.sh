#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# The object-storage tests run against s3rver, installed here from the npm
# registry (with Debian's nodejs and npm when the machine has no npm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if ! command -v npm >/dev/null 2>&1; then
  echo "test: installing nodejs and npm" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nodejs npm
fi
if [ ! -x build/npm/node_modules/.bin/s3rver ]; then
  echo "test: installing s3rver from the npm registry" >&2
  npm install --prefix build/npm --no-audit --no-fund --silent s3rver@3
fi
export SNAP_S3RVER="$PWD/build/npm/node_modules/.bin/s3rver"

cd build
ctest --output-on-failure -j "$(nproc)" --timeout 300
