// SPDX-License-Identifier: MIT
#include "snap/s3.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "snap/scope.hpp"
#include "snap/signals.hpp"
#include "snap/text.hpp"

namespace snap {
namespace {

constexpr std::uint64_t k_default_part = 64ull << 20;
constexpr std::uint64_t k_min_part = 5ull << 20; // S3's smallest part

// A rewindable source over bytes [offset, offset + size) of a file.
class RangeSource : public Source {
public:
  RangeSource(int fd, std::uint64_t offset, std::uint64_t size)
      : m_fd(fd), m_offset(offset), m_size(size) {}
  Expected<std::size_t> read(std::span<std::byte> buf) override {
    std::uint64_t left = m_size - m_pos;
    std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    if (want == 0) {
      return std::size_t{0};
    }
    ssize_t n =
        ::pread(m_fd, buf.data(), want, static_cast<off_t>(m_offset + m_pos));
    if (n < 0) {
      return fail(ErrorKind::internal, "cannot read the archive to upload");
    }
    m_pos += static_cast<std::uint64_t>(n);
    return static_cast<std::size_t>(n);
  }
  Expected<void> rewind() override {
    m_pos = 0;
    return {};
  }
  std::optional<std::uint64_t> size() const override { return m_size; }

private:
  int m_fd;
  std::uint64_t m_offset, m_size, m_pos = 0;
};

// Escapes a key for a URL path, keeping its slashes.
std::string key_path(const std::string& key) {
  std::string out;
  std::size_t start = 0;
  while (start <= key.size()) {
    auto slash = key.find('/', start);
    std::string part = key.substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    out += "/" + url_escape(part);
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  return out;
}

// The text of the first <tag>…</tag> in `xml`.
std::string xml_value(const std::string& xml, const std::string& tag) {
  auto open = xml.find("<" + tag + ">");
  if (open == std::string::npos) {
    return "";
  }
  open += tag.size() + 2;
  auto close = xml.find("</" + tag + ">", open);
  return close == std::string::npos ? "" : xml.substr(open, close - open);
}

Headers amz_meta(const Headers& meta) {
  Headers out;
  for (const auto& [k, v] : meta) {
    out.emplace_back("x-amz-meta-" + k, v);
  }
  return out;
}

// XML text with its five entities decoded.
std::string xml_text(std::string s) {
  static const std::pair<const char*, const char*> k_entities[] = {
      {"&lt;", "<"},
      {"&gt;", ">"},
      {"&quot;", "\""},
      {"&apos;", "'"},
      {"&amp;", "&"}};
  for (const auto& [from, to] : k_entities) {
    for (auto at = s.find(from); at != std::string::npos;
         at = s.find(from, at + 1)) {
      s.replace(at, std::strlen(from), to);
    }
  }
  return s;
}

} // namespace

bool is_s3_url(std::string_view text) { return text.starts_with("s3://"); }

Expected<S3Url> parse_s3_url(std::string_view text) {
  if (!is_s3_url(text)) {
    return fail(ErrorKind::usage, fmt::format("{} is not an s3:// URL", text));
  }
  std::string rest(text.substr(5));
  auto slash = rest.find('/');
  S3Url u{rest.substr(0, slash),
          slash == std::string::npos ? "" : rest.substr(slash + 1)};
  if (u.bucket.empty()) {
    return fail(ErrorKind::usage, fmt::format("{}: expected s3://bucket/key or "
                                              "s3://bucket/prefix/",
                                              text));
  }
  return u;
}

S3Store::S3Store(HttpConfig config, std::string bucket_path, std::uint64_t part)
    : m_http(std::move(config)), m_bucket_path(std::move(bucket_path)),
      m_part_size(part) {}

Expected<std::unique_ptr<S3Store>> S3Store::connect(const std::string& bucket,
                                                    const S3Settings& s,
                                                    const EnvFunc& env) {
  auto id = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (!id || !secret) {
    return fail(ErrorKind::config,
                "s3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                "AWS_SESSION_TOKEN for temporary credentials)");
  }
  std::string region =
      env("AWS_REGION")
          .value_or(env("AWS_DEFAULT_REGION").value_or("us-east-1"));
  std::string endpoint = s.endpoint;
  if (endpoint.empty()) {
    endpoint = env("AWS_ENDPOINT_URL_S3")
                   .value_or(env("AWS_ENDPOINT_URL").value_or(""));
  }
  HttpConfig c;
  c.label = "s3";
  c.timeout_s = s.timeout_s;
  c.stall_timeout_s = s.stall_timeout_s;
  c.retries = s.retries;
  c.log = s.log;
  c.basic_user = *id;
  c.basic_password = *secret;
  c.aws_sigv4 = "aws:amz:" + region + ":s3";
  c.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  if (auto token = env("AWS_SESSION_TOKEN")) {
    c.headers.emplace_back("x-amz-security-token", *token);
  }
  std::string bucket_path;
  if (endpoint.empty()) {
    // AWS itself: virtual-hosted style.
    c.base_url = fmt::format("https://{}.s3.{}.amazonaws.com", bucket, region);
  } else {
    // S3-compatible stores: path style.
    while (endpoint.size() > 8 && endpoint.back() == '/') {
      endpoint.pop_back();
    }
    c.base_url = endpoint;
    bucket_path = "/" + url_escape(bucket);
  }
  std::uint64_t part = k_default_part;
  if (auto p = env("SNAP_S3_PART_SIZE")) {
    part = std::max<std::uint64_t>(k_min_part, std::stoull(*p));
  }
  return std::unique_ptr<S3Store>(
      new S3Store(std::move(c), std::move(bucket_path), part));
}

Expected<std::string> S3Store::call(const std::string& method,
                                    const std::string& key,
                                    const std::string& query, Source* body,
                                    Response* out, bool cleanup,
                                    const Headers& headers) {
  Request req{.method = method,
              .path = key.empty() ? m_bucket_path + "/"
                                  : m_bucket_path + key_path(key),
              .query = query,
              .headers = headers,
              .body = body,
              .idempotent = method != "POST",
              .cleanup = cleanup};
  if (body != nullptr) {
    req.content_type = "application/octet-stream";
  }
  std::string text;
  Response resp = SNAP_TRY(m_http.send_small(req, text, 16 << 20));
  // S3 may answer 200 and put the error in the body.
  if (!resp.ok() || text.find("<Error>") != std::string::npos) {
    std::string body_text = resp.ok() ? text : resp.error_body;
    std::string code = xml_value(body_text, "Code");
    std::string message = xml_value(body_text, "Message");
    if (!code.empty()) {
      resp.error_body = code + ": " + message;
    }
    if (resp.ok()) {
      resp.status = 500;
    }
    return tl::unexpected(m_http.status_error(
        req, resp,
        resp.status == 403 ? "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                             "and the bucket policy"
                           : ""));
  }
  if (out != nullptr) {
    *out = resp;
  }
  return text;
}

Expected<void> S3Store::upload(const std::string& key,
                               const std::filesystem::path& file,
                               const Headers& meta,
                               const ProgressFn& progress) {
  std::error_code ec;
  std::uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) {
    return fail(ErrorKind::internal,
                fmt::format("cannot read {}: {}", file.string(), ec.message()));
  }
  if (size > m_part_size) {
    return multipart(key, file, size, meta, progress);
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(ErrorKind::internal,
                fmt::format("cannot open {}", file.string()));
  }
  RangeSource src(fd, 0, size);
  auto r = call("PUT", key, "", &src, nullptr, false, amz_meta(meta));
  ::close(fd);
  if (!r) {
    return tl::unexpected(r.error());
  }
  if (progress) {
    progress(size, size);
  }
  return {};
}

Expected<void> S3Store::multipart(const std::string& key,
                                  const std::filesystem::path& file,
                                  std::uint64_t size, const Headers& meta,
                                  const ProgressFn& progress) {
  std::string started = SNAP_TRY(
      call("POST", key, "uploads", nullptr, nullptr, false, amz_meta(meta)));
  std::string upload_id = xml_value(started, "UploadId");
  if (upload_id.empty()) {
    return fail(ErrorKind::remote,
                "s3: the store did not give a multipart UploadId");
  }
  const std::string id_query = "uploadId=" + url_escape(upload_id);
  // Nothing is visible until the last call; on any failure or signal the
  // upload is aborted so no parts are left to pay for.
  ScopeExit abort(
      [&] { (void)call("DELETE", key, id_query, nullptr, nullptr, true); });
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(ErrorKind::internal,
                fmt::format("cannot open {}", file.string()));
  }
  ScopeExit closer([fd] { ::close(fd); });
  std::string parts;
  int number = 1;
  for (std::uint64_t offset = 0; offset < size; offset += m_part_size) {
    if (is_interrupted()) {
      return fail(ErrorKind::interrupted, "interrupted");
    }
    RangeSource src(fd, offset, std::min(m_part_size, size - offset));
    Response resp;
    SNAP_TRY(call("PUT", key, fmt::format("partNumber={}&{}", number, id_query),
                  &src, &resp));
    std::string etag = resp.header("ETag");
    if (etag.empty()) {
      return fail(ErrorKind::remote,
                  fmt::format("s3: part {} came back without an ETag", number));
    }
    parts += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>"
                         "</Part>",
                         number, etag);
    ++number;
    if (progress) {
      progress(std::min(offset + m_part_size, size), size);
    }
  }
  std::string xml =
      "<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>";
  MemorySource body(xml);
  SNAP_TRY(call("POST", key, id_query, &body));
  abort.release();
  return {};
}

Expected<std::vector<std::string>> S3Store::list(const std::string& prefix) {
  std::vector<std::string> keys;
  std::string token;
  for (;;) {
    std::string query =
        "delimiter=%2F&list-type=2&prefix=" + url_escape(prefix);
    if (!token.empty()) {
      query = "continuation-token=" + url_escape(token) + "&" + query;
    }
    std::string xml = SNAP_TRY(call("GET", "", query, nullptr));
    for (auto at = xml.find("<Contents>"); at != std::string::npos;
         at = xml.find("<Contents>", at + 1)) {
      auto end = xml.find("</Contents>", at);
      keys.push_back(xml_text(xml_value(xml.substr(at, end - at), "Key")));
    }
    if (xml_value(xml, "IsTruncated") != "true") {
      return keys;
    }
    token = xml_text(xml_value(xml, "NextContinuationToken"));
  }
}

Expected<std::map<std::string, std::string>>
S3Store::metadata(const std::string& key) {
  Response resp;
  SNAP_TRY(call("HEAD", key, "", nullptr, &resp));
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : resp.headers) {
    if (name.starts_with("x-amz-meta-")) {
      out[name.substr(11)] = value;
    }
  }
  return out;
}

Expected<void> S3Store::remove(const std::string& key) {
  SNAP_TRY(call("DELETE", key, "", nullptr));
  return {};
}

Expected<void> S3Store::download(const std::string& key,
                                 const std::filesystem::path& file,
                                 const ProgressFn& progress) {
  auto sink = SNAP_TRY(FileSink::create(file));
  Request req{.method = "GET", .path = m_bucket_path + key_path(key)};
  Response resp = SNAP_TRY(m_http.send(req, sink, progress));
  SNAP_TRY(sink.close(false));
  if (!resp.ok()) {
    std::string code = xml_value(resp.error_body, "Code");
    if (!code.empty()) {
      resp.error_body = code + ": " + xml_value(resp.error_body, "Message");
    }
    return tl::unexpected(m_http.status_error(req, resp, ""));
  }
  return {};
}

} // namespace snap
