// SPDX-License-Identifier: MIT
// A small deterministic fuzzer for ctest: it runs a target over its seed
// corpus, then over mutations of it (bit flips, interesting bytes and
// numbers, deletions, duplications, splices) drawn from a seeded generator,
// so a run is repeatable and a regression shows in every build. Written by
// hand because libFuzzer needs clang and a build of its own, which
// scripts/fuzz.sh makes for the long runs under ASan/UBSan; this driver
// runs the same targets in the ordinary build.
//
//   snap_fuzz TARGET DIR [--runs N] [--seconds S] [--seed N] [--crash-dir D]
//   snap_fuzz TARGET FILE...          replays files (a crash found earlier)
//
// A crash, an abort or an input that runs past 10 s writes the input to
// the crash folder, says where, and ends the process by the same signal.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/targets.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::string;

// What the signal handler writes out: the input being run.
const Bytes* g_current = nullptr;
char g_crash_path[4096] = "";

extern "C" void on_fatal(int sig) {
  if (g_current != nullptr && g_crash_path[0] != '\0') {
    int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t left = static_cast<ssize_t>(g_current->size());
      const char* p = g_current->data();
      while (left > 0) {
        ssize_t n = ::write(fd, p, static_cast<std::size_t>(left));
        if (n <= 0) {
          break;
        }
        left -= n;
        p += n;
      }
      ::close(fd);
    }
    const char* what = sig == SIGALRM ? "an input ran past 10 s; written to "
                                      : "a crash; the input is in ";
    (void)!::write(2, "snap_fuzz: ", 11);
    (void)!::write(2, what, std::strlen(what));
    (void)!::write(2, g_crash_path, std::strlen(g_crash_path));
    (void)!::write(2, "\n", 1);
  }
  ::signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
  ::raise(sig == SIGALRM ? SIGABRT : sig);
}

// Handlers on their own stack, so a stack overflow is reported too.
void install_handlers() {
  static std::vector<char> stack(1 << 16);
  stack_t ss{};
  ss.ss_sp = stack.data();
  ss.ss_size = stack.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_fatal;
  sa.sa_flags = SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) {
    ::sigaction(sig, &sa, nullptr);
  }
}

Bytes read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Mutator {
public:
  Mutator(std::uint64_t seed, const std::vector<Bytes>& corpus,
          std::size_t max_len)
      : m_rng(seed), m_corpus(corpus), m_max(max_len) {}

  Bytes next() {
    Bytes b = m_corpus.empty() ? Bytes() : m_corpus[below(m_corpus.size())];
    for (std::size_t n = 1 + below(4); n > 0; --n) {
      mutate(b);
    }
    if (b.size() > m_max) {
      b.resize(m_max);
    }
    return b;
  }

private:
  std::size_t below(std::size_t n) {
    return n == 0 ? 0 : static_cast<std::size_t>(m_rng() % n);
  }

  void mutate(Bytes& b) {
    static const char* const k_tokens[] = {
        "../",      "/",        "\n",         "\x1b[2J",
        "[[[[[[[[", "{{{{",     "\"",         "\\",
        "null",     "true",     "-1",         "0",
        "1e400",    "1.5",      "4294967297", "18446744073709551616",
        "\xff\xfe", "\xc2\x9b", "%2F",        "..",
        "\0"};
    static const unsigned char k_bytes[] = {0x00, 0x01, 0x7f, 0x80,
                                            0xff, 0x20, 0x0a, 0x2f};
    std::size_t pos = below(b.size() + 1);
    switch (below(9)) {
    case 0: // flip a bit
      if (!b.empty()) {
        b[pos % b.size()] ^= static_cast<char>(1u << below(8));
      }
      break;
    case 1: // an interesting byte
      if (!b.empty()) {
        b[pos % b.size()] = static_cast<char>(k_bytes[below(sizeof k_bytes)]);
      }
      break;
    case 2: // delete a range
      b.erase(pos, 1 + below(std::min<std::size_t>(64, b.size() - pos + 1)));
      break;
    case 3: // duplicate a range
      if (!b.empty()) {
        std::size_t from = below(b.size());
        std::size_t len =
            1 + below(std::min<std::size_t>(256, b.size() - from));
        b.insert(pos, b.substr(from, len));
      }
      break;
    case 4: // a token
    {
      const char* t = k_tokens[below(std::size(k_tokens))];
      b.insert(pos, t, std::max<std::size_t>(std::strlen(t), 1));
      break;
    }
    case 5: // random bytes
      for (std::size_t n = 1 + below(8); n > 0; --n) {
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos),
                 static_cast<char>(m_rng()));
      }
      break;
    case 6: // splice another input's tail
      if (!m_corpus.empty()) {
        const Bytes& other = m_corpus[below(m_corpus.size())];
        b = b.substr(0, pos) + other.substr(below(other.size() + 1));
      }
      break;
    case 7: // truncate
      b.resize(pos);
      break;
    default: // overwrite a run of digits with an extreme number
    {
      auto d = b.find_first_of("0123456789", pos);
      if (d != Bytes::npos) {
        auto e = b.find_first_not_of("0123456789", d);
        b.replace(d, (e == Bytes::npos ? b.size() : e) - d,
                  k_tokens[10 + below(6)]);
      }
      break;
    }
    }
  }

  std::mt19937_64 m_rng;
  const std::vector<Bytes>& m_corpus;
  std::size_t m_max;
};

int usage() {
  std::fputs("usage: snap_fuzz TARGET DIR [--runs N] [--seconds S] [--seed N] "
             "[--crash-dir D]\n       snap_fuzz TARGET FILE...\ntargets:",
             stderr);
  for (const auto& t : snap::fuzz::targets()) {
    std::fprintf(stderr, " %.*s", static_cast<int>(t.name.size()),
                 t.name.data());
  }
  std::fputs("\n", stderr);
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    return usage();
  }
  const snap::fuzz::Target* target = snap::fuzz::find_target(argv[1]);
  if (target == nullptr) {
    return usage();
  }
  std::vector<fs::path> inputs;
  long runs = 0;
  double seconds = 5;
  std::uint64_t seed = 1;
  fs::path crash_dir = fs::current_path();
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 < argc && a == "--runs") {
      runs = std::atol(argv[++i]);
    } else if (i + 1 < argc && a == "--seconds") {
      seconds = std::atof(argv[++i]);
    } else if (i + 1 < argc && a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && a == "--crash-dir") {
      crash_dir = argv[++i];
    } else if (fs::is_directory(a)) {
      for (const auto& e : fs::directory_iterator(a)) {
        if (e.is_regular_file()) {
          inputs.push_back(e.path());
        }
      }
    } else {
      inputs.emplace_back(a);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  std::vector<Bytes> corpus;
  std::size_t max_len = 4096;
  for (const auto& p : inputs) {
    corpus.push_back(read_all(p));
    max_len = std::max(max_len, corpus.back().size() * 2);
  }
  fs::create_directories(crash_dir);
  std::snprintf(g_crash_path, sizeof g_crash_path, "%s/crash-%s-seed%llu",
                crash_dir.c_str(), argv[1],
                static_cast<unsigned long long>(seed));
  install_handlers();

  auto start = std::chrono::steady_clock::now();
  auto run_one = [&](const Bytes& input) {
    g_current = &input;
    ::alarm(10);
    target->run(reinterpret_cast<const std::uint8_t*>(input.data()),
                input.size());
    ::alarm(0);
    g_current = nullptr;
  };
  for (const auto& input : corpus) {
    run_one(input);
  }
  Mutator mutator(seed, corpus, max_len);
  long done = 0;
  for (; done < runs; ++done) {
    std::chrono::duration<double> spent =
        std::chrono::steady_clock::now() - start;
    if (spent.count() > seconds) {
      break;
    }
    run_one(mutator.next());
  }
  std::chrono::duration<double> spent =
      std::chrono::steady_clock::now() - start;
  std::printf("fuzz %s: %zu seeds and %ld mutations in %.1f s (seed %llu), "
              "no crash\n",
              argv[1], corpus.size(), done, spent.count(),
              static_cast<unsigned long long>(seed));
  std::error_code ec;
  fs::remove_all(fs::temp_directory_path() /
                     ("snap-fuzz-" + std::to_string(::getpid())),
                 ec);
  return 0;
}
