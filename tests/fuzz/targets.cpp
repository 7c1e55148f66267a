// SPDX-License-Identifier: MIT
#include "tests/fuzz/targets.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "adapters/consul/snapshot.hpp"
#include "adapters/elasticsearch/page.hpp"
#include "adapters/kube/config.hpp"
#include "snap/archive.hpp"
#include "snap/json.hpp"
#include "snap/manifest.hpp"
#include "snap/registry.hpp"
#include "snap/targz.hpp"

namespace snap::fuzz {
namespace {

namespace fs = std::filesystem;

std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The readers take files: one per process, rewritten for each input.
fs::path scratch(std::string_view name) {
  static const fs::path dir = [] {
    fs::path d =
        fs::temp_directory_path() / ("snap-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir / name;
}

fs::path write_scratch(std::string_view name, std::string_view bytes) {
  fs::path p = scratch(name);
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

struct Quiet : Reporter {
  void progress(std::string_view, std::uint64_t, std::uint64_t) override {}
  void note(std::string_view) override {}
  void warn(std::string_view) override {}
};

void fuzz_archive(const std::uint8_t* data, std::size_t size) {
  fs::path path = write_scratch("archive.zip", text_of(data, size));
  auto reader = ArchiveReader::open(path);
  if (!reader) {
    return;
  }
  ArchiveReader& r = **reader;
  if (r.encrypted()) {
    r.set_passphrase("fuzz");
  }
  (void)r.verify();
  for (const auto& e : r.manifest().entries) {
    if (e.media_type == "application/json") {
      (void)r.read_json(e.path);
    }
  }
  // What inspect does next: the adapter's own view of the payload.
  if (const AdapterEntry* a = find_adapter(r.manifest().adapter)) {
    (void)guard_json(ErrorKind::archive, "fuzz",
                     [&] { return a->describe(r, DescribeOptions{}); });
  }
}

void fuzz_manifest(const std::uint8_t* data, std::size_t size) {
  std::string_view text = text_of(data, size);
  // The header is the zip comment's one line; the rest is the manifest.
  auto nl = text.find('\n');
  auto header =
      parse_header(text.substr(0, nl == text.npos ? text.size() : nl));
  auto manifest = parse_manifest(nl == text.npos ? text : text.substr(nl + 1));
  if (manifest) {
    (void)dump_json(manifest_to_json(*manifest), 2);
    if (header) {
      (void)check_header_matches(*header, *manifest);
    }
  }
}

void fuzz_consul_snapshot(const std::uint8_t* data, std::size_t size) {
  adapters::ConsulSnapshotVerifier v;
  // Two writes, split where the first byte says, as a network would.
  std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  if (v.write({bytes, cut}) && v.write({bytes + cut, size - cut})) {
    (void)v.peek_meta();
    (void)v.finish();
  }
}

void fuzz_es_page(const std::uint8_t* data, std::size_t size) {
  auto page = adapters::es::scan_search_page(text_of(data, size));
  if (page) {
    for (const auto& hit : page->hits) {
      (void)parse_untrusted_json(hit.source);
      (void)parse_untrusted_json(hit.sort);
    }
  }
}

void fuzz_targz(const std::uint8_t* data, std::size_t size) {
  MemorySource src(std::string(text_of(data, size)));
  auto summary = check_tar_gz(src, "fuzz");
  if (summary) {
    (void)refuse_unsafe_members(*summary, "fuzz");
  }
}

void fuzz_kubeconfig(const std::uint8_t* data, std::size_t size) {
  fs::path path = write_scratch("kubeconfig", text_of(data, size));
  auto no_env = [](std::string_view) -> std::optional<std::string> {
    return std::nullopt;
  };
  (void)adapters::kube::load_target(path.string(), "", no_env, false);
}

} // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"archive", fuzz_archive},
      {"manifest", fuzz_manifest},
      {"consul_snapshot", fuzz_consul_snapshot},
      {"es_page", fuzz_es_page},
      {"targz", fuzz_targz},
      {"kubeconfig", fuzz_kubeconfig},
  };
  return all;
}

const Target* find_target(std::string_view name) {
  for (const auto& t : targets()) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

} // namespace snap::fuzz
