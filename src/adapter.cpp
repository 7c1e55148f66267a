// SPDX-License-Identifier: MIT
// Default adapter behaviour: every verb is unsupported until an adapter
// overrides it, and the message names the verbs it does support.
#include "snap/adapter.hpp"

#include <cstdlib>

namespace snap {

std::string_view verb_name(Capability cap) {
  switch (cap) {
  case Capability::save:
    return "save";
  case Capability::restore:
    return "restore";
  case Capability::download:
    return "download";
  case Capability::upload:
    return "upload";
  case Capability::status:
    return "status";
  case Capability::list:
    return "list";
  case Capability::remove:
    return "delete";
  case Capability::import_native:
    return "import";
  }
  return "?";
}

std::string_view state_name(BackupState s) {
  switch (s) {
  case BackupState::running:
    return "running";
  case BackupState::complete:
    return "complete";
  case BackupState::partial:
    return "partial";
  case BackupState::failed:
    return "failed";
  }
  return "?";
}

std::string CapabilitySet::names() const {
  std::string out;
  for (Capability c : k_all_capabilities) {
    if (has(c)) {
      out += out.empty() ? "" : ", ";
      out += verb_name(c);
    }
  }
  return out;
}

std::unique_ptr<HttpClient>
Connector::open_like_given(const AdapterInfo& info, std::string base_url,
                           std::string label) const {
  Connection conn = given();
  conn.base_url = std::move(base_url);
  return open(endpoint_config(
      conn, label.empty() ? std::string(info.name) : std::move(label),
      info.token_header, info.token_prefix));
}

Error Adapter::unsupported(Capability cap) const {
  return {ErrorKind::unsupported,
          fmt::format("{}: {} is not supported (supported: {})", info().name,
                      verb_name(cap), info().caps.names())};
}

Expected<SaveResult> Adapter::save(ArchiveWriter&) {
  return tl::unexpected(unsupported(Capability::save));
}

Expected<RestoreReport> Adapter::restore(ArchiveReader&, bool) {
  return tl::unexpected(unsupported(Capability::restore));
}

Expected<StatusResult> Adapter::status(const std::string&) {
  return tl::unexpected(unsupported(Capability::status));
}

Expected<SaveResult> Adapter::download(const std::string&, ArchiveWriter&) {
  return tl::unexpected(unsupported(Capability::download));
}

Expected<Fields> Adapter::upload(ArchiveReader&, const std::string&) {
  return tl::unexpected(unsupported(Capability::upload));
}

Fields list_rows(const ListResult& backups) {
  Fields rows = Fields::array();
  for (const auto& b : backups) {
    Fields row = {{"id", b.id}};
    for (const auto& [k, v] : b.details.items()) {
      row[k] = v;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Expected<ListResult> Adapter::list() {
  return tl::unexpected(unsupported(Capability::list));
}

Expected<Fields> Adapter::remove(const std::string&) {
  return tl::unexpected(unsupported(Capability::remove));
}

Expected<SaveResult> Adapter::import_native(ArchiveWriter&, Source&) {
  return tl::unexpected(unsupported(Capability::import_native));
}

std::optional<std::string> Adapter::target_backup(const Manifest&) const {
  return std::nullopt;
}

Expected<Fields> Adapter::remove_target_backup(const Manifest& m) {
  return remove(m.backup_id);
}

std::string flag_value(const AdapterFlags& flags, std::string_view name) {
  auto it = flags.find(std::string(name));
  return it == flags.end() ? "" : it->second;
}

double seconds_flag(const AdapterFlags& flags, std::string_view name,
                    double fallback) {
  std::string v = flag_value(flags, name);
  return v.empty() ? fallback : std::strtod(v.c_str(), nullptr);
}

} // namespace snap
