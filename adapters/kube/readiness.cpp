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

const json& status_of(const json& object) {
  static const json none = json::object();
  auto it = object.is_object() ? object.find("status") : object.end();
  return object.is_object() && it != object.end() && it->is_object() ? *it
                                                                     : none;
}

const json& spec_of(const json& object) {
  static const json none = json::object();
  auto it = object.is_object() ? object.find("spec") : object.end();
  return object.is_object() && it != object.end() && it->is_object() ? *it
                                                                     : none;
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
  std::int64_t observed = int_of(status_of(object), "observedGeneration", -1);
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
  const json& conditions = status_of(object).value("conditions", json());
  if (!conditions.is_array()) {
    return {};
  }
  std::optional<Readiness> not_ready;
  for (const auto& c : conditions) {
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
  const json& spec = spec_of(object);
  const json& st = status_of(object);
  bool deployment = str(object, "kind") == "Deployment";
  std::int64_t want = int_of(spec, "replicas", 1);
  std::int64_t have = int_of(st, "replicas", 0);
  std::int64_t updated = int_of(st, "updatedReplicas", 0);
  std::int64_t ready = int_of(st, "readyReplicas", 0);
  if (deployment) {
    const json& conditions = st.value("conditions", json());
    for (const auto& c : conditions.is_array() ? conditions : json::array()) {
      if (str(c, "type") == "Progressing" &&
          str(c, "reason") == "ProgressDeadlineExceeded") {
        return {Readiness::State::failed, condition_text(c)};
      }
    }
  }
  if (want > have) {
    return waiting(fmt::format("{} of {} replicas made", have, want));
  }
  const json& strategy =
      deployment ? json::object() : spec.value("updateStrategy", json());
  bool on_delete = str(strategy, "type") == "OnDelete";
  // A partitioned rolling update updates the pods from this ordinal up.
  std::int64_t partition = int_of(
      strategy.is_object() ? strategy.value("rollingUpdate", json()) : json(),
      "partition", 0);
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
