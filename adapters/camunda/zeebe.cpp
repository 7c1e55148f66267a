// SPDX-License-Identifier: MIT
// Zeebe adapter.
//
// A Zeebe backup is taken by the brokers themselves into their configured
// backup store (S3, GCS, Azure, filesystem): the gateway's management API
// (port 9600) takes one with POST /actuator/backups {"backupId": N} (202)
// and reports it per partition with GET /actuator/backups/N; 8.8 moved the
// endpoint to /actuator/backupRuntime. The data never passes through snap:
// the archive is a reference holding the backup's state per partition.
//
// Ids: an int64 above every earlier backup's, failed and deleted ones
// included (409 otherwise). The default is the current UTC time in seconds,
// as Camunda's documentation suggests. From 8.9 a cluster with continuous
// backups refuses any id (400) and numbers a take without one itself: a
// default id is then left out and Zeebe's id followed; a given one is
// refused. DELETED (8.9) is a final state. GET <backupRuntime>/state shows
// the ranges of backups per partition in status.
//
// States: COMPLETED → exit 0; FAILED → exit 1 and nothing written;
// INCOMPLETE (some partition never took it) → the archive is written and
// the exit is 3. INCOMPLETE is also what a backup reads as for a moment
// right after the take, so it only counts once no partition is in
// progress over several polls.
//
// Restore is offline: every broker is stopped, its data directory emptied,
// and Zeebe's restore application run with --backupId on each. snap cannot
// do that over the API, so restore prints that procedure for the archive's
// id and exits 8, or 0 with --print-plan.
//
// Docs:
// https://docs.camunda.io/docs/self-managed/operational-guides/backup-restore/zeebe-backup-and-restore/

#include "adapters/camunda/zeebe_api.hpp"
#include "adapters/factories.hpp"
#include "snap/text.hpp"

namespace snap::adapters {
namespace {

using camunda::json;

constexpr std::string_view k_backup_entry = "payload/backup.json";

class ZeebeAdapter : public Adapter {
public:
  explicit ZeebeAdapter(AdapterContext ctx)
      : m_ctx(ctx), m_zeebe{ctx.http, "zeebe"} {}

  const AdapterInfo& info() const override { return zeebe_info(); }

  Expected<SaveResult> save(ArchiveWriter& out) override {
    std::int64_t id = SNAP_TRY(backup_id());
    camunda::ZeebeEndpoint ep = SNAP_TRY(endpoint());
    if (auto taken = camunda::zeebe_take(m_zeebe, ep, id); !taken) {
      if (!camunda::refused_for_continuous(taken.error())) {
        return tl::unexpected(taken.error());
      }
      // Continuous backups (8.9+) number themselves: Zeebe refuses any
      // id, so a default one is left out and a given one is refused.
      if (!flag("backup-id").empty()) {
        return fail(ErrorKind::usage,
                    "zeebe: this cluster takes continuous backups, which "
                    "number themselves, and refuses --backup-id: leave it "
                    "out (the backup then gets Zeebe's id, the time in "
                    "milliseconds plus the configured offset)");
      }
      id = SNAP_TRY(camunda::zeebe_take_numbered(m_zeebe, ep));
      m_ctx.reporter.note(fmt::format("continuous backups: Zeebe numbered "
                                      "the backup {}",
                                      id));
    }
    m_ctx.reporter.note(fmt::format("zeebe backup {} scheduled", id));
    json info = SNAP_TRY(
        camunda::zeebe_wait(m_zeebe, m_ctx.reporter, ep, id, wait_timeout()));
    return pack(out, info, ep.path);
  }

  Expected<SaveResult> download(const std::string& id,
                                ArchiveWriter& out) override {
    camunda::ZeebeEndpoint ep = SNAP_TRY(endpoint());
    json info = SNAP_TRY(camunda::zeebe_get(m_zeebe, ep, id));
    if (info.value("state", "") == "IN_PROGRESS") {
      return fail(ErrorKind::remote,
                  fmt::format("zeebe: backup {} is still IN_PROGRESS; "
                              "download it when it has ended",
                              id));
    }
    return pack(out, info, ep.path);
  }

  static Expected<Fields> describe(ArchiveReader& in, bool) {
    json info = SNAP_TRY(read_backup(in));
    Fields f = Fields::object();
    f["mode"] = "reference (the data stays in the brokers' backup store)";
    f["backup_id"] = info.value("backupId", 0L);
    f["state"] = info.value("state", "");
    f["partitions"] = partitions(info);
    return f;
  }

  Expected<RestoreReport> restore(ArchiveReader& in, bool) override {
    json info = SNAP_TRY(read_backup(in));
    std::int64_t id = info.value("backupId", 0L);
    std::size_t count = info.value("details", json::array()).size();
    std::string version = camunda::broker_version(info);
    std::vector<std::string> plan;
    plan.push_back("Zeebe restores offline, on each broker, from the backup "
                   "store; snap cannot do it over the API. Steps:");
    plan.push_back("stop every broker and gateway (and Operate, Tasklist and "
                   "Optimize, which read Zeebe's records)");
    plan.push_back("empty each broker's data directory "
                   "(zeebe.broker.data.directory; on Kubernetes its PVC)");
    plan.push_back(fmt::format(
        "on every broker, with its own configuration (nodeId, clusterSize, "
        "replicationFactor), the same partitionCount ({}), the same backup "
        "store and Zeebe {}: run  bin/restore --backupId={}  (Helm chart "
        "12.1+: set ZEEBE_RESTORE=true and ZEEBE_RESTORE_FROM_BACKUP_ID={} "
        "on the brokers, and remove them afterwards)",
        count, version.empty() ? "version" : version, id, id));
    plan.push_back(fmt::format("wait for \"Successfully restored broker from "
                               "backup {}\" on each broker, then start the "
                               "brokers and gateways",
                               id));
    RestoreReport r{.plan = std::move(plan), .details = {{"backup_id", id}}};
    // Printing the procedure is the whole restore only when asked for.
    if (flag("print-plan").empty()) {
      r.verdict = Error{ErrorKind::unsupported,
                        "zeebe: restore is offline: nothing was changed; "
                        "follow the steps above (--print-plan prints them and "
                        "exits 0)"};
    }
    return r;
  }

  Expected<StatusResult> status(const std::string& id) override {
    camunda::ZeebeEndpoint ep = SNAP_TRY(endpoint());
    StatusResult r;
    Fields exporting = Fields::array();
    if (auto phases = SNAP_TRY(camunda::exporter_phases(m_zeebe))) {
      for (const auto& p : *phases) {
        exporting.push_back("partition " + p);
      }
    } else {
      exporting = std::string(camunda::k_phases_unknown);
    }
    if (!id.empty()) {
      json info = SNAP_TRY(camunda::zeebe_get(m_zeebe, ep, id));
      r.fields["backup_id"] = info.value("backupId", 0L);
      r.fields["state"] = info.value("state", "");
      if (!info.value("failureReason", "").empty()) {
        r.fields["failure_reason"] = info.value("failureReason", "");
      }
      r.fields["partitions"] = partitions(info);
      r.backup = camunda::backup_state(info.value("state", ""));
      r.terminal = info.value("state", "") != "IN_PROGRESS";
      if (info.value("state", "") != "COMPLETED") {
        r.not_ready =
            fmt::format("zeebe: backup {} is {}", id, info.value("state", ""));
      }
    } else if (ep.v81) {
      r.fields["backups"] = "Camunda 8.1 cannot list backups; name an id";
    } else {
      json list = SNAP_TRY(m_zeebe.call("GET", ep.path));
      bool running = false;
      for (const auto& b : list) {
        running |= b.value("state", "") == "IN_PROGRESS";
      }
      r.fields["backups"] = list.size();
      if (!list.empty()) {
        r.fields["latest"] = {
            {"id", std::to_string(list[0].value("backupId", 0L))},
            {"state", list[0].value("state", "")}};
      }
      r.terminal = !running;
    }
    r.fields["exporting"] = exporting;
    // 8.9+: each partition's latest checkpoint and backup, and the ranges
    // of backups the store holds (continuous backups leave gaps there).
    if (auto state = SNAP_TRY(camunda::zeebe_state(m_zeebe, ep))) {
      Fields ranges = Fields::array();
      if (state->is_object() && state->contains("ranges") &&
          (*state)["ranges"].is_array()) {
        for (const auto& rg : (*state)["ranges"]) {
          if (!rg.is_object()) {
            continue;
          }
          const json& missing = rg.value("missingCheckpoints", json::array());
          ranges.push_back(fmt::format(
              "partition {}: {} to {}{}",
              rg.value("partitionId", json()).dump(),
              rg.value("start", json()).dump(), rg.value("end", json()).dump(),
              missing.is_array() && !missing.empty()
                  ? fmt::format(", {} missing", missing.size())
                  : std::string()));
        }
      }
      r.fields["backup_ranges"] = ranges;
    }
    return r;
  }

  Expected<ListResult> list() override {
    camunda::ZeebeEndpoint ep = SNAP_TRY(endpoint());
    SNAP_TRY(not_in_81(ep, "list"));
    json list = SNAP_TRY(m_zeebe.call("GET", ep.path));
    ListResult rows;
    for (const auto& b : list) {
      std::string created;
      for (const auto& d : b.value("details", json::array())) {
        created = d.value("createdAt", created);
      }
      rows.push_back({std::to_string(b.value("backupId", 0L)),
                      {{"state", b.value("state", "")},
                       {"partitions", b.value("details", json::array()).size()},
                       {"created_at", created}}});
    }
    return rows;
  }

  // A save's backup stays in the brokers' backup store.
  std::optional<std::string> target_backup(const Manifest& m) const override {
    return fmt::format("backup {} in the brokers' backup store", m.backup_id);
  }

  Expected<Fields> remove(const std::string& id) override {
    camunda::ZeebeEndpoint ep = SNAP_TRY(endpoint());
    SNAP_TRY(not_in_81(ep, "delete"));
    SNAP_TRY(m_zeebe.call("DELETE", ep.path + "/" + url_escape(id), json(),
                          {204, 200}, false));
    return Fields{{"deleted", id}};
  }

private:
  std::string flag(std::string_view name) const {
    return flag_value(m_ctx.flags, name);
  }
  double wait_timeout() const {
    return seconds_flag(m_ctx.flags, "wait-timeout", 3600.0);
  }
  Expected<std::int64_t> backup_id() const {
    return camunda::backup_id_from(flag("backup-id"));
  }
  Expected<camunda::ZeebeEndpoint> endpoint() {
    if (!m_endpoint) {
      m_endpoint = SNAP_TRY(
          camunda::zeebe_backup_path(m_zeebe, flag("camunda-version")));
    }
    return *m_endpoint;
  }
  static Expected<void> not_in_81(const camunda::ZeebeEndpoint& ep,
                                  std::string_view verb) {
    if (ep.v81) {
      return fail(ErrorKind::unsupported,
                  fmt::format("zeebe: Camunda 8.1's backup API has no {} "
                              "(it arrived in 8.2)",
                              verb));
    }
    return {};
  }
  static Fields partitions(const json& info) {
    Fields out = Fields::array();
    for (const auto& d : info.value("details", json::array())) {
      std::string why = d.value("failureReason", "");
      out.push_back(fmt::format("{}: {}{}", d.value("partitionId", 0),
                                d.value("state", ""),
                                why.empty() ? "" : " (" + why + ")"));
    }
    return out;
  }
  static Expected<json> read_backup(ArchiveReader& in) {
    json info = SNAP_TRY(in.read_json(k_backup_entry));
    if (!info.contains("backupId")) {
      return fail(ErrorKind::archive,
                  fmt::format("{}: {} is not a Zeebe BackupInfo",
                              in.path().filename().string(), k_backup_entry));
    }
    return info;
  }

  Expected<SaveResult> pack(ArchiveWriter& out, const json& info,
                            const std::string& path) {
    std::optional<Error> verdict = camunda::zeebe_verdict(info, "zeebe");
    if (verdict && verdict->kind != ErrorKind::partial) {
      return tl::unexpected(*verdict);
    }
    SNAP_TRY(out.add_json("backup.json", info));
    std::string version = camunda::broker_version(info);
    std::int64_t id = info.value("backupId", 0L);
    SaveResult r;
    r.backup_id = std::to_string(id);
    r.kind = "reference";
    r.server_version = version;
    r.summary =
        fmt::format("backup {}, {}, {} partitions", id, info.value("state", ""),
                    info.value("details", json::array()).size());
    r.source = {{"backup_id", id},
                {"state", info.value("state", "")},
                {"partitions", info.value("details", json::array()).size()},
                {"endpoint", path}};
    r.partial = std::move(verdict);
    return r;
  }

  AdapterContext m_ctx;
  camunda::Actuator m_zeebe;
  std::optional<camunda::ZeebeEndpoint> m_endpoint;
};

} // namespace

const AdapterInfo& zeebe_info() {
  using C = Capability;
  static const AdapterInfo info{
      .name = "zeebe",
      .summary = "Zeebe: partition backups into the brokers' backup store",
      .caps = {C::save, C::restore, C::download, C::status, C::list, C::remove},
      .payload_version = 1,
      .default_addr = "http://127.0.0.1:9600",
      .flags = {{"backup-id",
                 "id of the new backup, above every earlier one (default: "
                 "UTC epoch seconds)",
                 true,
                 {C::save}},
                {"camunda-version",
                 "8.1 (named only: its experimental API), 8.2 to 8.7 use "
                 "/actuator/backups, 8.8 /actuator/backupRuntime (default: "
                 "asked from GET /actuator)",
                 true,
                 {C::save, C::restore, C::download, C::status, C::list,
                  C::remove}},
                {"wait-timeout",
                 "seconds to wait for the backup (default 3600)",
                 true,
                 {C::save}},
                {"print-plan",
                 "print the offline restore procedure and exit 0",
                 false,
                 {C::restore}}},
      .offline_restore = true,
  };
  return info;
}

Expected<Fields> describe_zeebe(ArchiveReader& in,
                                const DescribeOptions& opts) {
  return ZeebeAdapter::describe(in, opts.verify);
}

std::unique_ptr<Adapter> make_zeebe(AdapterContext ctx) {
  return std::make_unique<ZeebeAdapter>(ctx);
}

} // namespace snap::adapters
