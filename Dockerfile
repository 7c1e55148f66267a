# A small image with snap alone, built from Debian 12's packages only:
#   docker build -t snap .
#   docker run --rm -v "$PWD:/backups" snap save consul --addr http://consul:8500 -o /backups/
# The first stage builds snap without the emulator and the tests, then makes
# the .deb (cpack), whose declared dependencies the second stage installs.
FROM debian:12 AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake pkg-config dpkg-dev file \
      libcli11-dev libcurl4-openssl-dev nlohmann-json3-dev libzip-dev zlib1g-dev \
      libfmt-dev libssl-dev libarchive-dev libexpected-dev libyaml-cpp-dev libisal-dev libsecp256k1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DSNAP_BUILD_EMULATOR=OFF -DSNAP_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j "$(nproc)" \
 && cd /build && cpack -G DEB && mv snap-backup_*.deb /snap.deb

FROM debian:12-slim
COPY --from=build /snap.deb /tmp/snap.deb
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates /tmp/snap.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/snap.deb \
 && useradd --system --uid 10001 --home-dir /backups snap
USER snap
WORKDIR /backups
ENTRYPOINT ["/usr/bin/snap"]
CMD ["--help"]
