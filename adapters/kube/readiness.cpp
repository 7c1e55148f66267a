// SPDX-License-Identifier: MIT
#include "adapters/kube/readiness.hpp"

#include <optional>

#include <fmt/format.h>

#include "adapters/kube/objects.hpp"

namespace snap::adapters::kube {

namespace {

Readiness waiting(std::string why) {
  return {Readiness::State::waiting, std::move(why)};
}

// j[key] when it is an integer, else `otherwise`.
std::int64_t int_of(const json& j, const char* key, std::int64_t otherwise) {
  if (!j.is_object()) {
    return otherwise;
  }
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>()
                                                  : otherwise;
}

// status.conditions, or none when that is not a list.
const json& conditions_of(const json& object) {
  static const json none = json::array();
  const json& st = object_at(object, "status");
  auto it = st.find("conditions");
  return it != st.end() && it->is_array() ? *it : none;
}

// ": reason: message", leaving out what is empty.
std::string because(const json& c) {
  std::string out;
  for (const char* f : {"reason", "message"}) {
    if (std::string v = str(c, f); !v.empty()) {
      out += ": " + v;
    }
  }
  return out;
}

std::string condition_text(const json& c) {
  return str(c, "type") + because(c);
}

// The generation check both kinds of rules start with.
std::optional<Readiness> generation_behind(const json& object) {
  std::int64_t generation = int_of(meta(object), "generation", -1);
  std::int64_t observed =
      int_of(object_at(object, "status"), "observedGeneration", -1);
  if (generation >= 0 && observed >= 0 && observed != generation) {
    return waiting(fmt::format("generation {} not yet seen by its "
                               "controller (it reports {})",
                               generation, observed));
  }
  return std::nullopt;
}

} // namespace

Readiness resource_readiness(const json& object) {
  if (!str(meta(object), "deletionTimestamp").empty()) {
    return waiting("being deleted");
  }
  if (auto behind = generation_behind(object)) {
    return *behind;
  }
  std::optional<Readiness> not_ready;
  for (const auto& c : conditions_of(object)) {
    std::string type = str(c, "type");
    std::string status = str(c, "status");
    if (type == "Stalled" && status == "True") {
      return {Readiness::State::failed, condition_text(c)};
    }
    if (type == "Reconciling" && status == "True") {
      return waiting(condition_text(c));
    }
    if (type == "Ready" && status != "True" && !not_ready) {
      not_ready = waiting(fmt::format(
          "Ready {}{}", status.empty() ? "unset" : status, because(c)));
    }
  }
  return not_ready.value_or(Readiness{});
}

Readiness workload_readiness(const json& object) {
  if (!str(meta(object), "deletionTimestamp").empty()) {
    return waiting("being deleted");
  }
  if (auto behind = generation_behind(object)) {
    return *behind;
  }
  const json& spec = object_at(object, "spec");
  const json& st = object_at(object, "status");
  bool deployment = str(object, "kind") == "Deployment";
  std::int64_t want = int_of(spec, "replicas", 1);
  std::int64_t have = int_of(st, "replicas", 0);
  std::int64_t updated = int_of(st, "updatedReplicas", 0);
  std::int64_t ready = int_of(st, "readyReplicas", 0);
  if (deployment) {
    for (const auto& c : conditions_of(object)) {
      if (str(c, "type") == "Progressing" &&
          str(c, "reason") == "ProgressDeadlineExceeded") {
        return {Readiness::State::failed, condition_text(c)};
      }
    }
  }
  if (want > have) {
    return waiting(fmt::format("{} of {} replicas made", have, want));
  }
  // A StatefulSet's: OnDelete, or a rolling update partitioned to update
  // only the pods from this ordinal up.
  const json& strategy = object_at(spec, "updateStrategy");
  bool on_delete = !deployment && str(strategy, "type") == "OnDelete";
  std::int64_t partition =
      deployment ? 0
                 : int_of(object_at(strategy, "rollingUpdate"), "partition", 0);
  if (!on_delete && want - partition > updated) {
    return waiting(
        fmt::format("{} of {} replicas updated", updated, want - partition));
  }
  if (have > want) {
    return waiting(fmt::format("{} extra replicas terminating", have - want));
  }
  if (deployment) {
    std::int64_t available = int_of(st, "availableReplicas", 0);
    if (updated > available) {
      return waiting(
          fmt::format("{} of {} replicas available", available, updated));
    }
  }
  if (want > ready) {
    return waiting(fmt::format("{} of {} replicas ready", ready, want));
  }
  if (!deployment && !on_delete && partition == 0 &&
      str(st, "currentRevision") != str(st, "updateRevision")) {
    return waiting("pods of the old revision still run");
  }
  return {};
}

} // namespace snap::adapters::kube
