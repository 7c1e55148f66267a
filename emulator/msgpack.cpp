// SPDX-License-Identifier: MIT
// Minimal MessagePack encoding and decoding (big-endian, as the spec says).
#include "emulator/msgpack.hpp"

#include <stdexcept>

namespace snap::emulator::msgpack {
namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

std::uint64_t get_be(std::string_view d, std::size_t& pos, int bytes) {
  if (pos + static_cast<std::size_t>(bytes) > d.size()) {
    throw std::runtime_error("msgpack: truncated");
  }
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v = (v << 8) | static_cast<unsigned char>(d[pos++]);
  }
  return v;
}

std::string_view take(std::string_view d, std::size_t& pos, std::uint64_t n) {
  if (pos + n > d.size()) {
    throw std::runtime_error("msgpack: truncated");
  }
  auto s = d.substr(pos, n);
  pos += n;
  return s;
}

nlohmann::json decode_map(std::string_view d, std::size_t& pos,
                          std::uint64_t n) {
  nlohmann::json m = nlohmann::json::object();
  for (std::uint64_t i = 0; i < n; ++i) {
    nlohmann::json k = decode(d, pos);
    m[k.is_string() ? k.get<std::string>() : k.dump()] = decode(d, pos);
  }
  return m;
}

nlohmann::json decode_array(std::string_view d, std::size_t& pos,
                            std::uint64_t n) {
  nlohmann::json a = nlohmann::json::array();
  for (std::uint64_t i = 0; i < n; ++i) {
    a.push_back(decode(d, pos));
  }
  return a;
}

nlohmann::json bin(std::string_view s) {
  return nlohmann::json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}

} // namespace

// The forms Consul's encoder writes (hashicorp/go-msgpack's codec with
// structs.MsgpackHandle, which leaves WriteExt off): the smallest form of
// each, but no str8 and no bin family, so []byte goes out as a raw string.
void put_map(std::string& out, std::uint32_t n) {
  if (n < 16) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xde));
    put_be(out, n, 2);
  } else {
    out.push_back(static_cast<char>(0xdf));
    put_be(out, n, 4);
  }
}

void put_array(std::string& out, std::uint32_t n) {
  if (n < 16) {
    out.push_back(static_cast<char>(0x90 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xdc));
    put_be(out, n, 2);
  } else {
    out.push_back(static_cast<char>(0xdd));
    put_be(out, n, 4);
  }
}

void put_raw_header(std::string& out, std::uint64_t size) {
  if (size < 32) {
    out.push_back(static_cast<char>(0xa0 | size));
  } else if (size < 65536) {
    out.push_back(static_cast<char>(0xda));
    put_be(out, size, 2);
  } else {
    out.push_back(static_cast<char>(0xdb));
    put_be(out, size, 4);
  }
}

void put_str(std::string& out, std::string_view s) {
  put_raw_header(out, s.size());
  out.append(s);
}

void put_uint(std::string& out, std::uint64_t v) {
  if (v <= 0x7f) {
    out.push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    out.push_back(static_cast<char>(0xcc));
    put_be(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(static_cast<char>(0xcd));
    put_be(out, v, 2);
  } else if (v <= 0xffffffffu) {
    out.push_back(static_cast<char>(0xce));
    put_be(out, v, 4);
  } else {
    out.push_back(static_cast<char>(0xcf));
    put_be(out, v, 8);
  }
}

void put_bool(std::string& out, bool v) {
  out.push_back(static_cast<char>(v ? 0xc3 : 0xc2));
}

void put_nil(std::string& out) { out.push_back(static_cast<char>(0xc0)); }

void put_value(std::string& out, const nlohmann::ordered_json& v) {
  if (v.is_object()) {
    put_map(out, static_cast<std::uint32_t>(v.size()));
    for (const auto& [k, x] : v.items()) {
      put_str(out, k);
      put_value(out, x);
    }
  } else if (v.is_array()) {
    put_array(out, static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v) {
      put_value(out, x);
    }
  } else if (v.is_string()) {
    put_str(out, v.get<std::string>());
  } else if (v.is_boolean()) {
    put_bool(out, v.get<bool>());
  } else if (v.is_number_unsigned() ||
             (v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
    put_uint(out, v.get<std::uint64_t>());
  } else {
    put_nil(out); // no record written here holds another kind
  }
}

nlohmann::json decode(std::string_view d, std::size_t& pos) {
  if (pos >= d.size()) {
    throw std::runtime_error("msgpack: truncated");
  }
  auto t = static_cast<unsigned char>(d[pos++]);
  if (t < 0x80) {
    return t;
  }
  if (t >= 0xe0) {
    return static_cast<int>(static_cast<signed char>(t));
  }
  if ((t & 0xf0) == 0x80) {
    return decode_map(d, pos, t & 0x0f);
  }
  if ((t & 0xf0) == 0x90) {
    return decode_array(d, pos, t & 0x0f);
  }
  if ((t & 0xe0) == 0xa0) {
    return std::string(take(d, pos, t & 0x1f));
  }
  switch (t) {
  case 0xc0:
    return nullptr;
  case 0xc2:
    return false;
  case 0xc3:
    return true;
  case 0xc4:
    return bin(take(d, pos, get_be(d, pos, 1)));
  case 0xc5:
    return bin(take(d, pos, get_be(d, pos, 2)));
  case 0xc6:
    return bin(take(d, pos, get_be(d, pos, 4)));
  case 0xcc:
    return get_be(d, pos, 1);
  case 0xcd:
    return get_be(d, pos, 2);
  case 0xce:
    return get_be(d, pos, 4);
  case 0xcf:
    return get_be(d, pos, 8);
  case 0xd0:
    return static_cast<std::int8_t>(get_be(d, pos, 1));
  case 0xd1:
    return static_cast<std::int16_t>(get_be(d, pos, 2));
  case 0xd2:
    return static_cast<std::int32_t>(get_be(d, pos, 4));
  case 0xd3:
    return static_cast<std::int64_t>(get_be(d, pos, 8));
  case 0xd9:
    return std::string(take(d, pos, get_be(d, pos, 1)));
  case 0xda:
    return std::string(take(d, pos, get_be(d, pos, 2)));
  case 0xdb:
    return std::string(take(d, pos, get_be(d, pos, 4)));
  case 0xdc:
    return decode_array(d, pos, get_be(d, pos, 2));
  case 0xdd:
    return decode_array(d, pos, get_be(d, pos, 4));
  case 0xde:
    return decode_map(d, pos, get_be(d, pos, 2));
  case 0xdf:
    return decode_map(d, pos, get_be(d, pos, 4));
  default:
    throw std::runtime_error("msgpack: unsupported type");
  }
}

} // namespace snap::emulator::msgpack
