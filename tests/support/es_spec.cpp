// SPDX-License-Identifier: MIT
#include "tests/support/es_spec.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

struct ApiPath {
  std::string api;
  std::vector<std::string> segments; // "{x}" matches any one segment
  std::set<std::string> methods;
  std::set<std::string> params;
};

std::filesystem::path spec_dir(const std::string& version) {
  const char* env = std::getenv("SNAP_SHARED_DIR");
  std::filesystem::path shared =
      env != nullptr && *env != '\0' ? env : SNAP_SHARED_DIR;
  return shared / "specs/elasticsearch/full" / ("rest-api-spec-" + version);
}

const std::vector<ApiPath>& load(const std::string& version) {
  static std::mutex mu;
  static std::map<std::string, std::vector<ApiPath>> cache;
  std::lock_guard lock(mu);
  auto& paths = cache[version];
  if (!paths.empty()) {
    return paths;
  }
  std::filesystem::path dir = spec_dir(version);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return paths; // es_spec_available said so
  }
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".json" ||
        f.path().filename().string().starts_with("_")) {
      continue;
    }
    std::ifstream in(f.path());
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!doc.is_object() || doc.empty()) {
      continue;
    }
    const auto& api = doc.begin().value();
    std::set<std::string> params;
    const auto declared = api.value("params", nlohmann::json::object());
    for (const auto& [name, p] : declared.items()) {
      params.insert(name);
    }
    // Accepted by every API (rest-api-spec _common.json).
    for (const char* common : {"pretty", "human", "error_trace", "source",
                               "source_content_type", "filter_path"}) {
      params.insert(common);
    }
    for (const auto& p : api["url"]["paths"]) {
      ApiPath ap{
          doc.begin().key(), split_path(p.value("path", "")), {}, params};
      for (const auto& m : p["methods"]) {
        ap.methods.insert(m.get<std::string>());
      }
      paths.push_back(std::move(ap));
    }
  }
  return paths;
}

} // namespace

bool es_spec_available(const std::string& version) {
  std::error_code ec;
  if (std::filesystem::is_directory(spec_dir(version), ec)) {
    return true;
  }
  // ctest reports a test that prints this as skipped, never as passed.
  WARN("SKIPPED: needs " << spec_dir(version).string()
                         << " (Elastic's rest-api-spec; set SNAP_SHARED_DIR)");
  return false;
}

std::string check_against_es_spec(const std::string& request,
                                  const std::string& version) {
  auto space = request.find(' ');
  std::string method = request.substr(0, space);
  std::string target = request.substr(space + 1);
  auto q = target.find('?');
  std::string path = target.substr(0, q);
  std::vector<std::string> query;
  if (q != std::string::npos) {
    std::stringstream in(target.substr(q + 1));
    for (std::string kv; std::getline(in, kv, '&');) {
      query.push_back(kv.substr(0, kv.find('=')));
    }
  }
  auto segs = split_path(path);
  // As Elasticsearch's router: literal segments win over placeholders.
  int best = -1;
  std::vector<const ApiPath*> candidates;
  for (const auto& ap : load(version)) {
    if (ap.segments.size() != segs.size()) {
      continue;
    }
    int literal = 0;
    bool match = true;
    for (std::size_t i = 0; i < segs.size() && match; ++i) {
      if (ap.segments[i].starts_with("{")) {
        match = !segs[i].starts_with("_") || segs[i] == "_all";
      } else {
        match = ap.segments[i] == segs[i];
        ++literal;
      }
    }
    if (!match || literal < best) {
      continue;
    }
    if (literal > best) {
      candidates.clear();
      best = literal;
    }
    candidates.push_back(&ap);
  }
  if (candidates.empty()) {
    return "no API of rest-api-spec " + version + " has the path " + path;
  }
  std::string why;
  for (const ApiPath* ap : candidates) {
    if (!ap->methods.contains(method)) {
      why = ap->api + " does not take " + method;
      continue;
    }
    std::string bad;
    for (const auto& p : query) {
      if (!ap->params.contains(p)) {
        bad = p;
      }
    }
    if (bad.empty()) {
      return "";
    }
    why = ap->api + " has no parameter " + bad;
  }
  return why;
}

std::string first_off_spec(const std::vector<std::string>& requests,
                           const std::string& version) {
  if (!es_spec_available(version)) {
    return "";
  }
  for (const auto& r : requests) {
    std::string why = check_against_es_spec(r, version);
    if (!why.empty()) {
      return r + ": " + why;
    }
  }
  return "";
}

} // namespace snap::test
