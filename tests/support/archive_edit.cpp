// SPDX-License-Identifier: MIT
#include "tests/support/archive_edit.hpp"

#include <stdexcept>

#include <zip.h>

#include "snap/sha256.hpp"

namespace snap::test {

nlohmann::json ArchiveParts::manifest() const {
  return nlohmann::json::parse(manifest_text);
}

ArchiveParts unpack(const std::filesystem::path& path) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (za == nullptr) {
    throw std::runtime_error("cannot open " + path.string());
  }
  ArchiveParts parts;
  int len = 0;
  const char* comment = zip_get_archive_comment(za, &len, ZIP_FL_ENC_RAW);
  parts.comment = comment ? std::string(comment, len) : "";
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); ++i) {
    zip_stat_t st;
    zip_stat_index(za, i, 0, &st);
    zip_file_t* f = zip_fopen_index(za, i, 0);
    std::string data(st.size, '\0');
    if (f == nullptr || zip_fread(f, data.data(), st.size) !=
                            static_cast<zip_int64_t>(st.size)) {
      throw std::runtime_error("cannot read " + std::string(st.name));
    }
    zip_fclose(f);
    if (std::string(st.name) == "manifest.json") {
      parts.manifest_text = std::move(data);
    } else {
      parts.files[st.name] = std::move(data);
    }
  }
  zip_discard(za);
  return parts;
}

void pack(const ArchiveParts& parts, const std::filesystem::path& out) {
  std::filesystem::remove(out);
  int err = 0;
  zip_t* za = zip_open(out.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  if (za == nullptr) {
    throw std::runtime_error("cannot create " + out.string());
  }
  auto add = [&](const std::string& name, const std::string& data) {
    zip_source_t* src = zip_source_buffer(za, data.data(), data.size(), 0);
    if (src == nullptr || zip_file_add(za, name.c_str(), src, 0) < 0) {
      throw std::runtime_error("cannot add " + name);
    }
  };
  add("manifest.json", parts.manifest_text);
  for (const auto& [name, data] : parts.files) {
    add(name, data);
  }
  zip_set_archive_comment(za, parts.comment.c_str(),
                          static_cast<zip_uint16_t>(parts.comment.size()));
  if (zip_close(za) != 0) {
    throw std::runtime_error("cannot write " + out.string());
  }
}

void reseal(ArchiveParts& parts, nlohmann::json manifest) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [name, data] : parts.files) {
    std::string media = "application/octet-stream";
    for (const auto& e : manifest.value("entries", nlohmann::json::array())) {
      if (e.value("path", "") == name) {
        media = e.value("media_type", media);
      }
    }
    entries.push_back({{"path", name},
                       {"size", data.size()},
                       {"sha256", sha256_hex(data)},
                       {"media_type", media}});
  }
  manifest["entries"] = entries;
  parts.manifest_text = manifest.dump(2) + "\n";
  std::string key = "manifest-sha256=";
  auto at = parts.comment.find(key);
  if (at != std::string::npos) {
    parts.comment.replace(at + key.size(), 64, sha256_hex(parts.manifest_text));
  }
}

} // namespace snap::test
