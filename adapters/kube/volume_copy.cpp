// SPDX-License-Identifier: MIT
#include "adapters/kube/volume_copy.hpp"

#include <algorithm>
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

// A restore sends the copy in one POST when it fits in one request body
// (busybox httpd takes at most INT_MAX bytes, httpd.c
// handle_incoming_and_exit), else in parts: each part is written to a file
// of its own under $SNAP_DATA/.snap-copy-parts (a part sent again
// overwrites itself, so a retried request does no harm) and answers its
// size; untar with `parts=N` then unpacks the N parts in order and
// removes them. The parts take room on the volume next to the unpacked
// files until then; a volume without it fails that write (cat's error).
const char* const k_untar_script = R"sh(#!/bin/sh
# snap restore from --copy-volumes: unpacks the copy into the volume
forbidden() {
  printf 'Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nforbidden\n'
  exit 0
}
[ "$REQUEST_METHOD" = POST ] || forbidden
parts=
case "$QUERY_STRING" in
  "token=$SNAP_TOKEN") ;;
  "token=$SNAP_TOKEN&parts="*) parts=${QUERY_STRING##*&parts=} ;;
  *) forbidden ;;
esac
case "$parts" in *[!0-9]*) forbidden ;; esac
dir="$SNAP_DATA/.snap-copy-parts"
ok=
if [ -z "$parts" ]; then
  out=$(tar -xzf - -C "$SNAP_DATA" 2>&1) && ok=1
else
  i=0
  out=
  while [ "$i" -lt "$parts" ]; do
    [ -f "$(printf '%s/%08d' "$dir" "$i")" ] || { out="part $i is missing"; break; }
    i=$((i + 1))
  done
  if [ -z "$out" ]; then
    out=$(i=0; while [ "$i" -lt "$parts" ]; do
      cat "$(printf '%s/%08d' "$dir" "$i")"; i=$((i + 1))
    done | tar -xzf - -C "$SNAP_DATA" 2>&1) && ok=1
  fi
  rm -rf "$dir"
fi
if [ -n "$ok" ]; then
  n=$(find "$SNAP_DATA" -type f | wc -l)
  printf 'Content-Type: text/plain\r\n\r\nfiles %s\n' $n
else
  printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n%s\n' "$out"
fi
)sh";

const char* const k_part_script = R"sh(#!/bin/sh
# snap restore from --copy-volumes: stores part N of a copy sent in parts
forbidden() {
  printf 'Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nforbidden\n'
  exit 0
}
[ "$REQUEST_METHOD" = POST ] || forbidden
case "$QUERY_STRING" in
  "token=$SNAP_TOKEN&n="*) n=${QUERY_STRING##*&n=} ;;
  *) forbidden ;;
esac
case "$n" in ''|*[!0-9]*) forbidden ;; esac
dir="$SNAP_DATA/.snap-copy-parts"
f=$(printf '%s/%08d' "$dir" "$n")
if out=$(mkdir -p "$dir" 2>&1 && cat > "$f" 2>&1); then
  printf 'Content-Type: text/plain\r\n\r\nbytes %s\n' $(wc -c < "$f")
else
  rm -f "$f"
  printf 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n%s\n' "$out"
fi
)sh";

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
const ResourceType& networkpolicies() {
  static const ResourceType t = [] {
    ResourceType n = core("networkpolicies", "NetworkPolicy");
    n.group = "networking.k8s.io";
    return n;
  }();
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
      {"tar", k_tar_script},
      {"untar", k_untar_script},
      {"part", k_part_script}};
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
  // The helper pods only answer: no connection out of them (an empty
  // egress list), and in only to the CGI port, from anywhere, as the API
  // server's proxy is no pod a selector could name (k8s.io/api
  // networking/v1 types.go: a rule without `from` matches all sources).
  // Where the network plugin does not enforce NetworkPolicy, it is inert.
  json policy = {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", name}, {"labels", labels}}},
      {"spec",
       {{"podSelector", {{"matchLabels", labels}}},
        {"policyTypes", {"Ingress", "Egress"}},
        {"ingress", {{{"ports", {{{"protocol", "TCP"}, {"port", k_port}}}}}}},
        {"egress", json::array()}}}};
  SNAP_TRY(create(networkpolicies(), ns, name, policy));
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
  // Bounded repetition: libstdc++'s regex recurses per character matched.
  static const std::regex level("violates PodSecurity \"([a-z]{1,32}):");
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

namespace {

// The largest request body busybox httpd takes (httpd.c: a Content-Length
// above INT_MAX is a 400).
constexpr std::uint64_t k_max_body = 2147483647;

// Bytes [offset, offset + size) of a source read from its start in order:
// the parts of a copy are sent one after the other, so each window
// continues where the last one ended; sent again (a retry), it rewinds
// the source and reads up to its offset.
class PartSource : public Source {
public:
  PartSource(Source& all, std::uint64_t offset, std::uint64_t size)
      : m_all(all), m_offset(offset), m_size(size) {}
  Expected<std::size_t> read(std::span<std::byte> buf) override {
    std::uint64_t left = m_size - m_done;
    if (left == 0) {
      return std::size_t{0};
    }
    auto n = SNAP_TRY(m_all.read(buf.first(
        static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size())))));
    if (n == 0) {
      return fail(ErrorKind::archive, "the volume copy ended early");
    }
    m_done += n;
    return n;
  }
  Expected<void> rewind() override {
    SNAP_TRY(m_all.rewind());
    std::vector<std::byte> skip(1 << 16);
    for (std::uint64_t at = 0; at < m_offset;) {
      auto n =
          SNAP_TRY(m_all.read(std::span(skip).first(static_cast<std::size_t>(
              std::min<std::uint64_t>(m_offset - at, skip.size())))));
      if (n == 0) {
        return fail(ErrorKind::archive, "the volume copy ended early");
      }
      at += n;
    }
    m_done = 0;
    return {};
  }
  std::optional<std::uint64_t> size() const override { return m_size; }

private:
  Source& m_all;
  std::uint64_t m_offset, m_size, m_done = 0;
};

// The number after `word ` on the first line of `answer`, or nullopt.
std::optional<std::uint64_t> counted(const std::string& answer,
                                     const std::string& word) {
  std::string line = first_line(answer);
  if (!line.starts_with(word + " ")) {
    return std::nullopt;
  }
  return whole_number(trim_copy(line.substr(word.size() + 1)));
}

} // namespace

// How many bytes go in one request when a copy is written back: from
// SNAP_COPY_PART_BYTES (for a proxy or load balancer in front of the API
// server that takes less), at most what busybox httpd takes.
std::uint64_t copy_part_bytes() {
  const char* env = std::getenv("SNAP_COPY_PART_BYTES");
  std::uint64_t n = env == nullptr ? 0 : whole_number(env).value_or(0);
  return n == 0 ? k_max_body : std::min(n, k_max_body);
}

Expected<std::string> VolumeCopier::post(const std::string& ns,
                                         const std::string& pod,
                                         const std::string& script,
                                         const std::string& query,
                                         Source* body) {
  MemorySource empty("");
  Request req{.method = "POST",
              .path = proxy_path(ns, pod, script),
              .query = "token=" + m_token + query,
              .body = body == nullptr ? &empty : body,
              .content_type = "application/gzip",
              // unpacking again writes the same files; a part sent again
              // overwrites itself
              .idempotent = true};
  MemorySink sink(64 * 1024);
  Response resp = SNAP_TRY(m_api.http().send(req, sink));
  if (!resp.ok()) {
    return tl::unexpected(m_api.http().status_error(
        req, resp,
        fmt::format("the volume copy pod {}/{} could not write the volume; "
                    "kubectl logs -n {} {}",
                    ns, pod, ns, pod)));
  }
  return sink.take();
}

Expected<void> VolumeCopier::copy_in(const json& rec, const std::string& ns,
                                     const std::string& pvc,
                                     ArchiveReader& in) {
  // The archive was verified before the restore began: describe_fabric
  // read this copy to its end, counted it and refused unsafe members.
  auto src = SNAP_TRY(in.open_entry(str(rec, "file")));
  std::uint64_t total = src->size().value_or(0);
  std::uint64_t part = copy_part_bytes();
  std::string pod = SNAP_TRY(start_pod(ns, pvc, false));
  std::string answer;
  if (total <= part) {
    answer = SNAP_TRY(post(ns, pod, "untar", "", src.get()));
  } else {
    std::uint64_t n = 0;
    for (std::uint64_t at = 0; at < total; at += part, ++n) {
      PartSource window(*src, at, std::min(part, total - at));
      std::string stored =
          SNAP_TRY(post(ns, pod, "part", fmt::format("&n={}", n), &window));
      if (counted(stored, "bytes") != window.size()) {
        return fail(ErrorKind::remote,
                    fmt::format("{}: the volume copy pod {}/{} stored part {} "
                                "of the copy as '{}', not its {} bytes",
                                m_label, ns, pod, n,
                                terminal_safe(first_line(stored)),
                                *window.size()));
      }
      m_reporter.progress("write " + pvc, std::min(at + part, total), total);
    }
    answer = SNAP_TRY(post(ns, pod, "untar", fmt::format("&parts={}", n)));
  }
  std::uint64_t want = count_of(rec, "files");
  auto got = counted(answer, "files");
  if (!got) {
    return fail(ErrorKind::remote,
                fmt::format("{}: the volume copy pod {}/{} answered '{}' "
                            "instead of the number of files it wrote",
                            m_label, ns, pod,
                            terminal_safe(first_line(answer))));
  }
  SNAP_TRY(remove(pods(), ns, pod));
  if (*got != want) {
    return fail(ErrorKind::partial,
                fmt::format("{}: volume {}/{} holds {} files after the copy "
                            "was written, the archive {} (kubectl describe "
                            "pvc -n {} {})",
                            m_label, ns, pvc, *got, want, ns, pvc));
  }
  m_note(fmt::format("wrote volume {}/{} from the archive's copy: {} files", ns,
                     pvc, *got));
  return {};
}

Expected<std::vector<std::string>>
VolumeCopier::remove_leftovers(Client& api, const std::string& ns,
                               const std::string& id) {
  std::vector<std::string> gone;
  std::string selector =
      fmt::format("{}={},snap/role=volume-copy", k_backup_label, id);
  for (const ResourceType* t :
       {&pods(), &pvcs(), &secrets(), &configmaps(), &networkpolicies()}) {
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
