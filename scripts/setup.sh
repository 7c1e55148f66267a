#!/usr/bin/env bash
# Installs snap's build and test dependencies from Debian's packages when any is
# missing (apt-get update first), then configures and builds into ./build:
# the targets named as arguments (the demo: snap snap-emulator), else all.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config
  libcli11-dev libcurl4-openssl-dev nlohmann-json3-dev libzip-dev zlib1g-dev
  libfmt-dev catch2 libssl-dev libarchive-dev libexpected-dev libcpp-httplib-dev
  libyaml-cpp-dev libisal-dev libsecp256k1-dev
  curl zip unzip openssl time procps bc)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if (($#)); then
  cmake --build build -j "$(nproc)" --target "$@"
else
  cmake --build build -j "$(nproc)"
fi
