// SPDX-License-Identifier: MIT
// Archives kept in S3 or an S3-compatible store: s3://bucket/key URLs,
// requests signed with libcurl's AWS SigV4, uploads that are whole or
// absent (one PUT, or a multipart upload completed last and aborted on any
// failure or signal).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "snap/http.hpp"

namespace snap {

struct S3Url {
  std::string bucket;
  std::string key; // an object, or a prefix ending in '/' (or empty)
  std::string str() const { return "s3://" + bucket + "/" + key; }
};

bool is_s3_url(std::string_view text);
// Errors: `usage` for a URL without a bucket.
Expected<S3Url> parse_s3_url(std::string_view text);

struct S3Settings {
  std::string endpoint; // --s3-endpoint; path-style addressing when set
  double timeout_s = 0;
  int retries = 3;
  std::function<void(const std::string&)> log;
  double stall_timeout_s = 0;
};

using EnvFunc = std::function<std::optional<std::string>(std::string_view)>;

class S3Store {
public:
  // Credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
  // AWS_SESSION_TOKEN; region from AWS_REGION or AWS_DEFAULT_REGION (default
  // us-east-1); endpoint from the settings or AWS_ENDPOINT_URL_S3 /
  // AWS_ENDPOINT_URL. Errors: `config` without credentials.
  static Expected<std::unique_ptr<S3Store>>
  connect(const std::string& bucket, const S3Settings& s, const EnvFunc& env);

  // Uploads `file` as `key` with user metadata `meta` (x-amz-meta-<name>);
  // above the part size (64 MiB, or SNAP_S3_PART_SIZE) as a multipart
  // upload, aborted on any failure.
  Expected<void> upload(const std::string& key,
                        const std::filesystem::path& file,
                        const Headers& meta = {},
                        const ProgressFn& progress = {});
  // The keys directly under `prefix` (ListObjectsV2, every page).
  Expected<std::vector<std::string>> list(const std::string& prefix);
  // An object's user metadata, names without x-amz-meta- and in lower case.
  Expected<std::map<std::string, std::string>> metadata(const std::string& key);
  Expected<void> remove(const std::string& key);
  // Downloads `key` into `file`. Errors: `not_found`, any kind.
  Expected<void> download(const std::string& key,
                          const std::filesystem::path& file,
                          const ProgressFn& progress = {});

private:
  S3Store(HttpConfig config, std::string bucket_path, std::uint64_t part);
  Expected<std::string> call(const std::string& method, const std::string& key,
                             const std::string& query, Source* body,
                             Response* out = nullptr, bool cleanup = false,
                             const Headers& headers = {});
  Expected<void> multipart(const std::string& key,
                           const std::filesystem::path& file,
                           std::uint64_t size, const Headers& meta,
                           const ProgressFn& progress);
  HttpClient m_http;
  std::string m_bucket_path; // "/bucket" (path style) or ""
  std::uint64_t m_part_size;
};

} // namespace snap
