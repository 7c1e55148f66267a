// SPDX-License-Identifier: MIT
// A push-driven gunzip + tar reader, so the snapshot is checked in the same
// pass that downloads it (libarchive only reads by pulling). Decompression is
// ISA-L's igzip: on a compressible snapshot it is most of the work of a save,
// and igzip inflates about twice as fast as zlib.
// Tar handling follows Go's archive/tar as Consul uses it: ustar headers,
// PAX 'x' records for long names or sizes, two zero blocks at the end.
#include "adapters/consul/snapshot.hpp"

#include <array>
#include <cstring>
#include <map>

#include <isa-l/igzip_lib.h>
#include <nlohmann/json.hpp>

#include "snap/json.hpp"
#include "snap/sha256.hpp"

namespace snap::adapters {
namespace {

constexpr std::size_t k_block = 512;
constexpr std::size_t k_capture_limit = 16 << 20;

Error broken(std::string_view why) {
  return {ErrorKind::archive, fmt::format("consul snapshot: {}", why)};
}

// Parses an octal or base-256 tar number field.
std::optional<std::uint64_t> tar_number(const unsigned char* p,
                                        std::size_t len) {
  if (p[0] & 0x80) {
    std::uint64_t v = p[0] & 0x7f;
    for (std::size_t i = 1; i < len; ++i) {
      v = (v << 8) | p[i];
    }
    return v;
  }
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == 0)) {
    ++i;
  }
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  if (!any) {
    return std::nullopt;
  }
  return v;
}

std::string field(const unsigned char* p, std::size_t len) {
  std::size_t n = 0;
  while (n < len && p[n] != 0) {
    ++n;
  }
  return {reinterpret_cast<const char*>(p), n};
}

Expected<ConsulSnapshotMeta> parse_meta(const std::string& text) {
  ConsulSnapshotMeta meta;
  try {
    auto j = parse_untrusted_json(text);
    if (j.is_discarded()) {
      return tl::unexpected(broken("meta.json is not JSON"));
    }
    meta.id = j.at("ID").get<std::string>();
    meta.index = j.at("Index").get<std::uint64_t>();
    meta.term = j.at("Term").get<std::uint64_t>();
    meta.version = j.at("Version").get<int>();
    meta.size = j.at("Size").get<std::uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    return tl::unexpected(
        broken(fmt::format("meta.json is malformed: {}", e.what())));
  }
  return meta;
}

// Go's compress/gzip words for what igzip reports.
std::string_view gzip_failure(int rc) {
  switch (rc) {
  case ISAL_INVALID_WRAPPER:
  case ISAL_UNSUPPORTED_METHOD:
    return "invalid header";
  case ISAL_INCORRECT_CHECKSUM:
    return "invalid checksum";
  default:
    return "corrupt deflate data";
  }
}

} // namespace

struct ConsulSnapshotVerifier::State {
  inflate_state z{};
  bool gzip_ended = false; // the current member ended
  std::vector<unsigned char> out = std::vector<unsigned char>(256 * 1024);
  std::optional<Error> error;

  // tar state
  std::array<unsigned char, k_block> header{};
  std::size_t header_fill = 0;
  enum class Phase {
    header,
    data,
    padding,
    second_zero,
    done
  } phase = Phase::header;
  std::uint64_t data_left = 0;
  std::size_t padding_left = 0;
  std::string entry_name;
  char entry_type = '0';
  std::map<std::string, std::string> pax; // pending 'x' records
  std::string pax_text;
  std::uint64_t trailing = 0;

  struct File {
    Sha256 hash;
    std::uint64_t size = 0;
    std::string captured;
    bool seen = false;
    bool complete = false;
  };
  std::map<std::string, File> files;
  File* current = nullptr;
  ConsulKvView view;

  // state.bin, most of the snapshot, is hashed and its records counted on
  // a thread of its own, so the inflating thread does only that (the
  // slowest stage of a save on compressible state).
  struct StateBin : Sink {
    Sha256 hash;
    ConsulStateReader records;
    explicit StateBin(ConsulKvView v) : records(std::move(v)) {}
    Expected<void> write(Bytes data) override {
      hash.update(data);
      records.feed(reinterpret_cast<const unsigned char*>(data.data()),
                   data.size());
      return {};
    }
  };
  std::unique_ptr<ThreadedSink> state_thread; // before state_bin goes
  std::unique_ptr<StateBin> state_bin;

  explicit State(ConsulKvView v) : view(std::move(v)) { init(); }
  ~State() { state_thread.reset(); }

  // Starts reading a gzip member at `in`.
  void start_member(const unsigned char* in, std::size_t n) {
    isal_inflate_init(&z);
    z.crc_flag = ISAL_GZIP; // parse the header, check the trailer's CRC
    z.next_in = const_cast<unsigned char*>(in);
    z.avail_in = static_cast<std::uint32_t>(n);
    gzip_ended = false;
  }

  void init() {
    start_member(nullptr, 0);
    error.reset();
    header_fill = 0;
    phase = Phase::header;
    data_left = 0;
    padding_left = 0;
    pax.clear();
    pax_text.clear();
    trailing = 0;
    files.clear();
    current = nullptr;
    state_thread.reset();
    state_bin = std::make_unique<StateBin>(view);
    state_thread = std::make_unique<ThreadedSink>(*state_bin);
  }

  void set_error(std::string_view why) {
    if (!error) {
      error = broken(why);
    }
  }

  void start_entry() {
    std::string name = field(header.data(), 100);
    std::string magic = field(header.data() + 257, 6);
    if (magic == "ustar") {
      std::string prefix = field(header.data() + 345, 155);
      if (!prefix.empty()) {
        name = prefix + "/" + name;
      }
    }
    auto size = tar_number(header.data() + 124, 12);
    if (!size) {
      set_error("invalid tar header");
      return;
    }
    entry_type = static_cast<char>(header[156]);
    if (auto it = pax.find("path"); it != pax.end()) {
      name = it->second;
    }
    if (auto it = pax.find("size"); it != pax.end()) {
      size = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    if (entry_type != 'x' && entry_type != 'g') {
      pax.clear();
    }
    entry_name = name;
    data_left = *size;
    padding_left =
        static_cast<std::size_t>((k_block - *size % k_block) % k_block);
    current = nullptr;
    pax_text.clear();
    if (entry_type == '0' || entry_type == '\0') {
      if (name != "meta.json" && name != "state.bin" && name != "SHA256SUMS") {
        set_error(fmt::format("unexpected file \"{}\" in snapshot", name));
        return;
      }
      current = &files[name];
      if (current->seen) {
        set_error(fmt::format("duplicate file \"{}\" in snapshot", name));
        return;
      }
      current->seen = true;
    } else if (entry_type != 'x' && entry_type != 'g') {
      set_error(fmt::format("unexpected entry \"{}\" of type '{}' in snapshot",
                            name, entry_type));
      return;
    }
    phase = data_left > 0 ? Phase::data
                          : (padding_left > 0 ? Phase::padding : Phase::header);
    if (data_left == 0) {
      end_entry();
    }
  }

  void end_entry() {
    if (entry_type == 'x') {
      // PAX records: "<len> key=value\n"
      std::size_t pos = 0;
      while (pos < pax_text.size()) {
        auto sp = pax_text.find(' ', pos);
        auto eq = pax_text.find('=', sp);
        auto len = std::strtoull(pax_text.c_str() + pos, nullptr, 10);
        // A record's length must cover its key and value and stay inside
        // the text: a length near 2^64 once wrapped `pos` around for ever
        // (a fuzzer's find).
        if (sp == std::string::npos || eq == std::string::npos || len == 0 ||
            len > pax_text.size() - pos || eq + 1 >= pos + len) {
          break;
        }
        std::string key = pax_text.substr(sp + 1, eq - sp - 1);
        std::string value = pax_text.substr(eq + 1, pos + len - eq - 2);
        pax[key] = value;
        pos += len;
      }
    }
  }

  // The entry's data has all been read.
  void end_data() {
    if (current != nullptr) {
      current->complete = true;
    }
    end_entry();
    phase = padding_left > 0 ? Phase::padding : Phase::header;
  }

  // Inside state.bin's data, where the inflated bytes can go straight into
  // the hashing thread's chunk (no copy on this thread, the slowest stage
  // on compressible state): that room, at most the data left, or an empty
  // span elsewhere.
  std::span<std::byte> state_room() {
    if (phase != Phase::data || current == nullptr ||
        entry_name != "state.bin" || data_left == 0) {
      return {};
    }
    auto room = state_thread->space();
    if (!room) {
      return {}; // the stage's sink never fails; written the usual way
    }
    return room->first(static_cast<std::size_t>(
        std::min<std::uint64_t>({room->size(), data_left, UINT32_MAX})));
  }

  // `n` bytes of state.bin inflated into state_room().
  void state_written(std::size_t n) {
    state_thread->commit(n);
    current->size += n;
    data_left -= n;
    if (data_left == 0) {
      end_data();
    }
  }

  // Consumes decompressed tar bytes.
  void tar_bytes(const unsigned char* p, std::size_t n) {
    while (n > 0 && !error) {
      switch (phase) {
      case Phase::header: {
        std::size_t take = std::min(n, k_block - header_fill);
        std::memcpy(header.data() + header_fill, p, take);
        header_fill += take;
        p += take;
        n -= take;
        if (header_fill == k_block) {
          header_fill = 0;
          bool zero = std::all_of(header.begin(), header.end(),
                                  [](unsigned char c) { return c == 0; });
          if (zero) {
            phase = Phase::second_zero;
          } else {
            start_entry();
          }
        }
        break;
      }
      case Phase::data: {
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(n, data_left));
        Bytes chunk{reinterpret_cast<const std::byte*>(p), take};
        if (current != nullptr) {
          current->size += take;
          if (entry_name == "state.bin") {
            // Its errors are the stage's own: none (hashing and counting
            // report at the end).
            (void)state_thread->write(chunk);
          } else {
            current->hash.update(chunk);
          }
          if (entry_name != "state.bin" &&
              current->captured.size() + take <= k_capture_limit) {
            current->captured.append(reinterpret_cast<const char*>(p), take);
          }
        } else if (entry_type == 'x' && pax_text.size() < 1 << 20) {
          pax_text.append(reinterpret_cast<const char*>(p), take);
        }
        data_left -= take;
        p += take;
        n -= take;
        if (data_left == 0) {
          end_data();
        }
        break;
      }
      case Phase::padding: {
        std::size_t take = std::min(n, padding_left);
        padding_left -= take;
        p += take;
        n -= take;
        if (padding_left == 0) {
          phase = Phase::header;
        }
        break;
      }
      case Phase::second_zero: {
        std::size_t take = std::min(n, k_block - header_fill);
        bool zero =
            std::all_of(p, p + take, [](unsigned char c) { return c == 0; });
        if (!zero) {
          set_error("invalid tar header");
          return;
        }
        header_fill += take;
        p += take;
        n -= take;
        if (header_fill == k_block) {
          header_fill = 0;
          phase = Phase::done;
        }
        break;
      }
      case Phase::done:
        trailing += n;
        n = 0;
        break;
      }
    }
  }

  void feed(Bytes data) {
    // A chunk is at most a few MiB (ThreadedSink hands over 1 MiB).
    z.next_in =
        reinterpret_cast<unsigned char*>(const_cast<std::byte*>(data.data()));
    z.avail_in = static_cast<std::uint32_t>(data.size());
    while (!error) {
      if (gzip_ended) {
        if (z.avail_in == 0) {
          return;
        }
        // Go's gzip reader accepts concatenated members; anything else
        // after the end is an error.
        if (z.next_in[0] != 0x1f) {
          set_error("gzip: invalid header");
          return;
        }
        start_member(z.next_in, z.avail_in);
      }
      std::span<std::byte> direct = state_room();
      std::size_t room = direct.empty() ? out.size() : direct.size();
      z.next_out = direct.empty()
                       ? out.data()
                       : reinterpret_cast<unsigned char*>(direct.data());
      z.avail_out = static_cast<std::uint32_t>(room);
      const std::uint32_t before = z.avail_in;
      int rc = isal_inflate(&z);
      std::size_t produced = room - z.avail_out;
      if (!direct.empty()) {
        state_written(produced);
      }
      if (rc < 0) {
        set_error(fmt::format("failed to decompress snapshot: gzip: {}",
                              gzip_failure(rc)));
        return;
      }
      if (direct.empty()) {
        tar_bytes(out.data(), produced);
      }
      if (z.block_state == ISAL_BLOCK_FINISH) {
        gzip_ended = true;
      } else if (z.avail_in == 0 && produced < room) {
        return; // everything buffered is out: wait for more input
      } else if (produced == 0 && z.avail_in == before) {
        // Never seen; without it, input left unread would be dropped.
        set_error("failed to decompress snapshot: gzip: no progress");
        return;
      }
    }
  }
};

ConsulSnapshotVerifier::ConsulSnapshotVerifier(ConsulKvView view)
    : m_state(std::make_unique<State>(std::move(view))) {}

ConsulSnapshotVerifier::~ConsulSnapshotVerifier() = default;

Expected<void> ConsulSnapshotVerifier::write(Bytes data) {
  if (data.size() > UINT32_MAX) {
    for (std::size_t at = 0; at < data.size(); at += UINT32_MAX) {
      SNAP_TRY(write(data.subspan(
          at, std::min<std::size_t>(UINT32_MAX, data.size() - at))));
    }
    return {};
  }
  if (!m_state->error) {
    m_state->feed(data);
  }
  return {}; // problems are reported by finish(), after the whole body
}

bool ConsulSnapshotVerifier::reset() {
  m_state->init();
  return true;
}

Expected<ConsulSnapshotMeta> ConsulSnapshotVerifier::finish() {
  State& s = *m_state;
  if (s.error) {
    return tl::unexpected(*s.error);
  }
  if (!s.gzip_ended || s.phase != State::Phase::done) {
    return tl::unexpected(broken("unexpected EOF: the snapshot is truncated"));
  }
  if (s.trailing > 0) {
    return tl::unexpected(
        broken(fmt::format("{} unread uncompressed bytes remain", s.trailing)));
  }
  for (const char* name : {"meta.json", "state.bin", "SHA256SUMS"}) {
    if (!s.files[name].seen) {
      return tl::unexpected(
          broken(fmt::format("missing \"{}\" in snapshot", name)));
    }
  }
  std::map<std::string, std::string> sums;
  std::string_view text = s.files["SHA256SUMS"].captured;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) {
      continue;
    }
    auto sep = line.find("  ");
    if (sep != 64) {
      return tl::unexpected(broken("malformed SHA256SUMS line"));
    }
    sums[std::string(line.substr(66))] = std::string(line.substr(0, 64));
  }
  SNAP_TRY(s.state_thread->finish());
  for (const char* name : {"meta.json", "state.bin"}) {
    auto it = sums.find(name);
    if (it == sums.end()) {
      return tl::unexpected(
          broken(fmt::format("missing hash for \"{}\" in SHA256SUMS", name)));
    }
    std::string actual = std::string_view(name) == "state.bin"
                             ? s.state_bin->hash.hex()
                             : s.files[name].hash.hex();
    if (it->second != actual) {
      return tl::unexpected(
          broken(fmt::format("hash check failed for \"{}\"", name)));
    }
    sums.erase(it);
  }
  if (!sums.empty()) {
    return tl::unexpected(
        broken(fmt::format("SHA256SUMS lists \"{}\", which the snapshot lacks",
                           sums.begin()->first)));
  }
  ConsulSnapshotMeta meta = SNAP_TRY(parse_meta(s.files["meta.json"].captured));
  if (meta.version < 0 || meta.version > 1) {
    return tl::unexpected(broken(
        fmt::format("unsupported snapshot version {} (Consul reads 0 and 1)",
                    meta.version)));
  }
  if (meta.size != s.files["state.bin"].size) {
    return tl::unexpected(broken(
        fmt::format("failed to write snapshot, size didn't match ({} != {})",
                    s.files["state.bin"].size, meta.size)));
  }
  if (auto records = s.state_bin->records.finish()) {
    meta.records = std::move(*records);
  } else {
    meta.records_error = records.error().message;
  }
  return meta;
}

std::optional<ConsulSnapshotMeta> ConsulSnapshotVerifier::peek_meta() const {
  auto it = m_state->files.find("meta.json");
  if (it == m_state->files.end() || !it->second.complete) {
    return std::nullopt;
  }
  auto meta = parse_meta(it->second.captured);
  return meta ? std::optional(*meta) : std::nullopt;
}

} // namespace snap::adapters
