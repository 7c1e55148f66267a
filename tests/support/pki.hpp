// SPDX-License-Identifier: MIT
// A throw-away PKI for TLS tests: a CA, a server certificate for 127.0.0.1,
// one that names only server.dc1.consul (as Consul's built-in CA issues
// them), and a client certificate, made with the openssl CLI.
#pragma once

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {

struct Pki {
  TempDir dir;
  std::string path(const std::string& name) const {
    return (dir.path() / name).string();
  }
  Pki() {
    std::string d = dir.path().string();
    std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto r =
        run({"/bin/sh", "-c",
             "set -e; cd '" + d +
                 "'; "
                 "openssl req -x509 " +
                 ec +
                 " -keyout ca.key -out ca.pem -days 2 "
                 "-subj /CN=snap-test-ca 2>/dev/null; "
                 "openssl req " +
                 ec +
                 " -keyout server.key -out server.csr "
                 "-subj /CN=127.0.0.1 2>/dev/null; "
                 "printf 'subjectAltName=IP:127.0.0.1' > ext; "
                 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
                 "-CAcreateserial -out server.pem -days 2 -extfile ext "
                 "2>/dev/null; "
                 "openssl req " +
                 ec +
                 " -keyout consul.key -out consul.csr "
                 "-subj /CN=server.dc1.consul 2>/dev/null; "
                 "printf 'subjectAltName=DNS:server.dc1.consul' > ext2; "
                 "openssl x509 -req -in consul.csr -CA ca.pem -CAkey ca.key "
                 "-CAcreateserial -out consul.pem -days 2 -extfile ext2 "
                 "2>/dev/null; "
                 "openssl req " +
                 ec +
                 " -keyout client.key -out client.csr "
                 "-subj /CN=snap-client 2>/dev/null; "
                 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
                 "-CAcreateserial -out client.pem -days 2 2>/dev/null"});
    REQUIRE(r.exit_code == 0);
  }
};

} // namespace snap::test
