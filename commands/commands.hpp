// SPDX-License-Identifier: MIT
// Each verb lives in its own file: run_<verb>() does the work from its typed
// options and returns a result for main to print. The command tree that
// fills those options (flags, help, completion) is commands/cli.cpp, the one
// file that includes CLI11. Commands never include an adapter; they go
// through the registry. (schedule uses adapters/kube/, the Kubernetes
// client, to install CronJobs: there Kubernetes is the platform, not a
// target.)
#pragma once

#include <functional>
#include <memory>
#include <set>

#include "snap/adapter.hpp"
#include "snap/lock.hpp"
#include "snap/monitor.hpp"
#include "snap/options.hpp"
#include "snap/output.hpp"
#include "snap/registry.hpp"
#include "snap/retention.hpp"
#include "snap/s3.hpp"

namespace snap::commands {

// The command chosen by the parser, run by main after parsing.
using Runner = std::function<Expected<CommandResult>()>;

struct Context {
  GlobalOptions global;
  std::unique_ptr<Output> output;
  Runner runner;
  // The run as monitoring sees it (--metrics-file, --notify-url): the verb
  // when it is one that changes or copies a target, then the adapter and
  // target once open_session knows them.
  RunRecord run;
};

// Flags shared by every `<verb> <adapter>`: connection and adapter flags.
struct AdapterArgs {
  const AdapterEntry* adapter = nullptr;
  ConnectionFlags conn;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
  std::map<std::string, std::vector<std::string>> lists; // repeatable flags
  std::vector<std::string> operands; // AdapterInfo::operands
};

// An adapter ready to talk to its target, with the client it owns.
struct Session {
  std::unique_ptr<Connector> connector;
  std::unique_ptr<HttpClient> http;
  AdapterFlags flags;
  std::vector<std::string> operands;
  std::map<std::string, std::string> labels; // save's, set before save()
  std::unique_ptr<Adapter> adapter;
  std::string target_url; // redacted
  std::unique_ptr<RunLock> lock;
  RunRecord* run = nullptr; // the context's, for finish_archive
};

// The adapter flags given on the command line, by name (switches hold
// "true", repeated values are joined with ','), before variables and the
// profile fill in the rest.
AdapterFlags given_flags(const AdapterArgs& args);

// A connector that opens clients with the run's timeouts, retries and
// logging, for `given`.
std::unique_ptr<Connector> make_connector(Connection given, Context& ctx);

// Takes the session's target lock for `verb`, so no other save or restore
// of that target runs meanwhile (--wait-lock). Errors: `locked`,
// `interrupted`, `internal`.
Expected<void> lock_target(Session& session, std::string_view verb,
                           Context& ctx);

// Checks that the adapter supports `cap`, resolves the connection
// (docs/contract.md §3) and builds the adapter. Errors: `unsupported`,
// `config`.
Expected<std::unique_ptr<Session>> open_session(const AdapterArgs& args,
                                                Capability cap, Context& ctx);

// Opens `path` as an archive of `adapter`: structure, header and manifest
// checked, payload not read. Errors: `archive`, `not_found`.
Expected<std::unique_ptr<ArchiveReader>>
open_for(const std::filesystem::path& path, Adapter& adapter, Context& ctx);

// Opens and fully verifies `path` as an archive of `adapter` (manifest,
// every checksum, then the adapter's own payload checks). Errors: `archive`,
// `not_found`.
Expected<std::unique_ptr<ArchiveReader>>
open_verified(const std::filesystem::path& path, Adapter& adapter,
              Context& ctx);

// The passphrase of encrypted archives: --passphrase-file, else
// SNAP_PASSPHRASE, else nothing. Errors: `config` for an unreadable or empty
// file.
Expected<std::optional<std::string>> passphrase(const Context& ctx);
// The passphrase --encrypt needs. Errors: `usage` when there is none.
Expected<std::string> encryption_passphrase(const Context& ctx);

// Asks on the terminal before a destructive step, or refuses without one.
// Errors: `usage`.
Expected<void> confirm(std::string_view question, bool yes);

// Fails with `usage` when stdin is not a terminal and --yes is absent.
Expected<void> require_yes_or_terminal(std::string_view verb, bool yes);

// Builds the command tree and parses `argv` into `ctx`, whose runner is then
// the chosen verb. Returns an exit code when parsing alone ended the run
// (help, --version or a completion script printed: 0). Errors: `usage`.
Expected<std::optional<int>> parse_command_line(int argc, char** argv,
                                                Context& ctx);

// The verbs, each with the options the command tree fills.
struct SaveOptions {
  AdapterArgs args;
  std::string out;
  int keep = 0;
  bool keep_given = false;
  bool prune_target = false; // --prune-target
  std::vector<std::string> labels;
  bool encrypt = false;
  bool force = false;
};
Expected<CommandResult> run_save(const SaveOptions& opts, Context& ctx);

struct ScheduleOptions {
  SaveOptions save; // the save the schedule runs
  std::string cron;
  std::string image;
  std::string name;       // default snap-<adapter>
  std::string time_zone;  // the CronJob's timeZone
  std::string secret;     // mounted at /var/run/secrets/snap
  std::string env_secret; // its keys as environment variables
  std::string claim;      // an existing PVC for the archives
  std::string storage = "10Gi";
  std::string storage_class;
  bool apply = false;
};
Expected<CommandResult> run_schedule(const ScheduleOptions& opts, Context& ctx);

struct RestoreOptions {
  AdapterArgs args;
  std::string archive;
  bool yes = false;
  bool dry_run = false;
};
Expected<CommandResult> run_restore(const RestoreOptions& opts, Context& ctx);

struct DownloadOptions {
  AdapterArgs args;
  std::string id;
  std::string out;
  bool encrypt = false;
  bool force = false;
};
Expected<CommandResult> run_download(const DownloadOptions& opts, Context& ctx);

struct UploadOptions {
  AdapterArgs args;
  std::string archive;
  std::string id;
};
Expected<CommandResult> run_upload(const UploadOptions& opts, Context& ctx);

struct StatusOptions {
  AdapterArgs args;
  std::string id;
  bool watch = false;
  double interval_s = 2;
};
Expected<CommandResult> run_status(const StatusOptions& opts, Context& ctx);

Expected<CommandResult> run_list(const AdapterArgs& args, Context& ctx);

struct DeleteOptions {
  AdapterArgs args;
  std::string id;
  bool yes = false;
};
Expected<CommandResult> run_delete(const DeleteOptions& opts, Context& ctx);

struct InspectOptions {
  std::vector<std::string> paths;
  bool no_verify = false;
  // Consul archives: the KV breakdown (--kvdetails, --kvdepth, --kvfilter).
  bool kv_details = false;
  int kv_depth = 2;
  std::string kv_filter;
};
Expected<CommandResult> run_inspect(const InspectOptions& opts, Context& ctx);

struct PruneOptions {
  std::string dir;
  RetentionPolicy policy;
  std::string keep_within;
  std::vector<std::string> group_by;
  std::string adapter;
  // `snap prune <adapter> DIR`: only that adapter's archives, and with
  // --prune-target the connection that deletes their target backups.
  AdapterArgs args;
  bool prune_target = false;
  bool dry_run = false;
};
Expected<CommandResult> run_prune(const PruneOptions& opts, Context& ctx);

// What removing one archive did, for save --keep and prune.
struct Removal {
  bool removed = false;      // the archive is gone (or would be, dry run)
  std::string target;        // what went on the target with it; "" nothing
  std::string left;          // what stays on the target, and why
  std::optional<Error> kept; // kept: its target backup could not be deleted
};

// Removes the local archive `a`. With `prune_target` (--prune-target),
// first deletes, through `session`, the backup a `save` left on the target
// for it, when that is the session's target; an archive made by `download`
// (or before snap recorded origins) never deletes anything there. Without
// it, `left` names what stays on the target. A backup that an archive in
// `referenced` (backup_key) still refers to, one `download` made of it
// say, stays too. With `dry_run`, says what would go and changes nothing.
Removal remove_archive(const ArchiveRecord& a, Session* session,
                       bool prune_target, bool dry_run,
                       const std::set<std::string>& referenced);

// What an archive refers to on its target: adapter, target URL, backup id.
std::string backup_key(const ArchiveRecord& a);

// The adapters this build has and the verbs each supports.
CommandResult run_adapters();
// What --json --version prints: {"snap_version", "archive_format_version",
// "adapters"} (docs/json.md).
nlohmann::ordered_json version_json();

// Names the archive for `manifest` and commits it: into `out` when it names
// a file, else into that directory (default ".") as
// <adapter>-<id>-<yyyymmddTHHMMSSZ>.zip. Shared by save and download.
// For s3:// the archive is written in a private local directory first, then
// uploaded by write_archive and removed.
// A generated name never replaces a file (a second save in the same second
// gets "-2"); `-o FILE` onto an existing file is refused before anything
// starts, unless `force`.
struct ArchiveTarget {
  std::filesystem::path dir;
  std::optional<std::filesystem::path> file;
  std::optional<S3Url> s3;
  bool force = false;
  ~ArchiveTarget();
};
Expected<std::unique_ptr<ArchiveTarget>> archive_target(const std::string& out,
                                                        bool force);

// The store an s3:// URL names, with --s3-endpoint and the AWS variables.
// Errors: `config` without credentials.
Expected<std::unique_ptr<S3Store>> s3_store(const S3Url& url, Context& ctx);

// A local path for `path`: itself, or for s3:// a downloaded copy in a
// private directory removed when the copy is destroyed.
struct LocalArchive {
  std::filesystem::path path;
  std::filesystem::path tmp_dir; // empty unless downloaded
  ~LocalArchive();
};
Expected<std::unique_ptr<LocalArchive>> local_archive(const std::string& path,
                                                      Context& ctx);

// An archive save or download wrote: where it is (the local file, or the
// s3:// URL it was uploaded to), its manifest, and what the adapter said.
struct SavedArchive {
  std::string location;
  WrittenArchive written; // the local file (removed once shipped to s3)
  Manifest manifest;
  std::string summary;
  std::optional<Error> partial; // the target finished but incomplete
};

// Builds the manifest for a SaveResult, commits the archive (verified by
// reading it back) and, for s3://, uploads it. Shared by save and download,
// which name themselves as the archive's `origin`. Errors: any kind; then
// nothing is left behind.
Expected<SavedArchive>
write_archive(ArchiveWriter& writer, const ArchiveTarget& target,
              Session& session, SaveResult result,
              const std::map<std::string, std::string>& labels,
              std::string_view origin, Context& ctx);

// The printed line and JSON document of an archive (docs/json.md).
CommandResult archive_result(const SavedArchive& archive);

// --label key=value pairs. Errors: `usage`.
Expected<std::map<std::string, std::string>>
parse_labels(const std::vector<std::string>& given);

// A new directory only this user can read, under TMPDIR. Errors:
// `internal`.
Expected<std::filesystem::path> private_tmp_dir();

struct ImportOptions {
  AdapterArgs args;
  std::string file;
  std::string out;
  std::vector<std::string> labels;
  bool force = false;
  bool encrypt = false;
};
Expected<CommandResult> run_import(const ImportOptions& opts, Context& ctx);

struct DiffOptions {
  std::string old_archive;
  std::string new_archive;
};
Expected<CommandResult> run_diff(const DiffOptions& opts, Context& ctx);

struct ExportOptions {
  std::string archive;
  std::string out;
  bool force = false;
};
Expected<CommandResult> run_export(const ExportOptions& opts, Context& ctx);

// An archive restore made of a native file, removed with this.
struct ImportedArchive {
  ArchiveTarget target;
  std::filesystem::path path;
  ~ImportedArchive();
};
// For `snap restore ADAPTER FILE` where FILE is the system's own backup
// file and the adapter can import one: the file checked and wrapped into a
// private archive; nullptr for anything else (an archive). Errors: those
// of import.
Expected<std::unique_ptr<ImportedArchive>>
imported_for_restore(Session& session, const std::string& path, Context& ctx);

} // namespace snap::commands
