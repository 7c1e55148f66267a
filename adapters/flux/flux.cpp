// SPDX-License-Identifier: MIT
// Flux adapter.
//
// A FluxOS node (RunOnFlux) backs up an application PER NODE and PER
// COMPONENT: POST /apps/appendbackuptask tars the component's appdata into
// <mount>/backup/local/backup_<component>.tar.gz, and POST
// /apps/appendrestoretask unpacks backup_<component>.tar.gz from the local,
// upload or remote folder back into appdata. Both stream plain-text progress
// lines with HTTP status 200 whatever happens: success is a stream that ends
// after "Finalizing...", failure is a line holding the error. Every other
// answer is a JSON envelope {"status":"success"|"error","data":…}, also 200.
// Files are listed, downloaded and removed through /backup/… with the full
// path (found from /backup/getvolumedataofcomponent), and uploaded as
// multipart/form-data to /ioutils/fileupload/backup/<app>/<component>/….
//
// Authentication: the zelidauth header carries the Flux ID login JSON
// ({"zelid","signature","loginPhrase"}); the ID must own the app or
// administer the node. Either a ready login from --auth-file or
// SNAP_FLUX_AUTH, or the Flux ID's key (--key-file, SNAP_FLUX_KEY_FILE),
// with which snap signs in by itself: GET /id/loginphrase, the phrase signed
// as a Bitcoin message, POST /id/verifylogin (a login the node keeps 14
// days, idService.js). A node that hands out no phrase (its health checks
// failed) still accepts an owner's or admin's own phrase, the time in ms
// and random characters, for 2 h (verificationHelperUtils.js). A login is
// renewed before it runs out and after a 401, and lives in memory only: no
// signed login is written to disk.
//
// Surprises this adapter guards against: the node stops the app for the
// duration; a restore WIPES the component's data before it unpacks and then
// DELETES the archive it used, so nothing is sent before the snap archive
// has passed every check and each component's tar.gz has been read whole;
// the node keeps one backup per component and deletes local backups after
// 24 h, so save downloads at once.
//
// Not saved: anything outside the components' appdata (the app's
// specification lives in the Flux network, not on the node).
//
// Docs: https://github.com/RunOnFlux/flux (ZelBack routes, advancedWorkflows)
#include "adapters/factories.hpp"
#include "adapters/flux/flux_id.hpp"
#include "adapters/remote_file.hpp"
#include "snap/json.hpp"
#include "snap/targz.hpp"
#include "snap/text.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <set>

namespace snap::adapters {
namespace {

using nlohmann::json;

// getlocalbackuplist's row: "size" is a number with /B/0/true (a string
// without), "create" the file's birth time in milliseconds, as a string
// (backupRestoreService.js).
std::uint64_t size_of(const json& file) {
  const json& v = file.value("size", json(0));
  if (v.is_number_unsigned()) {
    return v.get<std::uint64_t>();
  }
  return v.is_string()
             ? std::strtoull(v.get<std::string>().c_str(), nullptr, 10)
             : 0;
}

std::string created_at_of(const json& file) {
  const json& v = file.value("create", json(""));
  std::int64_t ms =
      v.is_number_integer() ? v.get<std::int64_t>()
      : v.is_string() ? std::strtoll(v.get<std::string>().c_str(), nullptr, 10)
                      : 0;
  return ms > 0 ? epoch_ms_to_rfc3339(ms) : std::string();
}

std::string archive_name(const std::string& component) {
  return fmt::format("backup_{}.tar.gz", to_lower(component));
}

// A backup file on the node, as `list` names it: "<component>/<folder>/
// <file>", folder one of local, upload and remote. "<component>" alone is
// its local backup, "<component>/<folder>" that folder's backup_<c>.tar.gz.
struct BackupId {
  std::string component;
  std::string folder = "local";
  std::string file;
  std::string text() const {
    return fmt::format("{}/{}/{}", component, folder, file);
  }
};

Expected<BackupId> parse_backup_id(std::string_view text) {
  BackupId id;
  std::vector<std::string> parts;
  for (std::size_t start = 0; start <= text.size();) {
    auto slash = text.find('/', start);
    parts.emplace_back(
        text.substr(start, slash == text.npos ? text.npos : slash - start));
    if (slash == text.npos) {
      break;
    }
    start = slash + 1;
  }
  bool ok = !parts.empty() && parts.size() <= 3;
  for (const auto& p : parts) {
    ok = ok && !p.empty() && p != "." && p != ".." &&
         p.find_first_of("\\%") == std::string::npos;
  }
  if (ok) {
    id.component = parts[0];
    id.folder = parts.size() > 1 ? parts[1] : "local";
    id.file = parts.size() > 2 ? parts[2] : archive_name(id.component);
    ok = id.folder == "local" || id.folder == "upload" || id.folder == "remote";
  }
  if (!ok) {
    return fail(ErrorKind::usage,
                fmt::format("flux: '{}' is not a backup id: write it as snap "
                            "list flux prints it, <component>/<folder>/<file> "
                            "(web/local/backup_web.tar.gz), or <component> "
                            "for its local backup",
                            text));
  }
  return id;
}

// How a backup or restore task is run: start the app again when the task
// failed and left it stopped (else FluxAdapter::m_left_stopped says so, for
// the caller to decide); text to mask in the lines echoed.
struct TaskRun {
  bool restart = true;
  std::vector<std::pair<std::string, std::string>> masks;
};

// Collects a task's streamed lines and shows each as progress.
class TaskLines : public Sink {
public:
  // `masks`: text to show otherwise in the lines echoed (a URL's query).
  explicit TaskLines(
      Reporter& r, std::vector<std::pair<std::string, std::string>> masks = {})
      : m_reporter(r), m_masks(std::move(masks)) {}
  Expected<void> write(Bytes data) override {
    for (std::byte b : data) {
      char c = static_cast<char>(b);
      if (c != '\n') {
        if (m_partial.size() < k_max_line) {
          m_partial.push_back(c); // a longer line is cut, not kept whole
        }
        continue;
      }
      std::string line = masked(trim_copy(m_partial));
      m_partial.clear();
      if (!line.empty()) {
        m_reporter.note(line);
        m_reporter.progress(line, 0, 0);
        m_lines.push_back(line);
      }
    }
    return {};
  }
  // The lines, with a last one not ended by a newline.
  std::vector<std::string> lines() const {
    auto out = m_lines;
    if (!trim_copy(m_partial).empty()) {
      out.push_back(masked(trim_copy(m_partial)));
    }
    return out;
  }

private:
  static constexpr std::size_t k_max_line = 64 * 1024;
  std::string masked(std::string line) const {
    for (const auto& [text, shown] : m_masks) {
      for (auto pos = line.find(text); pos != std::string::npos;
           pos = line.find(text, pos + shown.size())) {
        line.replace(pos, text.size(), shown);
      }
    }
    return line;
  }
  Reporter& m_reporter;
  std::vector<std::pair<std::string, std::string>> m_masks;
  std::string m_partial;
  std::vector<std::string> m_lines;
};

// A multipart/form-data body of one file part, streamed from `file`.
class MultipartSource : public Source {
public:
  MultipartSource(Source& file, const std::string& field,
                  const std::string& filename)
      : m_file(file) {
    std::mt19937_64 rng{std::random_device{}()};
    m_boundary = fmt::format("snap-{:016x}", rng());
    m_head = fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"; "
                         "filename=\"{}\"\r\nContent-Type: "
                         "application/gzip\r\n\r\n",
                         m_boundary, field, filename);
    m_tail = fmt::format("\r\n--{}--\r\n", m_boundary);
  }
  std::string content_type() const {
    return "multipart/form-data; boundary=" + m_boundary;
  }
  Expected<std::size_t> read(std::span<std::byte> buf) override {
    auto from = [&](const std::string& s, std::size_t& pos) {
      std::size_t n = std::min(buf.size(), s.size() - pos);
      std::memcpy(buf.data(), s.data() + pos, n);
      pos += n;
      return n;
    };
    if (m_head_pos < m_head.size()) {
      return from(m_head, m_head_pos);
    }
    if (!m_file_done) {
      std::size_t n = SNAP_TRY(m_file.read(buf));
      if (n > 0) {
        return n;
      }
      m_file_done = true;
    }
    return from(m_tail, m_tail_pos);
  }
  Expected<void> rewind() override {
    m_head_pos = m_tail_pos = 0;
    m_file_done = false;
    return m_file.rewind();
  }
  std::optional<std::uint64_t> size() const override {
    auto inner = m_file.size();
    if (!inner) {
      return std::nullopt;
    }
    return m_head.size() + *inner + m_tail.size();
  }

private:
  Source& m_file;
  std::string m_boundary, m_head, m_tail;
  std::size_t m_head_pos = 0, m_tail_pos = 0;
  bool m_file_done = false;
};

class FluxAdapter : public Adapter {
public:
  explicit FluxAdapter(AdapterContext ctx) : m_ctx(ctx) {}

  const AdapterInfo& info() const override { return flux_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    if (!flag("all-nodes").empty()) {
      return save_all_nodes(out);
    }
    std::string app = SNAP_TRY(app_name());
    auto comps = SNAP_TRY(components(app));
    json body = {{"appname", app}, {"backup", json::array()}};
    for (const auto& c : comps) {
      body["backup"].push_back({{"component", c}, {"backup", true}});
    }
    SNAP_TRY(run_task("/apps/appendbackuptask", body, "backup", app));
    std::vector<BackupId> ids;
    for (const auto& c : comps) {
      ids.push_back({c, "local", archive_name(c)});
    }
    return fetch(app, ids, out);
  }

  // save --all-nodes: the backup task on every node GET /apps/location
  // lists, and each node's backups under payload/nodes/<ip>/ of one
  // archive. A node whose task fails (or that cannot be reached) is left
  // out and named (exit 3); a download that fails fails the save.
  Expected<SaveResult> save_all_nodes(ArchiveWriter& out) {
    std::string app = SNAP_TRY(app_name());
    if (!flag("node").empty()) {
      return fail(ErrorKind::usage, "flux: --all-nodes saves from every node "
                                    "and --node from one: give one of them");
    }
    auto comps = SNAP_TRY(components(app));
    json loc = SNAP_TRY(envelope(get("/apps/location/" + url_escape(app))));
    std::vector<std::string> ips;
    for (const auto& n : loc.value("data", json::array())) {
      std::string ip = n.is_object() ? n.value("ip", "") : "";
      bool address = !ip.empty() && ip.size() < 64 &&
                     ip.find_first_not_of("0123456789abcdefABCDEF.:[]") ==
                         std::string::npos;
      if (!address) {
        return fail(ErrorKind::remote,
                    fmt::format("flux: GET /apps/location/{} lists a node "
                                "whose ip is not an address ('{}')",
                                app, ip.substr(0, 64)));
      }
      ips.push_back(ip);
    }
    if (ips.empty()) {
      return fail(ErrorKind::not_found,
                  fmt::format("flux: no node runs {} (GET /apps/location/{} "
                              "lists none)",
                              app, app));
    }
    json body = {{"appname", app}, {"backup", json::array()}};
    for (const auto& c : comps) {
      body["backup"].push_back({{"component", c}, {"backup", true}});
    }
    json nodes = json::array();
    std::vector<std::string> failed;
    std::uint64_t total = 0;
    std::string version;
    for (const auto& ip : ips) {
      std::string url =
          "http://" + (ip.find(':') == std::string::npos ? ip + ":16127" : ip);
      m_node = m_ctx.connector.open_like_given(flux_info(), url);
      m_ctx.reporter.note("backing up on node " + url);
      auto ran = run_task("/apps/appendbackuptask", body, "backup", app);
      if (!ran) {
        if (ran.error().kind == ErrorKind::interrupted) {
          return tl::unexpected(ran.error());
        }
        failed.push_back(ip + ": " + ran.error().message);
        continue;
      }
      std::string label = ip;
      std::replace(label.begin(), label.end(), ':', '_');
      std::vector<BackupId> ids;
      for (const auto& c : comps) {
        ids.push_back({c, "local", archive_name(c)});
      }
      SaveResult one = SNAP_TRY(fetch(app, ids, out, "nodes/" + label + "/"));
      version = one.server_version;
      std::uint64_t bytes = one.source.value("data_bytes", std::uint64_t{0});
      total += bytes;
      nodes.push_back({{"node", url},
                       {"ip", ip},
                       {"entries_under", "payload/nodes/" + label + "/"},
                       {"components", one.source["components"]},
                       {"data_bytes", bytes}});
    }
    if (nodes.empty()) {
      return fail(ErrorKind::remote,
                  fmt::format("flux: the backup failed on every node of {}: "
                              "{}; nothing was saved",
                              app, join_list(failed, "; ")));
    }
    SaveResult r;
    r.backup_id = app;
    r.kind = "full";
    r.server_version = version;
    r.summary = fmt::format("app {} from {} node{}, {} component{} each", app,
                            nodes.size(), nodes.size() == 1 ? "" : "s",
                            comps.size(), comps.size() == 1 ? "" : "s");
    r.source = {{"app", app}, {"nodes", nodes}, {"data_bytes", total}};
    if (!failed.empty()) {
      r.partial = Error{
          ErrorKind::partial,
          fmt::format("flux: the backup failed on {} of {} nodes ({}); the "
                      "archive holds the other nodes' backups",
                      failed.size(), ips.size(), join_list(failed, "; "))};
    }
    return r;
  }

  // `ids`: one or more backup ids as list prints them, comma-separated
  // (web/local/backup_web.tar.gz,db), of the app --app names.
  Expected<SaveResult> download(const std::string& ids,
                                ArchiveWriter& out) override {
    std::string app = SNAP_TRY(app_name());
    if (std::string node = flag("node"); !node.empty()) {
      SNAP_TRY(pick_node(app, node));
    }
    std::vector<BackupId> wanted;
    for (const auto& text : split_list(ids)) {
      BackupId id = SNAP_TRY(parse_backup_id(text));
      for (const auto& w : wanted) {
        if (w.component == id.component) {
          return fail(ErrorKind::usage,
                      fmt::format("flux: {} and {} are both of component "
                                  "{}; an archive holds one backup a "
                                  "component (download them one by one)",
                                  w.text(), id.text(), id.component));
        }
      }
      wanted.push_back(id);
    }
    if (wanted.empty()) {
      return fail(ErrorKind::usage, "flux: name the backups to download as "
                                    "snap list flux prints them");
    }
    return fetch(app, wanted, out);
  }

  static Expected<Fields> describe(ArchiveReader& in, bool verify) {
    Fields f = Fields::object();
    f["app"] = in.manifest().source.value("app", "");
    if (const json& nodes = in.manifest().source.value("nodes", json());
        nodes.is_array()) {
      Fields list = Fields::array();
      for (const auto& n : nodes) {
        list.push_back(fmt::format("{} ({})", n.value("ip", ""),
                                   n.value("entries_under", "")));
      }
      f["nodes"] = list;
    } else {
      f["node"] = in.manifest().source.value("node", "");
    }
    Fields comps = Fields::array();
    for (const auto& e : in.manifest().entries) {
      Fields c = {{"file", e.path}, {"size", e.size}};
      if (verify) {
        auto src = SNAP_TRY(in.open_entry(e.path));
        TarSummary t = SNAP_TRY(check_tar_gz(*src, e.path));
        // The node empties the component's folder before it unpacks: a
        // member that escapes it, or a link or device, is refused before
        // the first request.
        SNAP_TRY(refuse_unsafe_members(t, e.path));
        c["entries"] = t.entries;
        c["data_bytes"] = t.bytes;
      }
      comps.push_back(c);
    }
    f["components"] = comps;
    return f;
  }

  Expected<ListResult> list() override {
    std::string app = SNAP_TRY(app_name());
    ListResult rows;
    for (const auto& c : SNAP_TRY(components(app))) {
      std::string mount = SNAP_TRY(mount_of(app, c));
      for (std::string folder : {"local", "upload", "remote"}) {
        json r = SNAP_TRY(envelope(get("/backup/getlocalbackuplist/" +
                                       url_escape(mount + "/backup/" + folder) +
                                       "/B/0/true/" + url_escape(app))));
        if (r.value("status", "") != "success") {
          continue; // an empty folder is reported as an error
        }
        for (const auto& file : r["data"]) {
          BackupId id{c, folder, file.value("name", "")};
          rows.push_back({id.text(),
                          {{"component", c},
                           {"folder", folder},
                           {"name", id.file},
                           {"size", size_of(file)},
                           {"created_at", created_at_of(file)}}});
        }
      }
    }
    return rows;
  }

  Expected<StatusResult> status(const std::string&) override {
    StatusResult r;
    json version = SNAP_TRY(envelope(get("/flux/version")));
    json v = version.value("data", json(""));
    r.fields["fluxos_version"] =
        v.is_string() ? v.get<std::string>() : v.dump();
    r.fields["backups"] = list_rows(SNAP_TRY(list()));
    return r;
  }

  Expected<Fields> remove(const std::string& text) override {
    std::string app = SNAP_TRY(app_name());
    BackupId id = SNAP_TRY(parse_backup_id(text));
    std::string mount = SNAP_TRY(mount_of(app, id.component));
    std::string path =
        fmt::format("{}/backup/{}/{}", mount, id.folder, id.file);
    json r = SNAP_TRY(envelope(get("/backup/removebackupfile/" +
                                   url_escape(path) + "/" + url_escape(app))));
    if (r.value("status", "") != "success" ||
        !r["data"].value("message", false)) {
      return fail(ErrorKind::not_found,
                  fmt::format("flux: {} could not be removed from the node "
                              "(is there a local backup? snap list flux)",
                              path));
    }
    return Fields{{"removed", id.text()}, {"node_path", path}};
  }

  Expected<Fields> upload(ArchiveReader& in, const std::string&) override {
    std::string app = SNAP_TRY(target_app(in));
    SNAP_TRY(choose_source(in));
    Fields done = Fields::array();
    for (const auto& comp : SNAP_TRY(chosen_components(in))) {
      SNAP_TRY(push(app, comp, in, entry_of(comp)));
      done.push_back(comp);
    }
    return Fields{{"app", app}, {"components", done}};
  }

  Expected<RestoreReport> restore(ArchiveReader& in, bool dry_run) override {
    std::string app = SNAP_TRY(target_app(in));
    SNAP_TRY(choose_source(in));
    std::vector<std::string> comps = SNAP_TRY(chosen_components(in));
    std::map<std::string, std::string> urls = SNAP_TRY(from_urls(comps));
    json body = {{"appname", app},
                 {"type", urls.empty() ? "upload" : "remote"},
                 {"restore", json::array()}};
    json shown_body = body; // the URLs as messages show them
    std::vector<std::string> plan;
    if (m_node) {
      plan.push_back("on node " + redact_url(m_node->config().base_url));
    }
    if (m_from != "payload/") {
      plan.push_back("from the backups of node " + m_from_node);
    }
    for (const auto& comp : comps) {
      json item = {{"component", comp}, {"restore", true}};
      json shown_item = item;
      if (urls.empty()) {
        plan.push_back(fmt::format("upload {} as backup/upload/{} of {}",
                                   entry_of(comp), archive_name(comp), comp));
      } else {
        item["url"] = urls[comp];
        shown_item["url"] = shown_url(urls[comp]);
        plan.push_back(fmt::format(
            "check that {} serves {} byte for byte, that the node can fetch "
            "it (GET /backup/getremotefilesize) and that {}'s volume has "
            "room for it",
            shown_url(urls[comp]), entry_of(comp), comp));
      }
      body["restore"].push_back(item);
      shown_body["restore"].push_back(shown_item);
    }
    plan.push_back(fmt::format(
        "POST /apps/appendrestoretask {} (the node stops {}, wipes each "
        "component's data, {}unpacks, deletes the {}, starts it)",
        shown_body.dump(), app, urls.empty() ? "" : "downloads each URL, ",
        urls.empty() ? "upload" : "download"));
    if (!urls.empty()) {
      plan.push_back("if the node cannot download a URL (after it wiped the "
                     "data): upload the archive's files and restore them "
                     "instead");
    }
    if (dry_run) {
      return RestoreReport{.plan = std::move(plan)};
    }
    json done = shown_body["restore"];
    if (!urls.empty()) {
      SNAP_TRY(check_urls(app, in, comps, urls));
      std::vector<std::pair<std::string, std::string>> masks;
      for (const auto& [comp, url] : urls) {
        masks.emplace_back(url, shown_url(url));
      }
      auto fetched = run_task("/apps/appendrestoretask", body, "restore", app,
                              {.restart = false, .masks = masks});
      if (fetched) {
        return RestoreReport{.details = {{"app", app},
                                         {"components", done},
                                         {"fetched_by", "node"}}};
      }
      Error e = fetched.error();
      if (e.message.find("Error: Failed to download") == std::string::npos) {
        if (m_left_stopped) {
          e.message += restart_app(app);
        }
        return tl::unexpected(e);
      }
      // The node wiped the components' data before its download failed:
      // the archive's own copy goes in instead.
      m_ctx.reporter.warn(fmt::format(
          "{}; its data for {} is already wiped: uploading the archive's "
          "copy and restoring that instead",
          e.message, join_list(comps, ", ")));
      body["type"] = "upload";
      for (auto& item : body["restore"]) {
        item.erase("url");
      }
    }
    std::vector<std::string> pushed;
    auto clean = [&](Error e) -> Expected<RestoreReport> {
      // The node removes an upload only after a restore that worked.
      std::string left = remove_uploads(app, pushed);
      e.message += left;
      if (!urls.empty() && m_left_stopped) {
        e.message += restart_app(app);
      }
      return tl::unexpected(e);
    };
    for (const auto& comp : comps) {
      if (auto ok = push(app, comp, in, entry_of(comp)); !ok) {
        return clean(ok.error());
      }
      pushed.push_back(comp);
    }
    if (auto ok = run_task("/apps/appendrestoretask", body, "restore", app);
        !ok) {
      return clean(ok.error());
    }
    RestoreReport report{.details = {{"app", app}, {"components", done}}};
    if (!urls.empty()) {
      report.details["fetched_by"] = "snap";
      report.details["node_download_failed"] = true;
    }
    return report;
  }

private:
  std::string flag(std::string_view name) const {
    return flag_value(m_ctx.flags, name);
  }

  static std::string component_of(const std::string& entry) {
    // payload/<component>.tar.gz
    std::string name = entry.substr(entry.rfind('/') + 1);
    return name.substr(0, name.size() - 7);
  }

  // The entry of `component` among the backups a restore or upload sends
  // (one node's, in an archive of several).
  std::string entry_of(const std::string& component) const {
    return m_from + component + ".tar.gz";
  }

  // The components an archive holds under `prefix` (payload/, or one
  // node's payload/nodes/<ip>/).
  static std::vector<std::string> held_under(ArchiveReader& in,
                                             const std::string& prefix) {
    std::vector<std::string> held;
    for (const auto& e : in.manifest().entries) {
      if (e.path.starts_with(prefix) &&
          e.path.find('/', prefix.size()) == std::string::npos) {
        held.push_back(component_of(e.path));
      }
    }
    return held;
  }

  // Which node's backups an archive saved with --all-nodes gives: those of
  // --from-node, else those of the node restored to, when it is one of
  // them. Errors: `usage`, `archive`.
  Expected<void> choose_source(ArchiveReader& in) {
    const json& nodes = in.manifest().source.value("nodes", json());
    std::string want = flag("from-node");
    if (!nodes.is_array()) {
      if (!want.empty()) {
        return fail(ErrorKind::usage,
                    "flux: --from-node picks one node's backups in an "
                    "archive saved with --all-nodes; this one holds one "
                    "node's");
      }
      return {};
    }
    std::string here = redact_url(node().config().base_url);
    std::vector<std::string> ips;
    for (const auto& n : nodes) {
      if (!n.is_object()) {
        continue;
      }
      std::string ip = n.value("ip", "");
      std::string under = n.value("entries_under", "");
      ips.push_back(ip);
      bool match = want.empty()
                       ? n.value("node", "") == here
                       : ip == want || ip.substr(0, ip.find(':')) == want;
      if (!match) {
        continue;
      }
      if (!under.starts_with("payload/nodes/") || !under.ends_with("/") ||
          held_under(in, under).empty()) {
        return fail(ErrorKind::archive,
                    fmt::format("flux: the archive names no backups of node "
                                "{} ('{}')",
                                ip, under));
      }
      m_from = under;
      m_from_node = ip;
      return {};
    }
    if (want.empty()) {
      return fail(ErrorKind::usage,
                  fmt::format("flux: the archive holds the backups of nodes "
                              "{}, and {} is none of them: pick whose to "
                              "restore with --from-node IP",
                              join_list(ips, ", "), here));
    }
    return fail(ErrorKind::usage,
                fmt::format("flux: --from-node {}: the archive holds the "
                            "backups of nodes {}",
                            want, join_list(ips, ", ")));
  }

  // The archive's components a restore or upload sends: all, or those
  // --component names (each must be in the archive).
  Expected<std::vector<std::string>> chosen_components(ArchiveReader& in) {
    std::vector<std::string> held = held_under(in, m_from);
    std::vector<std::string> wanted = split_list(flag("component"));
    if (wanted.empty()) {
      return held;
    }
    for (const auto& c : wanted) {
      if (std::find(held.begin(), held.end(), c) == held.end()) {
        return fail(ErrorKind::usage,
                    fmt::format("flux: --component {}: the archive holds no "
                                "such component (it holds: {})",
                                c, join_list(held, ", ")));
      }
    }
    return wanted;
  }

  // --from-url COMPONENT=URL (or COMPONENT=@FILE) for every component
  // restored, or none. The values of a repeated flag arrive joined with
  // ',', and a URL may hold commas, so a new pair starts only where a piece
  // reads NAME=http(s):// or NAME=@.
  // Errors: `usage`.
  Expected<std::map<std::string, std::string>>
  from_urls(const std::vector<std::string>& comps) const {
    std::map<std::string, std::string> urls;
    std::string given = flag("from-url");
    if (given.empty()) {
      return urls;
    }
    std::vector<std::string> pairs;
    for (std::size_t start = 0; start <= given.size();) {
      auto comma = given.find(',', start);
      std::string piece = given.substr(start, comma - start);
      auto eq = piece.find('=');
      bool opens = eq != std::string::npos && eq > 0 &&
                   (piece.compare(eq + 1, 7, "http://") == 0 ||
                    piece.compare(eq + 1, 8, "https://") == 0 ||
                    piece.compare(eq + 1, 1, "@") == 0);
      if (opens || pairs.empty()) {
        pairs.push_back(piece);
      } else {
        pairs.back() += "," + piece;
      }
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
    std::set<std::string> seen;
    for (const auto& p : pairs) {
      auto eq = p.find('=');
      std::string comp = eq == std::string::npos ? "" : p.substr(0, eq);
      std::string url = eq == std::string::npos ? p : p.substr(eq + 1);
      if (!comp.empty()) {
        url = SNAP_TRY(url_value(url));
      }
      if (comp.empty() || !split_http_url(url)) {
        return fail(ErrorKind::usage,
                    fmt::format("flux: --from-url {}: write COMPONENT=URL, "
                                "the URL http:// or https:// (the only "
                                "schemes a node fetches)",
                                shown_url(p)));
      }
      if (std::find(comps.begin(), comps.end(), comp) == comps.end()) {
        return fail(ErrorKind::usage,
                    fmt::format("flux: --from-url names component {}, which "
                                "this restore does not restore (it restores "
                                "{})",
                                comp, join_list(comps, ", ")));
      }
      if (urls.contains(comp) || !seen.insert(url).second) {
        return fail(ErrorKind::usage,
                    fmt::format("flux: --from-url gives component {} or its "
                                "URL twice: one URL per component",
                                comp));
      }
      urls[comp] = url;
    }
    for (const auto& comp : comps) {
      if (!urls.contains(comp)) {
        return fail(ErrorKind::usage,
                    fmt::format("flux: --from-url gives no URL for component "
                                "{}: a node restores from URLs or from "
                                "uploads, not both at once; give one for "
                                "each, or pick components with --component",
                                comp));
      }
    }
    return urls;
  }

  // Before anything changes, for each URL: it serves the archive entry's
  // exact bytes (snap reads it through once: the node checks nothing it
  // downloads), the node can fetch it and sees that size (its own HEAD,
  // under FluxOS's rules: public addresses only), and the component's
  // volume has that much free, as the FluxOS UI checks before a remote
  // restore. Errors: `remote`, `connect`, `timeout`, the node's.
  Expected<void> check_urls(const std::string& app, ArchiveReader& in,
                            const std::vector<std::string>& comps,
                            const std::map<std::string, std::string>& urls) {
    std::map<std::string, const ManifestEntry*> entries;
    for (const auto& comp : comps) {
      if (const auto* e = in.manifest().entry(entry_of(comp))) {
        entries[comp] = e;
      } else {
        return fail(ErrorKind::archive,
                    fmt::format("flux: the archive has no {}", entry_of(comp)));
      }
    }
    for (const auto& comp : comps) { // what snap can check alone, first
      const std::string& url = urls.at(comp);
      const ManifestEntry* entry = entries[comp];
      // requestWithValidatedRedirects makes at most 5 requests: 4
      // redirects followed.
      UrlDigest got = SNAP_TRY(
          digest_url(m_ctx.connector, "flux", url, 4,
                     [this](std::uint64_t done, std::uint64_t size) {
                       m_ctx.reporter.progress("checking the URL", done, size);
                     }));
      if (auto e = differs(fmt::format("flux: --from-url {}", comp), url, got,
                           entry->path, entry->size, entry->sha256)) {
        return tl::unexpected(*e);
      }
    }
    for (const auto& comp : comps) {
      const std::string& url = urls.at(comp);
      const ManifestEntry* entry = entries[comp];
      Request ask = get("/backup/getremotefilesize/" + url_escape(url) +
                        "/B/0/true/" + url_escape(app));
      json r = SNAP_TRY(envelope(ask));
      const json& seen = r.value("data", json());
      if (r.value("status", "") != "success" || !seen.is_number_unsigned()) {
        return fail(ErrorKind::remote,
                    fmt::format("flux: the node cannot fetch {} ({}); "
                                "nothing was changed. A node fetches only "
                                "http(s) URLs whose host resolves to a "
                                "public address; restore without --from-url "
                                "to upload from the archive",
                                shown_url(url),
                                message_of(r, "it answered no size")));
      }
      if (seen.get<std::uint64_t>() != entry->size) {
        return fail(ErrorKind::remote,
                    fmt::format("flux: the node sees {} bytes at {}, where "
                                "snap read {}; nothing was changed (does the "
                                "URL answer differently by client?)",
                                seen.get<std::uint64_t>(), shown_url(url),
                                entry->size));
      }
      json vol = SNAP_TRY(
          envelope(get("/backup/getvolumedataofcomponent/" + url_escape(app) +
                       "/" + url_escape(comp) + "/B/0/size,available,mount")));
      const json& data = vol.value("data", json());
      const json& free = data.is_object() && data.contains("available")
                             ? data["available"]
                             : json();
      std::uint64_t room =
          free.is_number_unsigned() ? free.get<std::uint64_t>() : 0;
      if (vol.value("status", "") != "success" || room < entry->size) {
        return fail(ErrorKind::remote,
                    fmt::format("flux: the node has {} bytes free for {} and "
                                "its download needs {}; nothing was changed "
                                "(free space on the node, or restore without "
                                "--from-url)",
                                room, comp, entry->size));
      }
    }
    return {};
  }

  // Removes the files snap put in the components' backup/upload folders;
  // returns words for the error message when some stay.
  std::string remove_uploads(const std::string& app,
                             const std::vector<std::string>& comps) {
    std::vector<std::string> left;
    for (const auto& comp : comps) {
      auto mount = mount_of(app, comp);
      std::string path =
          mount ? fmt::format("{}/backup/upload/{}", *mount, archive_name(comp))
                : std::string();
      bool gone = false;
      if (mount) {
        Request req = get("/backup/removebackupfile/" + url_escape(path) + "/" +
                          url_escape(app));
        req.cleanup = true;
        auto r = envelope(req);
        // false: nothing to unlink (the node consumed or never kept it).
        gone = r && r->value("status", "") == "success";
      }
      if (!gone) {
        left.push_back(path.empty() ? comp : path);
      }
    }
    if (left.empty()) {
      return comps.empty() ? "" : "; snap removed its uploads from the node";
    }
    return fmt::format("; these uploads stay on the node: {} (snap delete "
                       "flux <component>/upload/<file> --app {})",
                       join_list(left, ", "), app);
  }

  // A failed task leaves the app stopped (advancedWorkflows.js: its catch
  // does not start it again): start it, and say what came of it.
  std::string restart_app(const std::string& app) {
    Request req = get("/apps/appstart/" + url_escape(app));
    req.cleanup = true;
    auto r = envelope(req);
    if (r && r->value("status", "") == "success") {
      return fmt::format("; the node had stopped {} for the task and left it "
                         "stopped: snap started it again",
                         app);
    }
    std::string why = r ? message_of(*r, r->dump()) : r.error().message;
    return fmt::format("; the node had stopped {} for the task and left it "
                       "stopped, and starting it failed: {} (start it from "
                       "the FluxOS UI, or GET /apps/appstart/{})",
                       app, why, app);
  }

  // The app an archive goes into: --app when given (the archive's
  // components must be the app's), else the one it was saved from.
  Expected<std::string> target_app(ArchiveReader& in) {
    std::string saved = in.manifest().source.value("app", "");
    std::string app = flag("app").empty() ? saved : flag("app");
    if (app.empty()) {
      return fail(ErrorKind::archive, "the archive names no Flux app; give "
                                      "--app");
    }
    if (std::string node = flag("node"); !node.empty()) {
      SNAP_TRY(pick_node(app, node));
    }
    if (app != saved) {
      std::set<std::string> comps;
      for (const auto& e : in.manifest().entries) {
        comps.insert(component_of(e.path));
      }
      for (const auto& c : comps) {
        // A component the app lacks has no volume: refused before any
        // change.
        SNAP_TRY(mount_of(app, c));
      }
      m_ctx.reporter.warn(fmt::format("flux: restoring app {}'s backup into "
                                      "app {} (--app)",
                                      saved, app));
    }
    return app;
  }

  Expected<std::string> app_name() const {
    std::string app = flag("app");
    if (app.empty()) {
      return fail(ErrorKind::usage, "flux: say which application with --app "
                                    "NAME");
    }
    return app;
  }

  static Request get(const std::string& path) {
    return Request{.method = "GET", .path = path};
  }
  // The node spoken to: the one --node picked, else --addr.
  HttpClient& node() const { return m_node ? *m_node : m_ctx.http; }

  // Sends `req` and parses the JSON envelope; an unauthorized envelope is
  // `auth`.
  Expected<json> envelope(Request req) {
    Request unsigned_req = req;
    SNAP_TRY(sign_in(req));
    std::string text;
    Response resp = SNAP_TRY(node().send_small(req, text, 16 << 20));
    json j = parse_untrusted_json(text);
    if (resp.ok() && m_id && unauthorized(j)) {
      // The node forgot the login (expired early, or its database was
      // reset): one fresh sign-in, then the request once more.
      m_logins.erase(node().config().base_url);
      req = unsigned_req;
      SNAP_TRY(sign_in(req));
      text.clear();
      resp = SNAP_TRY(node().send_small(req, text, 16 << 20));
      j = parse_untrusted_json(text);
    }
    if (!resp.ok()) {
      return tl::unexpected(node().status_error(req, resp, ""));
    }
    if (!j.is_object() || !j.contains("status")) {
      return fail(ErrorKind::remote,
                  fmt::format("flux: {} answered something that is not a "
                              "FluxOS envelope (is --addr a Flux node?)",
                              node().display_url(req)));
    }
    if (unauthorized(j)) {
      return fail(ErrorKind::auth,
                  fmt::format("flux: {}: {} ({})", node().display_url(req),
                              j["data"].value("message", ""), auth_hint()));
    }
    return j;
  }

  // An envelope's message ({"status":"error","data":{"message"}}), or
  // `otherwise` when the answer holds none.
  static std::string message_of(const json& j, std::string otherwise) {
    return j.is_object() && j.contains("data") && j["data"].is_object()
               ? j["data"].value("message", "")
               : otherwise;
  }

  static bool unauthorized(const json& j) {
    return j.is_object() && j.value("status", "") == "error" &&
           j["data"].is_object() && j["data"].value("code", 0) == 401;
  }

  std::string auth_hint() const {
    return m_id ? fmt::format("Flux ID {} from --key-file must own the app "
                              "or administer the node",
                              m_id->zelid())
                : "check --auth-file: the Flux ID must own the app or "
                  "administer the node, and the login must be fresh";
  }

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // With --key-file: adds the zelidauth of a login on the node spoken to,
  // signing in first when there is none or it is about to run out.
  Expected<void> sign_in(Request& req) {
    if (!m_id) {
      std::string path = flag("key-file");
      if (path.empty()) {
        return {};
      }
      if (!m_ctx.connector.given().token.empty()) {
        return fail(ErrorKind::usage,
                    "flux: both a ready login (--auth-file or "
                    "SNAP_FLUX_AUTH) and --key-file are given; keep one");
      }
      m_id.emplace(SNAP_TRY(flux::FluxId::load(path)));
    }
    std::string key = node().config().base_url;
    auto it = m_logins.find(key);
    std::int64_t now = now_ms();
    if (it == m_logins.end() || now >= it->second.renew_at_ms) {
      Login fresh = SNAP_TRY(log_in());
      it = m_logins.insert_or_assign(key, std::move(fresh)).first;
    }
    req.headers.emplace_back("zelidauth", it->second.header);
    return {};
  }

  struct Login {
    std::string header;
    std::int64_t renew_at_ms = 0;
  };

  // Renewed when a quarter of its life, at most 10 minutes, is left.
  static std::int64_t renew_at(std::int64_t now, std::int64_t lifetime_ms) {
    return now + lifetime_ms -
           std::min<std::int64_t>(10 * 60 * 1000, lifetime_ms / 4);
  }

  Expected<Login> log_in() {
    const std::string& zelid = m_id->zelid();
    std::int64_t now = now_ms();
    std::string text;
    Request ask = get("/id/loginphrase");
    Response asked = SNAP_TRY(node().send_small(ask, text, 64 * 1024));
    json phrase = parse_untrusted_json(text);
    if (!asked.ok() || !phrase.is_object() ||
        phrase.value("status", "") != "success" ||
        !phrase["data"].is_string()) {
      std::string why =
          message_of(phrase, fmt::format("HTTP {}", asked.status));
      // The app owner's or admin's own phrase: the time in ms (a minute
      // early, for clock skew) and random characters, 40 in all.
      std::int64_t made = now - 60 * 1000;
      std::string own = std::to_string(made);
      std::mt19937_64 rng{std::random_device{}()};
      while (own.size() < 40) {
        own.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[rng() % 36]);
      }
      m_ctx.reporter.warn(fmt::format(
          "flux: {} gave no login phrase ({}); signing requests with Flux ID "
          "{}'s own phrase, which the node accepts for 2 h from an app owner "
          "or admin",
          node().display_url(ask), why, zelid));
      return Login{.header = auth_header(own, m_id->sign(own)),
                   .renew_at_ms = renew_at(now, made + 2 * 3600 * 1000 - now)};
    }
    std::string login_phrase = phrase["data"].get<std::string>();
    std::string signature = m_id->sign(login_phrase);
    json body = {{"zelid", zelid},
                 {"loginPhrase", login_phrase},
                 {"signature", signature}};
    // The handler reads the raw body: JSON as text/plain, as FluxOS's own
    // test harness sends it (test-infra/runner/auth.js).
    MemorySource src(body.dump());
    Request verify{.method = "POST",
                   .path = "/id/verifylogin",
                   .body = &src,
                   .content_type = "text/plain",
                   .idempotent = false};
    text.clear();
    Response verified = SNAP_TRY(node().send_small(verify, text, 64 * 1024));
    json answer = parse_untrusted_json(text);
    if (!verified.ok() || !answer.is_object() ||
        answer.value("status", "") != "success" ||
        !answer["data"].is_object()) {
      std::string why =
          message_of(answer, fmt::format("HTTP {}", verified.status));
      return fail(ErrorKind::auth,
                  fmt::format("flux: {} refused the login of Flux ID {}: {} "
                              "(check that --key-file holds the Flux ID's key "
                              "and that this machine's clock is right)",
                              node().display_url(verify), zelid, why));
    }
    // Its life as the node counts it (expireAt - createdAt), from now, so
    // that a skewed clock on either side does not matter.
    std::int64_t created =
        rfc3339_epoch_s(answer["data"].value("createdAt", ""));
    std::int64_t expires =
        rfc3339_epoch_s(answer["data"].value("expireAt", ""));
    std::int64_t life = created >= 0 && expires > created
                            ? (expires - created) * 1000
                            : 14LL * 24 * 3600 * 1000;
    m_ctx.reporter.note(
        fmt::format("flux: signed in to {} as Flux ID {} ({}), for {} h",
                    redact_url(node().config().base_url), zelid,
                    answer["data"].value("privilage", "user"), life / 3600000));
    return Login{.header = auth_header(login_phrase, signature),
                 .renew_at_ms = renew_at(now, life)};
  }

  std::string auth_header(const std::string& phrase,
                          const std::string& signature) const {
    return json{{"zelid", m_id->zelid()},
                {"signature", signature},
                {"loginPhrase", phrase}}
        .dump();
  }

  // Picks the node (--node) and returns the app's components (--component,
  // or all of them from the app's specification).
  Expected<std::vector<std::string>> components(const std::string& app) {
    if (std::string node = flag("node"); !node.empty()) {
      SNAP_TRY(pick_node(app, node));
    }
    std::vector<std::string> out;
    std::string given = flag("component");
    for (std::size_t start = 0; !given.empty() && start <= given.size();) {
      auto comma = given.find(',', start);
      std::string c = given.substr(start, comma - start);
      if (!c.empty()) {
        out.push_back(c);
      }
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
    if (!out.empty()) {
      return out;
    }
    json spec =
        SNAP_TRY(envelope(get("/apps/appspecifications/" + url_escape(app))));
    if (spec.value("status", "") != "success") {
      return fail(ErrorKind::not_found,
                  fmt::format("flux: the node does not know app {} (check "
                              "--app)",
                              app));
    }
    for (const auto& c : spec["data"].value("compose", json::array())) {
      out.push_back(c.value("name", ""));
    }
    if (out.empty()) {
      return fail(ErrorKind::usage,
                  fmt::format("flux: app {} lists no components; name them "
                              "with --component",
                              app));
    }
    return out;
  }

  Expected<void> pick_node(const std::string& app, const std::string& node) {
    json loc = SNAP_TRY(envelope(get("/apps/location/" + url_escape(app))));
    for (const auto& n : loc.value("data", json::array())) {
      std::string ip = n.value("ip", "");
      if (ip == node || ip.substr(0, ip.find(':')) == node) {
        std::string url =
            "http://" +
            (ip.find(':') == std::string::npos ? ip + ":16127" : ip);
        m_node = m_ctx.connector.open_like_given(flux_info(), url);
        m_ctx.reporter.note("using node " + url);
        return {};
      }
    }
    return fail(ErrorKind::not_found,
                fmt::format("flux: node {} does not run {} (see GET "
                            "/apps/location/{})",
                            node, app, app));
  }

  Expected<std::string> mount_of(const std::string& app,
                                 const std::string& comp) {
    json v = SNAP_TRY(
        envelope(get("/backup/getvolumedataofcomponent/" + url_escape(app) +
                     "/" + url_escape(comp) + "/B/0/mount")));
    if (v.value("status", "") != "success") {
      return fail(ErrorKind::not_found,
                  fmt::format("flux: no volume for component {} of {} on "
                              "the node (check --component)",
                              comp, app));
    }
    return v["data"].value("mount", "");
  }

  // Runs a backup or restore task and follows its lines; success only when
  // the stream ends after "Finalizing...".
  Expected<void> run_task(const std::string& path, const json& body,
                          std::string_view what, const std::string& app,
                          const TaskRun& run = {}) {
    m_left_stopped = false;
    Request req{.method = "POST", .path = path, .idempotent = false};
    MemorySource src(body.dump());
    req.body = &src;
    req.content_type = "application/json";
    SNAP_TRY(sign_in(req));
    TaskLines lines(m_ctx.reporter, run.masks);
    Response resp = SNAP_TRY(node().send(req, lines));
    if (!resp.ok()) {
      return tl::unexpected(node().status_error(req, resp, ""));
    }
    auto all = lines.lines();
    if (!all.empty() && all.back().starts_with("{")) {
      SNAP_TRY(envelope_text(req, all.back()));
    }
    if (all.empty() || all.back() != "Finalizing...") {
      std::string last = all.empty() ? "no output" : all.back();
      bool busy = last.find("in progress") != std::string::npos ||
                  last.find("is running") != std::string::npos;
      auto said = [&](std::string_view line) {
        return std::find(all.begin(), all.end(), line) != all.end();
      };
      bool left_stopped =
          said("Stopping application...") && !said("Starting application...");
      m_left_stopped = left_stopped && !run.restart;
      return fail(
          busy ? ErrorKind::conflict : ErrorKind::remote,
          fmt::format("flux: the {} task failed on the node: {}{}{}", what,
                      last,
                      busy ? " (another task for this app is "
                             "running; wait for it, then retry)"
                           : "",
                      left_stopped && run.restart ? restart_app(app) : ""));
    }
    return {};
  }

  Expected<void> envelope_text(const Request& req, const std::string& text) {
    json j = parse_untrusted_json(text);
    if (j.is_object() && j.value("status", "") == "error") {
      bool auth = j["data"].is_object() && j["data"].value("code", 0) == 401;
      return fail(auth ? ErrorKind::auth : ErrorKind::remote,
                  fmt::format("flux: {}: {}{}", node().display_url(req),
                              j["data"].value("message", ""),
                              auth ? " (" + auth_hint() + ")" : ""));
    }
    return {};
  }

  // Downloads each backup into the archive as <prefix><component>.tar.gz.
  Expected<SaveResult> fetch(const std::string& app,
                             const std::vector<BackupId>& ids,
                             ArchiveWriter& out,
                             const std::string& prefix = {}) {
    json parts = json::array();
    std::uint64_t total = 0;
    for (const auto& id : ids) {
      const std::string& c = id.component;
      std::string mount = SNAP_TRY(mount_of(app, c));
      std::string path =
          fmt::format("{}/backup/{}/{}", mount, id.folder, id.file);
      Request req = get("/backup/downloadlocalfile/" + url_escape(path) + "/" +
                        url_escape(app));
      SNAP_TRY(sign_in(req));
      std::string entry_name = prefix + c + ".tar.gz";
      Sink* entry = SNAP_TRY(out.add_entry(entry_name, "application/gzip"));
      Response resp = SNAP_TRY(node().send(
          req, *entry, [this](std::uint64_t done, std::uint64_t size) {
            m_ctx.reporter.progress("download", done, size);
          }));
      if (!resp.ok()) {
        return tl::unexpected(node().status_error(req, resp, ""));
      }
      auto src = SNAP_TRY(out.entry_source(entry_name));
      auto checked = check_tar_gz(*src, archive_name(c));
      if (!checked) {
        // Errors come as a JSON envelope with status 200.
        MemorySink head(64 * 1024);
        SNAP_TRY(src->rewind());
        std::vector<std::byte> buf(64 * 1024);
        std::size_t n = SNAP_TRY(src->read(buf));
        SNAP_TRY(head.write({buf.data(), n}));
        SNAP_TRY(envelope_text(req, head.str()));
        return fail(ErrorKind::remote,
                    fmt::format("flux: {} from the node failed verification: "
                                "{} (nothing was saved)",
                                path, checked.error().message));
      }
      parts.push_back({{"component", c},
                       {"id", id.text()},
                       {"node_path", path},
                       {"entries", checked->entries},
                       {"data_bytes", checked->bytes}});
      if (checked->unsafe_count > 0) {
        // Kept, since it is the node's backup; a restore refuses it.
        parts.back()["unsafe_members"] = checked->unsafe_count;
        m_ctx.reporter.note(
            refuse_unsafe_members(*checked, archive_name(c)).error().message);
      }
      total += checked->bytes;
    }
    SaveResult r;
    r.backup_id = app;
    r.kind = "full";
    r.summary = fmt::format("app {}, {} component{}", app, ids.size(),
                            ids.size() == 1 ? "" : "s");
    r.source = {{"app", app},
                {"node", redact_url(node().config().base_url)},
                {"components", parts},
                {"data_bytes", total}};
    if (auto v = envelope(get("/flux/version"));
        v && v->value("status", "") == "success") {
      r.server_version = v->value("data", "");
    }
    return r;
  }

  Expected<void> push(const std::string& app, const std::string& comp,
                      ArchiveReader& in, const std::string& entry) {
    auto file = SNAP_TRY(in.open_entry(entry));
    std::string name = archive_name(comp);
    MultipartSource body(*file, name, name);
    Request req{.method = "POST",
                .path = fmt::format("/ioutils/fileupload/backup/{}/{}/null/{}",
                                    url_escape(app), url_escape(comp), name),
                .content_type = body.content_type(),
                .idempotent = false};
    req.body = &body;
    SNAP_TRY(sign_in(req));
    MemorySink answer(1 << 20);
    auto resp = node().send(req, answer,
                            [this](std::uint64_t done, std::uint64_t total) {
                              m_ctx.reporter.progress("upload", done, total);
                            });
    if (!resp) {
      // The node drops the connection on bad credentials or parameters.
      return fail(resp.error().kind,
                  fmt::format("{} (the node drops uploads it refuses: check "
                              "the login, --app and the component)",
                              resp.error().message));
    }
    if (!resp->ok()) {
      return tl::unexpected(node().status_error(req, *resp, ""));
    }
    SNAP_TRY(envelope_text(req, answer.str()));
    return {};
  }

  AdapterContext m_ctx;
  // The Flux ID of --key-file, and its logins by node base URL.
  std::optional<flux::FluxId> m_id;
  std::map<std::string, Login> m_logins;
  // Another node picked with --node, with the credentials given for --addr.
  std::unique_ptr<HttpClient> m_node;
  // Where the backups a restore or upload sends are in the archive, and
  // whose they are in an archive of several nodes.
  std::string m_from = "payload/";
  std::string m_from_node;
  // The last task failed and left the app stopped (TaskRun::restart off).
  bool m_left_stopped = false;
};

} // namespace

const AdapterInfo& flux_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "flux",
      .summary = "RunOnFlux node: application component backups (tar.gz)",
      .caps = {C::save, C::restore, C::download, C::upload, C::status, C::list,
               C::remove},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1:16127",
      .flags =
          {{"app",
            "the application (required)",
            true,
            {C::save, C::restore, C::download, C::upload, C::status, C::list,
             C::remove}},
           {"component",
            "a component, or several comma-separated (default: all of "
            "the app's, or of the archive's)",
            true,
            {C::save, C::restore, C::download, C::upload, C::status, C::list},
            true},
           {"node",
            "one of the nodes GET /apps/location/<app> lists (ip or "
            "ip:port)",
            true,
            {C::save, C::restore, C::download, C::upload, C::status, C::list}},
           {"all-nodes",
            "save from every node GET /apps/location/<app> lists, into one "
            "archive (each node's backups under payload/nodes/<ip>/)",
            false,
            {C::save}},
           {"from-node",
            "an archive saved with --all-nodes: restore or upload the "
            "backups of this node (ip or ip:port; default: the node "
            "restored to, when it is one of them)",
            true,
            {C::restore, C::upload}},
           {"from-url",
            "COMPONENT=URL (or COMPONENT=@FILE, the URL in FILE): the node "
            "downloads that component's tar.gz "
            "from URL itself (a restore of type remote) instead of snap "
            "uploading it; snap first checks that URL serves the archive's "
            "exact bytes, that the node can fetch it and has room "
            "(repeatable, one per component restored)",
            true,
            {C::restore},
            true},
           {"key-file",
            "the Flux ID's private key (WIF, mode 600): snap signs in "
            "to the node by itself, instead of a ready --auth-file",
            true,
            {C::save, C::restore, C::download, C::upload, C::status, C::list,
             C::remove}}},
      .native_env = {{"token", "SNAP_FLUX_AUTH"},
                     {"key-file", "SNAP_FLUX_KEY_FILE"}},
      .token_header = "zelidauth",
      .token_prefix = "",
      .token_file_alias = "auth-file",
  };
  return info;
}

Expected<Fields> describe_flux(ArchiveReader& in, const DescribeOptions& opts) {
  return FluxAdapter::describe(in, opts.verify);
}

std::unique_ptr<Adapter> make_flux(AdapterContext ctx) {
  return std::make_unique<FluxAdapter>(ctx);
}

} // namespace snap::adapters
