// SPDX-License-Identifier: MIT
// Global options and connection settings, resolved once in the precedence of
// docs/contract.md §3: flag > SNAP_<ADAPTER>_<NAME> > the system's own
// variables > default.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "snap/adapter.hpp"
#include "snap/http.hpp"
#include "snap/profile.hpp"

namespace snap {

// The longest --timeout taken: a week and a half, far past any backup.
inline constexpr double k_max_timeout_s = 1e6;
// How long a request may move no byte before it fails: long enough for a
// Consul restore of a large snapshot to be applied before its answer.
inline constexpr double k_default_stall_s = 600;

struct GlobalOptions {
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  bool no_progress = false;
  double timeout_s = 0;
  double stall_timeout_s = k_default_stall_s; // --stall-timeout
  int retries = 3;
  std::string config;          // --config
  std::string passphrase_file; // --passphrase-file
  double wait_lock_s = 0;      // --wait-lock
  double poll_interval_s = 0;  // --poll-interval; 0: each poll's own
  std::string s3_endpoint;     // --s3-endpoint
  std::string metrics_file;    // --metrics-file, else the profile's
  std::string notify_url;      // --notify-url, else the profile's
};

// Connection flags as typed; empty means "not given".
struct ConnectionFlags {
  std::string addr;
  std::string token_file;
  std::string user;
  std::string password_file;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string ca_path;         // a directory of CA certificates
  std::string tls_server_name; // the name the certificate must carry
  bool insecure = false;
  std::string profile; // --profile
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// The process environment as an EnvLookup (empty values count as unset).
EnvLookup process_env();

// Resolves `flags` for adapter `info`. Errors: `config` for an unreadable
// secret file, an unsupported address scheme or a half-given client pair.
// Below flags and variables, a `profile`'s settings apply.
Expected<Connection> resolve_connection(const AdapterInfo& info,
                                        const ConnectionFlags& flags,
                                        const EnvLookup& env,
                                        const Profile* profile = nullptr);

// Adapter flags completed from SNAP_<ADAPTER>_<FLAG> variables, then the
// profile's "flags".
AdapterFlags resolve_adapter_flags(const AdapterInfo& info, AdapterFlags given,
                                   const EnvLookup& env,
                                   const Profile* profile = nullptr);

// "SNAP_CONSUL_TOKEN_FILE" for ("consul", "token-file").
std::string snap_env_name(std::string_view adapter, std::string_view setting);

// True for 1/t/true/yes (any case), as Go's ParseBool and operators expect.
bool is_truthy(std::string_view value);

} // namespace snap
