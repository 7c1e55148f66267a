// SPDX-License-Identifier: MIT
// What every `<verb> <adapter>` shares: opening a session, verifying an
// archive, confirming a destructive step, and writing an archive.
#include <unistd.h>

#include <iostream>

#include "commands/commands.hpp"
#include "snap/json.hpp"
#include "snap/text.hpp"

namespace snap::commands {
namespace fs = std::filesystem;

namespace {

// Opens every client of a session with its timeouts, retries and logging.
class SessionConnector final : public Connector {
public:
  SessionConnector(Connection given, Context& ctx)
      : m_given(std::move(given)), m_global(ctx.global),
        m_out(ctx.output.get()) {}
  const Connection& given() const override { return m_given; }
  std::unique_ptr<HttpClient> open(HttpConfig cfg) const override {
    cfg.timeout_s = m_global.timeout_s;
    cfg.stall_timeout_s = m_global.stall_timeout_s;
    cfg.retries = m_global.retries;
    Output* out = m_out;
    cfg.log = [out](const std::string& line) { out->note(line); };
    cfg.waiting = [out](const std::string& what) { out->progress(what, 0, 0); };
    return std::make_unique<HttpClient>(std::move(cfg));
  }

private:
  Connection m_given;
  const GlobalOptions& m_global;
  Output* m_out;
};

} // namespace

AdapterFlags given_flags(const AdapterArgs& args) {
  AdapterFlags given;
  for (const auto& [k, v] : args.values) {
    if (!v.empty()) {
      given[k] = v;
    }
  }
  for (const auto& [k, values] : args.lists) {
    if (std::string joined = join_list(values); !joined.empty()) {
      given[k] = joined;
    }
  }
  for (const auto& [k, on] : args.switches) {
    if (on) {
      given[k] = "true";
    }
  }
  return given;
}

std::unique_ptr<Connector> make_connector(Connection given, Context& ctx) {
  return std::make_unique<SessionConnector>(std::move(given), ctx);
}

Expected<std::unique_ptr<Session>> open_session(const AdapterArgs& args,
                                                Capability cap, Context& ctx) {
  const AdapterInfo& info = args.adapter->info();
  if (!info.caps.has(cap)) {
    return fail(ErrorKind::unsupported,
                fmt::format("{}: {} is not supported (supported: {})",
                            info.name, verb_name(cap), info.caps.names()));
  }
  auto env = process_env();
  std::optional<Profile> profile;
  if (!args.conn.profile.empty()) {
    std::vector<ProfileFlag> flag_names;
    for (const auto& f : info.flags) {
      flag_names.push_back({f.name, f.takes_value});
    }
    Output* out = ctx.output.get();
    profile = SNAP_TRY(load_profile(
        config_path(ctx.global.config, env), args.conn.profile, info.name,
        flag_names, [out](const std::string& w) { out->warn(w); }));
  }
  const Profile* chosen = profile ? &*profile : nullptr;
  Connection conn = SNAP_TRY(resolve_connection(info, args.conn, env, chosen));
  // Monitoring knows the target from here on, under the address the run
  // was given (the same whether the run then fails or not).
  ctx.run.adapter = std::string(info.name);
  // A unix socket is the target's address (and its run lock's key).
  std::string shown = conn.unix_socket.empty() ? redact_url(conn.base_url)
                                               : "unix://" + conn.unix_socket;
  ctx.run.target = shown;
  if (chosen != nullptr) {
    if (auto f = chosen->get("metrics_file");
        f && ctx.global.metrics_file.empty()) {
      ctx.global.metrics_file = *f;
    }
    if (auto u = chosen->get("notify_url");
        u && ctx.global.notify_url.empty()) {
      ctx.global.notify_url = *u;
    }
  }
  if (!ctx.run.verb.empty() && !ctx.global.notify_url.empty()) {
    if (auto sent =
            notify(ctx.global.notify_url, Ping::start, ctx.run, HttpConfig{});
        !sent) {
      ctx.output->warn(
          fmt::format("could not notify the start: {}", sent.error().message));
    }
  }
  auto s = std::make_unique<Session>();
  s->run = &ctx.run;
  s->flags = resolve_adapter_flags(info, given_flags(args), env, chosen);
  if (auto at = args.conn.addr.find('@');
      at != std::string::npos && at < args.conn.addr.find('/', 8)) {
    ctx.output->warn("credentials in --addr are visible to every user of "
                     "this machine; use --user with --password-file");
  }
  if (conn.tls.insecure) {
    ctx.output->warn("TLS certificate verification is off (--insecure)");
  }
  s->target_url = shown;
  auto connector = std::make_unique<SessionConnector>(std::move(conn), ctx);
  s->http = connector->open_like_given(info, connector->given().base_url);
  s->connector = std::move(connector);
  s->operands = args.operands;
  s->adapter = args.adapter->make(
      {*s->http, *s->connector, s->flags, *ctx.output, s->operands, s->labels});
  SNAP_TRY(s->adapter->open());
  if (std::string url = s->adapter->target_url(); !url.empty()) {
    s->target_url = url;
  }
  return s;
}

Expected<void> lock_target(Session& session, std::string_view verb,
                           Context& ctx) {
  std::string name(session.adapter->info().name);
  session.lock = SNAP_TRY(RunLock::acquire(
      fmt::format("{} {}", name, session.target_url),
      fmt::format("snap {} {} {}", verb, name, session.target_url),
      ctx.global.wait_lock_s));
  return {};
}

Expected<std::optional<std::string>> passphrase(const Context& ctx) {
  std::string p;
  if (!ctx.global.passphrase_file.empty()) {
    p = trim_copy(SNAP_TRY(read_small_file(ctx.global.passphrase_file,
                                           "passphrase file", 64 * 1024)));
  } else if (auto env = process_env()("SNAP_PASSPHRASE")) {
    p = *env;
  } else {
    return std::optional<std::string>();
  }
  if (p.empty()) {
    return fail(ErrorKind::config, "the passphrase is empty");
  }
  return std::optional<std::string>(p);
}

Expected<std::string> encryption_passphrase(const Context& ctx) {
  auto p = SNAP_TRY(passphrase(ctx));
  if (!p) {
    return fail(ErrorKind::usage,
                "--encrypt needs a passphrase: --passphrase-file FILE or "
                "SNAP_PASSPHRASE (never on the command line)");
  }
  return *p;
}

Expected<std::unique_ptr<ArchiveReader>>
open_for(const fs::path& given, Adapter& adapter, Context& ctx) {
  // An s3:// archive is fetched first; the open reader keeps the file.
  auto local = SNAP_TRY(local_archive(given.string(), ctx));
  const fs::path& path = local->path;
  auto reader = SNAP_TRY(ArchiveReader::open(path));
  if (reader->encrypted()) {
    if (auto p = SNAP_TRY(passphrase(ctx))) {
      reader->set_passphrase(*p);
    }
  }
  const Manifest& m = reader->manifest();
  if (m.adapter != adapter.info().name) {
    return fail(ErrorKind::archive,
                fmt::format("{} is a {} archive, not {} (use snap restore {} "
                            "…)",
                            path.filename().string(), m.adapter,
                            adapter.info().name, m.adapter));
  }
  if (m.adapter_payload_version > adapter.info().payload_version) {
    return fail(ErrorKind::archive,
                fmt::format("{}: {} payload version {} is newer than this "
                            "snap reads ({}) (upgrade snap)",
                            path.filename().string(), m.adapter,
                            m.adapter_payload_version,
                            adapter.info().payload_version));
  }
  return reader;
}

namespace {

// The adapter's offline view of a payload, checked whole (the registry's
// describe: an adapter instance is not needed for it).
Expected<Fields> describe_payload(const Adapter& adapter,
                                  ArchiveReader& reader) {
  const AdapterEntry* entry = find_adapter(adapter.info().name);
  if (entry == nullptr) {
    return Fields::object();
  }
  return entry->describe(reader, DescribeOptions{});
}

} // namespace

Expected<std::unique_ptr<ArchiveReader>>
open_verified(const fs::path& given, Adapter& adapter, Context& ctx) {
  auto reader = SNAP_TRY(open_for(given, adapter, ctx));
  SNAP_TRY(reader->verify([&](std::uint64_t done, std::uint64_t total) {
    ctx.output->progress("verify", done, total);
  }));
  SNAP_TRY(guard_json(ErrorKind::archive,
                      fmt::format("{}: a payload document has the wrong shape",
                                  given.filename().string()),
                      [&] { return describe_payload(adapter, *reader); }));
  ctx.output->end_progress();
  return reader;
}

Expected<void> require_yes_or_terminal(std::string_view verb, bool yes) {
  if (!yes && !::isatty(STDIN_FILENO)) {
    return fail(ErrorKind::usage,
                fmt::format("refusing to {} without --yes: standard input is "
                            "not a terminal to confirm on (add --yes, or "
                            "--dry-run to see the plan)",
                            verb));
  }
  return {};
}

Expected<void> confirm(std::string_view question, bool yes) {
  if (yes) {
    return {};
  }
  std::fprintf(stderr, "%.*s Type 'yes' to continue: ",
               static_cast<int>(question.size()), question.data());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    // Ctrl-D: the prompt's line is ended, so the message starts its own.
    std::fputc('\n', stderr);
  }
  if (trim_copy(answer) != "yes") {
    return fail(ErrorKind::usage,
                "not confirmed (the answer was not 'yes'); nothing was "
                "changed");
  }
  return {};
}

Expected<fs::path> private_tmp_dir() {
  std::string pattern =
      (fs::temp_directory_path() / "snap-tmp-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail(ErrorKind::internal,
                fmt::format("cannot create a directory in {} (set TMPDIR)",
                            fs::temp_directory_path().string()));
  }
  return fs::path(pattern);
}

Expected<std::unique_ptr<S3Store>> s3_store(const S3Url& url, Context& ctx) {
  Output* out = ctx.output.get();
  return S3Store::connect(url.bucket,
                          {ctx.global.s3_endpoint, ctx.global.timeout_s,
                           ctx.global.retries,
                           [out](const std::string& line) { out->note(line); },
                           ctx.global.stall_timeout_s},
                          process_env());
}

ArchiveTarget::~ArchiveTarget() {
  if (s3) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

LocalArchive::~LocalArchive() {
  if (!tmp_dir.empty()) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
  }
}

Expected<std::unique_ptr<ArchiveTarget>> archive_target(const std::string& out,
                                                        bool force) {
  auto t = std::make_unique<ArchiveTarget>();
  t->force = force;
  std::error_code ec;
  if (is_s3_url(out)) {
    t->s3 = SNAP_TRY(parse_s3_url(out));
    t->dir = SNAP_TRY(private_tmp_dir());
    const std::string& key = t->s3->key;
    if (!key.empty() && key.back() != '/') {
      t->file = t->dir / fs::path(key).filename();
    }
    return t;
  }
  if (out.empty()) {
    t->dir = ".";
    return t;
  }
  fs::path p(out);
  if (out.back() == '/' || fs::is_directory(p, ec)) {
    t->dir = p;
    return t;
  }
  t->dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  t->file = p;
  if (!force && fs::exists(fs::symlink_status(p, ec))) {
    return fail(ErrorKind::usage,
                fmt::format("{} exists already; nothing was saved (pass "
                            "--force to replace it, or name another file "
                            "with -o)",
                            out));
  }
  return t;
}

// Uploads an archive written for an s3:// destination; returns its URL.
static Expected<std::string> ship_archive(const SavedArchive& a, S3Url dest,
                                          Context& ctx) {
  const fs::path& local = a.written.path;
  if (dest.key.empty() || dest.key.back() == '/') {
    dest.key += local.filename().string();
  }
  auto store = SNAP_TRY(s3_store(dest, ctx));
  // What prune needs to group and order archives without opening them.
  Headers meta = {{"snap-adapter", a.manifest.adapter},
                  {"snap-target", a.manifest.target.value("url", "")},
                  {"snap-created", a.manifest.created_at}};
  SNAP_TRY(store->upload(dest.key, local, meta,
                         [&](std::uint64_t done, std::uint64_t total) {
                           ctx.output->progress("upload", done, total);
                         }));
  ctx.output->end_progress();
  return dest.str();
}

Expected<std::unique_ptr<LocalArchive>> local_archive(const std::string& path,
                                                      Context& ctx) {
  auto l = std::make_unique<LocalArchive>();
  if (!is_s3_url(path)) {
    l->path = path;
    return l;
  }
  S3Url url = SNAP_TRY(parse_s3_url(path));
  l->tmp_dir = SNAP_TRY(private_tmp_dir());
  l->path = l->tmp_dir / fs::path(url.key).filename();
  auto store = SNAP_TRY(s3_store(url, ctx));
  SNAP_TRY(store->download(url.key, l->path,
                           [&](std::uint64_t done, std::uint64_t total) {
                             ctx.output->progress("download", done, total);
                           }));
  ctx.output->end_progress();
  return l;
}

Expected<SavedArchive>
write_archive(ArchiveWriter& writer, const ArchiveTarget& target,
              Session& session, SaveResult result,
              const std::map<std::string, std::string>& labels,
              std::string_view origin, Context& ctx) {
  const AdapterInfo& info = session.adapter->info();
  SavedArchive a;
  Manifest& m = a.manifest;
  m.origin = origin;
  m.snap_version = SNAP_VERSION;
  m.adapter = std::string(info.name);
  m.adapter_payload_version = info.payload_version;
  m.kind = result.kind;
  m.backup_id = result.backup_id;
  m.created_at = utc_now_rfc3339();
  m.target = {{"url", session.target_url}};
  if (!result.subject.empty()) {
    m.target["subject"] = result.subject;
  }
  if (!result.server_version.empty()) {
    m.target["version"] = result.server_version;
  }
  m.labels = labels;
  m.source = result.source;
  fs::path final_path =
      target.file ? *target.file
                  : target.dir / fmt::format("{}-{}-{}.zip", info.name,
                                             safe_token(result.backup_id),
                                             rfc3339_to_compact(m.created_at));
  OnExisting existing = !target.file   ? OnExisting::rename
                        : target.force ? OnExisting::replace
                                       : OnExisting::refuse;
  Adapter& adapter = *session.adapter;
  auto read_back = [&](ArchiveReader& reader) -> Expected<void> {
    SNAP_TRY(guard_json(ErrorKind::archive, "the written archive",
                        [&] { return describe_payload(adapter, reader); }));
    return {};
  };
  a.written = SNAP_TRY(writer.commit(m, final_path, existing, read_back));
  a.location = a.written.path.string();
  if (session.run != nullptr) {
    session.run->archive = a.location;
    session.run->archive_bytes = a.written.size;
  }
  a.summary = std::move(result.summary);
  // The backup exists but is incomplete (an Elasticsearch PARTIAL snapshot):
  // the archive is kept, and the exit status says so.
  a.partial = std::move(result.partial);
  if (target.s3) {
    a.location = SNAP_TRY(ship_archive(a, *target.s3, ctx));
  }
  return a;
}

CommandResult archive_result(const SavedArchive& a) {
  const Manifest& m = a.manifest;
  CommandResult r;
  std::string shown = a.location == a.written.path.string()
                          ? a.written.path.filename().string()
                          : a.location;
  r.text =
      fmt::format("{} and verified {} ({}, {}, {}, sha256 {}…)",
                  m.origin == "import" ? "Imported" : "Saved", shown, m.adapter,
                  terminal_safe(a.summary), human_bytes(a.written.size),
                  a.written.manifest_sha256.substr(0, 12));
  r.json = {{"archive", a.location},
            {"adapter", m.adapter},
            {"backup_id", m.backup_id},
            {"kind", m.kind},
            {"size", a.written.size},
            {"manifest_sha256", a.written.manifest_sha256},
            {"created_at", m.created_at},
            {"target", m.target},
            {"labels", m.labels},
            {"origin", m.origin},
            {"source", m.source}};
  r.error = a.partial;
  return r;
}

} // namespace snap::commands
