// SPDX-License-Identifier: MIT
// The one interface every adapter implements. Adapters return data and never
// print; a verb an adapter lacks returns `unsupported` by default.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/archive.hpp"
#include "snap/http.hpp"

namespace snap {

enum class Capability : std::uint8_t {
  save,
  restore,
  download,
  upload,
  status,
  list,
  remove,        // the `delete` verb
  import_native, // the `import` verb: the system's own backup file
};

inline constexpr Capability k_all_capabilities[] = {
    Capability::save,   Capability::restore,      Capability::download,
    Capability::upload, Capability::status,       Capability::list,
    Capability::remove, Capability::import_native};

// The verb's name as typed on the command line ("delete" for remove).
std::string_view verb_name(Capability cap);

class CapabilitySet {
public:
  constexpr CapabilitySet(std::initializer_list<Capability> caps) {
    for (Capability c : caps) {
      m_bits |= bit(c);
    }
  }
  constexpr bool has(Capability c) const { return (m_bits & bit(c)) != 0; }
  // "save, restore, status"
  std::string names() const;

private:
  static constexpr std::uint16_t bit(Capability c) {
    return static_cast<std::uint16_t>(1u << static_cast<unsigned>(c));
  }
  std::uint16_t m_bits = 0;
};

// An adapter-specific flag, declared as data so commands can build the CLI.
struct FlagSpec {
  std::string name; // without the leading dashes
  std::string help;
  bool takes_value = true;
  std::vector<Capability> verbs;
  bool repeatable = false; // values given several times join with ','
};

struct AdapterInfo {
  std::string_view name;
  std::string_view summary;
  CapabilitySet caps;
  int payload_version = 1;
  std::string_view default_addr;
  std::vector<FlagSpec> flags;
  // Connection setting ("addr", "token", "token_file", "user", "password",
  // "ca_file", "cert_file", "key_file", "ssl", "ssl_verify", "trust_all",
  // "http_auth") or adapter flag name -> the system's own variable.
  std::map<std::string, std::string> native_env;
  // How a token is sent: header name and value prefix ("Bearer ").
  std::string_view token_header = "Authorization";
  std::string_view token_prefix = "Bearer ";
  // Another name the adapter's users know --token-file by ("auth-file").
  std::string_view token_file_alias;
  // Restore cannot be done over the API (Zeebe): `restore` verifies the
  // archive, prints the adapter's plan, and exits 8 unless --print-plan.
  bool offline_restore = false;
  // The name of extra operands save and restore take after their own
  // ("RESOURCE"), or "" for none. They reach the adapter as
  // AdapterContext::operands.
  std::string_view operands;
  // The payload entry that is the system's own backup file, byte for byte
  // (Consul's consul.snap): `snap export` writes it out, and `import`
  // makes an archive of such a file. "" when there is none.
  std::string_view native_entry;
};

// Adapter flag values by name; switches hold "true".
using AdapterFlags = std::map<std::string, std::string>;
// The value of adapter flag `name`, or "" when it was not given.
std::string flag_value(const AdapterFlags& flags, std::string_view name);
// Flag `name` in seconds ("--wait-timeout"), or `fallback` when not given.
double seconds_flag(const AdapterFlags& flags, std::string_view name,
                    double fallback);

// Kubernetes RBAC PolicyRules (rbac.authorization.k8s.io/v1): `rules` for
// the namespace a run works in (a Role), `cluster_rules` for cluster-scoped
// kinds (a ClusterRole).
struct KubeAccess {
  nlohmann::json rules = nlohmann::json::array();
  nlohmann::json cluster_rules = nlohmann::json::array();
};

// Ordered fields for display: commands print them as text or JSON.
using Fields = nlohmann::ordered_json;

// What `inspect` asks of an adapter's describe().
struct DescribeOptions {
  // Also check the payload's own integrity (it is read whole).
  bool verify = true;
  // Consul: break the KV store down by key prefix (consul snapshot
  // inspect's -kvdetails), to this many "/" parts (-kvdepth), for keys
  // under this prefix only (-kvfilter).
  bool kv_details = false;
  int kv_depth = 2;
  std::string kv_filter;
};

// How adapters report progress and notes without printing themselves.
struct Reporter {
  virtual ~Reporter() = default;
  // A transfer's progress; with `done` and `total` both 0, `label` is the
  // current step of a task the target runs.
  virtual void progress(std::string_view label, std::uint64_t done,
                        std::uint64_t total) = 0;
  virtual void note(std::string_view text) = 0;
  // Something the operator must know even without -v (a change snap could
  // not undo, and how to undo it by hand).
  virtual void warn(std::string_view text) = 0;
};

inline const std::vector<std::string> k_no_operands;
inline const std::map<std::string, std::string> k_no_labels;

// How an adapter reaches what it talks to. The session resolves the
// connection once; an adapter with several endpoints (Camunda's components,
// a Kubernetes API server from a kubeconfig) opens one client per endpoint
// through open(), and every client shares the session's timeouts, retries
// and logging.
class Connector {
public:
  virtual ~Connector() = default;
  // The --addr and credentials as the user gave them (empty fields: not
  // given by a flag, a variable or the profile).
  virtual const Connection& given() const = 0;
  // A client to `endpoint` (its label, base URL, TLS and credentials), with
  // the session's timeout, stall timeout, retries and logging.
  virtual std::unique_ptr<HttpClient> open(HttpConfig endpoint) const = 0;
  // A client to `base_url` with the given TLS and credentials, the token
  // sent as adapter `info` sends it: another node or component of the
  // same system. `label` ("" = the adapter's name) prefixes its messages.
  std::unique_ptr<HttpClient> open_like_given(const AdapterInfo& info,
                                              std::string base_url,
                                              std::string label = {}) const;
};

struct AdapterContext {
  // The session's client to the given connection, with the token sent as
  // the adapter's AdapterInfo::token_header says.
  HttpClient& http;
  const Connector& connector;
  const AdapterFlags& flags;
  Reporter& reporter;
  // The operands of save and restore (AdapterInfo::operands: fabric's
  // RESOURCEs), as given.
  const std::vector<std::string>& operands = k_no_operands;
  // A save's --label pairs, which an adapter may also record on the
  // target (an Elasticsearch snapshot's metadata).
  const std::map<std::string, std::string>& labels = k_no_labels;
};

struct SaveResult {
  std::string backup_id;
  std::string kind; // "full" or "reference"
  nlohmann::json source = nlohmann::json::object();
  std::string server_version;
  std::string summary; // e.g. "index 1068188"
  // What on the target this backup is of, when one target holds several
  // ("fab: ibppeers.ibp.com/peer1"); retention keeps each apart.
  std::string subject;
  // Set when the target finished the backup but reports it incomplete: the
  // archive is still written, and the command exits with this error.
  std::optional<Error> partial;
};

// What a restore did, or with dry_run would do. Commands render it; they
// read no adapter-specific key.
struct RestoreReport {
  std::vector<std::string> plan;       // dry run: each change, in order
  std::vector<std::string> done;       // what was restored, one line each
  std::vector<std::string> next_steps; // what is left to do by hand
  // Set when the restore is not a plain success: `partial` (exit 3) with
  // what was left out, or `unsupported` (exit 8) for an offline restore's
  // procedure that was not asked for (zeebe without --print-plan).
  std::optional<Error> verdict;
  Fields details = Fields::object(); // the adapter's own account (--json)
};

// One backup the target holds, as `list` reports it: the id status,
// download, delete and restore take, and the adapter's other columns.
struct ListedBackup {
  std::string id;
  Fields details = Fields::object();
};
using ListResult = std::vector<ListedBackup>;

// The rows commands print: {"id": …, then the details}.
Fields list_rows(const ListResult& backups);

// Where one backup stands, in the same words for every system.
enum class BackupState : std::uint8_t {
  running,  // the target is still taking it
  complete, // whole: it can be restored
  partial,  // finished with parts missing (a shard, a partition, a volume)
  failed,   // finished without a usable backup
};
// "running", "complete", "partial", "failed".
std::string_view state_name(BackupState s);

struct StatusResult {
  Fields fields = Fields::object();
  // The state of the backup asked about (status ID), or nullopt when the
  // question was about the target. Anything but `complete` makes status
  // exit 10, and `running` keeps --watch going.
  std::optional<BackupState> backup;
  bool terminal = true; // nothing left running that --watch should follow
  // Why the target cannot be backed up now, or the backup asked about is
  // not complete ("consul: no leader …"); "" when it is ready. status then
  // exits 10, so `snap status … && upgrade` gates.
  std::string not_ready;
};

struct Adapter {
  virtual ~Adapter() = default;
  virtual const AdapterInfo& info() const = 0;

  // Prepares what every verb needs before the first one runs, where the
  // adapter finds its own target (a kubeconfig). Errors: any kind.
  virtual Expected<void> open() { return {}; }
  // The address the adapter talks to when it found it itself, redacted;
  // "" when it is the session's --addr.
  virtual std::string target_url() const { return {}; }

  // Takes a new backup into `out`. Errors: any kind; never leaves success
  // when the target reported failure.
  virtual Expected<SaveResult> save(ArchiveWriter& out);
  // Restores a verified archive, or with `dry_run` returns the plan and
  // changes nothing. An adapter whose restore is offline returns the
  // procedure as the plan. Errors: any kind.
  virtual Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run);
  virtual Expected<StatusResult> status(const std::string& backup_id);
  virtual Expected<SaveResult> download(const std::string& backup_id,
                                        ArchiveWriter& out);
  virtual Expected<Fields> upload(ArchiveReader& in, const std::string& id);
  virtual Expected<ListResult> list();
  virtual Expected<Fields> remove(const std::string& backup_id);
  // Writes a backup file the system's own tools made (`consul snapshot
  // save`) into `out` as AdapterInfo::native_entry, verified as a save's
  // download is. Errors: `archive` when the file fails its checks, any.
  virtual Expected<SaveResult> import_native(ArchiveWriter& out,
                                             Source& native);

  // Retention on the target (save --keep and prune with --prune-target):
  // the backup a `save` of this adapter left on the target for the archive
  // whose manifest is `m`, in words ("snapshot snap-1 in repository
  // backups"), or nullopt when such an archive leaves nothing there (a
  // Consul snapshot, an Elasticsearch export). The default: nothing.
  virtual std::optional<std::string> target_backup(const Manifest& m) const;
  // Deletes that backup. Errors: `not_found` when it is gone already;
  // `config` when the archive is of another cluster than this one; any
  // kind. The default deletes `m.backup_id` through remove().
  virtual Expected<Fields> remove_target_backup(const Manifest& m);

protected:
  // The `unsupported` error naming the verbs this adapter has.
  Error unsupported(Capability cap) const;
};

} // namespace snap
