// SPDX-License-Identifier: MIT
// Installed like software: `cmake --install` puts each file where its tool
// looks, `cpack -G DEB` makes a package that declares what it needs, and
// snap builds alone without the test equipment.
#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

namespace fs = std::filesystem;

const std::string k_cmake = "/usr/bin/cmake";

} // namespace

TEST_CASE("cmake --install puts binary, man pages, completions and examples "
          "where the tools look",
          "[install]") {
  TempDir prefix;
  auto r = run({k_cmake, "--install", SNAP_BINARY_DIR, "--prefix",
                prefix.path().string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path& p = prefix.path();
  for (const char* file :
       {"bin/snap", "share/man/man1/snap.1", "share/man/man5/snap-archive.5",
        "share/bash-completion/completions/snap",
        "share/zsh/site-functions/_snap",
        "share/fish/vendor_completions.d/snap.fish", "share/doc/snap/LICENSE",
        "share/doc/snap/json.md", "share/doc/snap/examples/config.example.json",
        "share/doc/snap/examples/snap-backup@.service",
        "share/doc/snap/examples/snap-backup@.timer"}) {
    INFO(file);
    CHECK(fs::is_regular_file(p / file));
  }
  CHECK(run({(p / "bin/snap").string(), "--version"}).exit_code == 0);
  // The installed completion is the one the binary makes.
  CHECK(read_file(p / "share/bash-completion/completions/snap") ==
        snap({"completion", "bash"}).out);
  CHECK(read_file(p / "share/zsh/site-functions/_snap")
            .starts_with("#compdef snap"));
  // The emulator is test equipment: never installed.
  CHECK(!fs::exists(p / "bin/snap-emulator"));
}

TEST_CASE("cpack -G DEB builds a package with its runtime dependencies",
          "[install]") {
  TempDir out;
  auto r = run({"/usr/bin/cpack", "-G", "DEB", "--config",
                std::string(SNAP_BINARY_DIR) + "/CPackConfig.cmake", "-B",
                out.path().string()},
               {.cwd = out.path(), .timeout_ms = 240'000});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  fs::path deb;
  for (const auto& e : fs::directory_iterator(out.path())) {
    if (e.path().extension() == ".deb") {
      deb = e.path();
    }
  }
  REQUIRE(!deb.empty());
  CHECK(deb.filename().string().starts_with("snap-backup_"));
  auto list = run({"/usr/bin/dpkg-deb", "-c", deb.string()});
  REQUIRE(list.exit_code == 0);
  for (const char* file : {"./usr/bin/snap", "./usr/share/man/man1/snap.1",
                           "./usr/share/bash-completion/completions/snap",
                           "./usr/share/zsh/site-functions/_snap",
                           "./usr/share/fish/vendor_completions.d/snap.fish"}) {
    INFO(file);
    CHECK(list.out.find(file) != std::string::npos);
  }
  CHECK(list.out.find("snap-emulator") == std::string::npos);
  auto depends = run({"/usr/bin/dpkg-deb", "-f", deb.string(), "Depends"});
  INFO(depends.out);
  for (const char* lib : {"libcurl4", "libzip4", "libssl3", "libarchive13",
                          "libyaml-cpp0.7", "libisal2", "libc6"}) {
    CHECK(depends.out.find(lib) != std::string::npos);
  }
  CHECK(run({"/usr/bin/dpkg-deb", "-f", deb.string(), "Conflicts"}).out ==
        "snapd\n");
}

TEST_CASE("snap builds alone: no Catch2, no cpp-httplib, no emulator",
          "[install]") {
  TempDir build;
  auto r = run({k_cmake, "-S", SNAP_SOURCE_DIR, "-B", build.path().string(),
                "-DSNAP_BUILD_TESTS=OFF", "-DSNAP_BUILD_EMULATOR=OFF"},
               {.timeout_ms = 120'000});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto cache = read_file(build.path() / "CMakeCache.txt");
  CHECK(cache.find("Catch2_DIR:") == std::string::npos);
  CHECK(cache.find("HTTPLIB_FOUND") == std::string::npos);
  auto targets =
      run({k_cmake, "--build", build.path().string(), "--target", "help"});
  CHECK(targets.out.find("... snap\n") != std::string::npos);
  CHECK(targets.out.find("snap-emulator") == std::string::npos);
  CHECK(targets.out.find("snap_tests") == std::string::npos);
}

} // namespace snap::test
