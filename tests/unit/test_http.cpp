// SPDX-License-Identifier: MIT
// HttpClient's sequencing over the in-memory transport: which answers are
// retried, what a cut body does, the JSON call's error shape, and an
// adapter's undo path (the export's point in time is closed when a search
// fails). Milliseconds each: no process, no socket.
#include <catch2/catch.hpp>

#include "snap/archive.hpp"
#include "snap/registry.hpp"
#include "tests/support/memory_http.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

MemoryAnswer json_answer(std::string body, long status = 200) {
  return {.status = status, .body = std::move(body)};
}

} // namespace

TEST_CASE("a 503 is retried for a GET, never for a POST", "[unit][http]") {
  int calls = 0;
  MemoryServer server([&](const MemoryRequest&) {
    return ++calls == 1 ? json_answer("busy", 503) : json_answer("{}");
  });
  auto http = server.client("test");
  std::string body;
  auto got = http->send_small({.path = "/a"}, body);
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(server.log() == std::vector<std::string>{"GET /a", "GET /a"});

  calls = 0;
  auto posted = http->send_small(
      {.method = "POST", .path = "/b", .idempotent = false}, body);
  REQUIRE(posted);
  CHECK(posted->status == 503);
  CHECK(server.log().size() == 3);
}

TEST_CASE("retries stop at --retries and keep the last answer",
          "[unit][http]") {
  MemoryServer server(
      [](const MemoryRequest&) { return json_answer("down", 502); });
  auto http = server.client("test", "http://memory", 1);
  std::string body;
  auto got = http->send_small({.path = "/x"}, body);
  REQUIRE(got);
  CHECK(got->status == 502);
  CHECK(server.log().size() == 2);
}

TEST_CASE("a refused connection is an error of kind connect, retried",
          "[unit][http]") {
  MemoryServer server(
      [](const MemoryRequest&) { return MemoryAnswer{.refuse = true}; });
  auto http = server.client("consul", "http://memory", 2);
  std::string body;
  auto got = http->send_small(
      {.method = "PUT", .path = "/v1/kv/k", .idempotent = false}, body);
  REQUIRE_FALSE(got);
  CHECK(got.error().kind == ErrorKind::connect);
  CHECK(got.error().message.find("is the server running? check --addr") !=
        std::string::npos);
  // Nothing reached the server, so even a write is tried again.
  CHECK(server.log().size() == 3);
}

TEST_CASE("a body cut mid-way is retried when the sink can start over",
          "[unit][http]") {
  int calls = 0;
  MemoryServer server([&](const MemoryRequest&) {
    MemoryAnswer a = json_answer(std::string(1000, 'x'));
    if (++calls == 1) {
      a.cut_after = 100;
    }
    return a;
  });
  auto http = server.client("test");
  std::string body;
  auto got = http->send_small({.path = "/big"}, body);
  REQUIRE(got);
  CHECK(body.size() == 1000);
  CHECK(calls == 2);
}

TEST_CASE("call_json reads the system's error shape and hint", "[unit][http]") {
  MemoryServer server([](const MemoryRequest&) {
    return json_answer(R"({"message":"no such snapshot"})", 404);
  });
  auto http = server.client("cloudify");
  JsonCall call{.request = {.path = "/api/v3.1/snapshots/s1"},
                .who = "cloudify"};
  call.error_text = [](const std::string& body) {
    return nlohmann::json::parse(body).value("message", body);
  };
  call.hint = [](const Response&, const std::string&) {
    return std::string("snap list cloudify shows them");
  };
  auto got = call_json(*http, std::move(call));
  REQUIRE_FALSE(got);
  CHECK(got.error().kind == ErrorKind::not_found);
  CHECK(got.error().message.find("no such snapshot") != std::string::npos);
  CHECK(got.error().message.find("(snap list cloudify shows them)") !=
        std::string::npos);

  MemoryServer empty([](const MemoryRequest&) { return json_answer(""); });
  auto answer = call_json(*empty.client("x"), {.request = {.path = "/"}});
  REQUIRE(answer);
  CHECK(answer->body == nlohmann::json::object());
}

TEST_CASE("an export closes its point in time when a search fails",
          "[unit][http][elasticsearch]") {
  MemoryServer server([](const MemoryRequest& r) {
    if (r.method == "GET" && r.target == "/") {
      return json_answer(R"({"version":{"number":"8.19.0"}})");
    }
    if (r.method == "GET" && r.target.starts_with("/%2A?")) {
      return json_answer(R"({"logs":{"aliases":{},"mappings":{},
        "settings":{"index.number_of_shards":"1"}}})");
    }
    if (r.method == "GET" && r.target == "/_data_stream") {
      return json_answer(R"({"data_streams":[]})");
    }
    if (r.method == "GET" && r.target.starts_with("/_cat/indices?")) {
      return json_answer(R"([{"index":"logs","status":"open"}])");
    }
    if (r.method == "POST" && r.target.starts_with("/logs/_pit")) {
      return json_answer(R"({"id":"pit-1"})");
    }
    if (r.method == "POST" && r.target == "/_search") {
      return json_answer(
          R"({"error":{"type":"search_phase_execution_exception",
              "reason":"all shards failed"},"status":500})",
          500);
    }
    if (r.method == "DELETE" && r.target == "/_pit") {
      return json_answer(R"({"succeeded":true,"num_freed":1})");
    }
    return json_answer("{}", 404);
  });
  MemoryConnector connector(server);
  auto http = server.client("elasticsearch");
  AdapterFlags flags{{"export", "true"}};
  KeptReports reports;
  auto adapter =
      find_adapter("elasticsearch")->make({*http, connector, flags, reports});
  TempDir dir;
  auto writer = ArchiveWriter::create(dir.path());
  REQUIRE(writer);
  auto saved = adapter->save(**writer);
  REQUIRE_FALSE(saved);
  CHECK(saved.error().message.find("all shards failed") != std::string::npos);
  CHECK(server.received("DELETE /_pit"));
  CHECK(server.log().back() == "DELETE /_pit");
}

TEST_CASE("URLs in messages never show credentials", "[unit][http]") {
  CHECK(redact_url("http://user:pw@db1:8500/v1/snapshot") ==
        "http://***@db1:8500/v1/snapshot");
  CHECK(redact_url("https://db1:8500/v1/kv?token=abc&recurse") ==
        "https://db1:8500/v1/kv?token=***&recurse");
  CHECK(redact_url("http://db1:8500/a@b") == "http://db1:8500/a@b");
  CHECK(redact_url("http://h/x?api_key=k") == "http://h/x?api_key=***");
  // A URL escaped into a path segment keeps its query masked.
  CHECK(redact_url("http://node/backup/getremotefilesize/"
                   "https%3A%2F%2Fs3%2Fb%3FX-Amz-Signature%3Dsekrit/B/0/"
                   "true/app") ==
        "http://node/backup/getremotefilesize/https%3A%2F%2Fs3%2Fb%3F***/B/"
        "0/true/app");
}

TEST_CASE("path segments are percent-encoded", "[unit][http]") {
  CHECK(url_escape("dc 1/x") == "dc%201%2Fx");
  CHECK(url_escape("a-b_c.d~") == "a-b_c.d~");
}

} // namespace snap::test
