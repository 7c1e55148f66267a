// SPDX-License-Identifier: MIT
// Emulated FluxOS node (v8.17.0). Every answer is HTTP 200 with a JSON
// envelope {"status","data"}; the backup and restore tasks stream text
// lines ("Stopping application...", …, "Finalizing...") with a delay
// between them, and report failure as a line of its own. Component data
// lives in <apps folder>/flux<component>_<app>/appdata, backups in its
// backup/{local,upload,remote}/backup_<component>.tar.gz, made with tar -czf
// -C appdata . semantics. Restore wipes appdata first and deletes the
// archive it used, as the real node does.
#include "emulator/flux.hpp"

#include "emulator/clock.hpp"
#include "emulator/flux_id.hpp"

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace snap::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

json envelope_error(std::string message, int code = 0,
                    std::string name = "Error") {
  return {{"status", "error"},
          {"data", {{"code", code}, {"name", name}, {"message", message}}}};
}

// tar -czf FILE -C DIR .
bool make_tar_gz(const fs::path& dir, const fs::path& file) {
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_gnutar(a);
  if (archive_write_open_filename(a, file.c_str()) != ARCHIVE_OK) {
    archive_write_free(a);
    return false;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string name = "./" + fs::relative(e.path(), dir).string();
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_perm(entry, e.is_directory() ? 0755 : 0644);
    if (e.is_directory()) {
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_write_header(a, entry);
    } else {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry,
                             static_cast<la_int64_t>(fs::file_size(e.path())));
      archive_write_header(a, entry);
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<char> buf(65536);
      while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        archive_write_data(a, buf.data(), static_cast<size_t>(in.gcount()));
      }
    }
    archive_entry_free(entry);
  }
  bool ok = archive_write_close(a) == ARCHIVE_OK;
  archive_write_free(a);
  return ok;
}

// tar -xzf FILE -C DIR; returns "" or tar's complaint.
std::string untar_gz(const fs::path& file, const fs::path& dir) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, file.c_str(), 65536) != ARCHIVE_OK) {
    std::string why = archive_error_string(a) ? archive_error_string(a) : "";
    archive_read_free(a);
    return "tar: " + why;
  }
  struct archive_entry* entry = nullptr;
  std::string problem;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    fs::path rel = fs::path(archive_entry_pathname(entry)).lexically_normal();
    if (rel.is_absolute() || rel.string().starts_with("..")) {
      problem = "tar: refusing unsafe member name";
      break;
    }
    fs::path out = dir / rel;
    if (archive_entry_filetype(entry) == AE_IFDIR) {
      fs::create_directories(out);
      continue;
    }
    fs::create_directories(out.parent_path());
    std::ofstream o(out, std::ios::binary | std::ios::trunc);
    const void* block;
    size_t size;
    la_int64_t offset;
    while (archive_read_data_block(a, &block, &size, &offset) == ARCHIVE_OK) {
      o.write(static_cast<const char*>(block),
              static_cast<std::streamsize>(size));
    }
  }
  archive_read_free(a);
  return problem;
}

struct App {
  std::vector<std::string> components;
};

class Flux {
public:
  Flux(FaultInjector& faults, FluxOptions opts)
      : m_faults(faults), m_opts(std::move(opts)) {
    for (const auto& spec : m_opts.apps) {
      auto colon = spec.find(':');
      std::string name = spec.substr(0, colon);
      App app;
      std::string rest =
          colon == std::string::npos ? "" : spec.substr(colon + 1);
      for (std::size_t start = 0; start <= rest.size();) {
        auto comma = rest.find(',', start);
        std::string c = rest.substr(start, comma - start);
        if (!c.empty()) {
          app.components.push_back(c);
        }
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
      for (const auto& c : app.components) {
        fs::path data = mount(name, c) / "appdata";
        fs::create_directories(data / "conf");
        for (std::string sub : {"local", "upload", "remote"}) {
          fs::create_directories(mount(name, c) / "backup" / sub);
        }
        std::ofstream(data / "conf" / "settings.ini")
            << "[" << c << "]\nowner=" << name << "\n";
        std::ofstream(data / "data.txt") << c << " data of " << name << "\n";
      }
      m_apps[name] = app;
    }
  }

  // httplib decodes the path before matching, so the URL-encoded file
  // paths FluxOS takes as one parameter arrive with their slashes: those
  // routes match them greedily.
  void routes(httplib::Server& s) {
    s.Get("/id/loginphrase",
          [this](const auto&, auto& rs) { login_phrase(rs); });
    s.Post("/id/verifylogin",
           [this](const auto& rq, auto& rs) { verify_login(rq, rs); });
    // appQueryService.js listRunningApps: the node's running flux*
    // containers, as Docker lists them; routes.js caches the answer for 15
    // seconds, so it can say an app runs that was stopped since.
    s.Get("/apps/listrunningapps", [this](const auto&, auto& rs) {
      std::lock_guard lock(m_mutex);
      auto now = std::chrono::steady_clock::now();
      if (m_running_cache.empty() ||
          now - m_running_cached_at > std::chrono::seconds(15)) {
        json containers = json::array();
        for (const auto& [name, app] : m_apps) {
          if (m_stopped.contains(name)) {
            continue;
          }
          for (const auto& c : app.components) {
            containers.push_back(
                {{"Id", fmt::format("{:064x}",
                                    std::hash<std::string>{}(c + "_" + name))},
                 {"Names", {fmt::format("/flux{}_{}", c, name)}},
                 {"Image", "runonflux/" + c},
                 {"State", "running"},
                 {"Status", "Up"}});
          }
        }
        m_running_cache =
            json{{"status", "success"}, {"data", containers}}.dump();
        m_running_cached_at = now;
      }
      rs.status = 200;
      rs.set_content(m_running_cache, "application/json");
    });
    // appController.js appStart: appownerabove; a whole app's components
    // are started ("Application <app> started").
    s.Get(R"(/apps/appstart/([^/]+)(/[^/]*)?)",
          [this](const auto& rq, auto& rs) {
            std::string app = rq.matches[1];
            if (!authorized(rq, rs, app)) {
              return;
            }
            std::lock_guard lock(m_mutex);
            if (!m_apps.contains(app)) {
              send(rs, envelope_error("Application not found"));
              return;
            }
            m_stopped.erase(app);
            send(rs, {{"status", "success"},
                      {"data", fmt::format("Application {} started", app)}});
          });
    s.Get("/flux/version", [](const auto&, auto& rs) {
      send(rs, {{"status", "success"}, {"data", "8.17.0"}});
    });
    s.Get(R"(/apps/location/([^/]+))", [this](const auto& rq, auto& rs) {
      json nodes = json::array();
      if (m_apps.contains(rq.matches[1])) {
        nodes.push_back({{"name", rq.matches[1].str()},
                         {"ip", rq.get_header_value("Host")},
                         {"hash", "emulated"}});
        for (const auto& peer : m_opts.peers) {
          nodes.push_back({{"name", rq.matches[1].str()},
                           {"ip", peer},
                           {"hash", "emulated"}});
        }
      }
      send(rs, {{"status", "success"}, {"data", nodes}});
    });
    s.Get(R"(/apps/appspecifications/([^/]+))", [this](const auto& rq,
                                                       auto& rs) {
      auto it = m_apps.find(rq.matches[1]);
      if (it == m_apps.end()) {
        send(rs, envelope_error("Application not found", 404, "Not Found"));
        return;
      }
      json compose = json::array();
      for (const auto& c : it->second.components) {
        compose.push_back({{"name", c}});
      }
      send(rs, {{"status", "success"},
                {"data",
                 {{"version", 8}, {"name", it->first}, {"compose", compose}}}});
    });
    s.Get(R"(/backup/getvolumedataofcomponent/([^/]+)/([^/]+)(/.*)?)",
          [this](const auto& rq, auto& rs) {
            std::string app = rq.matches[1], comp = rq.matches[2];
            if (!authorized(rq, rs, app)) {
              return;
            }
            if (!known(app, comp)) {
              send(rs, envelope_error("No matching mount found"));
              return;
            }
            auto space = fs::space(m_opts.data_dir);
            send(rs, {{"status", "success"},
                      {"data",
                       {{"mount", mount(app, comp).string()},
                        {"size", space.capacity},
                        {"available", space.available}}}});
          });
    // backupRestoreService.js getRemoteFileSize. Express routes
    // /:fileurl?/:multiplier?/:decimal?/:number?/:appname? on the raw path,
    // so the URL must come escaped, as one segment.
    s.Get(R"(/backup/getremotefilesize/.*)", [this](const auto& rq, auto& rs) {
      std::string raw = rq.target.substr(0, rq.target.find('?'));
      raw = raw.substr(std::string_view("/backup/getremotefilesize/").size());
      std::vector<std::string> seg;
      for (std::size_t start = 0;;) {
        auto slash = raw.find('/', start);
        seg.push_back(httplib::detail::decode_url(
            raw.substr(start, slash - start), false));
        if (slash == std::string::npos) {
          break;
        }
        start = slash + 1;
      }
      if (seg.size() != 5) {
        rs.status = 404;
        rs.set_content("Cannot GET " + rq.path, "text/html; charset=utf-8");
        return;
      }
      const std::string &url = seg[0], &app = seg[4];
      if (url.empty() || app.empty()) {
        send(rs, envelope_error("fileurl and appname parameters are "
                                "mandatory"));
        return;
      }
      if (!authorized(rq, rs, app)) {
        return;
      }
      auto size = remote_file_size(url, m_opts.fetch);
      if (!size) {
        send(rs, envelope_error("Error fetching file size"));
        return;
      }
      send(rs, {{"status", "success"},
                {"data", file_size(*size, seg[1], seg[2], seg[3] == "true")}});
    });
    s.Post("/apps/appendbackuptask",
           [this](const auto& rq, auto& rs) { task(rq, rs, true); });
    s.Post("/apps/appendrestoretask",
           [this](const auto& rq, auto& rs) { task(rq, rs, false); });
    s.Get(R"(/backup/getlocalbackuplist/(.+)(?:/[^/]*){3}/([^/]+))",
          [this](const auto& rq, auto& rs) {
            if (!authorized(rq, rs, rq.matches[2])) {
              return;
            }
            fs::path dir = rq.matches[1].str();
            json files = json::array();
            std::error_code ec;
            if (valid_dir(dir) && fs::is_directory(dir, ec)) {
              for (const auto& f : fs::directory_iterator(dir)) {
                auto t = fs::last_write_time(f.path());
                auto ms =
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::file_clock::to_sys(t).time_since_epoch())
                        .count();
                files.push_back({{"name", f.path().filename().string()},
                                 {"create", std::to_string(ms)},
                                 {"size", fs::file_size(f.path())}});
              }
            }
            if (files.empty()) {
              send(rs, envelope_error("No matching mount found"));
              return;
            }
            send(rs, {{"status", "success"}, {"data", files}});
          });
    s.Get(R"(/backup/downloadlocalfile/(.+)/([^/]+))", [this](const auto& rq,
                                                              auto& rs) {
      if (!authorized(rq, rs, rq.matches[2])) {
        return;
      }
      fs::path file = rq.matches[1].str();
      std::error_code ec;
      if (!valid_dir(file.parent_path()) || !fs::is_regular_file(file, ec)) {
        send(rs, envelope_error("Path validation failed.."));
        return;
      }
      rs.set_header(
          "Content-Disposition",
          fmt::format("attachment; filename=\"{}\"", file.filename().string()));
      stream_file(rs, file, "application/gzip",
                  m_faults.faults().fail_after_bytes);
    });
    s.Get(R"(/backup/removebackupfile/(.+)/([^/]+))",
          [this](const auto& rq, auto& rs) {
            if (!authorized(rq, rs, rq.matches[2])) {
              return;
            }
            fs::path file = rq.matches[1].str();
            if (!valid_dir(file.parent_path())) {
              send(rs, envelope_error("Path validation failed.."));
              return;
            }
            std::error_code ec;
            bool removed = fs::remove(file, ec);
            send(rs, {{"status", "success"}, {"data", {{"message", removed}}}});
          });
    s.Post(R"(/ioutils/fileupload/backup/([^/]+)/([^/]+)/([^/]+)/([^/]+))",
           [this](const auto& rq, auto& rs) { upload(rq, rs); });
  }

private:
  // IOUtils.js convertFileSize: in B, KB, MB or GB (1024-based), rounded
  // to `decimal` places; a number with `number`, else "<value> <unit>".
  static json file_size(std::uint64_t bytes, const std::string& multiplier,
                        const std::string& decimal, bool number) {
    static const std::map<std::string, double> units = {
        {"B", 1}, {"KB", 1024}, {"MB", 1048576}, {"GB", 1073741824}};
    std::string unit = multiplier;
    std::transform(unit.begin(), unit.end(), unit.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    auto it = units.find(unit);
    if (it == units.end()) {
      it = units.find("B");
    }
    int places = std::clamp(std::atoi(decimal.c_str()), 0, 20);
    double value = static_cast<double>(bytes) / it->second;
    if (!number) {
      return fmt::format("{:.{}f} {}", value, places, unit);
    }
    if (places == 0) {
      return static_cast<std::uint64_t>(std::llround(value));
    }
    double scale = std::pow(10.0, places);
    return std::round(value * scale) / scale;
  }

  static void send(httplib::Response& rs, const json& body) {
    rs.status = 200;
    rs.set_content(body.dump(), "application/json");
  }

  fs::path mount(const std::string& app, const std::string& comp) const {
    return m_opts.data_dir / fmt::format("flux{}_{}", comp, app);
  }

  bool known(const std::string& app, const std::string& comp) const {
    auto it = m_apps.find(app);
    return it != m_apps.end() &&
           std::find(it->second.components.begin(), it->second.components.end(),
                     comp) != it->second.components.end();
  }

  // Under the apps folder, in a backup/{local,upload,remote} directory.
  bool valid_dir(const fs::path& dir) const {
    std::string d = dir.lexically_normal().string();
    return d.starts_with(m_opts.data_dir.string() + "/") &&
           d.find("..") == std::string::npos &&
           (d.ends_with("/backup/local") || d.ends_with("/backup/upload") ||
            d.ends_with("/backup/remote"));
  }

  // verifyAppOwnerOrHigherSession (verificationHelperUtils.js): the
  // zelidauth header (JSON, else a query string: serviceHelper.ensureObject)
  // names the app's owner or the node admin, has a login of that phrase on
  // record or a phrase at most 2 h old of 40 to 70 characters, and its
  // signature verifies. Without --owner or --admin, the header must equal
  // the faults' required token.
  bool authorized(const httplib::Request& rq, httplib::Response& rs,
                  const std::string& app) {
    bool ok = false;
    if (m_opts.owner.empty() && m_opts.admin.empty()) {
      const std::string& want = m_faults.faults().require_token;
      ok = want.empty() || rq.get_header_value("zelidauth") == want;
    } else {
      ok = signed_in(rq.get_header_value("zelidauth"), app);
    }
    if (!ok) {
      send(rs,
           envelope_error("Unauthorized. Access denied.", 401, "Unauthorized"));
    }
    return ok;
  }

  static json ensure_object(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_object()) {
      return j;
    }
    json out = json::object(); // qs.parse
    for (std::size_t start = 0; start < text.size();) {
      auto amp = text.find('&', start);
      std::string pair = text.substr(start, amp - start);
      auto eq = pair.find('=');
      if (eq != std::string::npos) {
        out[httplib::detail::decode_url(pair.substr(0, eq), true)] =
            httplib::detail::decode_url(pair.substr(eq + 1), true);
      }
      if (amp == std::string::npos) {
        break;
      }
      start = amp + 1;
    }
    return out;
  }

  static std::string field(const json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  // The 13-digit millisecond timestamp a phrase starts with (Number() of a
  // non-number is NaN, which no comparison passes).
  static std::optional<std::int64_t> phrase_ms(const std::string& phrase) {
    if (phrase.size() < 13 || phrase.substr(0, 13).find_first_not_of(
                                  "0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoll(phrase.substr(0, 13));
  }

  bool signed_in(const std::string& header, const std::string& app) {
    if (header.empty() || app.empty()) {
      return false;
    }
    json auth = ensure_object(header);
    std::string zelid = field(auth, "zelid");
    std::string signature = field(auth, "signature");
    std::string phrase = field(auth, "loginPhrase");
    if (zelid.empty() || signature.empty() || phrase.empty()) {
      return false;
    }
    if (zelid != m_opts.owner && zelid != m_opts.admin) {
      return false;
    }
    std::int64_t now = now_ms();
    bool logged = false;
    {
      std::lock_guard lock(m_mutex);
      expire(now);
      logged = m_logged.contains(zelid + "\n" + phrase);
    }
    if (!logged) {
      auto ts = phrase_ms(phrase);
      if (!ts || *ts < now - 2 * 3600 * 1000 || *ts > now ||
          phrase.size() > 70 || phrase.size() < 40) {
        return false;
      }
    }
    return verify_bitcoin_message(phrase, zelid, signature);
  }

  // MongoDB's TTL indexes (serviceManager.js): login phrases go 900 s
  // after they were made, logins session_ttl_s after their createdAt.
  void expire(std::int64_t now) {
    std::erase_if(m_phrases,
                  [&](const auto& p) { return p.second + 900'000 < now; });
    std::erase_if(m_logged, [&](const auto& l) {
      return l.second + m_opts.session_ttl_s * 1000 < now;
    });
  }

  // idService.js loginPhrase: the node's health first, then a phrase of
  // the time in ms and random base-36 characters, kept 15 minutes.
  void login_phrase(httplib::Response& rs) {
    if (m_opts.unhealthy) {
      send(rs, envelope_error("Unable to check DOS state"));
      return;
    }
    static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::int64_t now = now_ms();
    std::string phrase = std::to_string(now);
    std::lock_guard lock(m_mutex);
    for (int i = 0; i < 44; ++i) {
      phrase.push_back(digits[m_rng() % 36]);
    }
    expire(now);
    m_phrases[phrase] = now;
    send(rs, {{"status", "success"}, {"data", phrase}});
  }

  // idService.js verifyLogin, its checks in its order and words; the body
  // is read raw (JSON, else a query string), whatever its Content-Type.
  void verify_login(const httplib::Request& rq, httplib::Response& rs) {
    json body = ensure_object(rq.body);
    std::string address = field(body, "zelid");
    if (address.empty()) {
      address = field(body, "address");
    }
    std::string signature = field(body, "signature");
    std::string message = field(body, "loginPhrase");
    if (message.empty()) {
      message = field(body, "message");
    }
    std::int64_t now = now_ms();
    auto refuse = [&](const char* why) { send(rs, envelope_error(why)); };
    static const std::string base58 =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if (address.empty()) {
      return refuse("No Flux ID is specified");
    }
    if (address[0] != '1' ||
        address.find_first_not_of(base58) != std::string::npos ||
        address.size() > 34 || address.size() < 25) {
      return refuse("Flux ID is not valid"); // 0x… IDs are not modelled
    }
    if (message.empty()) {
      return refuse("No message is specified");
    }
    auto ts = phrase_ms(message);
    if (message.size() < 40 || !ts || *ts < now - 900'000 || *ts > now) {
      return refuse("Signed message is not valid");
    }
    if (signature.empty()) {
      return refuse("No signature is specified");
    }
    {
      std::lock_guard lock(m_mutex);
      expire(now);
      if (!m_phrases.contains(message)) {
        return refuse("Signed message is no longer valid. Please request a "
                      "new one.");
      }
    }
    if (!verify_bitcoin_message(message, address, signature)) {
      return refuse("Invalid signature");
    }
    std::string privilege = address == m_opts.admin ? "admin" : "user";
    {
      std::lock_guard lock(m_mutex);
      m_logged[address + "\n" + message] = *ts;
      m_phrases.erase(message);
    }
    send(rs, {{"status", "success"},
              {"data",
               {{"message", "Successfully logged in"},
                {"zelid", address},
                {"loginPhrase", message},
                {"signature", signature},
                {"privilage", privilege},
                {"createdAt", rfc3339(*ts, 3)},
                {"expireAt", rfc3339(*ts + m_opts.session_ttl_s * 1000, 3)}}}});
  }

  // The streamed backup or restore task: lines with a delay between them,
  // the work done as its line goes out, an error line on failure.
  void task(const httplib::Request& rq, httplib::Response& rs, bool backup) {
    json body = json::parse(rq.body, nullptr, false);
    std::string app = body.is_object() ? body.value("appname", "") : "";
    std::string list_key = backup ? "backup" : "restore";
    std::vector<std::string> lines;
    std::vector<std::string> comps;
    std::string type = backup ? "local" : body.value("type", "");
    if (app.empty() || !body.contains(list_key) || (!backup && type.empty())) {
      lines.push_back(backup ? "appname and backup parameters are mandatory"
                             : "appname, restore and type parameters are "
                               "mandatory");
    } else if (!authorized(rq, rs, app)) {
      return; // checked after the parameters (advancedWorkflows.js)
    } else {
      for (const auto& c : body[list_key]) {
        if (c.value(list_key, false)) {
          comps.push_back(c.value("component", ""));
        }
      }
    }
    // The task counts as running until its stream ends or is dropped.
    struct Running {
      Flux* self;
      std::string app;
      bool backup;
      bool active = false;
      ~Running() {
        if (active) {
          std::lock_guard lock(self->m_mutex);
          (backup ? self->m_backups : self->m_restores).erase(app);
        }
      }
    };
    auto running_guard = std::make_shared<Running>(Running{this, app, backup});
    auto state = std::make_shared<std::vector<std::string>>();
    {
      std::lock_guard lock(m_mutex);
      auto& running = backup ? m_backups : m_restores;
      if (!lines.empty()) {
        *state = lines;
      } else if (running.contains(app)) {
        state->push_back(backup ? "Backup in progress..."
                                : fmt::format("Restore for app {} is "
                                              "running...",
                                              app));
      } else if (comps.empty()) {
        state->push_back(backup ? "No backup jobs..." : "No restore jobs...");
      } else {
        running.insert(app);
        running_guard->active = true;
        run_task(*state, app, comps, type, backup,
                 backup ? json::array() : body[list_key]);
      }
    }
    rs.set_chunked_content_provider(
        "text/html; charset=utf-8",
        [state, running_guard,
         delay = m_opts.line_delay_ms](std::size_t, httplib::DataSink& sink) {
          for (const auto& line : *state) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay));
            std::string chunk = line + "\n";
            if (!sink.write(chunk.data(), chunk.size())) {
              return false;
            }
          }
          sink.done();
          return true;
        });
  }

  // Does the task's work now and records the lines it will stream.
  void run_task(std::vector<std::string>& out, const std::string& app,
                const std::vector<std::string>& comps, const std::string& type,
                bool backup, const json& items) {
    // The app is stopped for the task and started again only when it
    // works: a failure leaves it stopped (advancedWorkflows.js's catch).
    out.push_back("Stopping application...");
    m_stopped.insert(app);
    bool done = backup ? backup_components(out, app, comps)
                       : restore_components(out, app, comps, type, items);
    if (!done) {
      return; // an error line: the app stays stopped
    }
    out.push_back("Starting application...");
    m_stopped.erase(app);
    out.push_back("Finalizing...");
  }

  // appendBackupTask's steps for each component: the old local backup
  // replaced by a tar.gz of appdata. False after an error line.
  bool backup_components(std::vector<std::string>& out, const std::string& app,
                         const std::vector<std::string>& comps) {
    for (const auto& c : comps) {
      fs::path m = mount(app, c);
      fs::path file =
          m / "backup" / "local" / fmt::format("backup_{}.tar.gz", lower(c));
      if (fs::exists(file)) {
        out.push_back(
            fmt::format("Removing exists backup archive for {}...", c));
      }
      out.push_back(fmt::format("Creating backup archive for {}...", c));
      if (m_opts.fail_task == "backup" || !known(app, c) ||
          !make_tar_gz(m / "appdata", file)) {
        out.push_back(fmt::format("Error: Failed to create backup archive "
                                  "for {}, tar: appdata: Cannot open: No "
                                  "such file or directory",
                                  c));
        return false;
      }
    }
    return true;
  }

  // appendRestoreTask's steps, in its order: every component's appdata
  // wiped first; for type "remote", each item's url (every item whose url
  // is not "", restore:false ones too, and a missing url counts as one)
  // downloaded into backup/remote/backup_<component>.tar.gz; then each
  // component unpacked from backup/<type>/ and that file removed. False
  // after an error line.
  bool restore_components(std::vector<std::string>& out, const std::string& app,
                          const std::vector<std::string>& comps,
                          const std::string& type, const json& items) {
    std::error_code ec;
    for (const auto& c : comps) {
      out.push_back(fmt::format("Removing {} component data...", c));
      for (const auto& e :
           fs::directory_iterator(mount(app, c) / "appdata", ec)) {
        fs::remove_all(e.path(), ec); // wiped before anything is checked
      }
    }
    for (const auto& item :
         type == "remote" && items.is_array() ? items : json()) {
      const json* url =
          item.is_object() && item.contains("url") ? &item["url"] : nullptr;
      if (url != nullptr && url->is_string() && url->get<std::string>() == "") {
        continue;
      }
      std::string text =
          url == nullptr
              ? "undefined"
              : (url->is_string() ? url->get<std::string>() : url->dump());
      std::string c = item.is_object() ? item.value("component", "") : "";
      fs::path dir = mount(app, c) / "backup" / "remote";
      fs::remove_all(dir, ec);
      out.push_back(fmt::format("Downloading {}...", text));
      if (!known(app, c) ||
          !download_file(text, dir / fmt::format("backup_{}.tar.gz", lower(c)),
                         m_opts.fetch)) {
        out.push_back(fmt::format("Error: Failed to download {}...", text));
        return false;
      }
    }
    for (const auto& c : comps) {
      fs::path m = mount(app, c);
      fs::path file =
          m / "backup" / type / fmt::format("backup_{}.tar.gz", lower(c));
      out.push_back(fmt::format("Unpacking backup archive for {}...", c));
      std::string err = m_opts.fail_task == "restore"
                            ? "tar: injected failure"
                            : (fs::exists(file) ? untar_gz(file, m / "appdata")
                                                : "tar: " + file.string() +
                                                      ": Cannot open: No such "
                                                      "file or directory");
      if (!err.empty()) {
        out.push_back(fmt::format(
            "Error: Failed to unpack archive file for {}, {}", c, err));
        return false;
      }
      out.push_back(fmt::format("Removing backup file for {}...", c));
      fs::remove(file, ec);
    }
    return true;
  }

  void upload(const httplib::Request& rq, httplib::Response& rs) {
    if (!authorized(rq, rs, rq.matches[1]) || !rq.is_multipart_form_data() ||
        rq.files.size() != 1) {
      // The node destroys the connection without an answer here.
      rs.set_content_provider(
          1, "text/plain",
          [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
      return;
    }
    std::string app = rq.matches[1], comp = rq.matches[2];
    std::string filename = rq.matches[4];
    const auto& part = rq.files.begin()->second;
    if (filename == "null" || filename.empty()) {
      filename = rq.files.begin()->first; // the field name, as the node does
    }
    if (!known(app, comp)) {
      send(rs, envelope_error("Application not found"));
      return;
    }
    fs::path file = mount(app, comp) / "backup" / "upload" / filename;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << part.content;
    auto size = part.content.size();
    rs.set_content(
        fmt::format("[{},{}]{}", size, size, rq.files.begin()->first),
        "text/html");
  }

  FaultInjector& m_faults;
  FluxOptions m_opts;
  std::map<std::string, App> m_apps;
  std::mutex m_mutex;
  std::set<std::string> m_backups;
  std::set<std::string> m_restores;
  std::set<std::string> m_stopped; // apps whose containers are stopped
  std::string m_running_cache;
  std::chrono::steady_clock::time_point m_running_cached_at;
  std::map<std::string, std::int64_t> m_phrases; // activeLoginPhrases
  std::map<std::string, std::int64_t> m_logged;  // loggedUsers: createdAt
  std::mt19937_64 m_rng{std::random_device{}()};
};

} // namespace

void register_flux(httplib::Server& server, FaultInjector& faults,
                   const FluxOptions& options) {
  static std::unique_ptr<Flux> flux;
  flux = std::make_unique<Flux>(faults, options);
  flux->routes(server);
}

} // namespace snap::emulator
