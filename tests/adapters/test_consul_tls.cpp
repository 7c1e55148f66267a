// SPDX-License-Identifier: MIT
// TLS against snap-emulator consul: verification is on by default, a CA file
// or CONSUL_CACERT makes it pass, --insecure warns, and client certificates
// work for mutual TLS.
#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

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
                 " -keyout client.key -out client.csr "
                 "-subj /CN=snap-client 2>/dev/null; "
                 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
                 "-CAcreateserial -out client.pem -days 2 2>/dev/null"});
    REQUIRE(r.exit_code == 0);
  }
};

} // namespace

TEST_CASE("TLS is verified by default and --ca-file trusts a private CA",
          "[e2e][consul][tls]") {
  Pki pki;
  Emulator emu("consul", {"--tls-cert", pki.path("server.pem"), "--tls-key",
                          pki.path("server.key")});
  auto untrusted =
      snap({"--retries", "0", "status", "consul", "--addr", emu.https_url()});
  CHECK(untrusted.exit_code == 4);
  CHECK(untrusted.err.find("--ca-file") != std::string::npos);

  auto trusted = snap({"status", "consul", "--addr", emu.https_url(),
                       "--ca-file", pki.path("ca.pem")});
  INFO(trusted.err);
  CHECK(trusted.exit_code == 0);

  auto from_env = snap({"status", "consul", "--addr", emu.https_url()},
                       {.env = {{"CONSUL_CACERT", pki.path("ca.pem")}}});
  CHECK(from_env.exit_code == 0);

  auto insecure =
      snap({"status", "consul", "--addr", emu.https_url(), "--insecure"});
  CHECK(insecure.exit_code == 0);
  CHECK(insecure.err.find("warning: TLS certificate verification is off") !=
        std::string::npos);
}

TEST_CASE("mutual TLS: the client certificate is sent when given",
          "[e2e][consul][tls]") {
  Pki pki;
  Emulator emu("consul",
               {"--tls-cert", pki.path("server.pem"), "--tls-key",
                pki.path("server.key"), "--tls-client-ca", pki.path("ca.pem")});
  TempDir out;
  auto without =
      snap({"--retries", "0", "save", "consul", "--addr", emu.https_url(),
            "--ca-file", pki.path("ca.pem"), "-o", out.path().string()});
  CHECK(without.exit_code == 4);
  auto with =
      snap({"save", "consul", "--addr", emu.https_url(), "--ca-file",
            pki.path("ca.pem"), "--cert-file", pki.path("client.pem"),
            "--key-file", pki.path("client.key"), "-o", out.path().string()});
  INFO(with.err);
  CHECK(with.exit_code == 0);
  CHECK(out.list().size() == 1);
  auto half = snap({"save", "consul", "--addr", emu.https_url(), "--cert-file",
                    pki.path("client.pem")});
  CHECK(half.exit_code == 2);
}

} // namespace snap::test
