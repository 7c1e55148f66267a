// SPDX-License-Identifier: MIT
// Small modules: exit codes, redaction, escaping, suggestions, streams.
#include <catch2/catch.hpp>

#include "snap/error.hpp"
#include "snap/http.hpp"
#include "snap/output.hpp"
#include "snap/sha256.hpp"
#include "snap/text.hpp"

using namespace snap;

TEST_CASE("every error kind maps to the exit code of docs/contract.md §4",
          "[unit][error]") {
  CHECK(exit_code(ErrorKind::usage) == 2);
  CHECK(exit_code(ErrorKind::config) == 2);
  CHECK(exit_code(ErrorKind::partial) == 3);
  CHECK(exit_code(ErrorKind::connect) == 4);
  CHECK(exit_code(ErrorKind::timeout) == 4);
  CHECK(exit_code(ErrorKind::auth) == 5);
  CHECK(exit_code(ErrorKind::not_found) == 6);
  CHECK(exit_code(ErrorKind::archive) == 7);
  CHECK(exit_code(ErrorKind::unsupported) == 8);
  CHECK(exit_code(ErrorKind::interrupted) == 130);
  CHECK(exit_code(ErrorKind::remote) == 1);
  CHECK(exit_code(ErrorKind::conflict) == 1);
  CHECK(exit_code(ErrorKind::internal) == 1);
}

TEST_CASE("URLs in messages never show credentials", "[unit][http]") {
  CHECK(redact_url("http://user:pw@db1:8500/v1/snapshot") ==
        "http://***@db1:8500/v1/snapshot");
  CHECK(redact_url("https://db1:8500/v1/kv?token=abc&recurse") ==
        "https://db1:8500/v1/kv?token=***&recurse");
  CHECK(redact_url("http://db1:8500/a@b") == "http://db1:8500/a@b");
  CHECK(redact_url("http://h/x?api_key=k") == "http://h/x?api_key=***");
}

TEST_CASE("path segments are percent-encoded", "[unit][http]") {
  CHECK(url_escape("dc 1/x") == "dc%201%2Fx");
  CHECK(url_escape("a-b_c.d~") == "a-b_c.d~");
}

TEST_CASE("suggestions for mistyped names", "[unit][text]") {
  std::vector<std::string> names{"consul", "cloudify", "elasticsearch"};
  CHECK(closest_match("consl", names) == "consul");
  CHECK(closest_match("elastic", names) == "elasticsearch");
  CHECK(closest_match("zzzzzzzz", names).empty());
  CHECK(rfc3339_to_compact("2026-11-21T10:15:00Z") == "20261121T101500Z");
  CHECK(safe_token("snap 1/2") == "snap_1_2");
  CHECK(safe_token("consul-13.x_y") == "consul-13.x_y");
  CHECK(safe_token("") == "_");
}

TEST_CASE("sha256 matches the known vector", "[unit][io]") {
  CHECK(sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update(as_bytes("a"));
  h.update(as_bytes("bc"));
  CHECK(h.hex() == sha256_hex("abc"));
}

TEST_CASE("a capped memory sink refuses more than its limit", "[unit][io]") {
  MemorySink s(4);
  CHECK(s.write(as_bytes("1234")));
  CHECK_FALSE(s.write(as_bytes("5")));
}

TEST_CASE("a progress line is cut to the terminal's width", "[unit][output]") {
  using snap::fit_width;
  CHECK(fit_width("download 12%", 0) == "download 12%");
  CHECK(fit_width("download 12%", 13) == "download 12%");
  CHECK(fit_width("download 12%", 12) == "download 1…");
  CHECK(fit_width("é très long", 6) == "é tr…");
  CHECK(fit_width("abc", 1) == "…");
}

TEST_CASE("milliseconds since the epoch read as RFC 3339 UTC", "[unit][text]") {
  CHECK(snap::epoch_ms_to_rfc3339(1717000000123) == "2024-05-29T16:26:40.123Z");
  CHECK(snap::epoch_ms_to_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(snap::epoch_ms_to_rfc3339(-1).empty());
}

TEST_CASE("errors in JSON carry their exit code", "[unit][json]") {
  auto j = snap::error_json({snap::ErrorKind::not_ready, "no leader"});
  CHECK(j["kind"] == "not_ready");
  CHECK(j["message"] == "no leader");
  CHECK(j["exit_code"] == 10);
}
