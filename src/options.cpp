// SPDX-License-Identifier: MIT
// Connection settings resolved once, in the precedence of docs/contract.md §3.
// Adapters never read the environment or files themselves.
#include "snap/options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

struct Resolver {
  const AdapterInfo& info;
  const EnvLookup& env;
  const Profile* profile;

  // The profile's value for `setting` ("ca-file" is its "ca_file").
  std::optional<std::string> from_profile(std::string_view setting) const {
    if (profile == nullptr) {
      return std::nullopt;
    }
    std::string key(setting);
    std::replace(key.begin(), key.end(), '-', '_');
    return profile->get(key);
  }

  std::optional<std::string> snap_env(std::string_view setting) const {
    return env(snap_env_name(info.name, setting));
  }
  std::optional<std::string> native(std::string setting) const {
    std::replace(setting.begin(), setting.end(), '-', '_');
    auto it = info.native_env.find(setting);
    return it == info.native_env.end() ? std::nullopt : env(it->second);
  }
  // flag > SNAP_<ADAPTER>_<SETTING> > native variable > profile > fallback
  std::string pick(const std::string& flag, const std::string& setting,
                   std::string fallback = {}) const {
    if (!flag.empty()) {
      return flag;
    }
    if (auto v = snap_env(setting)) {
      return *v;
    }
    if (auto v = native(setting)) {
      return *v;
    }
    if (auto v = from_profile(setting)) {
      return *v;
    }
    return fallback;
  }
};

Expected<std::string> read_secret(const std::string& path,
                                  std::string_view what) {
  auto text = read_small_file(path, what, 64 * 1024);
  if (!text) {
    return tl::unexpected(text.error());
  }
  std::string secret = trim_copy(*text);
  if (secret.empty()) {
    return fail(
        ErrorKind::config,
        fmt::format("{} {} is empty (write the secret into it)", what, path));
  }
  return secret;
}

// A TLS file must be there when it is named: a missing CA file would
// otherwise surface later as a TLS failure (exit 4), not as the typo it is.
Expected<void> check_readable(const std::string& path, std::string_view flag,
                              std::string_view adapter) {
  if (path.empty()) {
    return {};
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return fail(ErrorKind::config,
                fmt::format("{}: {} {}: {} (check the path)", adapter, flag,
                            path, std::strerror(errno)));
  }
  return {};
}

// The PEM certificates of every regular file in `dir`, in name order.
Expected<std::string> read_ca_dir(const std::string& dir,
                                  std::string_view adapter) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      files.push_back(it->path());
    }
  }
  if (ec) {
    return fail(ErrorKind::config,
                fmt::format("{}: --ca-path {}: {} (check the path)", adapter,
                            dir, ec.message()));
  }
  std::sort(files.begin(), files.end());
  std::string pem;
  for (const auto& f : files) {
    auto text = read_small_file(f.string(), "CA certificate", 1 << 20);
    if (text &&
        text->find("-----BEGIN CERTIFICATE-----") != std::string::npos) {
      pem += *text;
      pem += "\n";
    }
  }
  if (pem.empty()) {
    return fail(
        ErrorKind::config,
        fmt::format("{}: --ca-path {} holds no PEM certificate", adapter, dir));
  }
  return pem;
}

Expected<std::string> normalise_addr(std::string addr, bool force_tls,
                                     std::string_view adapter) {
  if (addr.empty()) {
    return addr; // no default: the adapter finds its address (a kubeconfig)
  }
  if (addr.starts_with("unix://")) {
    return addr; // resolve_connection takes the socket path from it
  }
  if (addr.find("://") == std::string::npos) {
    addr = (force_tls ? "https://" : "http://") + addr;
  } else if (!addr.starts_with("http://") && !addr.starts_with("https://")) {
    return fail(ErrorKind::config,
                fmt::format("{}: --addr {} has an unsupported scheme (use "
                            "http:// or https://)",
                            adapter, addr.substr(0, addr.find("://") + 3)));
  }
  while (addr.size() > 8 && addr.back() == '/') {
    addr.pop_back();
  }
  SNAP_TRY(check_url(addr, fmt::format("{}: --addr", adapter)));
  return addr;
}

} // namespace

bool is_truthy(std::string_view value) {
  std::string v(value);
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "t" || v == "true" || v == "yes" || v == "on";
}

std::string snap_env_name(std::string_view adapter, std::string_view setting) {
  std::string out = "SNAP_";
  for (std::string_view part : {adapter, std::string_view("_"), setting}) {
    for (char c : part) {
      out.push_back(c == '-' ? '_'
                             : static_cast<char>(std::toupper(
                                   static_cast<unsigned char>(c))));
    }
  }
  return out;
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr || *v == '\0') {
      return std::nullopt;
    }
    return std::string(v);
  };
}

Expected<Connection> resolve_connection(const AdapterInfo& info,
                                        const ConnectionFlags& flags,
                                        const EnvLookup& env,
                                        const Profile* profile) {
  Resolver r{info, env, profile};
  Connection c;
  bool force_tls = is_truthy(r.native("ssl").value_or(""));
  c.base_url = SNAP_TRY(
      normalise_addr(r.pick(flags.addr, "addr", std::string(info.default_addr)),
                     force_tls, info.name));
  // unix:///path (CONSUL_HTTP_ADDR's form for an agent's socket): HTTP over
  // that socket, to a host name the server does not look at.
  if (c.base_url.starts_with("unix://")) {
    c.unix_socket = c.base_url.substr(7);
    if (c.unix_socket.empty() || c.unix_socket[0] != '/') {
      return fail(ErrorKind::config,
                  fmt::format("{}: --addr {}: give the socket's absolute "
                              "path, as unix:///run/consul/http.sock",
                              info.name, c.base_url));
    }
    c.base_url = "http://localhost";
  }

  // Token: a file named by flag or variable wins over a token in a variable,
  // as the systems' own CLIs do.
  if (!flags.token_file.empty()) {
    c.token = SNAP_TRY(read_secret(flags.token_file, "token file"));
  } else if (auto f = r.snap_env("token-file")) {
    c.token = SNAP_TRY(read_secret(*f, "token file"));
  } else if (auto t = r.snap_env("token")) {
    c.token = trim_copy(*t);
  } else if (auto nf = r.native("token_file")) {
    c.token = SNAP_TRY(read_secret(*nf, "token file"));
  } else if (auto nt = r.native("token")) {
    c.token = trim_copy(*nt);
  } else if (auto pf = r.from_profile("token_file")) {
    c.token = SNAP_TRY(read_secret(*pf, "token file"));
  } else if (auto pt = r.from_profile("token")) {
    c.token = trim_copy(*pt);
  }

  // A token goes into a header: line breaks would end it early. A login
  // JSON (Flux's zelidauth) may be pretty-printed, so it is compacted.
  if (c.token.find_first_of("\r\n") != std::string::npos) {
    auto j = json_depth_within(c.token)
                 ? nlohmann::ordered_json::parse(c.token, nullptr, false)
                 : nlohmann::ordered_json(
                       nlohmann::ordered_json::value_t::discarded);
    if (j.is_discarded()) {
      return fail(ErrorKind::config,
                  fmt::format("{}: the token holds several lines; a token file "
                              "must hold one token (or one JSON document)",
                              info.name));
    }
    c.token = j.dump();
  }

  c.user = r.pick(flags.user, "user");
  if (!flags.password_file.empty()) {
    c.password = SNAP_TRY(read_secret(flags.password_file, "password file"));
  } else if (auto f = r.snap_env("password-file")) {
    c.password = SNAP_TRY(read_secret(*f, "password file"));
  } else if (auto p = r.snap_env("password")) {
    c.password = *p;
  } else if (auto np = r.native("password")) {
    c.password = *np;
  } else if (auto pf = r.from_profile("password_file")) {
    c.password = SNAP_TRY(read_secret(*pf, "password file"));
  } else if (auto pp = r.from_profile("password")) {
    c.password = *pp;
  }
  if (c.user.empty()) {
    if (auto auth = r.native("http_auth")) {
      auto colon = auth->find(':');
      c.user = auth->substr(0, colon);
      if (colon != std::string::npos) {
        c.password = auth->substr(colon + 1);
      }
    }
  }

  c.tls.ca_file = r.pick(flags.ca_file, "ca-file");
  if (c.tls.ca_file.empty()) {
    c.tls.ca_file =
        r.native("ca_file").value_or(r.from_profile("ca_file").value_or(""));
  }
  c.tls.cert_file = r.pick(flags.cert_file, "cert-file");
  if (c.tls.cert_file.empty()) {
    c.tls.cert_file = r.native("cert_file")
                          .value_or(r.from_profile("cert_file").value_or(""));
  }
  c.tls.key_file = r.pick(flags.key_file, "key-file");
  if (c.tls.key_file.empty()) {
    c.tls.key_file =
        r.native("key_file").value_or(r.from_profile("key_file").value_or(""));
  }
  SNAP_TRY(check_readable(c.tls.ca_file, "--ca-file", info.name));
  // A directory of CA certificates, as Consul's -ca-path reads one
  // (go-rootcerts: every file in it that holds PEM certificates); a CA file
  // given as well wins, as it does there.
  if (std::string dir = r.pick(flags.ca_path, "ca-path");
      !dir.empty() && c.tls.ca_file.empty()) {
    c.tls.ca_pem = SNAP_TRY(read_ca_dir(dir, info.name));
  }
  c.tls.server_name = r.pick(flags.tls_server_name, "tls-server-name");
  // A host name only: it becomes part of the URL and of libcurl's
  // CONNECT_TO entry.
  if (c.tls.server_name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
      std::string::npos) {
    return fail(ErrorKind::config,
                fmt::format("{}: --tls-server-name {}: give a host name, as "
                            "server.dc1.consul",
                            info.name, terminal_safe(c.tls.server_name)));
  }
  SNAP_TRY(check_readable(c.tls.cert_file, "--cert-file", info.name));
  SNAP_TRY(check_readable(c.tls.key_file, "--key-file", info.name));
  if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
    return fail(ErrorKind::config,
                fmt::format("{}: a client certificate needs both --cert-file "
                            "and --key-file",
                            info.name));
  }
  if (flags.insecure) {
    c.tls.insecure = true;
  } else if (auto v = r.snap_env("insecure")) {
    c.tls.insecure = is_truthy(*v);
  } else if (auto v = r.native("ssl_verify")) {
    c.tls.insecure = !is_truthy(*v);
  } else if (r.native("trust_all")) {
    c.tls.insecure = true; // any value, as cfy reads CLOUDIFY_SSL_TRUST_ALL
  } else if (auto p = r.from_profile("insecure")) {
    c.tls.insecure = is_truthy(*p);
  }
  return c;
}

AdapterFlags resolve_adapter_flags(const AdapterInfo& info, AdapterFlags given,
                                   const EnvLookup& env,
                                   const Profile* profile) {
  for (const auto& spec : info.flags) {
    if (given.contains(spec.name)) {
      continue;
    }
    auto v = env(snap_env_name(info.name, spec.name));
    if (auto it = info.native_env.find(spec.name);
        !v && it != info.native_env.end()) {
      v = env(it->second);
    }
    if (!v && profile != nullptr) {
      v = profile->flag(spec.name);
    }
    if (v) {
      if (!spec.takes_value && !is_truthy(*v)) {
        continue;
      }
      given[spec.name] = spec.takes_value ? *v : "true";
    }
  }
  return given;
}

} // namespace snap
