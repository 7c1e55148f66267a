// SPDX-License-Identifier: MIT
// docs/contract.md §3 precedence: flag > SNAP_<ADAPTER>_<NAME> > system
// variable > default.
#include <catch2/catch.hpp>

#include "adapters/factories.hpp"
#include "snap/options.hpp"
#include "tests/support/process.hpp"

using namespace snap;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
}

const AdapterInfo& consul() { return adapters::consul_info(); }

} // namespace

TEST_CASE("the address follows the precedence", "[unit][options]") {
  ConnectionFlags flags;
  auto c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE(c);
  CHECK(c->base_url == "http://127.0.0.1:8500");

  c = resolve_connection(consul(), flags,
                         env_of({{"CONSUL_HTTP_ADDR", "10.0.0.5:8500"}}));
  CHECK(c->base_url == "http://10.0.0.5:8500");

  c = resolve_connection(consul(), flags,
                         env_of({{"CONSUL_HTTP_ADDR", "10.0.0.5:8500"},
                                 {"CONSUL_HTTP_SSL", "true"}}));
  CHECK(c->base_url == "https://10.0.0.5:8500");

  c = resolve_connection(consul(), flags,
                         env_of({{"CONSUL_HTTP_ADDR", "a:1"},
                                 {"SNAP_CONSUL_ADDR", "http://b:2/"}}));
  CHECK(c->base_url == "http://b:2");

  flags.addr = "https://c:3";
  c = resolve_connection(consul(), flags,
                         env_of({{"SNAP_CONSUL_ADDR", "http://b:2"}}));
  CHECK(c->base_url == "https://c:3");
}

TEST_CASE("unsupported address schemes are configuration errors",
          "[unit][options]") {
  ConnectionFlags flags;
  // A unix socket is an address (a Consul agent's); it needs a full path.
  flags.addr = "unix:///var/run/consul.sock";
  auto c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE(c);
  CHECK(c->unix_socket == "/var/run/consul.sock");
  CHECK(c->base_url == "http://localhost");
  flags.addr = "unix://consul.sock";
  c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::config);
  flags.addr = "https://10.0.0.5:8501";
  flags.tls_server_name = "server.dc1.consul";
  c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE(c);
  CHECK(c->tls.server_name == "server.dc1.consul");
  flags.tls_server_name = "evil:1:other";
  c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::config);
  flags.tls_server_name.clear();
  flags.addr = "ftp://x";
  CHECK_FALSE(resolve_connection(consul(), flags, env_of({})));
}

TEST_CASE("the token: file beats variable, flag beats environment",
          "[unit][options]") {
  snap::test::TempDir dir;
  snap::test::write_file(dir.path() / "flag", "from-flag\n");
  snap::test::write_file(dir.path() / "env", "  from-env-file \n");
  ConnectionFlags flags;
  auto c = resolve_connection(consul(), flags,
                              env_of({{"CONSUL_HTTP_TOKEN", "plain"}}));
  CHECK(c->token == "plain");
  c = resolve_connection(
      consul(), flags,
      env_of({{"CONSUL_HTTP_TOKEN", "plain"},
              {"CONSUL_HTTP_TOKEN_FILE", (dir.path() / "env").string()}}));
  CHECK(c->token == "from-env-file");
  c = resolve_connection(
      consul(), flags,
      env_of({{"CONSUL_HTTP_TOKEN_FILE", (dir.path() / "env").string()},
              {"SNAP_CONSUL_TOKEN", "snap-env"}}));
  CHECK(c->token == "snap-env");
  flags.token_file = (dir.path() / "flag").string();
  c = resolve_connection(consul(), flags,
                         env_of({{"SNAP_CONSUL_TOKEN", "snap-env"}}));
  CHECK(c->token == "from-flag");
}

TEST_CASE("a token never carries a line break into a header",
          "[unit][options]") {
  snap::test::TempDir dir;
  snap::test::write_file(dir.path() / "pretty.json",
                         "{\n  \"zelid\": \"1abc\",\n  \"signature\": "
                         "\"s\"\n}\n");
  snap::test::write_file(dir.path() / "two", "first\nsecond\n");
  ConnectionFlags flags;
  flags.token_file = (dir.path() / "pretty.json").string();
  auto c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE(c);
  CHECK(c->token == R"({"zelid":"1abc","signature":"s"})");
  flags.token_file = (dir.path() / "two").string();
  auto bad = resolve_connection(consul(), flags, env_of({}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::config);
  CHECK(bad.error().message.find("second") == std::string::npos);
}

TEST_CASE("an unreadable token file is a config error without the token",
          "[unit][options]") {
  ConnectionFlags flags;
  flags.token_file = "/nonexistent/token";
  auto c = resolve_connection(consul(), flags, env_of({}));
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::config);
  CHECK_THAT(c.error().message, Catch::Contains("/nonexistent/token"));
}

TEST_CASE("TLS settings come from Consul's variables", "[unit][options]") {
  ConnectionFlags flags;
  // The files must exist: a TLS file that is named but missing is refused.
  test::TempDir dir;
  std::string ca = (dir.path() / "ca.pem").string();
  std::string cert = (dir.path() / "c.pem").string();
  std::string key = (dir.path() / "k.pem").string();
  for (const auto& f : {ca, cert, key}) {
    test::write_file(f, "pem");
  }
  auto c = resolve_connection(consul(), flags,
                              env_of({{"CONSUL_CACERT", ca},
                                      {"CONSUL_CLIENT_CERT", cert},
                                      {"CONSUL_CLIENT_KEY", key},
                                      {"CONSUL_HTTP_SSL_VERIFY", "false"}}));
  REQUIRE(c);
  CHECK(c->tls.ca_file == ca);
  CHECK(c->tls.cert_file == cert);
  CHECK(c->tls.key_file == key);
  CHECK(c->tls.insecure);
  auto half = resolve_connection(consul(), flags,
                                 env_of({{"CONSUL_CLIENT_CERT", cert}}));
  REQUIRE_FALSE(half);
  CHECK(half.error().kind == ErrorKind::config);
}

TEST_CASE("adapter flags come from SNAP_<ADAPTER>_<FLAG> when not given",
          "[unit][options]") {
  auto f = resolve_adapter_flags(
      consul(), {},
      env_of({{"SNAP_CONSUL_DATACENTER", "dc2"}, {"SNAP_CONSUL_STALE", "1"}}));
  CHECK(f["datacenter"] == "dc2");
  CHECK(f["stale"] == "true");
  f = resolve_adapter_flags(consul(), {{"datacenter", "dc9"}},
                            env_of({{"SNAP_CONSUL_DATACENTER", "dc2"}}));
  CHECK(f["datacenter"] == "dc9");
  CHECK(snap_env_name("consul", "token-file") == "SNAP_CONSUL_TOKEN_FILE");
}
