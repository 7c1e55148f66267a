// SPDX-License-Identifier: MIT
// The HTTP client every adapter talks through: TLS on by default, streaming
// bodies both ways, bounded retries of what is safe to repeat (docs/contract.md
// §6.4), and messages that never show a credential.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "snap/io.hpp"

namespace snap {

struct TlsOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // PEM text used instead of the files (a kubeconfig's *-data fields); the
  // key is a secret and is never written to disk.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  bool insecure = false;
  // The name the server's certificate must carry, when it is not the
  // address's host (Consul's server.<dc>.consul): sent as SNI and checked
  // against the certificate, while the connection goes to the address.
  std::string server_name;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Where a target is and how to sign in, as resolved from flags, variables
// and the profile (docs/contract.md §3); a field is empty when none of them
// gave it. `token` and `password` are secrets and are never printed.
struct Connection {
  std::string base_url;
  std::string token;
  std::string user;
  std::string password;
  TlsOptions tls;
  // A unix domain socket the HTTP goes over (an address unix:///path);
  // base_url is then http://localhost.
  std::string unix_socket;
};

struct HttpConfig {
  std::string label;    // adapter name that prefixes every message
  std::string base_url; // scheme://host:port[/prefix], may hold user:pass@
  TlsOptions tls;
  std::string unix_socket; // Connection::unix_socket
  Headers headers;         // sent with every request; may hold secrets
  std::string basic_user;
  std::string basic_password;
  // "aws:amz:<region>:s3": sign every request with AWS SigV4, the basic
  // user and password then being the access key id and secret.
  std::string aws_sigv4;
  double timeout_s = 0; // whole call, retries included; 0 = no limit
  double connect_timeout_s = 10;
  // A request in which no byte moves for this long fails with `timeout`
  // (0: no limit); --stall-timeout.
  double stall_timeout_s = 0;
  int retries = 3;
  // The wait before the first retry, doubling to at most 10 s, with jitter
  // (a test over the in-memory transport makes it 1).
  long backoff_ms = 250;
  // Told one line per attempt and retry (URLs redacted), for --verbose.
  std::function<void(const std::string&)> log;
  // Told, about once a second, what a request waits for once the server has
  // sent nothing for 2 s ("waiting for consul to answer GET …: 5 s"), so a
  // long first wait is never a silent one.
  std::function<void(const std::string&)> waiting;
};

// An endpoint's settings from a resolved connection: its address, TLS,
// basic credentials and token (sent in `token_header` after `prefix`),
// with `label` prefixing every message.
HttpConfig endpoint_config(const Connection& conn, std::string label,
                           std::string_view token_header = "Authorization",
                           std::string_view token_prefix = "Bearer ");

struct Request {
  std::string method = "GET";
  std::string path;  // appended to the base URL, already escaped
  std::string query; // without the leading '?'
  Headers headers;
  Source* body = nullptr;
  std::string content_type;
  bool idempotent = true; // may be repeated after a 429/502/503/504 or a cut
  // Undoes a change on the way out (say, leaving maintenance mode): it goes
  // out even after SIGINT, with at most `cleanup_timeout_s` seconds.
  bool cleanup = false;
  double cleanup_timeout_s = 30;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers; // names in lower case
  std::string error_body; // start of a non-2xx body, as text
  std::uint64_t body_bytes = 0;
  // The value of header `name` (any case), or "".
  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

// What one attempt of a request came to, as the transport saw it.
struct Attempt {
  enum class Outcome {
    answered,    // a status came (any status): `resp`
    sink_failed, // the sink or the body source refused: `sink_error`
    stalled,     // no byte moved for HttpConfig::stall_timeout_s
    interrupted, // SIGINT or SIGTERM
    timed_out,   // the attempt's time ran out
    failed,      // no answer: `why`, and what kind of failure
  };
  Outcome outcome = Outcome::answered;
  Response resp;
  std::optional<Error> sink_error;
  std::string why;             // failed: the transport's words
  bool before_request = false; // failed: nothing reached the server
  bool tls = false;            // failed: TLS could not be set up
  bool cut = false;            // failed: the connection closed mid-body
  bool oversized = false;      // failed: headers past libcurl's limit
  bool dns = false;            // failed: the host name did not resolve
  bool wrote_any = false;      // bytes of a 2xx body reached the sink
};

// Moves one request over the wire (libcurl unless a test puts an in-memory
// server here); HttpClient does retries, deadlines and messages on top, so
// sequencing (polls, retries, undo paths) can be tested in milliseconds.
class HttpTransport {
public:
  virtual ~HttpTransport() = default;
  // One attempt of `req` at `url` (the base URL, path and query joined). A
  // 2xx body streams into `sink`; another's start goes into
  // Response::error_body. `timeout_ms` 0: no limit.
  virtual Attempt perform(const HttpConfig& config, const Request& req,
                          const std::string& url, Sink& sink,
                          const ProgressFn& progress, long timeout_ms) = 0;
};

// The libcurl transport; one easy handle, so keep-alive connections survive
// between calls.
std::unique_ptr<HttpTransport> curl_transport();

class HttpClient {
public:
  // Without a transport, libcurl's.
  explicit HttpClient(HttpConfig config,
                      std::unique_ptr<HttpTransport> transport = nullptr);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `req`. A 2xx body streams into `sink`; any other status comes back
  // as a Response whose error_body holds the start of the body. Errors:
  // `connect`, `timeout`, `interrupted`, or the sink's error.
  Expected<Response> send(const Request& req, Sink& sink,
                          const ProgressFn& progress = {});
  // Like send, keeping a 2xx body of at most `max_bytes` in `body` (whose
  // memory it reuses).
  Expected<Response> send_small(const Request& req, std::string& body,
                                std::size_t max_bytes = 8 << 20);
  // The error for a non-2xx `resp`: 401/403 `auth`, 404 `not_found`, 409
  // `conflict`, else `remote`; formatted "<label>: <METHOD> <url>: <status>:
  // <body> (<hint>)".
  Error status_error(const Request& req, const Response& resp,
                     std::string_view hint) const;
  // The request's URL with credentials masked, for messages.
  std::string display_url(const Request& req) const;
  const HttpConfig& config() const { return m_config; }

private:
  HttpConfig m_config;
  std::unique_ptr<HttpTransport> m_transport;
};

// `text`, a 2xx answer to `req`, parsed as JSON. Errors: `remote`, "<who>:
// <METHOD> <url> answered something that is not JSON (<hint>)".
Expected<nlohmann::json> parse_json_answer(const HttpClient& http,
                                           const Request& req,
                                           const std::string& text,
                                           std::string_view who,
                                           std::string_view hint);

// Whether `e` is parse_json_answer's (or call_json's) error: a 2xx answer
// that is not JSON, which no restart of the right server sends.
bool is_not_json_answer(const Error& e);

// One JSON exchange: the call every adapter's API client makes.
struct JsonCall {
  Request request;  // method, path, query, headers, idempotent, cleanup
  std::string body; // sent when `has_body`; JSON unless content_type says
  bool has_body = false;
  std::string content_type = "application/json";
  // The statuses that count as an answer; empty means any 2xx.
  std::vector<long> ok;
  std::size_t max_bytes = 16 << 20;
  // For an answer that is not JSON: "<who>: <METHOD> <url> answered
  // something snap does not read as JSON: … (<not_json_hint>)".
  std::string who;
  std::string not_json_hint;
  // A refused answer's body as the system's one line (its error shape),
  // and the hint for its status; by default the body's start and none.
  std::function<std::string(const std::string& body)> error_text;
  std::function<std::string(const Response& resp, const std::string& body)>
      hint;
};

struct JsonAnswer {
  long status = 0;
  nlohmann::json body; // an empty answer is {}
};

// Sends `call` with its JSON body and parses the JSON answer. A status not
// in `ok` becomes the status error (HttpClient::status_error) with the
// system's own message and hint. Errors: any kind.
Expected<JsonAnswer> call_json(HttpClient& http, JsonCall call);

// Checks that `url` is one curl can send to: http or https, a host, a port
// from 1 to 65535. Errors: `config` saying what is wrong, "<what> <url>:
// …" (the URL redacted).
Expected<void> check_url(std::string_view url, std::string_view what);

// `url` with any user:password@ and token= query value masked as ***.
std::string redact_url(std::string_view url);

// The standard reason phrase for `status` ("Forbidden"), or "".
std::string_view reason_phrase(long status);

// Percent-encodes `s` for a URL path segment or query value.
std::string url_escape(std::string_view s);

} // namespace snap
