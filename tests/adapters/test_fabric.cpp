// SPDX-License-Identifier: MIT
// The fabric adapter against snap-emulator kubernetes, which serves
// fabric-operator's and external-snapshotter's CRDs from shared/specs: a
// peer saved with what it owns and refers to, its PVCs snapshotted (state DB
// first), restored into an emptied namespace with its data back; conflict
// policies; a snapshot that never becomes ready; kubeconfig auth over TLS.
#include <atomic>
#include <csignal>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "snap/text.hpp"
#include "tests/adapters/suite.hpp"
#include "tests/support/archive_edit.hpp"
#include "tests/support/kube_rbac.hpp"
#include "tests/support/pki.hpp"
#include "tests/support/process.hpp"

namespace snap::test {
namespace {

using nlohmann::json;

const std::string k_ns = "fab";

// The CRDs of fabric-operator and the CSI snapshotter, and the operator
// (unless `operator_runs` is false), whose nodes' pods run `ready_ms` after
// being scheduled.
std::vector<std::string> crd_flags(int ready_ms = 100,
                                   bool operator_runs = true) {
  fs::path specs = SNAP_UPSTREAM_DIR;
  std::vector<std::string> flags;
  for (const char* f :
       {"fabric-operator/ibp.com_ibppeers.yaml",
        "fabric-operator/ibp.com_ibporderers.yaml",
        "fabric-operator/ibp.com_ibpcas.yaml",
        "fabric-operator/ibp.com_ibpconsoles.yaml",
        "external-snapshotter/snapshot.storage.k8s.io_volumesnapshots.yaml",
        "external-snapshotter/"
        "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
        "external-snapshotter/"
        "snapshot.storage.k8s.io_volumesnapshotclasses.yaml"}) {
    flags.push_back("--crd");
    flags.push_back((specs / f).string());
  }
  // A Fabric cluster runs its operator: it makes each resource's
  // Deployment and Service and reports the resource's status.
  if (!operator_runs) {
    return flags;
  }
  flags.push_back("--fabric-operator");
  flags.push_back("--operator-ready-ms");
  flags.push_back(std::to_string(ready_ms));
  return flags;
}

json call(const std::string& method, const std::string& url,
          const json& body = json()) {
  std::string out = http(method, url, body.is_null() ? "" : body.dump());
  return json::parse(out, nullptr, false);
}

std::string ns_url(const std::string& base, const std::string& api,
                   const std::string& plural, const std::string& name = "") {
  return base + api + "/namespaces/" + k_ns + "/" + plural +
         (name.empty() ? "" : "/" + name);
}

const std::string k_core = "/api/v1";
const std::string k_ibp = "/apis/ibp.com/v1beta1";
const std::string k_apps = "/apis/apps/v1";
const std::string k_vs = "/apis/snapshot.storage.k8s.io/v1";

// The object at `url` once its status.phase is `phase` (the emulator's
// controllers poll every 50 ms), or as it last was after 5 s.
json when_in_phase(const std::string& url, const std::string& phase) {
  json o;
  for (int i = 0; i < 100; ++i) {
    o = call("GET", url);
    // One just made may have no status yet.
    if (o.value("status", json::object()).value("phase", "") == phase) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return o;
}

// A PVC once the emulator's controller has bound it.
json when_bound(const std::string& url) { return when_in_phase(url, "Bound"); }

// A pod once it runs (after --pod-ms).
json when_running(const std::string& url) {
  return when_in_phase(url, "Running");
}

// The object at `url` once it exists (the emulated operator makes it within
// a reconcile, about 50 ms), or the last answer after 5 s.
json when_made(const std::string& url) {
  json o;
  for (int i = 0; i < 100; ++i) {
    o = call("GET", url);
    if (o.is_object() && o.value("kind", "") != "Status") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return o;
}

json owner_ref(const json& peer) {
  return json::array({{{"apiVersion", "ibp.com/v1beta1"},
                       {"kind", "IBPPeer"},
                       {"name", peer["metadata"]["name"]},
                       {"uid", peer["metadata"]["uid"]},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

json named(const std::string& kind, const std::string& name,
           const json& owners = json()) {
  json o = {{"apiVersion", "v1"},
            {"kind", kind},
            {"metadata", {{"name", name}, {"labels", {{"app", "peer1"}}}}}};
  if (!owners.is_null()) {
    o["metadata"]["ownerReferences"] = owners;
  }
  return o;
}

// A namespace with what fabric-operator makes for IBPPeer peer1, plus the
// user's MSP secret and registry secret it refers to, and an unrelated
// configmap. The PVs' data is marked so a restore can be told apart.
void seed_cluster(const std::string& url) {
  call("POST", url + k_core + "/namespaces",
       {{"apiVersion", "v1"},
        {"kind", "Namespace"},
        {"metadata", {{"name", k_ns}}}});
  call("POST", url + "/apis/storage.k8s.io/v1/storageclasses",
       {{"apiVersion", "storage.k8s.io/v1"},
        {"kind", "StorageClass"},
        {"metadata", {{"name", "csi-hostpath-sc"}}},
        {"provisioner", "hostpath.csi.k8s.io"}});
  call("POST", url + k_vs + "/volumesnapshotclasses",
       {{"apiVersion", "snapshot.storage.k8s.io/v1"},
        {"kind", "VolumeSnapshotClass"},
        {"metadata",
         {{"name", "csi-hostpath-snapclass"},
          {"annotations",
           {{"snapshot.storage.kubernetes.io/is-default-class", "true"}}}}},
        {"driver", "hostpath.csi.k8s.io"},
        {"deletionPolicy", "Delete"}});
}

void seed(const std::string& url) {
  seed_cluster(url);
  json peer = call("POST", ns_url(url, k_ibp, "ibppeers"),
                   {{"apiVersion", "ibp.com/v1beta1"},
                    {"kind", "IBPPeer"},
                    {"metadata", {{"name", "peer1"}}},
                    {"spec",
                     {{"license", {{"accept", true}}},
                      {"mspID", "Org1MSP"},
                      {"stateDb", "couchdb"},
                      {"mspSecret", "peer1-msp-user"},
                      {"version", "2.5.4"}}}});
  REQUIRE(peer["metadata"].contains("uid"));
  json owners = owner_ref(peer);
  json s1 = named("Secret", "ecert-peer1-signcert", owners);
  s1["data"] = {{"cert.pem", "LS0tLS1CRUdJTiBDRVJU"}};
  json s2 = named("Secret", "tls-peer1-keystore", owners);
  s2["data"] = {{"key.pem", "LS0tLS1CRUdJTiBLRVk="}};
  json user = named("Secret", "peer1-msp-user");
  user["data"] = {{"secret.json", "e30="}};
  json reg = named("Secret", "regcred");
  reg["type"] = "kubernetes.io/dockerconfigjson";
  reg["data"] = {{".dockerconfigjson", "e30="}};
  for (const auto& s : {s1, s2, user, reg}) {
    call("POST", ns_url(url, k_core, "secrets"), s);
  }
  json cm = named("ConfigMap", "peer1-config", owners);
  cm["data"] = {{"core.yaml", "peer:\n  id: peer1\n"}};
  call("POST", ns_url(url, k_core, "configmaps"), cm);
  json other = named("ConfigMap", "unrelated");
  other["metadata"].erase("labels");
  call("POST", ns_url(url, k_core, "configmaps"), other);
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    json p = named("PersistentVolumeClaim", pvc, owners);
    p["spec"] = {{"accessModes", {"ReadWriteOnce"}},
                 {"storageClassName", "csi-hostpath-sc"},
                 {"resources", {{"requests", {{"storage", "10Gi"}}}}}};
    call("POST", ns_url(url, k_core, "persistentvolumeclaims"), p);
  }
  call("POST", ns_url(url, k_core, "serviceaccounts"),
       named("ServiceAccount", "peer1", owners));
  json svc = named("Service", "peer1", owners);
  svc["spec"] = {{"type", "ClusterIP"},
                 {"selector", {{"app", "peer1"}}},
                 {"ports", {{{"name", "peer-api"}, {"port", 7051}}}}};
  // The operator made the Service and Deployment when the peer appeared;
  // they are given what fabric-operator puts in them (its
  // override/deployment.go: the crypto secrets, the PVCs, the config).
  call("POST", ns_url(url, k_core, "services"), svc);
  REQUIRE(when_made(ns_url(url, k_core, "services", "peer1")).contains("spec"));
  call("PATCH", ns_url(url, k_core, "services", "peer1"),
       {{"spec", svc["spec"]}});
  json dep = named("Deployment", "peer1", owners);
  dep["apiVersion"] = "apps/v1";
  json volumes = json::array();
  volumes.push_back({{"name", "ecert"},
                     {"secret", {{"secretName", "ecert-peer1-signcert"}}}});
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    volumes.push_back(
        {{"name", pvc}, {"persistentVolumeClaim", {{"claimName", pvc}}}});
  }
  json container = {{"name", "peer"},
                    {"image", "hyperledger/fabric-peer:2.5.4"}};
  container["envFrom"] =
      json::array({{{"configMapRef", {{"name", "peer1-config"}}}}});
  json pod = {{"containers", json::array({container})}, {"volumes", volumes}};
  pod["imagePullSecrets"] = json::array({{{"name", "regcred"}}});
  dep["spec"] = {
      {"replicas", 1},
      {"selector", {{"matchLabels", {{"app", "peer1"}}}}},
      {"template",
       {{"metadata", {{"labels", {{"app", "peer1"}}}}}, {"spec", pod}}}};
  call("POST", ns_url(url, k_apps, "deployments"), dep);
  REQUIRE(
      when_made(ns_url(url, k_apps, "deployments", "peer1")).contains("spec"));
  call("PATCH", ns_url(url, k_apps, "deployments", "peer1"),
       {{"spec", dep["spec"]}});
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    json p = when_bound(ns_url(url, k_core, "persistentvolumeclaims", pvc));
    std::string pv = p["spec"].value("volumeName", "");
    REQUIRE_FALSE(pv.empty());
    call("PATCH", url + k_core + "/persistentvolumes/" + pv,
         {{"metadata",
           {{"annotations",
             {{"snap-emulator/data", std::string("data of ") + pvc}}}}}});
  }
}

// The fields a user compares after a restore: what the object says, not
// what the server set.
json comparable(json o) {
  for (const char* f : {"uid", "resourceVersion", "creationTimestamp",
                        "generation", "managedFields", "ownerReferences"}) {
    o["metadata"].erase(f);
  }
  o.erase("status");
  if (o.contains("spec")) {
    for (const char* f :
         {"clusterIP", "clusterIPs", "volumeName", "dataSource"}) {
      o["spec"].erase(f);
    }
  }
  return o;
}

std::string state(const std::string& url) {
  json cm = call("GET", ns_url(url, k_core, "configmaps", "peer1-config"));
  json secrets = call("GET", ns_url(url, k_core, "secrets"));
  std::string out = cm.value("data", json::object()).dump();
  for (const auto& s : secrets.value("items", json::array())) {
    out += " " + s["metadata"].value("name", "");
  }
  return out;
}

void mutate(const std::string& url) {
  call("PATCH", ns_url(url, k_core, "configmaps", "peer1-config"),
       {{"data", {{"core.yaml", "changed"}}}});
}

// Every object of the peer as the test reads it, by "plural/name".
std::map<std::string, json> peer_objects(const std::string& url) {
  std::map<std::string, json> out;
  for (const auto& [api, plural] :
       std::vector<std::pair<std::string, std::string>>{
           {k_core, "secrets"},
           {k_core, "configmaps"},
           {k_core, "persistentvolumeclaims"},
           {k_core, "serviceaccounts"},
           {k_core, "services"},
           {k_apps, "deployments"},
           {k_ibp, "ibppeers"}}) {
    json list = call("GET", ns_url(url, api, plural));
    for (auto& item : list.value("items", json::array())) {
      out[plural + "/" + item["metadata"].value("name", "")] = item;
    }
  }
  return out;
}

// Deletes the peer (its operator-made objects go with it, PVCs and their
// volumes included) and the secrets it refers to.
void empty_namespace(const std::string& url) {
  call("DELETE", ns_url(url, k_ibp, "ibppeers", "peer1"),
       {{"kind", "DeleteOptions"},
        {"apiVersion", "v1"},
        {"propagationPolicy", "Background"}});
  call("DELETE", ns_url(url, k_core, "secrets", "peer1-msp-user"));
  call("DELETE", ns_url(url, k_core, "secrets", "regcred"));
  REQUIRE(peer_objects(url).size() == 1); // configmaps/unrelated
}

std::string only_archive(const TempDir& dir) {
  auto files = dir.list();
  REQUIRE(files.size() == 1);
  return (dir.path() / files[0]).string();
}

std::vector<std::string> target(const Emulator& emu) {
  return {"--addr", emu.url(), "--namespace", k_ns};
}

// Saves peer1 from `emu` into `dir` with `flags`, which must succeed, and
// returns the archive's path.
std::string save_peer(const Emulator& emu, const TempDir& dir,
                      const std::vector<std::string>& flags = {}) {
  auto r = snap(with(with({"--json", "save", "fabric", "ibppeers.ibp.com/peer1",
                           "-o", dir.path().string()},
                          flags),
                     target(emu)));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Both volume snapshots are cut within the same second or two.
  json source = json::parse(r.out)["source"];
  CHECK(source["members"]["peer"] == json::array({"peer1"}));
  if (source["volume_snapshots"] != 0) {
    CHECK(source["snapshot_spread_s"].get<int>() <= 2);
  }
  return only_archive(dir);
}

} // namespace

AdapterFixture conformance_fabric() {
  AdapterFixture f;
  f.adapter = "fabric";
  f.emulator = "kubernetes";
  f.target_flags = {"--namespace", k_ns};
  f.save_flags = {"ibppeers.ibp.com/peer1"};
  f.restore_flags = {"--conflict", "replace"};
  f.emulator_flags = [] { return crd_flags(); };
  f.token_flag_env = "SNAP_FABRIC_TOKEN";
  f.seed = seed;
  f.state = state;
  f.mutate = mutate;
  return f;
}

TEST_CASE("fabric: the adapter conformance suite", "[e2e][fabric]") {
  run_conformance(*conformance_fixture("fabric"));
}

TEST_CASE("fabric: a peer saved and restored into an emptied namespace",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  auto before = peer_objects(emu.url());
  TempDir dir;
  auto saved = snap(with(
      {"save", "fabric", "ibppeers.ibp.com/peer1", "-o", dir.path().string()},
      target(emu)));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.out.find("ibppeers.ibp.com/peer1 in fab") != std::string::npos);
  CHECK(saved.out.find("2 volume snapshots") != std::string::npos);
  std::string archive = only_archive(dir);

  // The state DB's snapshot is cut before the ledger's is asked for.
  auto reqs = emu.requests();
  auto first = [&](const std::string& needle) {
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      if (reqs[i].find(needle) != std::string::npos) {
        return i;
      }
    }
    return reqs.size();
  };
  CHECK(first("volumesnapshots/snap-peer1-statedb-pvc-") <
        first("volumesnapshots/snap-peer1-pvc-"));
  CHECK(first("volumesnapshots/snap-peer1-pvc-") < reqs.size());

  auto inspected = snap({"inspect", archive});
  INFO(inspected.err);
  REQUIRE(inspected.exit_code == 0);
  CHECK(inspected.out.find("snap-peer1-statedb-pvc-") != std::string::npos);
  CHECK(inspected.out.find("unencrypted") != std::string::npos);

  auto status = snap(with({"status", "fabric", archive}, target(emu)));
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("2 of 2") != std::string::npos);
  {
    // status needs the backup id, not the payload: a damaged payload does
    // not stop it, while inspect refuses the archive.
    TempDir other;
    std::string damaged = (other.path() / "damaged.zip").string();
    std::string bytes = read_file(archive);
    auto cd = bytes.find("PK\x01\x02");
    REQUIRE(cd != std::string::npos);
    bytes[cd - 10] = static_cast<char>(bytes[cd - 10] ^ 0x01);
    write_file(damaged, bytes);
    CHECK(snap({"inspect", damaged}).exit_code == 7);
    auto quick = snap(with({"status", "fabric", damaged}, target(emu)));
    INFO(quick.err);
    CHECK(quick.exit_code == 0);
    CHECK(quick.out.find("2 of 2") != std::string::npos);
  }

  empty_namespace(emu.url());
  auto restored =
      snap(with({"restore", "fabric", archive, "--yes"}, target(emu)));
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);

  // A second restore finds everything identical, PVCs made from their
  // snapshots included.
  auto again = snap(with({"restore", "fabric", archive, "--yes"}, target(emu)));
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("skip persistentvolumeclaims/peer1-pvc (exists, "
                       "identical)") != std::string::npos);
  // The Deployment the operator made anew differs from the saved one, and
  // is left to the operator: no conflict.
  CHECK(again.out.find("leave deployments.apps/peer1 to its operator") !=
        std::string::npos);
  // Every object is back as it was, minus what the server sets; the
  // unrelated configmap was never part of it.
  // What the operator makes from the restored peer (its Deployment and
  // Service) is the operator's, and is left to it.
  auto after = peer_objects(emu.url());
  CHECK(after.size() == before.size());
  for (const auto& [id, obj] : before) {
    INFO(id);
    REQUIRE(after.contains(id));
    if (id != "deployments/peer1" && id != "services/peer1") {
      CHECK(comparable(after[id]) == comparable(obj));
    }
  }
  CHECK(restored.out.find("in place deployments.apps/peer1 (made by its "
                          "operator)") != std::string::npos);
  CHECK(restored.out.find("peers ready: peer1") != std::string::npos);
  // Owned objects point at the new peer, so GC works as before.
  std::string new_uid = after["ibppeers/peer1"]["metadata"]["uid"];
  CHECK(new_uid != before["ibppeers/peer1"]["metadata"]["uid"]);
  CHECK(after["secrets/ecert-peer1-signcert"]["metadata"]["ownerReferences"][0]
             ["uid"] == new_uid);
  CHECK_FALSE(
      after["secrets/peer1-msp-user"]["metadata"].contains("ownerReferences"));
  // The PVCs come from the snapshots, with the data they held.
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    INFO(pvc);
    json p = after[std::string("persistentvolumeclaims/") + pvc];
    CHECK(p["spec"]["dataSource"]["kind"] == "VolumeSnapshot");
    json bound =
        when_bound(ns_url(emu.url(), k_core, "persistentvolumeclaims", pvc));
    REQUIRE(bound["status"]["phase"] == "Bound");
    json pv = call("GET", emu.url() + k_core + "/persistentvolumes/" +
                              bound["spec"].value("volumeName", ""));
    CHECK(pv["metadata"]["annotations"]["snap-emulator/data"] ==
          std::string("data of ") + pvc);
  }
}

TEST_CASE("kubernetes emulator: updates need the current resourceVersion",
          "[e2e][fabric]") {
  // No operator: its status updates would move the resourceVersion.
  Emulator emu("kubernetes", crd_flags(0, false));
  seed(emu.url());
  std::string peer_url = ns_url(emu.url(), k_ibp, "ibppeers", "peer1");
  json peer = call("GET", peer_url);
  json stale = peer;
  peer["spec"]["version"] = "2.5.5";
  json updated = call("PUT", peer_url, peer);
  CHECK(updated["spec"]["version"] == "2.5.5");
  CHECK(updated["metadata"]["resourceVersion"] !=
        stale["metadata"]["resourceVersion"]);
  // An old resourceVersion is a 409 Conflict; none at all, on a custom
  // resource, a 422.
  json conflict = call("PUT", peer_url, stale);
  CHECK(conflict["code"] == 409);
  CHECK(conflict["reason"] == "Conflict");
  stale["metadata"].erase("resourceVersion");
  json invalid = call("PUT", peer_url, stale);
  CHECK(invalid["code"] == 422);
  json exists = call("POST", ns_url(emu.url(), k_ibp, "ibppeers"),
                     {{"apiVersion", "ibp.com/v1beta1"},
                      {"kind", "IBPPeer"},
                      {"metadata", {{"name", "peer1"}}}});
  CHECK(exists["reason"] == "AlreadyExists");
  CHECK(exists["details"]["group"] == "ibp.com");
  // A strategic merge patch is refused on custom resources (415).
  auto r = run({"/usr/bin/curl", "-s", "-X", "PATCH", "-H",
                "Content-Type: application/strategic-merge-patch+json",
                "--data-binary", "{}", peer_url});
  CHECK(json::parse(r.out)["code"] == 415);
}

TEST_CASE("kubernetes emulator: the server keeps metadata.generation and "
          "the workload controllers report a rollout",
          "[e2e][fabric]") {
  // No operator: only the test changes the objects.
  Emulator emu("kubernetes",
               with(crd_flags(0, false), {"--workload-ready-ms", "300"}));
  seed(emu.url());
  std::string peer_url = ns_url(emu.url(), k_ibp, "ibppeers", "peer1");
  json peer = call("GET", peer_url);
  CHECK(peer["metadata"]["generation"] == 1);
  // A status write and a label are not the spec; a spec change is, and a
  // generation the client sends is not taken.
  peer["status"] = {{"type", "Deploying"}};
  peer = call("PUT", peer_url + "/status", peer);
  CHECK(peer["metadata"]["generation"] == 1);
  peer = call("PATCH", peer_url, {{"metadata", {{"labels", {{"a", "b"}}}}}});
  CHECK(peer["metadata"]["generation"] == 1);
  peer["spec"]["version"] = "2.5.5";
  peer["metadata"]["generation"] = 99;
  peer = call("PUT", peer_url, peer);
  CHECK(peer["metadata"]["generation"] == 2);

  std::string dep_url = ns_url(emu.url(), k_apps, "deployments", "d");
  json labels = {{"app", "d"}};
  call("POST", ns_url(emu.url(), k_apps, "deployments"),
       {{"apiVersion", "apps/v1"},
        {"kind", "Deployment"},
        {"metadata", {{"name", "d"}}},
        {"spec",
         {{"replicas", 2},
          {"selector", {{"matchLabels", labels}}},
          {"template", {{"metadata", {{"labels", labels}}}}}}}});
  // The status as the controller writes it, once it has one for `gen`.
  auto status_at = [&](int gen) {
    json st;
    for (int i = 0; i < 100; ++i) {
      st = call("GET", dep_url).value("status", json::object());
      if (st.value("observedGeneration", 0) == gen) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return st;
  };
  json st = status_at(1);
  CHECK(st["replicas"] == 2);
  CHECK(st["updatedReplicas"] == 2);
  CHECK(st["readyReplicas"] == 0);
  CHECK(st["unavailableReplicas"] == 2);
  CHECK(st["conditions"][0]["reason"] == "MinimumReplicasUnavailable");
  CHECK(st["conditions"][1]["reason"] == "ReplicaSetUpdated");
  for (int i = 0; i < 100 && st.value("availableReplicas", 0) != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    st = call("GET", dep_url)["status"];
  }
  CHECK(st["availableReplicas"] == 2);
  CHECK_FALSE(st.contains("unavailableReplicas"));
  CHECK(st["conditions"][0] ==
        json{{"type", "Available"},
             {"status", "True"},
             {"reason", "MinimumReplicasAvailable"},
             {"message", "Deployment has minimum availability."}});
  CHECK(st["conditions"][1]["reason"] == "NewReplicaSetAvailable");
  // Scaling is a spec change: a new generation, rolled out again.
  json scaled = call("PATCH", dep_url, {{"spec", {{"replicas", 3}}}});
  CHECK(scaled["metadata"]["generation"] == 2);
  st = status_at(2);
  CHECK(st["replicas"] == 3);
  CHECK(st["readyReplicas"] == 0);
}

TEST_CASE("fabric: an orderer with its node and genesis block",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  std::string url = emu.url();
  seed_cluster(url);
  json spec = {{"license", {{"accept", true}}}, {"mspID", "OrdererMSP"}};
  json parent = call("POST", ns_url(url, k_ibp, "ibporderers"),
                     {{"apiVersion", "ibp.com/v1beta1"},
                      {"kind", "IBPOrderer"},
                      {"metadata", {{"name", "orderer"}}},
                      {"spec", spec}});
  REQUIRE(parent["metadata"].contains("uid"));
  json node =
      call("POST", ns_url(url, k_ibp, "ibporderers"),
           {{"apiVersion", "ibp.com/v1beta1"},
            {"kind", "IBPOrderer"},
            {"metadata",
             {{"name", "orderernode1"}, {"labels", {{"parent", "orderer"}}}}},
            {"spec", spec}});
  json owners = json::array({{{"apiVersion", "ibp.com/v1beta1"},
                              {"kind", "IBPOrderer"},
                              {"name", "orderernode1"},
                              {"uid", node["metadata"]["uid"]},
                              {"controller", true}}});
  std::string block("GENESIS\x00\x01\x02block", 16);
  json genesis = named("Secret", "orderernode1-genesis", owners);
  genesis["data"] = {{"orderer.block", base64_encode(block)}};
  call("POST", ns_url(url, k_core, "secrets"), genesis);
  call("POST", ns_url(url, k_core, "configmaps"),
       named("ConfigMap", "orderernode1-config", owners));
  REQUIRE(when_made(ns_url(url, k_apps, "deployments", "orderernode1"))
              .contains("spec"));
  REQUIRE(when_made(ns_url(url, k_core, "services", "orderernode1"))
              .contains("spec"));

  TempDir dir;
  auto saved = snap(with({"save", "fabric", "ibporderers.ibp.com/orderer", "-o",
                          dir.path().string()},
                         target(emu)));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  // The node, its two objects and the Deployment and Service its operator
  // made, the parent, and the IBPOrderer CRD.
  CHECK(saved.out.find("7 objects") != std::string::npos);
  std::string archive = only_archive(dir);
  auto unzipped = run(
      {"/usr/bin/unzip", "-p", archive, "payload/genesis/orderernode1.block"});
  CHECK(unzipped.out == block);
  auto inspected = snap({"inspect", archive});
  CHECK(inspected.out.find("orderernode1 (16 bytes)") != std::string::npos);

  // Everything of the preset in the namespace is the same set here.
  TempDir all;
  auto everything = snap(
      with({"save", "fabric", "--all-in-namespace", "-o", all.path().string()},
           target(emu)));
  INFO(everything.err);
  CHECK(everything.exit_code == 0);
  CHECK(everything.out.find("7 objects") != std::string::npos);
  CHECK(everything.out.find("ibporderers.ibp.com/orderernode1") !=
        std::string::npos);

  for (const char* name : {"orderer", "orderernode1"}) {
    call("DELETE", ns_url(url, k_ibp, "ibporderers", name));
  }
  REQUIRE(call("GET", ns_url(url, k_core, "secrets"))["items"].empty());
  auto restored =
      snap(with({"restore", "fabric", archive, "--yes"}, target(emu)));
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);
  // Secrets first, then the node, then its parent (which would otherwise
  // make a node and a genesis block anew).
  auto at = [&](const std::string& s) { return restored.out.find(s); };
  CHECK(at("created secrets/orderernode1-genesis") <
        at("created ibporderers.ibp.com/orderernode1"));
  CHECK(at("created ibporderers.ibp.com/orderernode1") <
        at("created ibporderers.ibp.com/orderer\n"));
  json back =
      call("GET", ns_url(url, k_core, "secrets", "orderernode1-genesis"));
  CHECK(base64_decode(back["data"].value("orderer.block", "")) == block);
}

TEST_CASE("fabric: restored into another namespace, the snapshots are "
          "imported from their storage handles",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  TempDir dir;
  std::string archive = save_peer(emu, dir);
  // VolumeSnapshots are namespaced: fab2 has none, so the restore makes
  // each again from the storage snapshot its content names.
  auto r = snap({"-v", "restore", "fabric", archive, "--yes", "--addr",
                 emu.url(), "--namespace", "fab2"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("created namespace fab2") != std::string::npos);
  CHECK(r.err.find("imported VolumeSnapshot snap-peer1-pvc-") !=
        std::string::npos);
  std::string base = emu.url() + k_core + "/namespaces/fab2/";
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    INFO(pvc);
    json bound = when_bound(base + "persistentvolumeclaims/" + pvc);
    REQUIRE(bound["status"]["phase"] == "Bound");
    json vs =
        call("GET", emu.url() + k_vs + "/namespaces/fab2/volumesnapshots/" +
                        bound["spec"]["dataSource"].value("name", ""));
    CHECK(vs["spec"]["source"].contains("volumeSnapshotContentName"));
    json pv = call("GET", emu.url() + k_core + "/persistentvolumes/" +
                              bound["spec"].value("volumeName", ""));
    CHECK(pv["metadata"]["annotations"]["snap-emulator/data"] ==
          std::string("data of ") + pvc);
  }
  json peer =
      call("GET", emu.url() + k_ibp + "/namespaces/fab2/ibppeers/peer1");
  CHECK(peer["kind"] == "IBPPeer");
}

TEST_CASE("fabric: restore conflicts fail, skip or replace", "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  TempDir dir;
  std::string archive = save_peer(emu, dir);
  std::string cm_url = ns_url(emu.url(), k_core, "configmaps", "peer1-config");

  SECTION("identical objects are left as they are") {
    auto r = snap(with({"restore", "fabric", archive, "--yes"}, target(emu)));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("skip configmaps/peer1-config (exists, identical)") !=
          std::string::npos);
  }
  mutate(emu.url());
  std::string old_uid = call("GET", cm_url)["metadata"]["uid"];

  SECTION("fail (the default) changes nothing and names the object") {
    auto posts_before = emu.requests().size();
    auto r = snap(with({"restore", "fabric", archive, "--yes"}, target(emu)));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("configmaps/peer1-config") != std::string::npos);
    CHECK(r.err.find("nothing was changed") != std::string::npos);
    auto reqs = emu.requests();
    for (std::size_t i = posts_before; i < reqs.size(); ++i) {
      CHECK(reqs[i].rfind("GET ", 0) == 0);
    }
    CHECK(call("GET", cm_url)["data"]["core.yaml"] == "changed");
  }
  SECTION("named objects alone are restored") {
    auto r = snap(with({"restore", "fabric", archive, "configmaps/peer1-config",
                        "--yes", "--conflict", "replace"},
                       target(emu)));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("replaced configmaps/peer1-config") != std::string::npos);
    CHECK(r.out.find("secrets/") == std::string::npos);
    // It belongs to the live peer, as before.
    json peer = call("GET", ns_url(emu.url(), k_ibp, "ibppeers", "peer1"));
    CHECK(call("GET", cm_url)["metadata"]["ownerReferences"][0]["uid"] ==
          peer["metadata"]["uid"]);
    CHECK(call("GET", cm_url)["data"]["core.yaml"] == "peer:\n  id: peer1\n");
    auto missing =
        snap(with({"restore", "fabric", archive, "configmaps/nope", "--yes"},
                  target(emu)));
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("configmaps/nope is not in the archive") !=
          std::string::npos);
  }
  SECTION("skip leaves the live object") {
    auto r =
        snap(with({"restore", "fabric", archive, "--yes", "--conflict", "skip"},
                  target(emu)));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(
        r.out.find("skip configmaps/peer1-config (exists, --conflict skip)") !=
        std::string::npos);
    CHECK(call("GET", cm_url)["data"]["core.yaml"] == "changed");
  }
  SECTION("replace recreates it, owned by the live peer") {
    auto dry = snap(with(
        {"restore", "fabric", archive, "--dry-run", "--conflict", "replace"},
        target(emu)));
    INFO(dry.err);
    CHECK(dry.exit_code == 0);
    CHECK(dry.out.find("replace configmaps/peer1-config") != std::string::npos);
    CHECK(call("GET", cm_url)["data"]["core.yaml"] == "changed");

    auto r = snap(
        with({"restore", "fabric", archive, "--yes", "--conflict", "replace"},
             target(emu)));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    json cm = call("GET", cm_url);
    CHECK(cm["data"]["core.yaml"] == "peer:\n  id: peer1\n");
    CHECK(cm["metadata"]["uid"] != old_uid);
    json peer = call("GET", ns_url(emu.url(), k_ibp, "ibppeers", "peer1"));
    CHECK(cm["metadata"]["ownerReferences"][0]["uid"] ==
          peer["metadata"]["uid"]);
  }
  SECTION("replacing the peer orphans what it owns, then re-links it") {
    std::string peer_url = ns_url(emu.url(), k_ibp, "ibppeers", "peer1");
    std::string old_peer = call("GET", peer_url)["metadata"]["uid"];
    call("PATCH", peer_url, {{"spec", {{"version", "2.5.9"}}}});
    std::string pvc_url = ns_url(emu.url(), k_core, "persistentvolumeclaims",
                                 "peer1-statedb-pvc");
    std::string old_pvc = call("GET", pvc_url)["metadata"]["uid"];
    auto r = snap(
        with({"restore", "fabric", archive, "--yes", "--conflict", "replace"},
             target(emu)));
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    json peer = call("GET", peer_url);
    CHECK(peer["spec"]["version"] == "2.5.4");
    CHECK(peer["metadata"]["uid"] != old_peer);
    // The state DB's PVC was neither garbage-collected nor replaced, and
    // belongs to the new peer.
    json pvc = call("GET", pvc_url);
    CHECK(pvc["metadata"]["uid"] == old_pvc);
    CHECK(pvc["metadata"]["ownerReferences"][0]["uid"] ==
          peer["metadata"]["uid"]);
  }
}

TEST_CASE("fabric: manifests restored into another cluster; objects that "
          "fail are named and exit 3",
          "[e2e][fabric]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  auto saved = snap(with({"save", "fabric", "ibppeers.ibp.com/peer1", "-o",
                          dir.path().string(), "--no-volume-snapshots"},
                         target(source)));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.out.find("0 volume snapshots") != std::string::npos);

  Emulator other("kubernetes",
                 with(crd_flags(), {"--reject-create", "tls-peer1-keystore"}));
  auto r = snap(
      with({"restore", "fabric", only_archive(dir), "--yes"}, target(other)));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("failed secrets/tls-peer1-keystore: ") != std::string::npos);
  CHECK(r.out.find("created configmaps/peer1-config") != std::string::npos);
  CHECK(r.err.find("1 of ") != std::string::npos);
  // The namespace was made; everything else arrived.
  CHECK(call("GET", ns_url(other.url(), k_ibp, "ibppeers", "peer1"))["kind"] ==
        "IBPPeer");
  auto restored = peer_objects(other.url());
  CHECK(restored.size() == peer_objects(source.url()).size() - 2);
  CHECK_FALSE(restored.contains("configmaps/unrelated"));
}

TEST_CASE("fabric: a fresh cluster gets the CRD first, then the peer",
          "[e2e][fabric]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  std::string archive = save_peer(source, dir, {"--no-volume-snapshots"});
  // A cluster that has never seen fabric-operator's CRDs, nor runs the
  // operator: the peer never runs, so the restore stops after its tier,
  // partial, saying what is left.
  Emulator fresh("kubernetes");
  auto r =
      snap(with({"restore", "fabric", archive, "--yes", "--ready-timeout", "1"},
                target(fresh)));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 3);
  std::string crd = "created customresourcedefinitions.apiextensions.k8s.io/"
                    "ibppeers.ibp.com";
  CHECK(r.out.find(crd) < r.out.find("created ibppeers.ibp.com/peer1"));
  CHECK(r.err.find("the peers are not ready after 1 s (peer1: no status)") !=
        std::string::npos);
  CHECK(r.out.find("Next: not restored yet: ") != std::string::npos);
  CHECK(r.out.find("created deployments.apps/peer1") == std::string::npos);
  CHECK(call("GET", ns_url(fresh.url(), k_ibp, "ibppeers", "peer1"))["kind"] ==
        "IBPPeer");
  // In a cluster that has the CRD, it is left alone whatever --conflict;
  // --ready-timeout 0 does not wait for the peer.
  auto again = snap(with({"restore", "fabric", archive, "--yes", "--conflict",
                          "replace", "--ready-timeout", "0"},
                         target(fresh)));
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("skip customresourcedefinitions.apiextensions.k8s.io/"
                       "ibppeers.ibp.com") != std::string::npos);
}

TEST_CASE("fabric: --preset catalyx finds CatalyX's kinds by discovery",
          "[e2e][fabric]") {
  Emulator emu("kubernetes");
  std::string url = emu.url();
  seed_cluster(url);
  // CatalyX's schemas are not public; a minimal CRD in its group and a
  // version discovery has to find.
  call("POST", url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
       {{"apiVersion", "apiextensions.k8s.io/v1"},
        {"kind", "CustomResourceDefinition"},
        {"metadata", {{"name", "peers.peerset.hyperledger.fabric"}}},
        {"spec",
         {{"group", "peerset.hyperledger.fabric"},
          {"scope", "Namespaced"},
          {"names",
           {{"plural", "peers"}, {"singular", "peer"}, {"kind", "Peer"}}},
          {"versions",
           {{{"name", "v1alpha2"},
             {"served", true},
             {"storage", true},
             {"subresources", {{"status", json::object()}}}}}}}}});
  std::string peers = url + "/apis/peerset.hyperledger.fabric/v1alpha2/"
                            "namespaces/fab/peers";
  json peer = call("POST", peers,
                   {{"apiVersion", "peerset.hyperledger.fabric/v1alpha2"},
                    {"kind", "Peer"},
                    {"metadata", {{"name", "org1-peer0"}}},
                    {"spec", {{"mspID", "Org1MSP"}}}});
  REQUIRE(peer["metadata"].contains("uid"));
  json cm =
      named("ConfigMap", "org1-peer0-core",
            json::array({{{"apiVersion", "peerset.hyperledger.fabric/v1alpha2"},
                          {"kind", "Peer"},
                          {"name", "org1-peer0"},
                          {"uid", peer["metadata"]["uid"]}}}));
  call("POST", ns_url(url, k_core, "configmaps"), cm);
  TempDir dir;
  auto saved = snap(with({"save", "fabric", "--preset", "catalyx",
                          "--all-in-namespace", "-o", dir.path().string()},
                         target(emu)));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(saved.out.find("peers.peerset.hyperledger.fabric/org1-peer0 in fab: "
                       "3 objects") != std::string::npos);
  auto unknown = snap(with({"save", "fabric", "--preset", "hlf",
                            "--all-in-namespace", "-o", dir.path().string()},
                           target(emu)));
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("fabric-operator or catalyx") != std::string::npos);
}

TEST_CASE("fabric: list and delete work on a backup's VolumeSnapshots",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  TempDir dir;
  auto saved = snap(with({"save", "fabric", "ibppeers.ibp.com/peer1", "-o",
                          dir.path().string(), "--json"},
                         target(emu)));
  REQUIRE(saved.exit_code == 0);
  std::string id = json::parse(saved.out)["backup_id"];
  auto listed = snap(with({"list", "fabric", "--json"}, target(emu)));
  INFO(listed.err);
  REQUIRE(listed.exit_code == 0);
  json rows = json::parse(listed.out)["backups"];
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["id"] == id);
  CHECK(rows[0]["volume_snapshots"] == 2);
  CHECK(rows[0]["ready"] == true);

  auto refused = snap(with({"delete", "fabric", id}, target(emu)));
  CHECK(refused.exit_code == 2);
  auto deleted = snap(with({"delete", "fabric", id, "--yes"}, target(emu)));
  INFO(deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK(
      call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"))["items"].empty());
  // Their contents and storage snapshots went with them.
  CHECK(call("GET", emu.url() + k_vs + "/volumesnapshotcontents")["items"]
            .empty());
  auto again = snap(with({"delete", "fabric", id, "--yes"}, target(emu)));
  CHECK(again.exit_code == 6);
}

TEST_CASE("fabric: save --keep --prune-target prunes older archives of the "
          "same resources with their VolumeSnapshots",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  TempDir dir;
  auto save = [&](const std::string& what, bool prune_target) {
    std::vector<std::string> args = {
        "save", "fabric", what, "-o", dir.path().string(), "--keep", "1"};
    if (prune_target) {
      args.push_back("--prune-target");
    }
    auto r = snap(with(args, target(emu)));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  auto backups_left = [&] {
    json left = call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"));
    std::set<std::string> ids;
    for (const auto& vs : left["items"]) {
      ids.insert(vs["metadata"]["labels"]["snap/backup"].get<std::string>());
    }
    return std::pair{left["items"].size(), ids.size()};
  };
  // Another subject in the same directory is a group of its own.
  save("configmaps/unrelated", true);
  save("ibppeers.ibp.com/peer1", true);
  std::string second = save("ibppeers.ibp.com/peer1", true);
  CHECK(second.find("and its 2 VolumeSnapshots snap/backup=") !=
        std::string::npos);
  CHECK(dir.list().size() == 2);
  // Only the newest peer backup's two snapshots are left.
  CHECK(backups_left() == std::pair<std::size_t, std::size_t>{2, 1});
  // Without the flag the archive goes and its snapshots stay, as it says.
  std::string third = save("ibppeers.ibp.com/peer1", false);
  CHECK(third.find("stays on the target (--prune-target deletes it)") !=
        std::string::npos);
  CHECK(dir.list().size() == 2);
  CHECK(backups_left() == std::pair<std::size_t, std::size_t>{4, 2});
}

TEST_CASE("fabric: a snapshot that never becomes ready times out and leaves "
          "nothing",
          "[e2e][fabric]") {
  Emulator emu("kubernetes",
               with(crd_flags(), {"--volume-snapshot-outcome", "never"}));
  seed(emu.url());
  TempDir dir;
  auto r = snap(with({"save", "fabric", "ibppeers.ibp.com/peer1", "-o",
                      dir.path().string(), "--snapshot-timeout", "2"},
                     target(emu)));
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("--snapshot-timeout") != std::string::npos);
  CHECK(dir.list().empty());
  json left = call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"));
  CHECK(left["items"].empty());
}

TEST_CASE("fabric: --quiesce scales the peer down for the snapshots and "
          "always back",
          "[e2e][fabric]") {
  std::string outcome = GENERATE("ready", "never", "interrupted", "terminated");
  bool signalled = outcome == "interrupted" || outcome == "terminated";
  Emulator emu(
      "kubernetes",
      with(crd_flags(),
           {"--volume-snapshot-outcome", outcome == "never" ? "never" : "ready",
            "--volume-snapshot-ms", signalled ? "60000" : "300"}));
  seed(emu.url());
  std::size_t seeded = emu.requests().size();
  TempDir dir;
  RunOptions opts;
  if (signalled) {
    opts.signal_when = [&] {
      return emu.received("POST " + k_vs + "/namespaces/fab/volumesnapshots");
    };
    opts.signal = outcome == "terminated" ? SIGTERM : SIGINT;
  }
  auto r =
      snap(with({"save", "fabric", "ibppeers.ibp.com/peer1", "-o",
                 dir.path().string(), "--quiesce", "--snapshot-timeout", "2"},
                target(emu)),
           opts);
  INFO(outcome << ": " << r.err);
  CHECK(r.exit_code == (outcome == "ready"         ? 0
                        : outcome == "never"       ? 4
                        : outcome == "interrupted" ? 130
                                                   : 143));
  CHECK(dir.list().size() == (outcome == "ready" ? 1u : 0u));
  // The operator builds the Deployment from the peer: the peer's own
  // spec.replicas is what is scaled, and set back to what it was (unset).
  auto reqs = emu.requests();
  std::string scale = "PATCH " + k_ibp + "/namespaces/fab/ibppeers/peer1";
  std::vector<std::size_t> patches;
  std::size_t first_snapshot = reqs.size();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    if (reqs[i].rfind(scale, 0) == 0) {
      patches.push_back(i);
    } else if (reqs[i].rfind("POST " + k_vs + "/namespaces/", 0) == 0) {
      first_snapshot = std::min(first_snapshot, i);
    }
  }
  REQUIRE(patches.size() == 2);
  CHECK(patches[0] < first_snapshot);
  CHECK(patches[1] > first_snapshot);
  CHECK(
      std::none_of(reqs.begin() + seeded, reqs.end(), [](const std::string& r) {
        return r.rfind("PATCH " + k_apps + "/namespaces/fab/deployments/", 0) ==
               0;
      }));
  json peer = call("GET", ns_url(emu.url(), k_ibp, "ibppeers", "peer1"));
  CHECK_FALSE(peer["spec"].contains("replicas"));
  json dep = when_made(ns_url(emu.url(), k_apps, "deployments", "peer1"));
  for (int i = 0; i < 40 && dep["spec"]["replicas"] != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    dep = call("GET", ns_url(emu.url(), k_apps, "deployments", "peer1"));
  }
  CHECK(dep["spec"]["replicas"] == 1);
  if (outcome != "ready") {
    CHECK(call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"))["items"]
              .empty());
  }
}

TEST_CASE("fabric: kubeconfig with CA and client certificate data over TLS",
          "[e2e][fabric][tls]") {
  Pki pki;
  Emulator emu("kubernetes",
               with(crd_flags(),
                    {"--tls-cert", pki.path("server.pem"), "--tls-key",
                     pki.path("server.key"), "--tls-client-ca",
                     pki.path("ca.pem"), "--require-token", "right-token"}));
  auto b64 = [&](const std::string& file) {
    auto r = run({"/usr/bin/base64", "-w0", pki.path(file)});
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  auto kubeconfig = [&](const std::string& user) {
    return "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
           "clusters:\n- name: lab\n  cluster:\n    server: " +
           emu.https_url() +
           "\n    certificate-authority-data: " + b64("ca.pem") +
           "\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n"
           "    user: me\n    namespace: fab\n"
           "users:\n- name: me\n  user:\n" +
           user;
  };
  TempDir dir;
  fs::path cert_cfg = dir.path() / "cert.yaml";
  write_file(cert_cfg,
             kubeconfig("    client-certificate-data: " + b64("client.pem") +
                        "\n    client-key-data: " + b64("client.key") + "\n"));
  fs::path wrong_cfg = dir.path() / "wrong.yaml";
  write_file(wrong_cfg, kubeconfig("    token: wrong-token\n"));
  fs::path token_cfg = dir.path() / "token.yaml";
  write_file(token_cfg, kubeconfig("    token: right-token\n"));

  auto by_cert = snap({"status", "fabric", "--kubeconfig", cert_cfg.string()});
  INFO(by_cert.err);
  CHECK(by_cert.exit_code == 0);
  CHECK(by_cert.out.find("v1.29") != std::string::npos);
  // The target is the kubeconfig's server.
  CHECK(by_cert.out.find(emu.https_url()) != std::string::npos);

  auto by_token =
      snap({"status", "fabric"}, {.env = {{"KUBECONFIG", token_cfg.string()}}});
  INFO(by_token.err);
  CHECK(by_token.exit_code == 0);

  auto wrong = snap({"status", "fabric", "--kubeconfig", wrong_cfg.string()});
  CHECK(wrong.exit_code == 5);
  CHECK(wrong.err.find("wrong-token") == std::string::npos);
  CHECK(wrong.err.find("401") != std::string::npos);

  auto no_ca = snap({"status", "fabric", "--addr", emu.https_url(),
                     "--token-file", (dir.path() / "none").string()});
  CHECK(no_ca.exit_code != 0);
}

} // namespace snap::test

namespace snap::test {
namespace {

// `archive` with `edit` applied to its backup list and object files, then
// resealed: every checksum matches, only the content is hostile.
std::string
tampered(const std::string& archive, const TempDir& dir,
         const std::function<void(json& backup, ArchiveParts& parts)>& edit) {
  ArchiveParts parts = unpack(archive);
  json backup = json::parse(parts.files.at("payload/backup.json"));
  edit(backup, parts);
  parts.files["payload/backup.json"] = backup.dump(2);
  reseal(parts, parts.manifest());
  fs::path out = dir.path() / "tampered.zip";
  pack(parts, out);
  return out.string();
}

json& record_of(json& backup, const std::string& resource) {
  for (auto& o : backup["objects"]) {
    if (o["resource"] == resource) {
      return o;
    }
  }
  FAIL("no " << resource << " in the archive");
  throw;
}

// True when a request after the first `since` was not a GET.
bool changed_anything(const Emulator& emu, std::size_t since) {
  auto reqs = emu.requests();
  for (std::size_t i = since; i < reqs.size(); ++i) {
    if (!reqs[i].starts_with("GET ")) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("fabric: an archive's words never become a request path",
          "[e2e][fabric][hostile]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  std::string archive = save_peer(source, dir);
  struct Case {
    std::string name;
    std::function<void(json&, ArchiveParts&)> edit;
  };
  std::vector<Case> cases = {
      {"a plural that climbs out of the namespace",
       [](json& b, ArchiveParts&) {
         record_of(b, "configmaps")["plural"] = "../kube-system/secrets";
       }},
      {"an apiVersion that names another namespace",
       [](json& b, ArchiveParts& parts) {
         json& rec = record_of(b, "deployments.apps");
         rec["api_version"] = "apps/v1/namespaces/kube-system";
         std::string file = rec["file"];
         json obj = json::parse(parts.files.at(file));
         obj["apiVersion"] = "apps/v1/namespaces/kube-system";
         parts.files[file] = obj.dump();
       }},
      {"an object name with a slash",
       [](json& b, ArchiveParts& parts) {
         json& rec = record_of(b, "configmaps");
         rec["name"] = "../../kube-system/configmaps/x";
         std::string file = rec["file"];
         json obj = json::parse(parts.files.at(file));
         obj["metadata"]["name"] = "../../kube-system/configmaps/x";
         parts.files[file] = obj.dump();
       }},
      {"a namespace that is no DNS label",
       [](json& b, ArchiveParts&) { b["namespace"] = "../kube-system"; }},
  };
  for (const auto& c : cases) {
    Emulator emu("kubernetes", crd_flags());
    seed_cluster(emu.url());
    std::size_t seeded = emu.requests().size();
    TempDir out;
    auto zip = tampered(archive, out, c.edit);
    auto plan = snap(
        with({"restore", "fabric", zip, "--dry-run"}, {"--addr", emu.url()}));
    auto r =
        snap(with({"restore", "fabric", zip, "--yes"}, {"--addr", emu.url()}));
    INFO(c.name << ": " << r.err);
    CHECK(plan.exit_code == 7);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("nothing was changed") != std::string::npos);
    CHECK_FALSE(changed_anything(emu, seeded));
    CHECK(call("GET", emu.url() + k_core + "/namespaces/kube-system/secrets")
              .value("items", json::array())
              .empty());
  }
}

TEST_CASE("fabric: records of the wrong type are read as absent, never as "
          "a crash",
          "[e2e][fabric][hostile]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  std::string archive = save_peer(source, dir);
  auto zip = tampered(archive, dir, [](json& b, ArchiveParts&) {
    for (auto& s : b["volume_snapshots"]) {
      s["pvc"] = 7;
      s["namespace"] = json::array();
      s["restore_size"] = false;
    }
    b["volume_copies"] = json::array(
        {{{"namespace", 1}, {"pvc", {"x"}}, {"file", 2}, {"files", "many"}}});
    b["genesis"] = json::array({{{"node", 3}, {"bytes", "big"}}});
  });
  auto inspected = snap({"inspect", zip});
  INFO(inspected.out << inspected.err);
  CHECK(inspected.err.find("internal error") == std::string::npos);
  CHECK((inspected.exit_code == 0 || inspected.exit_code == 7));
  Emulator emu("kubernetes", crd_flags());
  seed_cluster(emu.url());
  for (bool copies : {false, true}) {
    std::vector<std::string> argv = {"restore",   "fabric", zip,
                                     "--dry-run", "--addr", emu.url()};
    if (copies) {
      argv.push_back("--from-copies");
    }
    auto plan = snap(argv);
    INFO(plan.out << plan.err);
    CHECK(plan.err.find("internal error") == std::string::npos);
    CHECK(plan.exit_code != 1);
  }
}

TEST_CASE("fabric: a restore from copies checks every copy before any change",
          "[e2e][fabric][hostile]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  std::string archive = save_peer(source, dir);
  auto zip = tampered(archive, dir, [](json& b, ArchiveParts&) {
    b["volume_copies"] =
        json::array({{{"namespace", "fab"},
                      {"pvc", "peer1-pvc"},
                      {"file", "payload/volumes/fab/peer1-pvc.tar.gz"},
                      {"files", 1}}});
  });
  Emulator emu("kubernetes", crd_flags());
  seed_cluster(emu.url());
  std::size_t seeded = emu.requests().size();
  for (const char* mode : {"--dry-run", "--yes"}) {
    auto r = snap(
        {"restore", "fabric", zip, "--from-copies", mode, "--addr", emu.url()});
    INFO(mode << ": " << r.err);
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("no entry payload/volumes/fab/peer1-pvc.tar.gz") !=
          std::string::npos);
  }
  CHECK_FALSE(changed_anything(emu, seeded));
}

TEST_CASE("fabric: cluster-scoped objects other than CRDs need a flag",
          "[e2e][fabric][hostile]") {
  Emulator source("kubernetes", crd_flags());
  seed(source.url());
  TempDir dir;
  std::string archive = save_peer(source, dir);
  auto zip = tampered(archive, dir, [](json& b, ArchiveParts& parts) {
    json pv = {{"apiVersion", "v1"},
               {"kind", "PersistentVolume"},
               {"metadata", {{"name", "root-of-the-node"}}},
               {"spec",
                {{"capacity", {{"storage", "1Gi"}}},
                 {"accessModes", {"ReadWriteOnce"}},
                 {"hostPath", {{"path", "/"}}}}}};
    std::string file =
        "payload/resources/persistentvolumes/cluster/root-of-the-node.json";
    parts.files[file] = pv.dump();
    b["objects"].push_back({{"resource", "persistentvolumes"},
                            {"api_version", "v1"},
                            {"kind", "PersistentVolume"},
                            {"plural", "persistentvolumes"},
                            {"namespaced", false},
                            {"name", "root-of-the-node"},
                            {"uid", "u-pv"},
                            {"role", "referenced"},
                            {"fabric", false},
                            {"owners", json::array()},
                            {"file", file}});
  });
  Emulator& emu = source;
  empty_namespace(emu.url());
  std::size_t seeded = emu.requests().size();
  auto refused = snap(with({"restore", "fabric", zip, "--yes"}, target(emu)));
  INFO(refused.err);
  CHECK(refused.exit_code == 7);
  CHECK(refused.err.find("persistentvolumes/root-of-the-node, which is "
                         "cluster-scoped") != std::string::npos);
  CHECK(refused.err.find("--allow-cluster-scoped") != std::string::npos);
  CHECK_FALSE(changed_anything(emu, seeded));

  auto plan = snap(
      with({"restore", "fabric", zip, "--dry-run", "--allow-cluster-scoped"},
           target(emu)));
  INFO(plan.out);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("create persistentvolumes/root-of-the-node "
                      "cluster-wide (not namespaced)") != std::string::npos);
  CHECK(plan.out.find("create configmaps/peer1-config in namespace fab") !=
        std::string::npos);
  auto allowed =
      snap(with({"restore", "fabric", zip, "--yes", "--allow-cluster-scoped"},
                target(emu)));
  INFO(allowed.err);
  CHECK(allowed.exit_code == 0);
  CHECK(call("GET", emu.url() + k_core + "/persistentvolumes/root-of-the-node")
            .value("kind", "") == "PersistentVolume");
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("fabric: resources are named as kubectl takes them",
          "[e2e][fabric][target-truth]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  for (std::string name : {"ibppeers/peer1", "ibppeer/peer1", "IBPPeer/peer1",
                           "ibppeer.ibp.com/peer1"}) {
    TempDir dir;
    auto r = snap(with({"save", "fabric", name, "-o", dir.path().string(),
                        "--preset", "fabric-operator"},
                       target(emu)));
    INFO(name << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("ibppeers.ibp.com/peer1 in fab") != std::string::npos);
  }
  TempDir dir;
  auto cm = snap(with({"save", "fabric", "cm/unrelated",
                       "--no-volume-"
                       "snapshots",
                       "-o", dir.path().string()},
                      target(emu)));
  INFO(cm.err);
  CHECK(cm.exit_code == 0);
  CHECK(cm.out.find("configmaps/unrelated") != std::string::npos);
  // Two groups serving one plural: a bare name is ambiguous.
  for (std::string group : {"a.example.com", "b.example.com"}) {
    call("POST",
         emu.url() + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
         {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets." + group}}},
          {"spec",
           {{"group", group},
            {"scope", "Namespaced"},
            {"names",
             {{"plural", "widgets"},
              {"singular", "widget"},
              {"kind", "Widget"}}},
            {"versions",
             {{{"name", "v1"}, {"served", true}, {"storage", true}}}}}}});
  }
  auto ambiguous =
      snap(with({"save", "fabric", "widgets/w1", "-o", dir.path().string()},
                target(emu)));
  CHECK(ambiguous.exit_code == 2);
  CHECK(ambiguous.err.find("'widgets' is ambiguous") != std::string::npos);
  CHECK(ambiguous.err.find("widgets.a.example.com") != std::string::npos);
  CHECK(ambiguous.err.find("widgets.b.example.com") != std::string::npos);
  auto unknown =
      snap(with({"save", "fabric", "gadgets/g1", "-o", dir.path().string()},
                target(emu)));
  CHECK(unknown.exit_code == 6);
}

TEST_CASE("fabric: replacing one resource re-links everything it owned",
          "[e2e][fabric][target-truth]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  TempDir dir;
  std::string archive = save_peer(emu, dir);
  std::string peer_url = ns_url(emu.url(), k_ibp, "ibppeers", "peer1");
  call("PATCH", peer_url, {{"spec", {{"version", "2.5.9"}}}});
  auto r = snap(with({"restore", "fabric", archive, "ibppeers/peer1", "--yes",
                      "--conflict", "replace"},
                     target(emu)));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  json peer = call("GET", peer_url);
  CHECK(peer["spec"]["version"] == "2.5.4");
  std::string uid = peer["metadata"]["uid"];
  // Not in the restore set, yet owned by the new peer.
  for (const auto& [plural, object] : peer_objects(emu.url())) {
    if (plural == "ibppeers/peer1" || plural == "configmaps/unrelated" ||
        plural == "secrets/peer1-msp-user" || plural == "secrets/regcred") {
      continue;
    }
    INFO(plural);
    CHECK(object["metadata"]["ownerReferences"][0]["uid"] == uid);
  }
  TempDir again;
  auto resaved = snap(with(
      {"save", "fabric", "ibppeers.ibp.com/peer1", "-o", again.path().string()},
      target(emu)));
  INFO(resaved.err);
  CHECK(resaved.exit_code == 0);
  CHECK(resaved.out.find("2 volume snapshots") != std::string::npos);
  CHECK(resaved.err.find("owns no objects") == std::string::npos);
}

TEST_CASE("fabric: a save of a resource that owns nothing says so",
          "[e2e][fabric]") {
  // The operator is stopped: the peer was never reconciled.
  Emulator emu("kubernetes", crd_flags(0, false));
  seed_cluster(emu.url());
  call("POST", ns_url(emu.url(), k_ibp, "ibppeers"),
       {{"apiVersion", "ibp.com/v1beta1"},
        {"kind", "IBPPeer"},
        {"metadata", {{"name", "lonely"}}},
        {"spec", {{"license", {{"accept", true}}}, {"version", "2.5.4"}}}});
  TempDir dir;
  auto r = snap(with(
      {"save", "fabric", "ibppeers.ibp.com/lonely", "-o", dir.path().string()},
      target(emu)));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("warning: fabric: ibppeers.ibp.com/lonely owns no objects "
                   "in fab") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {
namespace {

// A network of fabric-operator resources in namespace fab: a CA, an orderer
// (parent and one node), a peer and a console, each with the Deployment and
// Service the emulated operator makes for it.
void seed_network(const std::string& url) {
  seed_cluster(url);
  json spec = {{"license", {{"accept", true}}}};
  auto make = [&](const std::string& plural, const std::string& kind,
                  const std::string& name, json labels = json::object()) {
    json o = call("POST", ns_url(url, k_ibp, plural),
                  {{"apiVersion", "ibp.com/v1beta1"},
                   {"kind", kind},
                   {"metadata", {{"name", name}, {"labels", labels}}},
                   {"spec", spec}});
    REQUIRE(o["metadata"].contains("uid"));
  };
  make("ibpcas", "IBPCA", "org1ca");
  make("ibporderers", "IBPOrderer", "orderer");
  make("ibporderers", "IBPOrderer", "orderernode1", {{"parent", "orderer"}});
  make("ibppeers", "IBPPeer", "org1peer1");
  make("ibpconsoles", "IBPConsole", "console");
  for (const char* name : {"org1ca", "orderernode1", "org1peer1", "console"}) {
    REQUIRE(
        when_made(ns_url(url, k_apps, "deployments", name)).contains("spec"));
    REQUIRE(when_made(ns_url(url, k_core, "services", name)).contains("spec"));
  }
}

// Saves the network on `source` into `dir` (manifests only), with the
// preset `flags` give; the manifest's source (members by role, …).
json save_network(const Emulator& source, const TempDir& dir,
                  const std::vector<std::string>& flags) {
  auto saved =
      snap(with(with({"--json", "save", "fabric"}, flags),
                with({"--no-volume-snapshots", "-o", dir.path().string()},
                     target(source))));
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  return json::parse(saved.out)["source"];
}

// An archive in `dir` of the network seed_network() makes (manifests only).
std::string saved_network(const TempDir& dir) {
  Emulator source("kubernetes", crd_flags());
  seed_network(source.url());
  // The manifest lists the network's members by role.
  json saved = save_network(source, dir, {"--all-in-namespace"});
  json members = saved["members"];
  CHECK(members["ca"] == json::array({"org1ca"}));
  CHECK(members["orderer"].size() == 2);
  CHECK(members["peer"] == json::array({"org1peer1"}));
  CHECK(members["console"] == json::array({"console"}));
  CHECK_FALSE(saved.contains("snapshot_spread_s"));
  return only_archive(dir);
}

// The index of the first request that starts with `prefix`, or the count.
std::size_t first_request(const std::vector<std::string>& reqs,
                          const std::string& prefix, std::size_t from = 0) {
  for (std::size_t i = from; i < reqs.size(); ++i) {
    if (reqs[i].rfind(prefix, 0) == 0) {
      return i;
    }
  }
  return reqs.size();
}

} // namespace

TEST_CASE("fabric: a network comes back tier by tier, each waited for",
          "[e2e][fabric]") {
  TempDir dir;
  std::string archive = saved_network(dir);

  // The dry run shows each tier and the wait after it.
  Emulator target_emu("kubernetes", crd_flags(400));
  seed_cluster(target_emu.url());
  auto plan = snap(
      with({"restore", "fabric", archive, "--dry-run"}, target(target_emu)));
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  for (const char* tier : {"cas", "orderers", "peers", "consoles"}) {
    CHECK(plan.out.find(std::string("wait until the ") + tier + " run") !=
          std::string::npos);
  }
  CHECK(plan.out.find("wait until the cas") <
        plan.out.find("create ibporderers.ibp.com/orderernode1"));

  std::size_t before = target_emu.requests().size();
  auto r =
      snap(with({"restore", "fabric", archive, "--yes"}, target(target_emu)));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* line :
       {"cas ready: org1ca", "orderers ready: orderernode1, orderer",
        "peers ready: org1peer1", "consoles ready: console"}) {
    CHECK(r.out.find(line) != std::string::npos);
  }
  // The operator's Deployments and Services are taken as in place.
  CHECK(r.out.find("in place deployments.apps/org1peer1 (made by its "
                   "operator)") != std::string::npos);
  CHECK(r.out.find("failed") == std::string::npos);
  // In the request log: each tier is created, its status read until it
  // runs, and only then the next tier created.
  auto reqs = target_emu.requests();
  std::string at = k_ibp + "/namespaces/fab/";
  std::size_t ca = first_request(reqs, "POST " + at + "ibpcas", before);
  std::size_t ca_read = first_request(reqs, "GET " + at + "ibpcas/org1ca", ca);
  std::size_t node = first_request(reqs, "POST " + at + "ibporderers", before);
  std::size_t peer = first_request(reqs, "POST " + at + "ibppeers", before);
  std::size_t peer_read =
      first_request(reqs, "GET " + at + "ibppeers/org1peer1", peer);
  std::size_t console =
      first_request(reqs, "POST " + at + "ibpconsoles", before);
  CHECK(ca < ca_read);
  CHECK(ca_read < node);
  CHECK(node < peer);
  CHECK(peer_read < console);
  CHECK(console < reqs.size());
  // The operator reported them running (Deployed) when each wait ended.
  for (const auto& [plural, name] :
       std::vector<std::pair<std::string, std::string>>{
           {"ibpcas", "org1ca"},
           {"ibppeers", "org1peer1"},
           {"ibpconsoles", "console"}}) {
    json cr = call("GET", ns_url(target_emu.url(), k_ibp, plural, name));
    CHECK(cr["status"]["type"] == "Deployed");
  }

  // Again: everything is there, the operator's objects as the archive has
  // them (it made those too).
  auto again =
      snap(with({"restore", "fabric", archive, "--yes"}, target(target_emu)));
  INFO(again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("skip deployments.apps/org1ca (exists, identical)") !=
        std::string::npos);
}

TEST_CASE("fabric: a tier that does not come up stops the restore with exit 3",
          "[e2e][fabric]") {
  TempDir dir;
  std::string archive = saved_network(dir);
  Emulator target_emu("kubernetes",
                      with(crd_flags(), {"--operator-fail", "orderernode1"}));
  seed_cluster(target_emu.url());
  auto r =
      snap(with({"restore", "fabric", archive, "--yes"}, target(target_emu)));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("ibporderers.ibp.com orderernode1 reports Error "
                   "(errorOccurredDuringReconcile: failed to enroll with the "
                   "CA)") != std::string::npos);
  CHECK(r.out.find("cas ready: org1ca") != std::string::npos);
  // Nothing of the later tiers was created; the report says what is left.
  CHECK(call("GET", ns_url(target_emu.url(), k_ibp, "ibppeers",
                           "org1peer1"))["kind"] == "Status");
  CHECK(r.out.find("Next: not restored yet: ") != std::string::npos);
  CHECK(r.out.find("ibppeers.ibp.com/org1peer1") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {
namespace {

// CatalyX's kinds. Its schemas are not public: each CRD is the least a
// served kind needs (group, names, one version with the status
// subresource).
struct CatalyxKind {
  std::string group, plural, kind, workload, name;
};
const std::vector<CatalyxKind> k_catalyx = {
    {"ca.hyperledger.fabric", "fabriccas", "FabricCA", "deployments",
     "org1-ca"},
    {"orderingservice.hyperledger.fabric", "orderers", "Orderer",
     "statefulsets", "ord1"},
    {"peerset.hyperledger.fabric", "peers", "Peer", "deployments",
     "org1-peer0"}};

std::string catalyx_url(const std::string& base, const CatalyxKind& k,
                        const std::string& name = "") {
  return ns_url(base, "/apis/" + k.group + "/v1alpha2", k.plural, name);
}

void seed_catalyx_crds(const std::string& url) {
  for (const auto& k : k_catalyx) {
    std::string singular = k.plural.substr(0, k.plural.size() - 1);
    call("POST",
         url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
         {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", k.plural + "." + k.group}}},
          {"spec",
           {{"group", k.group},
            {"scope", "Namespaced"},
            {"names",
             {{"plural", k.plural}, {"singular", singular}, {"kind", k.kind}}},
            {"versions",
             {{{"name", "v1alpha2"},
               {"served", true},
               {"storage", true},
               {"subresources", {{"status", json::object()}}}}}}}}});
  }
}

// The workload an operator runs a CatalyX member in, owned by it.
json catalyx_workload(const CatalyxKind& k, const json& owner) {
  json labels = {{"app", k.name}};
  json spec = {{"replicas", 1},
               {"selector", {{"matchLabels", labels}}},
               {"template", {{"metadata", {{"labels", labels}}}}}};
  if (k.workload == "statefulsets") {
    spec["serviceName"] = k.name;
  }
  return {
      {"apiVersion", "apps/v1"},
      {"kind", k.workload == "statefulsets" ? "StatefulSet" : "Deployment"},
      {"metadata",
       {{"name", k.name},
        {"labels", labels},
        {"ownerReferences", json::array({{{"apiVersion", k.group + "/v1alpha2"},
                                          {"kind", k.kind},
                                          {"name", k.name},
                                          {"uid", owner["metadata"]["uid"]},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})}}},
      {"spec", spec}};
}

// A CatalyX network in namespace fab: a CA, an orderer and a peer, each
// with the workload it runs in, saved (manifests only) into `dir`.
std::string saved_catalyx(const TempDir& dir) {
  Emulator source("kubernetes");
  seed_cluster(source.url());
  seed_catalyx_crds(source.url());
  for (const auto& k : k_catalyx) {
    json cr = call("POST", catalyx_url(source.url(), k),
                   {{"apiVersion", k.group + "/v1alpha2"},
                    {"kind", k.kind},
                    {"metadata", {{"name", k.name}}},
                    {"spec", {{"mspID", "Org1MSP"}}}});
    REQUIRE(cr["metadata"].contains("uid"));
    call("POST", ns_url(source.url(), k_apps, k.workload),
         catalyx_workload(k, cr));
  }
  json members = save_network(source, dir,
                              {"--preset", "catalyx", "--network"})["members"];
  CHECK(members["ca"] == json::array({"org1-ca"}));
  CHECK(members["orderer"] == json::array({"ord1"}));
  CHECK(members["peer"] == json::array({"org1-peer0"}));
  return only_archive(dir);
}

// CatalyX's operator is not public either, so the test plays one as
// operators built with controller-runtime behave: once a member's resource
// is made, it reports Ready False (or, for `stalls`, Stalled True), makes
// the member's workload, and reports Ready True once the workload's pods
// run. For `quiet` it makes the workload and reports nothing, so a wait can
// only read the workload. It stops at stop(), or after 30 s.
//
// It also watches the order: a resource of a later tier seen while an
// earlier member's workload did not run yet (read after it; pods only come
// up) means the restore did not wait.
class CatalyxOperator {
public:
  CatalyxOperator(std::string url, std::string stalls, std::string quiet = "")
      : m_url(std::move(url)), m_stalls(std::move(stalls)),
        m_quiet(std::move(quiet)), m_thread([this] { run(); }) {}
  ~CatalyxOperator() { stop(); }
  void stop() {
    m_done = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  bool out_of_order() const { return m_out_of_order; }

private:
  void put_status(const CatalyxKind& k, json cr, json conditions) {
    cr["status"] = {{"observedGeneration", cr["metadata"]["generation"]},
                    {"conditions", std::move(conditions)}};
    call("PUT", catalyx_url(m_url, k, k.name) + "/status", cr);
  }
  bool runs(const CatalyxKind& k) {
    json w = call("GET", ns_url(m_url, k_apps, k.workload, k.name));
    return w.is_object() &&
           w.value("status", json::object()).value("readyReplicas", 0) == 1;
  }
  void run() {
    std::set<std::string> made, done;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!m_done && std::chrono::steady_clock::now() < until &&
           done.size() < k_catalyx.size()) {
      std::vector<json> crs;
      for (const auto& k : k_catalyx) {
        json cr = call("GET", catalyx_url(m_url, k, k.name));
        bool exists = cr.is_object() && cr.value("kind", "") != "Status";
        crs.push_back(exists ? cr : json());
      }
      for (std::size_t t = 0; t + 1 < k_catalyx.size(); ++t) {
        if (!crs[t + 1].is_null() && k_catalyx[t].name != m_stalls &&
            !runs(k_catalyx[t])) {
          m_out_of_order = true;
        }
      }
      for (std::size_t t = 0; t < k_catalyx.size(); ++t) {
        const auto& k = k_catalyx[t];
        if (crs[t].is_null() || done.contains(k.name)) {
          continue;
        }
        if (k.name == m_stalls) {
          put_status(k, crs[t],
                     {{{"type", "Stalled"},
                       {"status", "True"},
                       {"reason", "EnrollFailed"},
                       {"message", "the CA refused the enrollment"}}});
          done.insert(k.name);
        } else if (made.insert(k.name).second) {
          if (k.name != m_quiet) {
            put_status(k, crs[t],
                       {{{"type", "Ready"},
                         {"status", "False"},
                         {"reason", "Deploying"}}});
          }
          call("POST", ns_url(m_url, k_apps, k.workload),
               catalyx_workload(k, crs[t]));
        } else if (runs(k)) {
          if (k.name != m_quiet) {
            put_status(k, call("GET", catalyx_url(m_url, k, k.name)),
                       {{{"type", "Ready"}, {"status", "True"}}});
          }
          done.insert(k.name);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::string m_url, m_stalls, m_quiet;
  std::atomic<bool> m_done{false};
  std::atomic<bool> m_out_of_order{false};
  std::thread m_thread;
};

} // namespace

TEST_CASE("fabric: a CatalyX network comes back tier by tier, read by its "
          "conditions and workloads",
          "[e2e][fabric]") {
  TempDir dir;
  std::string archive = saved_catalyx(dir);
  // Pods run 400 ms after their workload is written.
  Emulator target_emu("kubernetes", {"--workload-ready-ms", "400"});
  seed_cluster(target_emu.url());

  auto plan = snap(
      with({"restore", "fabric", archive, "--preset", "catalyx", "--dry-run"},
           target(target_emu)));
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("wait until the cas run (no condition Reconciling or "
                      "Stalled and none Ready but True, and the Deployments "
                      "and StatefulSets they own ready; at most 600 s)") !=
        std::string::npos);
  CHECK(plan.out.find("wait until the cas") <
        plan.out.find("create orderers.orderingservice.hyperledger.fabric/"
                      "ord1"));

  std::size_t before = target_emu.requests().size();
  // The orderer's operator reports nothing: its wait reads the StatefulSet.
  CatalyxOperator op(target_emu.url(), "", "ord1");
  RunResult r =
      snap(with({"restore", "fabric", archive, "--preset", "catalyx", "--yes"},
                target(target_emu)));
  op.stop();
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // No tier was made before the one above it ran.
  CHECK_FALSE(op.out_of_order());
  for (const char* line :
       {"cas ready: org1-ca", "orderers ready: ord1", "peers ready: org1-peer0",
        "in place deployments.apps/org1-peer0 (made by its operator)",
        "in place statefulsets.apps/ord1 (made by its operator)"}) {
    CHECK(r.out.find(line) != std::string::npos);
  }
  // The orderers were made only after the operator reported the CA Ready
  // (its second status), which it does once the CA's pods run.
  auto reqs = target_emu.requests();
  for (std::size_t t = 0; t < 1; ++t) {
    std::string at = catalyx_url("", k_catalyx[t]);
    std::size_t first_status = first_request(
        reqs, "PUT " + at + "/" + k_catalyx[t].name + "/status", before);
    std::size_t ready_status =
        first_request(reqs, "PUT " + at + "/" + k_catalyx[t].name + "/status",
                      first_status + 1);
    std::size_t next = first_request(
        reqs, "POST " + catalyx_url("", k_catalyx[t + 1]), before);
    CHECK(first_status < ready_status);
    CHECK(ready_status < next);
    CHECK(next < reqs.size());
  }
}

TEST_CASE("fabric: a CatalyX member that reports Stalled stops the restore "
          "with exit 3",
          "[e2e][fabric]") {
  TempDir dir;
  std::string archive = saved_catalyx(dir);
  Emulator target_emu("kubernetes");
  seed_cluster(target_emu.url());
  CatalyxOperator op(target_emu.url(), "ord1");
  RunResult r = snap(with({"restore", "fabric", archive, "--preset", "catalyx",
                           "--yes", "--ready-timeout", "20"},
                          target(target_emu)));
  op.stop();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("fabric: orderers.orderingservice.hyperledger.fabric ord1 "
                   "reports Stalled: EnrollFailed: the CA refused the "
                   "enrollment, so the orderers are not ready") !=
        std::string::npos);
  CHECK(r.out.find("cas ready: org1-ca") != std::string::npos);
  CHECK(call("GET", catalyx_url(target_emu.url(), k_catalyx[2],
                                "org1-peer0"))["kind"] == "Status");
  CHECK(r.out.find("not restored yet: ") != std::string::npos);
}

} // namespace snap::test

namespace snap::test {

TEST_CASE("fabric: a scheduled save's Role and ClusterRole grant every "
          "request it makes",
          "[e2e][fabric][schedule]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  auto r =
      snap(with({"schedule", "fabric", "--cron", "0 1 * * *", "--keep", "5",
                 "--image", "snap:1.4", "--all-in-namespace", "--quiesce",
                 "--prune-target", "--copy-volumes", "--apply"},
                target(emu)));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::string rbac = emu.url() + "/apis/rbac.authorization.k8s.io/v1/";
  json role = call("GET", rbac + "namespaces/fab/roles/snap-fabric");
  json cluster_role = call("GET", rbac + "clusterroles/fab:snap-fabric");
  json binding = call("GET", rbac + "clusterrolebindings/fab:snap-fabric");
  CHECK(binding["subjects"][0]["namespace"] == "fab");
  json cj = call(
      "GET", emu.url() + "/apis/batch/v1/namespaces/fab/cronjobs/snap-fabric");
  json pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  CHECK(pod["automountServiceAccountToken"] == true);
  // In the pod, the service account is the connection and fab the
  // namespace: no --addr, --namespace or kubeconfig in its arguments.
  std::vector<std::string> args;
  TempDir backups;
  for (const auto& a : pod["containers"][0]["args"]) {
    std::string s = a.get<std::string>();
    CHECK(s != "--addr");
    CHECK(s != "--namespace");
    args.push_back(s == "/backups/" ? backups.path().string() + "/" : s);
  }
  // Run it twice (the second prunes nothing yet but lists), here with the
  // connection the pod would have, and check every request it made against
  // the rules.
  std::size_t from = emu.requests().size();
  for (int i = 0; i < 2; ++i) {
    auto saved = snap(with(args, target(emu)));
    INFO(saved.err);
    REQUIRE(saved.exit_code == 0);
  }
  auto reqs = emu.requests();
  std::size_t checked = 0;
  for (std::size_t i = from; i < reqs.size(); ++i) {
    auto access = kube_access(reqs[i]);
    if (!access) {
      continue; // discovery, open to every account
    }
    INFO(reqs[i]);
    CHECK((grants(cluster_role["rules"], *access) ||
           (access->namespaced && grants(role["rules"], *access))));
    ++checked;
  }
  CHECK(checked > 10);
  // The volume copies went through the pods' proxy, which the Role grants.
  CHECK(emu.received("GET " + k_core + "/namespaces/fab/pods/snap-copy-"));
  // The helpers were fenced by a NetworkPolicy of their own, which let
  // the proxy through.
  CHECK(emu.received("POST /apis/networking.k8s.io/v1/namespaces/fab/"
                     "networkpolicies"));
  // The namespace was asked first, with a dry run.
  CHECK(emu.received("POST " + k_core + "/namespaces/fab/pods?dryRun=All"));
}

} // namespace snap::test

namespace snap::test {
namespace {

// Namespace `ns` with an IBPCA `name` in it, which the emulated operator
// makes a Deployment and Service for.
void seed_ca(const std::string& url, const std::string& ns,
             const std::string& name) {
  call("POST", url + k_core + "/namespaces",
       {{"apiVersion", "v1"},
        {"kind", "Namespace"},
        {"metadata", {{"name", ns}}}});
  std::string base = url + k_ibp + "/namespaces/" + ns + "/ibpcas";
  json ca = call("POST", base,
                 {{"apiVersion", "ibp.com/v1beta1"},
                  {"kind", "IBPCA"},
                  {"metadata", {{"name", name}}},
                  {"spec", {{"license", {{"accept", true}}}}}});
  REQUIRE(ca["metadata"].contains("uid"));
  REQUIRE(when_made(url + k_apps + "/namespaces/" + ns + "/deployments/" + name)
              .contains("spec"));
}

} // namespace

TEST_CASE("fabric: a network across namespaces is saved as one and "
          "restored into mapped namespaces tier by tier",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());                      // peer1 and its volumes in fab
  seed_ca(emu.url(), "org2", "org2ca"); // the CA in org2
  TempDir dir;
  auto saved = snap({"--json", "save", "fabric", "--network", "--namespace",
                     "fab", "--namespace", "org2", "-o", dir.path().string(),
                     "--addr", emu.url()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  json source = json::parse(saved.out)["source"];
  CHECK(source["namespaces"] == json::array({"fab", "org2"}));
  CHECK(source["members"]["ca"] == json::array({"org2/org2ca"}));
  CHECK(source["members"]["peer"] == json::array({"fab/peer1"}));
  CHECK(source["volume_snapshots"] == 2);
  std::string id = json::parse(saved.out)["backup_id"];
  std::string archive = only_archive(dir);

  // The archive's namespaces go where --namespace-map says; the dry run
  // shows each mapped name.
  std::vector<std::string> map = {"--namespace-map", "fab=copy1",
                                  "--namespace-map", "org2=copy2"};
  auto plan = snap(with(
      {"restore", "fabric", archive, "--dry-run", "--addr", emu.url()}, map));
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("namespace fab of the archive goes to copy1") !=
        std::string::npos);
  CHECK(plan.out.find("create ibpcas.ibp.com/org2ca in namespace copy2") !=
        std::string::npos);
  CHECK(plan.out.find("create ibppeers.ibp.com/peer1 in namespace copy1") !=
        std::string::npos);

  std::size_t before = emu.requests().size();
  auto r = snap(with(
      {"-v", "restore", "fabric", archive, "--yes", "--addr", emu.url()}, map));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("cas ready: org2ca") != std::string::npos);
  CHECK(r.out.find("peers ready: peer1") != std::string::npos);
  // The CA in copy2 ran before the peer was created in copy1.
  auto reqs = emu.requests();
  std::size_t ca_read = first_request(
      reqs, "GET " + k_ibp + "/namespaces/copy2/ibpcas/org2ca", before);
  std::size_t peer = first_request(
      reqs, "POST " + k_ibp + "/namespaces/copy1/ibppeers", before);
  CHECK(ca_read < peer);
  CHECK(peer < reqs.size());
  // The peer's volumes came back in copy1 from the snapshots taken in fab.
  std::string base = emu.url() + k_core + "/namespaces/copy1/";
  for (const char* pvc : {"peer1-pvc", "peer1-statedb-pvc"}) {
    INFO(pvc);
    json bound = when_bound(base + "persistentvolumeclaims/" + pvc);
    REQUIRE(bound["status"]["phase"] == "Bound");
    json pv = call("GET", emu.url() + k_core + "/persistentvolumes/" +
                              bound["spec"].value("volumeName", ""));
    CHECK(pv["metadata"]["annotations"]["snap-emulator/data"] ==
          std::string("data of ") + pvc);
  }
  CHECK(call("GET", emu.url() + k_ibp +
                        "/namespaces/copy2/ibpcas/org2ca")["status"]["type"] ==
        "Deployed");

  // delete finds the backup's VolumeSnapshots in every namespace given.
  auto deleted = snap({"delete", "fabric", id, "--yes", "--namespace", "fab",
                       "--namespace", "org2", "--addr", emu.url()});
  INFO(deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK(
      call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"))["items"].empty());
}

TEST_CASE("fabric: --all-namespaces finds the network and namespace "
          "mappings are checked before anything changes",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", crd_flags());
  seed(emu.url());
  seed_ca(emu.url(), "org2", "org2ca");
  seed_ca(emu.url(), "empty", "x"); // a namespace the network leaves...
  call("DELETE", emu.url() + k_ibp + "/namespaces/empty/ibpcas/x");
  TempDir dir;
  auto saved = snap({"--json", "save", "fabric", "--all-namespaces",
                     "--no-volume-snapshots", "-o", dir.path().string(),
                     "--addr", emu.url()});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(json::parse(saved.out)["source"]["namespaces"] ==
        json::array({"fab", "org2"}));
  std::string archive = only_archive(dir);

  // Two namespaces without --network, and a namespace with --all-namespaces.
  TempDir other;
  CHECK(snap({"save", "fabric", "ibppeers.ibp.com/peer1", "--namespace", "fab",
              "--namespace", "org2", "-o", other.path().string(), "--addr",
              emu.url()})
            .exit_code == 2);
  CHECK(snap({"save", "fabric", "--all-namespaces", "--namespace", "fab", "-o",
              other.path().string(), "--addr", emu.url()})
            .exit_code == 2);

  Emulator fresh("kubernetes", crd_flags());
  seed_cluster(fresh.url());
  auto restore = [&](std::vector<std::string> flags) {
    return snap(with(
        {"restore", "fabric", archive, "--yes", "--addr", fresh.url()}, flags));
  };
  auto one = restore({"--namespace", "copy"});
  CHECK(one.exit_code == 2);
  CHECK(one.err.find("the archive holds namespaces fab, org2") !=
        std::string::npos);
  auto unknown = restore({"--namespace-map", "nope=copy"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("holds no namespace nope") != std::string::npos);
  auto merged =
      restore({"--namespace-map", "fab=copy", "--namespace-map", "org2=copy"});
  CHECK(merged.exit_code == 2);
  CHECK(merged.err.find("would both go to copy") != std::string::npos);
  auto bad = restore({"--namespace-map", "fab=Not_A_Name"});
  CHECK(bad.exit_code == 2);
  // None of them changed anything.
  CHECK(call("GET", fresh.url() + k_core + "/namespaces/org2")["kind"] ==
        "Status");

  // Without a map, each namespace comes back as itself.
  auto same = restore({});
  INFO(same.out << same.err);
  CHECK(same.exit_code == 0);
  CHECK(call("GET", fresh.url() + k_ibp + "/namespaces/org2/ibpcas/org2ca")
            .value("kind", "") == "IBPCA");
  CHECK(call("GET", ns_url(fresh.url(), k_ibp, "ibppeers", "peer1"))
            .value("kind", "") == "IBPPeer");
}

} // namespace snap::test

namespace snap::test {
namespace {

// The folder under `volumes` (the emulator's --volume-dir) that holds the
// files of PVC `pvc` in `ns`: its PV's CSI volume handle.
fs::path volume_folder(const std::string& url, const fs::path& volumes,
                       const std::string& ns, const std::string& pvc) {
  json bound = when_bound(url + k_core + "/namespaces/" + ns +
                          "/persistentvolumeclaims/" + pvc);
  REQUIRE(bound.value("status", json::object()).value("phase", "") == "Bound");
  json pv = call("GET", url + k_core + "/persistentvolumes/" +
                            bound["spec"].value("volumeName", ""));
  std::string handle = pv["spec"]["csi"].value("volumeHandle", "");
  REQUIRE_FALSE(handle.empty());
  return volumes / handle;
}

// A ledger file with every byte value, and the state database's file.
std::map<std::string, std::string> seed_volume_files(const std::string& url,
                                                     const fs::path& volumes) {
  std::string block;
  for (int i = 0; i < 70000; ++i) {
    block.push_back(static_cast<char>((i * 7919) & 0xff));
  }
  std::map<std::string, std::string> files = {
      {"peer1-pvc/ledgersData/chains/chains/mychannel/blockfile_000000", block},
      {"peer1-pvc/ledgersData/ledgerProvider/CURRENT", "MANIFEST-000004\n"},
      {"peer1-statedb-pvc/mychannel_/shards/00000000.couch", "couch data"}};
  for (const auto& [path, bytes] : files) {
    std::string pvc = path.substr(0, path.find('/'));
    fs::path file =
        volume_folder(url, volumes, k_ns, pvc) / path.substr(pvc.size() + 1);
    fs::create_directories(file.parent_path());
    write_file(file, bytes);
  }
  return files;
}

// The helper objects a volume copy makes, left in `ns`.
std::vector<std::string> copy_leftovers(const std::string& url,
                                        const std::string& ns) {
  std::vector<std::string> left;
  for (const char* plural :
       {"pods", "persistentvolumeclaims", "secrets", "configmaps"}) {
    json list = call("GET", url + k_core + "/namespaces/" + ns + "/" + plural);
    for (const auto& item : list.value("items", json::array())) {
      std::string name = item["metadata"].value("name", "");
      if (name.starts_with("snap-copy-")) {
        left.push_back(std::string(plural) + "/" + name);
      }
    }
  }
  json policies = call("GET", url + "/apis/networking.k8s.io/v1/namespaces/" +
                                  ns + "/networkpolicies");
  for (const auto& item : policies.value("items", json::array())) {
    left.push_back("networkpolicies/" + item["metadata"].value("name", ""));
  }
  return left;
}

// The status and body of GET `url`.
std::pair<int, std::string> get_with_status(const std::string& url) {
  auto r = run({"/usr/bin/curl", "-s", "-w", "\n%{http_code}", url});
  auto nl = r.out.rfind('\n');
  REQUIRE(nl != std::string::npos);
  return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
}

} // namespace

TEST_CASE("kubernetes emulator: pods/proxy answers as kube-apiserver and "
          "busybox httpd do",
          "[e2e][fabric]") {
  TempDir volumes;
  Emulator emu("kubernetes",
               {"--pod-ms", "1000", "--volume-dir", volumes.path().string()});
  std::string url = emu.url();
  call("POST", url + k_core + "/namespaces",
       {{"apiVersion", "v1"},
        {"kind", "Namespace"},
        {"metadata", {{"name", k_ns}}}});
  // stringData is merged into data, base64-encoded.
  json secret = named("Secret", "tok");
  secret["stringData"] = {{"token", "abc"}};
  call("POST", ns_url(url, k_core, "secrets"), secret);
  json stored = call("GET", ns_url(url, k_core, "secrets", "tok"));
  CHECK(stored["data"]["token"] == "YWJj");
  CHECK_FALSE(stored.contains("stringData"));
  json cm = named("ConfigMap", "cgi");
  cm["data"] = {{"hello", "#!/bin/sh\n"
                          "if [ \"$QUERY_STRING\" != \"token=$T\" ]; then\n"
                          "  printf 'Status: 403 Forbidden\\r\\n\\r\\nno\\n'\n"
                          "  exit 0\n"
                          "fi\n"
                          "printf 'Content-Type: text/plain\\r\\n\\r\\n"
                          "hi %s\\n' \"$REQUEST_METHOD\"\n"}};
  call("POST", ns_url(url, k_core, "configmaps"), cm);
  json container = {
      {"name", "web"},
      {"image", "busybox:1.36.1"},
      {"command", {"httpd", "-f", "-p", "8080", "-h", "/www"}},
      {"env",
       {{{"name", "T"},
         {"valueFrom",
          {{"secretKeyRef", {{"name", "tok"}, {"key", "token"}}}}}}}},
      {"volumeMounts", {{{"name", "cgi"}, {"mountPath", "/www/cgi-bin"}}}}};
  json pod = named("Pod", "web");
  pod["spec"] = {
      {"containers", {container}},
      {"volumes", {{{"name", "cgi"}, {"configMap", {{"name", "cgi"}}}}}}};
  call("POST", ns_url(url, k_core, "pods"), pod);
  std::string proxy = ns_url(url, k_core, "pods", "web:8080") + "/proxy";
  // No pod IP before it runs.
  auto early = get_with_status(proxy + "/cgi-bin/hello?token=abc");
  CHECK(early.first == 400);
  CHECK(early.second.find("address not allowed") != std::string::npos);
  json running = when_running(ns_url(url, k_core, "pods", "web"));
  REQUIRE(running.value("status", json::object()).value("phase", "") ==
          "Running");
  CHECK_FALSE(running["status"].value("podIP", "").empty());
  auto ok = get_with_status(proxy + "/cgi-bin/hello?token=abc");
  CHECK(ok.first == 200);
  CHECK(ok.second == "hi GET\n");
  CHECK(get_with_status(proxy + "/cgi-bin/hello?token=abd").first == 403);
  CHECK(get_with_status(proxy + "/cgi-bin/nope?token=abc").first == 404);
  // Nothing listens on another port.
  auto refused = get_with_status(ns_url(url, k_core, "pods", "web:9090") +
                                 "/proxy/cgi-bin/hello");
  CHECK(refused.first == 503);
  CHECK(refused.second.find("connection refused") != std::string::npos);
  CHECK(get_with_status(ns_url(url, k_core, "pods", "gone:8080") + "/proxy/x")
            .first == 404);
  // A NetworkPolicy that isolates the pod drops what it does not admit;
  // one rule without `from` for the port lets the API server through.
  std::string netpols = url + "/apis/networking.k8s.io/v1/namespaces/" + k_ns +
                        "/networkpolicies";
  json deny = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", "deny"}}},
      {"spec",
       {{"podSelector", json::object()}, {"policyTypes", {"Ingress"}}}}};
  call("POST", netpols, deny);
  auto dropped = get_with_status(proxy + "/cgi-bin/hello?token=abc");
  CHECK(dropped.first == 503);
  CHECK(dropped.second.find("i/o timeout") != std::string::npos);
  json admit = deny;
  admit["metadata"]["name"] = "web";
  admit["spec"]["ingress"] = {{{"ports", {{{"port", 8080}}}}}};
  call("POST", netpols, admit);
  CHECK(get_with_status(proxy + "/cgi-bin/hello?token=abc").first == 200);
  json bad = admit;
  bad["metadata"]["name"] = "bad";
  bad["spec"]["policyTypes"] = {"Sideways"};
  CHECK(call("POST", netpols, bad)["code"] == 422);
}

TEST_CASE("kubernetes emulator: a CGI script that writes to a read-only "
          "mount fails",
          "[e2e][fabric]") {
  // The kubelet mounts a volume read-only when the mount or its source
  // says so, and the kernel refuses the write; the emulator must not let a
  // helper script that writes there pass.
  TempDir volumes;
  Emulator emu("kubernetes",
               {"--pod-ms", "100", "--volume-dir", volumes.path().string()});
  std::string url = emu.url();
  seed_cluster(url);
  json pvc = named("PersistentVolumeClaim", "ledger");
  pvc["spec"] = {{"accessModes", {"ReadWriteOnce"}},
                 {"storageClassName", "csi-hostpath-sc"},
                 {"resources", {{"requests", {{"storage", "1Gi"}}}}}};
  call("POST", ns_url(url, k_core, "persistentvolumeclaims"), pvc);
  json cm = named("ConfigMap", "cgi");
  cm["data"] = {{"touch",
                 "#!/bin/sh\n"
                 "echo x > \"$DATA/written\"\n"
                 "printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n"}};
  call("POST", ns_url(url, k_core, "configmaps"), cm);
  auto pod_with = [&](const std::string& name, bool mount_ro, bool claim_ro) {
    json pod = named("Pod", name);
    pod["spec"] = {{"containers",
                    {{{"name", "web"},
                      {"image", "busybox:1.36.1"},
                      {"command", {"httpd", "-f", "-p", "8080", "-h", "/www"}},
                      {"env", {{{"name", "DATA"}, {"value", "/data"}}}},
                      {"volumeMounts",
                       {{{"name", "cgi"}, {"mountPath", "/www/cgi-bin"}},
                        {{"name", "data"},
                         {"mountPath", "/data"},
                         {"readOnly", mount_ro}}}}}}},
                   {"volumes",
                    {{{"name", "cgi"}, {"configMap", {{"name", "cgi"}}}},
                     {{"name", "data"},
                      {"persistentVolumeClaim",
                       {{"claimName", "ledger"}, {"readOnly", claim_ro}}}}}}};
    call("POST", ns_url(url, k_core, "pods"), pod);
    REQUIRE(when_running(ns_url(url, k_core, "pods", name))
                .value("status", json::object())
                .value("phase", "") == "Running");
    return get_with_status(ns_url(url, k_core, "pods", name + ":8080") +
                           "/proxy/cgi-bin/touch");
  };
  auto written = [&] {
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(volumes.path())) {
      if (e.path().filename() == "written") {
        return true;
      }
    }
    return false;
  };
  for (auto [mount_ro, claim_ro] : {std::pair{true, false}, {false, true}}) {
    auto refused =
        pod_with(mount_ro ? "mount-ro" : "claim-ro", mount_ro, claim_ro);
    CHECK(refused.first == 500);
    CHECK(refused.second.find("read-only mount /data") != std::string::npos);
    std::filesystem::remove_all(volumes.path());
    std::filesystem::create_directories(volumes.path());
  }
  // Read-write, the same script writes and answers.
  auto ok = pod_with("rw", false, false);
  CHECK(ok.first == 200);
  CHECK(ok.second == "ok\n");
  CHECK(written());
}

TEST_CASE("kubernetes emulator: Pod Security admission refuses pods as "
          "the namespace's level says",
          "[e2e][fabric]") {
  Emulator emu("kubernetes", {});
  std::string url = emu.url();
  json ns = {{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata", {{"name", k_ns}}}};
  call("POST", url + k_core + "/namespaces", ns);
  json pod = named("Pod", "web");
  json web = {
      {"name", "web"},
      {"image", "busybox:1.36.1"},
      {"securityContext", {{"capabilities", {{"add", {"DAC_READ_SEARCH"}}}}}}};
  pod["spec"] = {{"containers", json::array({web})}};
  auto label = [&](const std::string& level) {
    call("PATCH", url + k_core + "/namespaces/" + k_ns,
         {{"metadata",
           {{"labels", {{"pod-security.kubernetes.io/enforce", level}}}}}});
  };
  std::string pods = ns_url(url, k_core, "pods");
  // Baseline allows 13 capabilities; DAC_READ_SEARCH is not one.
  label("baseline");
  json refused = call("POST", pods + "?dryRun=All", pod);
  CHECK(refused["code"] == 403);
  CHECK(refused["reason"] == "Forbidden");
  CHECK(refused["message"] ==
        "pods \"web\" is forbidden: violates PodSecurity \"baseline:latest\": "
        "non-default capabilities (container \"web\" must not include "
        "\"DAC_READ_SEARCH\" in securityContext.capabilities.add)");
  json unconfined = pod;
  unconfined["spec"]["containers"][0].erase("securityContext");
  unconfined["spec"]["securityContext"] = {
      {"seccompProfile", {{"type", "Unconfined"}}}};
  CHECK(call("POST", pods, unconfined)["message"] ==
        "pods \"web\" is forbidden: violates PodSecurity \"baseline:latest\": "
        "seccompProfile (pod must not set securityContext.seccompProfile.type "
        "to \"Unconfined\")");
  // Restricted asks for much more, each check in the registry's order.
  label("restricted");
  pod["spec"]["containers"][0]["securityContext"] = {
      {"capabilities", {{"add", {"DAC_OVERRIDE"}}}}};
  refused = call("POST", pods, pod);
  CHECK(refused["message"] ==
        "pods \"web\" is forbidden: violates PodSecurity "
        "\"restricted:latest\": allowPrivilegeEscalation != false (container "
        "\"web\" must set securityContext.allowPrivilegeEscalation=false), "
        "unrestricted capabilities (container \"web\" must set "
        "securityContext.capabilities.drop=[\"ALL\"]; container \"web\" must "
        "not include \"DAC_OVERRIDE\" in securityContext.capabilities.add), "
        "runAsNonRoot != true (pod or container \"web\" must set "
        "securityContext.runAsNonRoot=true), seccompProfile (pod or container "
        "\"web\" must set securityContext.seccompProfile.type to "
        "\"RuntimeDefault\" or \"Localhost\")");
  // A pod that meets restricted is admitted; a dry run stores nothing.
  pod["spec"]["securityContext"] = {
      {"runAsNonRoot", true},
      {"runAsUser", 1000},
      {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  pod["spec"]["containers"][0]["securityContext"] = {
      {"allowPrivilegeEscalation", false},
      {"capabilities", {{"drop", {"ALL"}}}}};
  json admitted = call("POST", pods + "?dryRun=All", pod);
  CHECK(admitted["kind"] == "Pod");
  CHECK(call("GET", ns_url(url, k_core, "pods", "web"))["code"] == 404);
  CHECK(call("POST", pods + "?dryRun=Some", pod)["code"] == 422);
  // A level that does not parse counts as restricted.
  label("strict");
  pod["spec"]["securityContext"]["runAsUser"] = 0;
  CHECK(call("POST", pods, pod)["message"] ==
        "pods \"web\" is forbidden: violates PodSecurity "
        "\"restricted:latest\": runAsUser=0 (pod must not set runAsUser=0)");
  // A container's own profile overrides the pod's.
  pod["spec"]["securityContext"]["runAsUser"] = 1000;
  pod["spec"]["containers"][0]["securityContext"]["seccompProfile"] = {
      {"type", "Unconfined"}};
  CHECK(call("POST", pods, pod)["message"] ==
        "pods \"web\" is forbidden: violates PodSecurity "
        "\"restricted:latest\": seccompProfile (container \"web\" must not "
        "set securityContext.seccompProfile.type to \"Unconfined\")");
  label("privileged");
  CHECK(call("POST", pods, pod)["kind"] == "Pod");
}

TEST_CASE("fabric: --copy-volumes carries the volumes' files and "
          "--from-copies writes them into a new cluster",
          "[e2e][fabric]") {
  TempDir volumes, fresh_volumes, dir;
  Emulator emu("kubernetes",
               with(crd_flags(), {"--volume-dir", volumes.path().string()}));
  seed(emu.url());
  auto files = seed_volume_files(emu.url(), volumes.path());
  // The helper pods meet the baseline Pod Security level, which
  // fabric-operator's peers need too.
  call("PATCH", emu.url() + k_core + "/namespaces/" + k_ns,
       {{"metadata",
         {{"labels", {{"pod-security.kubernetes.io/enforce", "baseline"}}}}}});
  // Encrypted, as the archive holds the ledgers and private keys.
  RunOptions enc{.env = {{"SNAP_PASSPHRASE", "correct horse battery"}}};
  auto saved =
      snap(with({"--json", "save", "fabric", "ibppeers.ibp.com/peer1",
                 "--copy-volumes", "--encrypt", "-o", dir.path().string()},
                target(emu)),
           enc);
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK(json::parse(saved.out)["source"]["volume_copies"] == 2);
  // The files left through the helper pods' proxy, and nothing of the
  // helpers is left.
  CHECK(emu.received("GET " + k_core + "/namespaces/fab/pods/snap-copy-"));
  CHECK(copy_leftovers(emu.url(), k_ns).empty());
  std::string archive = only_archive(dir);
  auto inspected = snap({"inspect", archive}, enc);
  INFO(inspected.err);
  REQUIRE(inspected.exit_code == 0);
  CHECK(inspected.out.find("fab/peer1-pvc: 2 files, 70016 bytes") !=
        std::string::npos);

  // A cluster that never had the snapshots: the PVCs are made empty and
  // filled from the archive before the peer that mounts them is created.
  Emulator fresh(
      "kubernetes",
      with(crd_flags(), {"--volume-dir", fresh_volumes.path().string()}));
  seed_cluster(fresh.url());
  std::vector<std::string> to = {"--addr", fresh.url(), "--namespace-map",
                                 "fab=copy"};
  auto plan = snap(
      with({"restore", "fabric", archive, "--from-copies", "--dry-run"}, to),
      enc);
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("create persistentvolumeclaims/peer1-pvc in namespace "
                      "copy and write the archive's copy of its files "
                      "(payload/volumes/fab/peer1-pvc.tar.gz) into it") !=
        std::string::npos);
  // A namespace whose Pod Security level refuses the helper pods fails
  // the restore before anything changes.
  call(
      "POST", fresh.url() + k_core + "/namespaces",
      {{"apiVersion", "v1"},
       {"kind", "Namespace"},
       {"metadata",
        {{"name", "copy"},
         {"labels", {{"pod-security.kubernetes.io/enforce", "restricted"}}}}}});
  auto refused_here = snap(
      with({"restore", "fabric", archive, "--from-copies", "--yes"}, to), enc);
  INFO(refused_here.err);
  CHECK(refused_here.exit_code == 5);
  CHECK(refused_here.err.find("namespace copy does not admit the volume copy "
                              "pod: its Pod Security level is restricted") !=
        std::string::npos);
  CHECK_FALSE(fresh.received("POST " + k_core +
                             "/namespaces/copy/persistentvolumeclaims"));
  call("PATCH", fresh.url() + k_core + "/namespaces/copy",
       {{"metadata",
         {{"labels", {{"pod-security.kubernetes.io/enforce", "baseline"}}}}}});
  // Sent in parts of 512 bytes, as a copy over 2 GiB goes (busybox httpd
  // takes no larger request body).
  RunOptions in_parts{.env = {{"SNAP_PASSPHRASE", "correct horse battery"},
                              {"SNAP_COPY_PART_BYTES", "512"}}};
  auto restored =
      snap(with({"restore", "fabric", archive, "--from-copies", "--yes"}, to),
           in_parts);
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(restored.out.find("created persistentvolumeclaims/peer1-pvc from "
                          "the archive's copy of its files") !=
        std::string::npos);
  auto reqs = fresh.requests();
  std::size_t untar = first_request(
      reqs, "POST " + k_core + "/namespaces/copy/pods/snap-copy-", 0);
  std::size_t peer =
      first_request(reqs, "POST " + k_ibp + "/namespaces/copy/ibppeers", 0);
  CHECK(untar < peer);
  std::size_t parts = 0, joined = 0;
  for (const auto& r : reqs) {
    parts += r.find(":8080/proxy/cgi-bin/part?") != std::string::npos;
    joined += r.find(":8080/proxy/cgi-bin/untar?") != std::string::npos &&
              r.find("parts=") != std::string::npos;
  }
  CHECK(parts >= 2);
  CHECK(joined == 1); // the ledger's copy; the state database's is smaller
  CHECK(peer < reqs.size());
  CHECK(copy_leftovers(fresh.url(), "copy").empty());
  for (const auto& [path, bytes] : files) {
    INFO(path);
    std::string pvc = path.substr(0, path.find('/'));
    json claim =
        call("GET", fresh.url() + k_core +
                        "/namespaces/copy/persistentvolumeclaims/" + pvc);
    CHECK_FALSE(claim["spec"].contains("dataSource"));
    fs::path file =
        volume_folder(fresh.url(), fresh_volumes.path(), "copy", pvc) /
        path.substr(pvc.size() + 1);
    CHECK(read_file(file) == bytes);
  }

  // A helper a killed save left is found by its labels and deleted with
  // the backup.
  std::string id = json::parse(saved.out)["backup_id"];
  json left = named("ConfigMap", "snap-copy-" + id);
  left["metadata"]["labels"] = {{"snap/backup", id},
                                {"snap/role", "volume-copy"}};
  call("POST", ns_url(emu.url(), k_core, "configmaps"), left);
  auto deleted = snap(with({"delete", "fabric", id, "--yes"}, target(emu)));
  INFO(deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK(copy_leftovers(emu.url(), k_ns).empty());

  // An archive without copies cannot restore from them.
  TempDir plain;
  std::string without = save_peer(emu, plain);
  auto refused =
      snap(with({"restore", "fabric", without, "--from-copies", "--yes"}, to));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("saved without --copy-volumes") != std::string::npos);
}

TEST_CASE("fabric: a volume copy that cannot be taken fails the save and "
          "leaves nothing behind",
          "[e2e][fabric]") {
  std::string outcome = GENERATE("link", "terminated", "restricted");
  TempDir volumes, dir;
  Emulator emu(
      "kubernetes",
      with(crd_flags(), {"--volume-dir", volumes.path().string(), "--pod-ms",
                         outcome == "terminated" ? "60000" : "100"}));
  seed(emu.url());
  seed_volume_files(emu.url(), volumes.path());
  if (outcome == "link") {
    // A link out of the volume is not copied as if it were a file.
    fs::create_symlink(
        "/etc/passwd",
        volume_folder(emu.url(), volumes.path(), k_ns, "peer1-pvc") / "escape");
  }
  if (outcome == "restricted") {
    call("PATCH", emu.url() + k_core + "/namespaces/" + k_ns,
         {{"metadata",
           {{"labels",
             {{"pod-security.kubernetes.io/enforce", "restricted"}}}}}});
  }
  RunOptions opts;
  if (outcome == "terminated") {
    // Once a helper pod is made (not at the dry run that asks first).
    opts.signal_when = [&] {
      auto log = emu.requests();
      return std::any_of(log.begin(), log.end(), [](const std::string& l) {
        return l == "POST " + k_core + "/namespaces/fab/pods";
      });
    };
    opts.signal = SIGTERM;
  }
  auto r = snap(with({"save", "fabric", "ibppeers.ibp.com/peer1",
                      "--copy-volumes", "-o", dir.path().string()},
                     target(emu)),
                opts);
  INFO(outcome << ": " << r.err);
  CHECK(r.exit_code == (outcome == "link"         ? 7
                        : outcome == "restricted" ? 5
                                                  : 143));
  if (outcome == "link") {
    CHECK(r.err.find("escape") != std::string::npos);
  }
  if (outcome == "restricted") {
    // Refused by the dry run, before any snapshot was taken, and said in
    // terms of what to do.
    CHECK(r.err.find("namespace fab does not admit the volume copy pod") !=
          std::string::npos);
    CHECK(r.err.find("its Pod Security level is restricted") !=
          std::string::npos);
    CHECK(r.err.find("pod-security.kubernetes.io/enforce=baseline") !=
          std::string::npos);
    CHECK(r.err.find("RBAC") == std::string::npos);
    CHECK_FALSE(
        emu.received("POST " + k_vs + "/namespaces/fab/volumesnapshots"));
  }
  CHECK(dir.list().empty());
  CHECK(copy_leftovers(emu.url(), k_ns).empty());
  // The snapshots no archive names are gone too.
  CHECK(
      call("GET", ns_url(emu.url(), k_vs, "volumesnapshots"))["items"].empty());
}

} // namespace snap::test
