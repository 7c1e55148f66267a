// SPDX-License-Identifier: MIT
// HttpClient: retries, deadlines and messages over an HttpTransport, by
// default libcurl's (the only file that includes curl). One easy handle is
// reused so keep-alive connections survive between calls.
#include "snap/http.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>
#include <thread>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "snap/json.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

using Clock = std::chrono::steady_clock;

struct Transfer {
  Sink* sink = nullptr;
  // No byte in either direction for this long ends the request (0: never).
  double stall_s = 0;
  std::chrono::steady_clock::time_point last_move =
      std::chrono::steady_clock::now();
  curl_off_t last_dl = 0, last_ul = 0;
  bool stalled = false;
  Source* body = nullptr;
  CURL* curl = nullptr;
  Response resp;
  std::optional<Error> sink_error;
  bool wrote_any = false;
  bool cleanup = false;
  const ProgressFn* progress = nullptr;
  // HttpConfig::waiting, and what this request is, for its messages.
  const std::function<void(const std::string&)>* waiting = nullptr;
  std::string what;
  std::chrono::steady_clock::time_point started =
      std::chrono::steady_clock::now();
  bool answered = false; // a status line came
  long waited_s = 0;     // the last whole second told
};

extern "C" size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    t->answered = true;
    t->resp.headers.clear(); // a new response (after 100 Continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->resp.headers[to_lower(trim_copy(line.substr(0, colon)))] =
        trim_copy(line.substr(colon + 1));
  }
  return size * n;
}

extern "C" size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  std::size_t len = size * n;
  t->resp.body_bytes += len;
  if (status < 200 || status >= 300) {
    std::size_t room =
        64 * 1024 - std::min<std::size_t>(t->resp.error_body.size(), 64 * 1024);
    t->resp.error_body.append(data, std::min(room, len));
    return len;
  }
  t->wrote_any = true;
  auto r = t->sink->write({reinterpret_cast<const std::byte*>(data), len});
  if (!r) {
    t->sink_error = r.error();
    return 0;
  }
  return len;
}

extern "C" size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  auto r = t->body->read({reinterpret_cast<std::byte*>(buf), size * n});
  if (!r) {
    t->sink_error = r.error();
    return CURL_READFUNC_ABORT;
  }
  return *r;
}

extern "C" int on_progress(void* user, curl_off_t dltotal, curl_off_t dlnow,
                           curl_off_t ultotal, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  if (is_interrupted() && !t->cleanup) {
    return 1;
  }
  auto now = std::chrono::steady_clock::now();
  if (dlnow != t->last_dl || ulnow != t->last_ul) {
    t->last_dl = dlnow;
    t->last_ul = ulnow;
    t->last_move = now;
  } else if (t->stall_s > 0 &&
             std::chrono::duration<double>(now - t->last_move).count() >
                 t->stall_s) {
    t->stalled = true;
    return 1;
  }
  bool sent = ultotal <= 0 || ulnow >= ultotal;
  if (!t->answered && sent && t->waiting && *t->waiting) {
    auto waited =
        std::chrono::duration_cast<std::chrono::seconds>(now - t->started)
            .count();
    if (waited >= 2) {
      if (waited != t->waited_s) {
        t->waited_s = waited;
        (*t->waiting)(fmt::format("waiting for {}: {} s", t->what, waited));
      }
      return 0;
    }
  }
  if (t->progress && *t->progress) {
    if (ultotal > 0 && ulnow < ultotal) {
      (*t->progress)(static_cast<std::uint64_t>(ulnow),
                     static_cast<std::uint64_t>(ultotal));
    } else {
      (*t->progress)(
          static_cast<std::uint64_t>(dlnow),
          static_cast<std::uint64_t>(std::max<curl_off_t>(dltotal, 0)));
    }
  }
  return 0;
}

bool is_retryable_status(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Exponential backoff from `base_ms` with full jitter, capped at 10 s.
long backoff_ms(int attempt, long base_ms) {
  static std::mt19937 rng{std::random_device{}()};
  long cap =
      std::min<long>(10'000, std::max(base_ms, 1L) << std::min(attempt, 6));
  return std::uniform_int_distribution<long>(cap / 2, cap)(rng);
}

std::string first_line(std::string_view text) {
  auto nl = text.find_first_of("\r\n");
  std::string line = trim_copy(text.substr(0, nl));
  if (line.size() > 300) {
    line = line.substr(0, 300) + "…";
  }
  return line;
}

// For `url` (https://host:port/…) and a certificate name: the URL with the
// name as its host, and the CONNECT_TO entry "name:port:host:port" that
// sends the connection to the real host; nothing when the URL cannot be
// parsed.
std::optional<std::pair<std::string, std::string>>
connect_to_entry(const std::string& url, const std::string& name) {
  CURLU* u = curl_url();
  char* host = nullptr;
  char* port = nullptr;
  char* rewritten = nullptr;
  std::optional<std::pair<std::string, std::string>> out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_HOST, name.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &rewritten, 0) == CURLUE_OK) {
    out = std::pair{std::string(rewritten),
                    fmt::format("{}:{}:{}:{}", name, port, host, port)};
  }
  curl_free(host);
  curl_free(port);
  curl_free(rewritten);
  curl_url_cleanup(u);
  return out;
}

class CurlTransport final : public HttpTransport {
public:
  CurlTransport() : m_curl(curl_easy_init()) {}
  ~CurlTransport() override { curl_easy_cleanup(m_curl); }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Attempt perform(const HttpConfig& config, const Request& req,
                  const std::string& url, Sink& sink,
                  const ProgressFn& progress, long timeout_ms) override {
    CURL* curl = m_curl;
    Transfer t;
    t.sink = &sink;
    t.body = req.body;
    t.curl = curl;
    t.progress = &progress;
    t.cleanup = req.cleanup;
    t.stall_s = config.stall_timeout_s;
    t.waiting = &config.waiting;
    t.what = fmt::format("{} to answer {} {}", config.label, req.method,
                         req.path.empty() ? "/" : req.path);
    curl_easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = {0};
    // --tls-server-name: the URL names the certificate's host, and
    // CONNECT_TO sends the connection to the address's (libcurl has no
    // separate option for the name checked).
    std::string url_sent = url;
    struct curl_slist* connect_to = nullptr;
    if (!config.tls.server_name.empty() && url.starts_with("https://")) {
      if (auto to = connect_to_entry(url, config.tls.server_name)) {
        connect_to = curl_slist_append(nullptr, to->second.c_str());
        url_sent = to->first;
        curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
      }
    }
    if (!config.unix_socket.empty()) {
      curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH,
                       config.unix_socket.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_URL, url_sent.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "snap/" SNAP_VERSION);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(config.connect_timeout_s * 1000));
    if (timeout_ms > 0) {
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    }
    if (!config.tls.ca_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_CAINFO, config.tls.ca_file.c_str());
    }
    if (!config.tls.cert_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_SSLCERT, config.tls.cert_file.c_str());
    }
    if (!config.tls.key_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_SSLKEY, config.tls.key_file.c_str());
    }
    const TlsOptions& tls = config.tls;
    auto blob = [](const std::string& pem) {
      // CURL_BLOB_COPY: libcurl keeps its own copy for the handle's life.
      curl_blob b{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
      return b;
    };
    if (!tls.ca_pem.empty()) {
      curl_blob b = blob(tls.ca_pem);
      curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &b);
    }
    if (!tls.cert_pem.empty()) {
      curl_blob b = blob(tls.cert_pem);
      curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &b);
      curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!tls.key_pem.empty()) {
      curl_blob b = blob(tls.key_pem);
      curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &b);
      curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (config.tls.insecure) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!config.basic_user.empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, config.basic_user.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, config.basic_password.c_str());
    }
    if (!config.aws_sigv4.empty()) {
      curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, config.aws_sigv4.c_str());
    }
    struct curl_slist* hdrs = nullptr;
    for (const auto& [k, v] : config.headers) {
      hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
    }
    for (const auto& [k, v] : req.headers) {
      hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
    }
    if (!req.content_type.empty()) {
      hdrs = curl_slist_append(hdrs,
                               ("Content-Type: " + req.content_type).c_str());
    }
    if (req.body) {
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(curl, CURLOPT_READDATA, &t);
      if (auto size = req.body->size()) {
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                         static_cast<curl_off_t>(*size));
      }
    }
    bool bodiless_write =
        !req.body &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH");
    if (bodiless_write) {
      // An explicit empty body (Content-Length: 0): servers wait for one.
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (req.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET" && !(req.method == "PUT" && req.body)) {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.resp.status);

    Attempt a;
    a.resp = std::move(t.resp);
    a.wrote_any = t.wrote_any;
    if (t.sink_error) {
      a.outcome = Attempt::Outcome::sink_failed;
      a.sink_error = std::move(t.sink_error);
    } else if (t.stalled) {
      a.outcome = Attempt::Outcome::stalled;
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
      a.outcome = Attempt::Outcome::interrupted;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      a.outcome = Attempt::Outcome::timed_out;
    } else if (rc != CURLE_OK) {
      a.outcome = Attempt::Outcome::failed;
      std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      if (rc == CURLE_OUT_OF_MEMORY) {
        // What libcurl 7.88 returns for a header line past its 100 KiB
        // limit (http.c, "Avoided giant realloc for header"), far likelier
        // from a hostile or broken server than a real shortage.
        why = "the answer's headers are larger than libcurl accepts (100 "
              "KiB), or memory ran out";
        a.oversized = true;
      }
      // "Failed to connect…" reads lower case mid-sentence; an acronym
      // ("SSL certificate problem") keeps its capitals.
      if (why.size() > 1 &&
          std::islower(static_cast<unsigned char>(why[1])) != 0) {
        why[0] = static_cast<char>(std::tolower(why[0]));
      }
      while (!why.empty() && (why.back() == '\n' || why.back() == '.')) {
        why.pop_back();
      }
      a.why = why;
      a.before_request = rc == CURLE_COULDNT_CONNECT ||
                         rc == CURLE_COULDNT_RESOLVE_HOST ||
                         rc == CURLE_COULDNT_RESOLVE_PROXY;
      a.dns = rc == CURLE_COULDNT_RESOLVE_HOST;
      a.tls = rc == CURLE_SSL_CONNECT_ERROR ||
              rc == CURLE_PEER_FAILED_VERIFICATION ||
              rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE;
      a.cut = rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
              rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR;
    }
    return a;
  }

private:
  CURL* m_curl;
};

} // namespace

std::unique_ptr<HttpTransport> curl_transport() {
  return std::make_unique<CurlTransport>();
}

HttpClient::HttpClient(HttpConfig config,
                       std::unique_ptr<HttpTransport> transport)
    : m_config(std::move(config)),
      m_transport(transport ? std::move(transport) : curl_transport()) {}

HttpClient::~HttpClient() = default;

std::string Response::header(std::string_view name) const {
  auto it = headers.find(to_lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpClient::display_url(const Request& req) const {
  std::string url = m_config.base_url + req.path;
  if (!req.query.empty()) {
    url += "?" + req.query;
  }
  return redact_url(url);
}

Error HttpClient::status_error(const Request& req, const Response& resp,
                               std::string_view hint) const {
  ErrorKind kind = ErrorKind::remote;
  if (resp.status == 401 || resp.status == 403) {
    kind = ErrorKind::auth;
  } else if (resp.status == 404) {
    kind = ErrorKind::not_found;
  } else if (resp.status == 409) {
    kind = ErrorKind::conflict;
  }
  std::string msg = fmt::format("{}: {} {}: {}", m_config.label, req.method,
                                display_url(req), resp.status);
  if (auto reason = reason_phrase(resp.status); !reason.empty()) {
    msg += fmt::format(" {}", reason);
  }
  std::string body = first_line(resp.error_body);
  if (!body.empty()) {
    msg += ": " + body;
  }
  // Redirects are not followed: the credentials would go along to wherever
  // they point.
  if (resp.status >= 300 && resp.status < 400) {
    std::string location = redact_url(resp.header("location"));
    return {kind, fmt::format("{} (the server redirects to {}; pass that "
                              "address in --addr)",
                              msg, location.empty() ? "?" : location)};
  }
  if (!hint.empty()) {
    msg += fmt::format(" ({})", hint);
  }
  return {kind, msg};
}

Expected<Response> HttpClient::send_small(const Request& req, std::string& body,
                                          std::size_t max_bytes) {
  MemorySink sink(max_bytes, std::move(body));
  auto r = send(req, sink);
  body = sink.take();
  if (!r && sink.overflowed()) {
    // Said with the request, since the sink alone cannot say whose answer
    // it was: a server (or something else at the address) that sends more
    // than any answer of this call.
    return fail(ErrorKind::remote,
                fmt::format("{}: {} {} answered more than {} bytes, more "
                            "than snap reads from it (is the address the "
                            "right server?)",
                            m_config.label, req.method, display_url(req),
                            max_bytes));
  }
  return r;
}

Expected<Response> HttpClient::send(const Request& req, Sink& sink,
                                    const ProgressFn& progress) {
  const auto start = Clock::now();
  const bool has_deadline = m_config.timeout_s > 0;
  const auto deadline =
      start +
      std::chrono::milliseconds(static_cast<long>(m_config.timeout_s * 1000.0));
  const std::string url =
      m_config.base_url + req.path + (req.query.empty() ? "" : "?" + req.query);
  const std::string shown = display_url(req);

  for (int attempt = 0;; ++attempt) {
    if (attempt > 0 && req.body) {
      SNAP_TRY(req.body->rewind());
    }
    long timeout_ms = 0;
    if (req.cleanup) {
      timeout_ms = static_cast<long>(req.cleanup_timeout_s * 1000);
    } else if (has_deadline) {
      timeout_ms =
          std::max<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - Clock::now())
                             .count(),
                         1);
    }
    const auto attempt_start = Clock::now();
    Attempt a =
        m_transport->perform(m_config, req, url, sink, progress, timeout_ms);
    if (m_config.log) {
      m_config.log(fmt::format(
          "{} {} -> {} ({} bytes in {:.2f} s)", req.method, shown,
          a.outcome == Attempt::Outcome::answered
              ? std::to_string(a.resp.status)
          : a.outcome == Attempt::Outcome::failed    ? a.why
          : a.outcome == Attempt::Outcome::timed_out ? std::string("timed out")
                                                     : std::string("aborted"),
          a.resp.body_bytes,
          std::chrono::duration<double>(Clock::now() - attempt_start).count()));
    }

    std::optional<Error> err;
    if (a.outcome == Attempt::Outcome::sink_failed) {
      return tl::unexpected(*a.sink_error);
    }
    if (a.outcome == Attempt::Outcome::stalled) {
      return fail(ErrorKind::timeout,
                  fmt::format("{}: {} {}: no byte came or went for {:.0f} s "
                              "(the server stalled; --stall-timeout sets how "
                              "long snap waits, 0 for ever)",
                              m_config.label, req.method, shown,
                              m_config.stall_timeout_s));
    }
    if (a.outcome == Attempt::Outcome::interrupted ||
        (is_interrupted() && !req.cleanup)) {
      return fail(ErrorKind::interrupted,
                  fmt::format("{}: {} {}: interrupted", m_config.label,
                              req.method, shown));
    }
    bool retryable = false;
    if (a.outcome == Attempt::Outcome::timed_out) {
      double secs = std::chrono::duration<double>(Clock::now() - start).count();
      return fail(ErrorKind::timeout,
                  fmt::format("{}: {} {}: no complete answer after {:.1f} s "
                              "(raise --timeout, or check the server)",
                              m_config.label, req.method, shown, secs));
    }
    if (a.outcome == Attempt::Outcome::failed) {
      std::string why = a.why;
      std::string hint = a.tls ? "check --ca-file, --cert-file and "
                                 "--key-file"
                         : a.before_request ? "is the server running? check "
                                              "--addr"
                         : a.oversized      ? "is --addr the right server?"
                                            : "the connection broke; try again";
      if (a.cut) {
        why = fmt::format("connection closed after {} bytes of the body ({})",
                          a.resp.body_bytes, why);
      }
      // A server that answered with headers past the limit reached us: it
      // failed, as an answer snap cannot read fails, and says so again.
      err = Error{a.oversized ? ErrorKind::remote : ErrorKind::connect,
                  fmt::format("{}: {} {}: {} ({})", m_config.label, req.method,
                              shown, why, hint)};
      retryable = !a.tls && !a.dns && !a.oversized &&
                  (a.before_request || req.idempotent);
    } else if (is_retryable_status(a.resp.status) && req.idempotent) {
      retryable = true;
    }
    if (retryable && a.wrote_any && !sink.reset()) {
      retryable = false;
    }
    if (!retryable || attempt >= m_config.retries) {
      if (err) {
        return tl::unexpected(*err);
      }
      return a.resp;
    }
    long wait = backoff_ms(attempt, m_config.backoff_ms);
    if (auto ra = a.resp.header("retry-after"); !ra.empty()) {
      long secs = std::strtol(ra.c_str(), nullptr, 10);
      if (secs > 0) {
        wait = std::min<long>(secs * 1000, 60'000);
      }
    }
    if (has_deadline &&
        Clock::now() + std::chrono::milliseconds(wait) > deadline) {
      if (err) {
        return tl::unexpected(*err);
      }
      return a.resp;
    }
    if (m_config.log) {
      m_config.log(fmt::format("retrying {} {} in {} ms (attempt {} of {})",
                               req.method, shown, wait, attempt + 2,
                               m_config.retries + 1));
    }
    if (req.cleanup) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    } else if (!sleep_unless_interrupted(wait)) {
      return fail(ErrorKind::interrupted,
                  fmt::format("{}: interrupted", m_config.label));
    }
  }
}

Expected<void> check_url(std::string_view url, std::string_view what) {
  CURLU* h = curl_url();
  if (h == nullptr) {
    return fail(ErrorKind::internal, "out of memory");
  }
  std::string text(url);
  CURLUcode rc = curl_url_set(h, CURLUPART_URL, text.c_str(), 0);
  std::string why;
  if (rc != CURLUE_OK) {
    why = curl_url_strerror(rc);
  } else {
    char* port = nullptr;
    if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
            CURLUE_OK &&
        port != nullptr && std::string_view(port) == "0") {
      why = "port 0 cannot be connected to";
    }
    curl_free(port);
  }
  curl_url_cleanup(h);
  if (!why.empty()) {
    // curl says "Port number was not a decimal number between 0 and
    // 65535"; its words keep their capital, the sentence is ours.
    return fail(ErrorKind::config,
                fmt::format("{} {} is not a usable URL: {} (write it as "
                            "https://host:port)",
                            what, redact_url(url), why));
  }
  return {};
}

HttpConfig endpoint_config(const Connection& conn, std::string label,
                           std::string_view token_header,
                           std::string_view token_prefix) {
  HttpConfig cfg;
  cfg.label = std::move(label);
  cfg.base_url = conn.base_url;
  cfg.tls = conn.tls;
  cfg.unix_socket = conn.unix_socket;
  cfg.basic_user = conn.user;
  cfg.basic_password = conn.password;
  if (!conn.token.empty()) {
    cfg.headers.emplace_back(std::string(token_header),
                             std::string(token_prefix) + conn.token);
  }
  return cfg;
}

std::string redact_url(std::string_view url) {
  std::string out(url);
  auto scheme = out.find("://");
  std::size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  auto path_start = out.find_first_of("/?#", host_start);
  auto at =
      out.rfind('@', path_start == std::string::npos ? out.size() : path_start);
  if (at != std::string::npos && at >= host_start) {
    out.replace(host_start, at - host_start, "***");
  }
  // A URL carried escaped inside the path (a Flux node's
  // /backup/getremotefilesize/<url>/…): its query may be a pre-signed
  // URL's signature, so it is masked up to the next path segment.
  for (auto pos = out.find("%3A%2F%2F"); pos != std::string::npos;
       pos = out.find("%3A%2F%2F", pos + 1)) {
    auto q = out.find("%3F", pos);
    if (q == std::string::npos) {
      break;
    }
    auto end = out.find_first_of("/?#", q);
    out.replace(q + 3, (end == std::string::npos ? out.size() : end) - q - 3,
                "***");
  }
  for (std::string key : {"token=", "password=", "api_key="}) {
    for (auto pos = out.find(key); pos != std::string::npos;
         pos = out.find(key, pos + 1)) {
      if (pos > 0 && (out[pos - 1] == '?' || out[pos - 1] == '&')) {
        auto end = out.find('&', pos);
        out.replace(pos + key.size(),
                    (end == std::string::npos ? out.size() : end) - pos -
                        key.size(),
                    "***");
      }
    }
  }
  return out;
}

std::string_view reason_phrase(long status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "";
  }
}

std::string url_escape(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 0xf]);
    }
  }
  return out;
}

Expected<nlohmann::json> parse_json_answer(const HttpClient& http,
                                           const Request& req,
                                           const std::string& text,
                                           std::string_view who,
                                           std::string_view hint) {
  std::string why;
  auto parsed = parse_untrusted_json(text, &why);
  if (parsed.is_discarded()) {
    return fail(ErrorKind::remote,
                fmt::format("{}: {} {} answered something snap does not read "
                            "as JSON: {} ({})",
                            who, req.method, http.display_url(req),
                            terminal_safe(why), hint));
  }
  return parsed;
}

bool is_not_json_answer(const Error& e) {
  return e.kind == ErrorKind::remote &&
         e.message.find(" answered something snap does not read as JSON: ") !=
             std::string::npos;
}

Expected<JsonAnswer> call_json(HttpClient& http, JsonCall call) {
  Request& req = call.request;
  std::optional<MemorySource> src;
  if (call.has_body) {
    src.emplace(std::move(call.body));
    req.body = &*src;
    req.content_type = call.content_type;
  }
  std::string text;
  Response resp = SNAP_TRY(http.send_small(req, text, call.max_bytes));
  bool accepted = call.ok.empty() ? resp.ok()
                                  : std::find(call.ok.begin(), call.ok.end(),
                                              resp.status) != call.ok.end();
  if (!accepted) {
    std::string raw = resp.error_body;
    if (call.error_text) {
      resp.error_body = call.error_text(raw);
    }
    std::string hint = call.hint ? call.hint(resp, raw) : std::string();
    return tl::unexpected(http.status_error(req, resp, hint));
  }
  JsonAnswer answer{.status = resp.status};
  if (trim_copy(text).empty()) {
    answer.body = nlohmann::json::object();
    return answer;
  }
  answer.body = SNAP_TRY(
      parse_json_answer(http, req, text, call.who, call.not_json_hint));
  return answer;
}

} // namespace snap
