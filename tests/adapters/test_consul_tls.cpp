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

namespace snap::test {

// Consul's built-in CA names servers server.<dc>.consul, not their
// addresses: `consul` verifies them with -tls-server-name (api.TLSConfig
// Address, CONSUL_TLS_SERVER_NAME), and takes a directory of CAs with
// -ca-path (CONSUL_CAPATH).
TEST_CASE("a server certificate for server.dc1.consul verifies with "
          "--tls-server-name and --ca-path",
          "[e2e][consul][tls]") {
  Pki pki;
  Emulator emu("consul", {"--tls-cert", pki.path("consul.pem"), "--tls-key",
                          pki.path("consul.key")});
  auto by_address = snap({"--retries", "0", "status", "consul", "--addr",
                          emu.https_url(), "--ca-file", pki.path("ca.pem")});
  CHECK(by_address.exit_code == 4);

  auto named =
      snap({"status", "consul", "--addr", emu.https_url(), "--ca-file",
            pki.path("ca.pem"), "--tls-server-name", "server.dc1.consul"});
  INFO(named.err);
  CHECK(named.exit_code == 0);
  // The target is still the address given.
  CHECK(named.out.find(emu.https_url()) != std::string::npos);
  auto wrong = snap({"--retries", "0", "status", "consul", "--addr",
                     emu.https_url(), "--ca-file", pki.path("ca.pem"),
                     "--tls-server-name", "server.dc2.consul"});
  CHECK(wrong.exit_code == 4);

  // A directory holding the CA among other files, from the variables.
  TempDir cas;
  write_file(cas.path() / "README", "not a certificate\n");
  write_file(cas.path() / "lab-ca.crt", read_file(pki.path("ca.pem")));
  TempDir out;
  auto saved = snap(
      {"save", "consul", "--addr", emu.https_url(), "-o", out.path().string()},
      {.env = {{"CONSUL_CAPATH", cas.path().string()},
               {"CONSUL_TLS_SERVER_NAME", "server.dc1.consul"}}});
  INFO(saved.err);
  CHECK(saved.exit_code == 0);
  CHECK(out.list().size() == 1);
  TempDir empty;
  auto none = snap({"status", "consul", "--addr", emu.https_url(), "--ca-path",
                    empty.path().string()});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("holds no PEM certificate") != std::string::npos);
}

TEST_CASE("an agent's unix socket: unix:///path in --addr or CONSUL_HTTP_ADDR",
          "[e2e][consul]") {
  TempDir dir;
  std::string sock = (dir.path() / "consul.sock").string();
  Emulator emu("consul", {"--unix-socket", sock});
  TempDir out;
  auto saved = snap({"save", "consul", "--addr", "unix://" + sock, "-o",
                     out.path().string()});
  INFO(saved.err);
  CHECK(saved.exit_code == 0);
  REQUIRE(out.list().size() == 1);
  auto status = snap({"--json", "status", "consul"},
                     {.env = {{"CONSUL_HTTP_ADDR", "unix://" + sock}}});
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("unix://" + sock) != std::string::npos);
  auto restored =
      snap({"restore", "consul", (out.path() / out.list()[0]).string(), "--yes",
            "--addr", "unix://" + sock});
  CHECK(restored.exit_code == 0);
  CHECK(emu.received("PUT /v1/snapshot"));
  auto relative = snap({"status", "consul", "--addr", "unix://consul.sock"});
  CHECK(relative.exit_code == 2);
  CHECK(relative.err.find("absolute path") != std::string::npos);
}

} // namespace snap::test
