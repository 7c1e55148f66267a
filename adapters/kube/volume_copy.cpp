// SPDX-License-Identifier: MIT
#include "adapters/kube/volume_copy.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

#include <openssl/rand.h>

#include <fmt/format.h>

#include "adapters/kube/objects.hpp"
#include "adapters/kube/volumes.hpp"
#include "snap/poll.hpp"
#include "snap/targz.hpp"
#include "snap/text.hpp"

namespace snap::adapters::kube {

namespace {

constexpr int k_port = 8080;

// busybox httpd runs a CGI script with REQUEST_METHOD and QUERY_STRING set
// and the request body on its standard input, and turns a first output
// line "Status: NNN Reason" into the status line (httpd.c,
// cgi_io_loop_and_exit). The volume is reached through $SNAP_DATA (its
// mount path) and the token through $SNAP_TOKEN (from the run's Secret).
// A tar that fails half-way leaves a gzip stream without its trailer,
// which the save's check refuses.
const char* const k_tar_script = R"(#!/bin/sh
# snap --copy-volumes: the volume's files as tar.gz
if [ "$REQUEST_METHOD" != GET ] || [ "$QUERY_STRING" != "token=$SNAP_TOKEN" ]; then
  printf 'Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nforbidden\n'
  exit 0
fi
printf 'Content-Type: application/gzip\r\n\r\n'
exec tar -czf - -C "$SNAP_DATA" .
)";

const char* const k_untar_script = R"(#!/bin/sh
# snap restore from --copy-volumes: unpacks the request body into the volume
if [ "$REQUEST_METHOD" != POST ] || [ "$QUERY_STRING" != "token=$SNAP_TOKEN" ]; then
  printf 'Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nforbidden\n'
  exit 0
fi
if out=$(tar -xzf - -C "$SNAP_DATA" 2>&1); then
  n=$(find "$SNAP_DATA" -type f | wc -l)
  printf 'Content-Type: text/plain\r\n\r\nfiles %s\n' $n
else
  printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n%s\n' "$out"
fi
)";

ResourceType core(const char* plural, const char* kind) {
  ResourceType t;
  t.version = "v1";
  t.plural = plural;
  t.kind = kind;
  t.namespaced = true;
  return t;
}

const ResourceType& pods() {
  static const ResourceType t = core("pods", "Pod");
  return t;
}
const ResourceType& pvcs() {
  static const ResourceType t =
      core("persistentvolumeclaims", "PersistentVolumeClaim");
  return t;
}
const ResourceType& secrets() {
  static const ResourceType t = core("secrets", "Secret");
  return t;
}
const ResourceType& configmaps() {
  static const ResourceType t = core("configmaps", "ConfigMap");
  return t;
}

std::string random_token() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return {};
  }
  std::string hex;
  for (unsigned char b : bytes) {
    hex += fmt::format("{:02x}", b);
  }
  return hex;
}

// A body that is not a 2xx answer, for the error.
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? "no message" : line;
}

} // namespace

const std::vector<std::pair<std::string, std::string>>& copy_scripts() {
  static const std::vector<std::pair<std::string, std::string>> scripts = {
      {"tar", k_tar_script}, {"untar", k_untar_script}};
  return scripts;
}

VolumeCopier::~VolumeCopier() { (void)cleanup(); }

// The run's Secret (the token) and ConfigMap (the scripts) in `ns`, once.
Expected<void> VolumeCopier::prepare(const std::string& ns) {
  if (std::find(m_prepared.begin(), m_prepared.end(), ns) != m_prepared.end()) {
    return {};
  }
  if (m_token.empty()) {
    m_token = random_token();
    if (m_token.empty()) {
      return fail(ErrorKind::internal,
                  fmt::format("{}: no random bytes for the volume copy's "
                              "token (OpenSSL RAND_bytes failed)",
                              m_label));
    }
  }
  std::string name = "snap-copy-" + m_id;
  json labels = helper_labels();
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", name}, {"labels", labels}}},
                 {"type", "Opaque"},
                 {"stringData", {{"token", m_token}}}};
  SNAP_TRY(create(secrets(), ns, name, secret));
  json data = json::object();
  for (const auto& [file, text] : copy_scripts()) {
    data[file] = text;
  }
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", name}, {"labels", labels}}},
             {"data", data}};
  SNAP_TRY(create(configmaps(), ns, name, cm));
  m_prepared.push_back(ns);
  return {};
}

// A helper pod mounting `pvc` at /data; read-only for a save. It runs as
// root with every capability dropped but those tar needs: to read any
// file (DAC_OVERRIDE), and for a restore also to set owners, modes and
// set-group-ID bits (CHOWN, FOWNER, FSETID). All four are in the Pod
// Security Standards' baseline set (pod-security-admission
// check_capabilities_baseline.go), which fabric-operator's own peers need
// too (their init container runs as root with CHOWN and FOWNER);
// DAC_READ_SEARCH, which would do for reading, is not. It has a read-only
// root file system, the runtime's default seccomp profile and no
// service-account token.
json VolumeCopier::pod_object(const std::string& name, const std::string& pvc,
                              bool read_only) const {
  std::string shared = "snap-copy-" + m_id;
  json caps = read_only ? json{"DAC_OVERRIDE"}
                        : json{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"};
  json container = {
      {"name", "copy"},
      {"image", m_image},
      {"command", {"httpd", "-f", "-p", std::to_string(k_port), "-h", "/www"}},
      {"ports", {{{"containerPort", k_port}}}},
      {"env",
       {{{"name", "SNAP_DATA"}, {"value", "/data"}},
        {{"name", "SNAP_TOKEN"},
         {"valueFrom",
          {{"secretKeyRef", {{"name", shared}, {"key", "token"}}}}}}}},
      {"volumeMounts",
       {{{"name", "data"}, {"mountPath", "/data"}, {"readOnly", read_only}},
        {{"name", "cgi"}, {"mountPath", "/www/cgi-bin"}, {"readOnly", true}}}},
      {"securityContext",
       {{"runAsUser", 0},
        {"readOnlyRootFilesystem", true},
        {"allowPrivilegeEscalation", false},
        {"capabilities", {{"drop", {"ALL"}}, {"add", caps}}}}},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "32Mi"}}},
        {"limits", {{"cpu", "1"}, {"memory", "256Mi"}}}}}};
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"labels", helper_labels()}}},
      {"spec",
       {{"restartPolicy", "Never"},
        {"automountServiceAccountToken", false},
        {"securityContext", {{"seccompProfile", {{"type", "RuntimeDefault"}}}}},
        {"containers", {container}},
        {"volumes",
         {{{"name", "data"},
           {"persistentVolumeClaim",
            {{"claimName", pvc}, {"readOnly", read_only}}}},
          {{"name", "cgi"},
           {"configMap", {{"name", shared}, {"defaultMode", 0555}}}}}}}}};
}

// A helper pod refused by the namespace's Pod Security level, said in
// terms of what to do about it.
Error VolumeCopier::refused(const Error& e, const std::string& ns,
                            bool read_only) const {
  static const std::regex level("violates PodSecurity \"([a-z]+):");
  std::smatch m;
  if (e.kind != ErrorKind::auth || !std::regex_search(e.message, m, level)) {
    return e;
  }
  return Error{
      e.kind,
      fmt::format("{}: namespace {} does not admit the volume copy pod: its "
                  "Pod Security level is {} (label pod-security.kubernetes.io/"
                  "enforce), and the pod runs as root with {} (the baseline "
                  "level allows {}); label the namespace pod-security."
                  "kubernetes.io/enforce=baseline for the copy, or do without "
                  "{}",
                  m_label, ns, m[1].str(),
                  read_only ? "DAC_OVERRIDE, to read every file"
                            : "CHOWN, DAC_OVERRIDE, FOWNER and FSETID, to "
                              "write every file as it was",
                  read_only ? "it" : "them",
                  read_only ? "--copy-volumes (the VolumeSnapshots stay)"
                            : "--from-copies")};
}

Expected<void> VolumeCopier::preflight(const std::string& ns,
                                       const std::string& pvc, bool read_only) {
  std::string name = fmt::format("snap-copy-{}-check", m_id);
  auto admitted = m_api.admit(pods(), ns, pod_object(name, pvc, read_only));
  if (!admitted && admitted.error().kind == ErrorKind::not_found) {
    return {}; // a namespace the restore makes: nothing to ask yet
  }
  if (!admitted) {
    return tl::unexpected(refused(admitted.error(), ns, read_only));
  }
  return {};
}

Expected<std::string> VolumeCopier::start_pod(const std::string& ns,
                                              const std::string& pvc,
                                              bool read_only) {
  SNAP_TRY(prepare(ns));
  std::string name = fmt::format("snap-copy-{}-{}", m_id, m_next++);
  auto made = create(pods(), ns, name, pod_object(name, pvc, read_only));
  if (!made) {
    return tl::unexpected(refused(made.error(), ns, read_only));
  }
  SNAP_TRY(wait_running(ns, name));
  return name;
}

// Until the pod runs with an address (the proxy refuses one without:
// "address not allowed"); a pod that ended instead is an error.
Expected<void> VolumeCopier::wait_running(const std::string& ns,
                                          const std::string& pod) {
  std::string phase = "Pending";
  return poll_until(
      m_timeout_s,
      [&]() -> Expected<bool> {
        json p = SNAP_TRY(m_api.get(pods(), ns, pod));
        json st = p.value("status", json::object());
        phase = str(st, "phase");
        if (phase == "Failed" || phase == "Succeeded") {
          return fail(ErrorKind::remote,
                      fmt::format("{}: the volume copy pod {}/{} ended ({}) "
                                  "before it served the volume (kubectl "
                                  "describe pod -n {} {})",
                                  m_label, ns, pod, phase, ns, pod));
        }
        return phase == "Running" && !str(st, "podIP").empty();
      },
      [&] {
        return fmt::format("{}: the volume copy pod {}/{} is still {} after "
                           "{} s (kubectl describe pod -n {} {}; "
                           "--snapshot-timeout waits longer)",
                           m_label, ns, pod, phase.empty() ? "Pending" : phase,
                           m_timeout_s, ns, pod);
      },
      100, 2000);
}

std::string VolumeCopier::proxy_path(const std::string& ns,
                                     const std::string& pod,
                                     const std::string& script) const {
  return m_api.path(pods(), ns, pod) + ":" + std::to_string(k_port) +
         "/proxy/cgi-bin/" + script;
}

// What every helper object carries: the run's id, so `snap delete` finds
// what a killed run left, and the helper role.
json VolumeCopier::helper_labels() const {
  return {{std::string(k_backup_label), m_id}, {"snap/role", "volume-copy"}};
}

// Creates a helper object, counted as made before the request goes out: a
// create cut short by SIGINT may still have reached the server, and a
// delete of an object that is not there counts as done.
Expected<void> VolumeCopier::create(const ResourceType& t,
                                    const std::string& ns,
                                    const std::string& name,
                                    const json& object) {
  m_made.emplace_back(t, ns, name);
  auto made = m_api.create(t, ns, object);
  if (!made && made.error().kind == ErrorKind::conflict) {
    m_made.pop_back(); // someone else's object of that name
  }
  return made ? Expected<void>() : tl::unexpected(made.error());
}

Expected<void> VolumeCopier::remove(const ResourceType& t,
                                    const std::string& ns,
                                    const std::string& name) {
  SNAP_TRY(m_api.remove(t, ns, name, Propagation::background, true));
  std::erase_if(m_made, [&](const auto& m) {
    return std::get<0>(m).plural == t.plural && std::get<1>(m) == ns &&
           std::get<2>(m) == name;
  });
  return {};
}

Expected<json> VolumeCopier::copy_out(const json& rec, const json& pvc_spec,
                                      ArchiveWriter& out) {
  const std::string ns = str(rec, "namespace");
  const std::string pvc = str(rec, "pvc");
  std::string copy = fmt::format("snap-copy-{}-{}", m_id, m_next++);
  json spec = {
      {"accessModes", pvc_spec.value("accessModes", json{"ReadWriteOnce"})},
      {"resources",
       {{"requests",
         {{"storage", str(rec, "restore_size").empty()
                          ? pvc_spec.value("resources", json::object())
                                .value("requests", json::object())
                                .value("storage", "1Gi")
                          : str(rec, "restore_size")}}}}},
      {"dataSource",
       {{"apiGroup", "snapshot.storage.k8s.io"},
        {"kind", "VolumeSnapshot"},
        {"name", str(rec, "name")}}}};
  if (pvc_spec.contains("storageClassName")) {
    spec["storageClassName"] = pvc_spec["storageClassName"];
  }
  json claim = {{"apiVersion", "v1"},
                {"kind", "PersistentVolumeClaim"},
                {"metadata", {{"name", copy}, {"labels", helper_labels()}}},
                {"spec", spec}};
  SNAP_TRY(create(pvcs(), ns, copy, claim));
  std::string pod = SNAP_TRY(start_pod(ns, copy, true));
  std::string entry = fmt::format("volumes/{}/{}.tar.gz", ns, pvc);
  Sink* sink = SNAP_TRY(out.add_entry(entry, "application/gzip"));
  Request req{.method = "GET",
              .path = proxy_path(ns, pod, "tar"),
              .query = "token=" + m_token};
  Response resp = SNAP_TRY(m_api.http().send(
      req, *sink, [&](std::uint64_t done, std::uint64_t size) {
        m_reporter.progress("copy " + pvc, done, size);
      }));
  if (!resp.ok()) {
    return tl::unexpected(m_api.http().status_error(
        req, resp,
        fmt::format("the volume copy pod {}/{} did not serve the volume; "
                    "kubectl logs -n {} {}",
                    ns, pod, ns, pod)));
  }
  auto src = SNAP_TRY(out.entry_source(entry));
  auto checked = check_tar_gz(*src, entry);
  if (!checked) {
    return fail(ErrorKind::archive,
                fmt::format("{}: the copy of volume {}/{} is not whole: {} "
                            "(nothing was saved)",
                            m_label, ns, pvc, checked.error().message));
  }
  if (checked->unsafe_count > 0) {
    return fail(ErrorKind::archive,
                fmt::format("{}: volume {}/{} holds {} member{} that a copy "
                            "does not carry ({}): links and device files "
                            "could point outside the volume when written "
                            "back; nothing was saved (save without "
                            "--copy-volumes, which keeps the VolumeSnapshots "
                            "only)",
                            m_label, ns, pvc, checked->unsafe_count,
                            checked->unsafe_count == 1 ? "" : "s",
                            join_list(checked->unsafe, "; ")));
  }
  SNAP_TRY(remove(pods(), ns, pod));
  SNAP_TRY(remove(pvcs(), ns, copy));
  m_note(fmt::format("copied volume {}/{}: {} files, {} bytes", ns, pvc,
                     checked->files, checked->bytes));
  return json{{"namespace", ns},
              {"pvc", pvc},
              {"file", "payload/" + entry},
              {"files", checked->files},
              {"bytes", checked->bytes}};
}

Expected<void> VolumeCopier::copy_in(const json& rec, const std::string& ns,
                                     const std::string& pvc,
                                     ArchiveReader& in) {
  // The archive was verified before the restore began: describe_fabric
  // read this copy to its end, counted it and refused unsafe members.
  auto src = SNAP_TRY(in.open_entry(str(rec, "file")));
  std::string pod = SNAP_TRY(start_pod(ns, pvc, false));
  Request req{.method = "POST",
              .path = proxy_path(ns, pod, "untar"),
              .query = "token=" + m_token,
              .body = src.get(),
              .content_type = "application/gzip",
              .idempotent = true}; // unpacking again writes the same files
  MemorySink sink(64 * 1024);
  Response resp = SNAP_TRY(m_api.http().send(req, sink));
  std::string answer = sink.str();
  if (!resp.ok()) {
    return tl::unexpected(m_api.http().status_error(
        req, resp,
        fmt::format("the volume copy pod {}/{} could not write the volume; "
                    "kubectl logs -n {} {}",
                    ns, pod, ns, pod)));
  }
  std::uint64_t want = count_of(rec, "files");
  std::string line = first_line(answer);
  std::uint64_t got = 0;
  std::string count =
      trim_copy(line.substr(std::min<std::size_t>(6, line.size())));
  auto [end, ec] =
      std::from_chars(count.data(), count.data() + count.size(), got);
  if (!line.starts_with("files ") || count.empty() || ec != std::errc() ||
      end != count.data() + count.size()) {
    return fail(ErrorKind::remote,
                fmt::format("{}: the volume copy pod {}/{} answered '{}' "
                            "instead of the number of files it wrote",
                            m_label, ns, pod, terminal_safe(line)));
  }
  SNAP_TRY(remove(pods(), ns, pod));
  if (got != want) {
    return fail(ErrorKind::partial,
                fmt::format("{}: volume {}/{} holds {} files after the copy "
                            "was written, the archive {} (kubectl describe "
                            "pvc -n {} {})",
                            m_label, ns, pvc, got, want, ns, pvc));
  }
  m_note(fmt::format("wrote volume {}/{} from the archive's copy: {} files", ns,
                     pvc, got));
  return {};
}

Expected<std::vector<std::string>>
VolumeCopier::remove_leftovers(Client& api, const std::string& ns,
                               const std::string& id) {
  std::vector<std::string> gone;
  std::string selector =
      fmt::format("{}={},snap/role=volume-copy", k_backup_label, id);
  for (const ResourceType* t : {&pods(), &pvcs(), &secrets(), &configmaps()}) {
    auto items = api.list(*t, ns, selector);
    if (!items && items.error().kind == ErrorKind::auth) {
      // An account that may not list them (a scheduled prune without
      // --copy-volumes) cannot have made any.
      continue;
    }
    for (const auto& o : SNAP_TRY(std::move(items))) {
      std::string name = str(meta(o), "name");
      SNAP_TRY(api.remove(*t, ns, name, Propagation::background));
      gone.push_back(t->plural + "/" + name);
    }
  }
  return gone;
}

Expected<void> VolumeCopier::cleanup() {
  std::optional<Error> first;
  // Pods before what they mount.
  std::stable_sort(m_made.begin(), m_made.end(),
                   [](const auto& a, const auto& b) {
                     return std::get<0>(a).plural == "pods" &&
                            std::get<0>(b).plural != "pods";
                   });
  for (const auto& [t, ns, name] : m_made) {
    auto gone = m_api.remove(t, ns, name, Propagation::background, true);
    if (!gone && !first) {
      first = Error{gone.error().kind,
                    fmt::format("{} (delete it by hand: kubectl delete {} -n "
                                "{} {})",
                                gone.error().message, t.plural, ns, name)};
    }
  }
  m_made.clear();
  if (first) {
    return tl::unexpected(*first);
  }
  return {};
}

} // namespace snap::adapters::kube
