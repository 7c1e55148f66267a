// SPDX-License-Identifier: MIT
// Streams (src/io.cpp).
#include <array>
#include <cstring>

#include <catch2/catch.hpp>

#include "snap/io.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

using namespace snap;

TEST_CASE("a capped memory sink refuses more than its limit", "[unit][io]") {
  MemorySink s(4);
  CHECK(s.write(as_bytes("1234")));
  CHECK_FALSE(s.write(as_bytes("5")));
}

TEST_CASE("a memory sink given a used buffer holds only what it is then "
          "given and moves it out whole",
          "[unit][io]") {
  std::string old(1 << 20, 'x');
  const char* memory = old.data();
  MemorySink s(8, std::move(old));
  REQUIRE(s.write(as_bytes("abc")));
  REQUIRE(s.write(as_bytes("de")));
  CHECK_FALSE(s.write(as_bytes("fghi"))); // the limit counts from empty
  std::string got = s.take();
  CHECK(got == "abcde");
  CHECK(got.data() == memory); // the same memory, not a copy
  CHECK(s.str().empty());
}

TEST_CASE("a view source reads the caller's bytes in pieces and again after "
          "a rewind",
          "[unit][io]") {
  const std::string text = "0123456789";
  ViewSource src(text);
  CHECK(src.size() == 10);
  std::array<std::byte, 4> buf{};
  std::string seen;
  for (;;) {
    auto n = src.read(buf);
    REQUIRE(n);
    if (*n == 0) {
      break;
    }
    seen.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  CHECK(seen == text);
  REQUIRE(src.rewind());
  auto n = src.read(buf);
  REQUIRE(n);
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), *n) == "0123");
}

namespace {

// Keeps what it is given, slowly when asked; can be told to fail.
struct Keep : Sink {
  std::string seen;
  bool fail_now = false;
  int resets = 0;
  Expected<void> write(Bytes data) override {
    if (fail_now) {
      return fail(ErrorKind::internal, "disk full");
    }
    seen.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  bool reset() override {
    seen.clear();
    fail_now = false;
    ++resets;
    return true;
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  return s;
}

} // namespace

TEST_CASE("a fan-out gives every sink the same bytes in order", "[unit][io]") {
  Keep a, b, c;
  FanOut fan({&a, &b, &c}, 2);
  // More chunks than the pool holds, in writes that straddle chunks.
  std::string data = pattern((9 << 20) + 12345);
  for (std::size_t at = 0; at < data.size(); at += 300'007) {
    REQUIRE(fan.write(as_bytes(std::string_view(data).substr(at, 300'007))));
  }
  REQUIRE(fan.finish());
  CHECK(a.seen == data);
  CHECK(b.seen == data);
  CHECK(c.seen == data);
  // A finish with nothing new is a no-op.
  REQUIRE(fan.finish());
  CHECK(a.seen.size() == data.size());
}

TEST_CASE("bytes written in place into a fan-out reach every sink as "
          "written ones do",
          "[unit][io]") {
  Keep a, b;
  FanOut fan({&a, &b}, 2);
  std::string data = pattern((5 << 20) + 777);
  std::size_t at = 0;
  bool in_place = false;
  // In place and copied in turn, each at most 100 000 bytes at once.
  while (at < data.size()) {
    std::size_t want = std::min<std::size_t>(100'000, data.size() - at);
    if (in_place) {
      auto room = fan.space();
      REQUIRE(room);
      REQUIRE(!room->empty());
      std::size_t n = std::min(want, room->size());
      std::memcpy(room->data(), data.data() + at, n);
      fan.commit(n);
      at += n;
    } else {
      REQUIRE(fan.write(as_bytes(std::string_view(data).substr(at, want))));
      at += want;
    }
    in_place = !in_place;
  }
  // Room asked for and not used adds nothing.
  REQUIRE(fan.space());
  fan.commit(0);
  REQUIRE(fan.finish());
  CHECK(a.seen == data);
  CHECK(b.seen == data);
}

TEST_CASE("a fan-out reports a sink's failure and starts over on reset",
          "[unit][io]") {
  Keep a, b;
  FanOut fan({&a, &b});
  REQUIRE(fan.write(as_bytes(pattern(3 << 20))));
  REQUIRE(fan.finish());
  b.fail_now = true;
  std::string more = pattern(20 << 20);
  bool failed = false;
  for (std::size_t at = 0; at < more.size() && !failed; at += 1 << 20) {
    failed = !fan.write(as_bytes(std::string_view(more).substr(at, 1 << 20)));
  }
  auto done = fan.finish();
  REQUIRE(!done);
  CHECK(done.error().message == "disk full");
  // A retried download starts the sinks over, the failure forgotten.
  REQUIRE(fan.reset());
  CHECK(a.resets == 1);
  CHECK(b.resets == 1);
  REQUIRE(fan.write(as_bytes("again")));
  REQUIRE(fan.finish());
  CHECK(a.seen == "again");
  CHECK(b.seen == "again");
}

TEST_CASE("a sink that throws on a fan-out's thread is its error not an "
          "abort",
          "[unit][io]") {
  // As nlohmann's JSON throws when a server's bytes have the wrong shape.
  struct Throws : Sink {
    Expected<void> write(Bytes) override {
      (void)nlohmann::json(7).at("status"); // throws: 7 is not an object
      return {};
    }
  };
  Keep a;
  Throws b;
  FanOut fan({&a, &b});
  std::string data = pattern(8 << 20); // chunks enough to start the threads
  bool failed = false;
  for (std::size_t at = 0; at < data.size() && !failed; at += 1 << 20) {
    failed = !fan.write(as_bytes(std::string_view(data).substr(at, 1 << 20)));
  }
  auto done = fan.finish();
  REQUIRE(!done);
  CHECK(done.error().kind == ErrorKind::remote);
  CHECK(done.error().message.find("an answer of an unexpected shape") !=
        std::string::npos);
}

TEST_CASE("a fan-out of no sinks takes bytes and drops them", "[unit][io]") {
  FanOut fan({});
  for (int i = 0; i < 10; ++i) {
    REQUIRE(fan.write(as_bytes(pattern(1 << 20))));
  }
  CHECK(fan.finish());
}

namespace {

int threads_now() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      return std::stoi(line.substr(8));
    }
  }
  return -1;
}

} // namespace

TEST_CASE("a fan-out starts its threads only for more than a chunk",
          "[unit][io]") {
  Keep a, b;
  FanOut fan({&a, &b});
  const int before = threads_now();
  REQUIRE(before > 0);
  REQUIRE(fan.write(as_bytes("{\"kind\": \"ConfigMap\"}")));
  CHECK(threads_now() == before);
  REQUIRE(fan.finish());
  CHECK(a.seen == "{\"kind\": \"ConfigMap\"}");
  CHECK(b.seen == a.seen);
  CHECK(threads_now() == before);
  // A stream starts one thread per sink; parked, they stop, and the same
  // sinks go on in order once more comes.
  std::string big = pattern(3 << 20);
  REQUIRE(fan.write(as_bytes(big)));
  CHECK(threads_now() == before + 2);
  REQUIRE(fan.park());
  CHECK(threads_now() == before);
  REQUIRE(fan.write(as_bytes(big)));
  REQUIRE(fan.finish());
  std::string all = "{\"kind\": \"ConfigMap\"}" + big + big;
  CHECK(a.seen == all);
  CHECK(b.seen == all);
}
