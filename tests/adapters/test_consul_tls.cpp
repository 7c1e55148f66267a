// SPDX-License-Identifier: MIT
// TLS against snap-emulator consul: verification is on by default, a CA file
// or CONSUL_CACERT makes it pass, --insecure warns, and client certificates
// work for mutual TLS.
#include <catch2/catch.hpp>

#include "tests/support/pki.hpp"
#include "tests/support/process.hpp"

namespace snap::test {

TEST_CASE("TLS is verified by default and --ca-file trusts a private CA",
          "[e2e][consul][tls]") {
  Pki pki;
  Emulator emu("consul", {"--tls-cert", pki.path("server.pem"), "--tls-key",
                          pki.path("server.key")});
  auto untrusted =
      snap({"--retries", "0", "status", "consul", "--addr", emu.https_url()});
  CHECK(untrusted.exit_code == 4);
  CHECK(untrusted.err.find("--ca-file") != std::string::npos);
  // curl's own words keep their capitals ("SSL certificate problem").
  CHECK(untrusted.err.find("SSL certificate problem") != std::string::npos);

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
