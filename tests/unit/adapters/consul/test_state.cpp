// SPDX-License-Identifier: MIT
// Counting state.bin's records as consul snapshot inspect does, from bytes
// made by another MessagePack encoder (nlohmann's) and fed in every split.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "adapters/consul/state.hpp"

namespace snap::adapters {
namespace {

using nlohmann::json;

std::string pack(const json& j) {
  auto v = json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}

std::string record(unsigned char type, const json& value) {
  return std::string(1, static_cast<char>(type)) + pack(value);
}

json kv(const std::string& key, std::size_t value_size) {
  return {{"LockIndex", 0},
          {"Key", key},
          {"Flags", 0},
          {"Value", json::binary(std::vector<std::uint8_t>(value_size, 'x'))},
          {"Session", ""},
          {"CreateIndex", 7},
          {"ModifyIndex", 9}};
}

Expected<ConsulStateStats> count(const std::string& state,
                                 ConsulKvView view = {},
                                 std::size_t chunk = 1 << 20) {
  ConsulStateReader r(view);
  for (std::size_t at = 0; at < state.size(); at += chunk) {
    auto n = std::min(chunk, state.size() - at);
    r.feed(reinterpret_cast<const unsigned char*>(state.data() + at), n);
  }
  return r.finish();
}

} // namespace

TEST_CASE("state.bin records are counted by type with Consul's sizes",
          "[unit][consul]") {
  std::string header = pack({{"LastIndex", 42}});
  std::string reg = record(0, {{"Node", "n1"}, {"Address", "10.0.0.1"}});
  std::string kv1 = record(2, kv("vault/logical/a/1", 100));
  std::string kv2 = record(2, kv("vault/logical/b/2", 3000));
  std::string kv3 = record(2, kv("top", 5));
  std::string idx = record(16, {{"Key", "kvs"}, {"Value", 9}});
  std::string odd = record(200, json::array({1, 2, 3}));
  std::string state = header + reg + kv1 + kv2 + kv3 + idx + odd;

  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, state.size()}) {
    auto s = count(state, {}, chunk);
    REQUIRE(s);
    CHECK(s->total_size == state.size());
    REQUIRE(s->types.size() == 4);
    // Largest first; the first record's size holds the header, as in
    // Consul's countingReader.
    CHECK(s->types[0].name == "KVS");
    CHECK(s->types[0].count == 3);
    CHECK(s->types[0].size == kv1.size() + kv2.size() + kv3.size());
    CHECK(s->types[1].name == "Register");
    CHECK(s->types[1].size == header.size() + reg.size());
    CHECK(s->types[2].name == "Index");
    CHECK(s->types[3].name == "Unknown(200)");
    REQUIRE(s->kv.size() == 2);
    CHECK(s->kv[0].name == "vault/logical");
    CHECK(s->kv[0].count == 2);
    CHECK(s->kv[0].size == kv1.size() + kv2.size());
    CHECK(s->kv[1].name == "top");
    CHECK(s->kv_total_size == kv1.size() + kv2.size() + kv3.size());
  }

  auto deep = count(state, {.depth = 3, .filter = "vault/"});
  REQUIRE(deep);
  REQUIRE(deep->kv.size() == 2);
  CHECK(deep->kv[0].name == "vault/logical/b");
  CHECK(deep->kv[1].name == "vault/logical/a");
  CHECK(deep->kv_total_size == kv1.size() + kv2.size());

  auto capped = count(state, {.max_prefixes = 1});
  REQUIRE(capped);
  CHECK(capped->kv.size() == 2);
  CHECK(capped->kv[1].name == "(more)");
}

TEST_CASE("a state.bin that is not the FSM's records is said so",
          "[unit][consul]") {
  std::string header = pack({{"LastIndex", 1}});
  std::string kv1 = record(2, kv("a/b", 10));
  auto cut = count(header + kv1.substr(0, kv1.size() - 3));
  REQUIRE(!cut);
  CHECK(cut.error().kind == ErrorKind::archive);
  CHECK(cut.error().message ==
        "state.bin ends inside a KVS record: unexpected EOF");
  auto empty = count("");
  REQUIRE(!empty);
  CHECK(empty.error().message.find("the snapshot header") != std::string::npos);
  auto never = count(header + std::string("\x02\xc1", 2));
  REQUIRE(!never);
  CHECK(never.error().message.find("0xc1") != std::string::npos);
  std::string nested(1000, '\x91'); // arrays of one array of …
  auto deep = count(header + "\x02" + nested + "\x01");
  REQUIRE(!deep);
  CHECK(deep.error().message.find("nests deeper than 256") !=
        std::string::npos);
  // A header alone is a snapshot of an empty store.
  auto bare = count(header);
  REQUIRE(bare);
  CHECK(bare->types.empty());
}

TEST_CASE("sizes read as Consul's ByteSize prints them", "[unit][consul]") {
  CHECK(consul_byte_size(0) == "0");
  CHECK(consul_byte_size(285) == "285B");
  CHECK(consul_byte_size(1024) == "1KB");
  CHECK(consul_byte_size(12595) == "12.3KB");
  CHECK(consul_byte_size(3ull << 30) == "3GB");
}

} // namespace snap::adapters
