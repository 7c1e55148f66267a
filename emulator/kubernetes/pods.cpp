// SPDX-License-Identifier: MIT
// Pods made directly (not by a workload or a Job), the volumes' files, and
// the API server's proxy to a pod, as snap --copy-volumes uses them:
//
// - A pod stays Pending until every PVC it mounts is Bound, then runs
//   after --pod-ms with a pod IP (the kubelet's status: phase Running,
//   podIP, podIPs, condition Ready).
// - Every CSI volume and storage snapshot keeps its files in a folder of
//   its handle under --volume-dir; a snapshot cut copies the volume's
//   folder, a PVC restored from a snapshot starts with the snapshot's.
// - pods/NAME[:PORT]/proxy/PATH is answered as kube-apiserver does
//   (pkg/registry/core/pod/strategy.go ResourceLocation): "scheme:name:
//   port" parsed by SplitSchemeNamePort, 400 "address not allowed" while
//   the pod has no IP, the first container port when none is named, and a
//   503 "error trying to reach service" when nothing listens there, or
//   an "i/o timeout" when a NetworkPolicy drops the connection
//   (ingress_allowed_locked).
// - What listens is modelled for one program only: busybox httpd
//   (`httpd -f -p PORT -h HOME`) serving CGI scripts from HOME/cgi-bin.
//   The emulator runs the script itself, with /bin/sh, the container's
//   environment (secretKeyRef values read from the Secret) and the CGI
//   variables busybox sets (REQUEST_METHOD, QUERY_STRING, CONTENT_LENGTH),
//   the request body on its standard input, and turns its output into the
//   answer as busybox's cgi_io_loop_and_exit does: a first line "Status:
//   NNN Reason" becomes the status line, output that starts "HTTP" is sent
//   as is, anything else gets "HTTP/1.0 200 OK" in front. Lacking mount
//   namespaces, an environment value that names a PVC's mount path is
//   pointed at that volume's folder; this is how the script finds the
//   volume. Other paths the script names are the host's. A volume mounted
//   read-only is listed before and after the script runs; a script that
//   changed it gets a 500 naming the mount, where a node's kernel would
//   have refused the write.
#include "emulator/kubernetes/cluster.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "emulator/clock.hpp"
#include "emulator/codec.hpp"

namespace snap::emulator::kube {

namespace fs = std::filesystem;

fs::path Cluster::volume_path(const std::string& handle) const {
  return m_volume_root / handle;
}

void Cluster::copy_volume(const std::string& from, const std::string& to) {
  if (m_volume_root.empty() || from.empty() || to.empty() ||
      from.find('/') != std::string::npos ||
      to.find('/') != std::string::npos) {
    return;
  }
  std::error_code ec;
  fs::path src = volume_path(from);
  fs::path dst = volume_path(to);
  fs::remove_all(dst, ec);
  if (!fs::is_directory(src, ec)) {
    return;
  }
  fs::copy(src, dst,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
}

void Cluster::reconcile_pods_locked() {
  const Kind* pvc_k = find_kind("", "persistentvolumeclaims");
  std::set<std::string> seen;
  int n = 0;
  for (auto& [k, o] : m_objects) {
    if (!k.starts_with("v1|pods|")) {
      continue;
    }
    ++n;
    json& md = o["metadata"];
    if (md.contains("ownerReferences")) {
      continue; // a workload's or Job's pods are not modelled as objects
    }
    std::string id = k + "|" + md.value("uid", "");
    seen.insert(id);
    json& st = o["status"];
    if (st.is_object() && st.value("phase", "") == "Running") {
      continue;
    }
    std::string ns = md.value("namespace", "");
    std::string waiting;
    for (const auto& v :
         o.value("spec", json::object()).value("volumes", json::array())) {
      if (v.is_object() && v.contains("persistentVolumeClaim")) {
        std::string claim =
            v["persistentVolumeClaim"].value("claimName", std::string());
        json* pvc = object(pvc_k, ns, claim);
        if (pvc == nullptr) {
          waiting = "persistentvolumeclaim \"" + claim + "\" not found";
        } else if ((*pvc)["status"].value("phase", "") != "Bound") {
          waiting = "pod has unbound immediate PersistentVolumeClaims";
        }
      }
    }
    auto pending = [&](const std::string& why) {
      json want = {{"phase", "Pending"}};
      if (!why.empty()) {
        want["conditions"] = {{{"type", "PodScheduled"},
                               {"status", "False"},
                               {"reason", "Unschedulable"},
                               {"message", why}}};
      }
      if (st != want) {
        st = want;
        md["resourceVersion"] = next_rv();
      }
    };
    if (!waiting.empty()) {
      m_pod_bound.erase(id);
      pending(waiting);
      continue;
    }
    auto since = m_pod_bound.try_emplace(id, now_ms()).first->second;
    if (now_ms() - since < m_options.pod_ms) {
      pending("");
      continue;
    }
    std::string ip = "10.244.0." + std::to_string(2 + (n % 250));
    st = {{"phase", "Running"},
          {"podIP", ip},
          {"podIPs", {{{"ip", ip}}}},
          {"startTime", rfc3339(since, 0)},
          {"conditions",
           {{{"type", "PodScheduled"}, {"status", "True"}},
            {{"type", "Ready"}, {"status", "True"}}}}};
    md["resourceVersion"] = next_rv();
  }
  std::erase_if(m_pod_bound,
                [&](const auto& e) { return !seen.contains(e.first); });
}

namespace {

// What runs one CGI request, gathered under the lock.
struct CgiRun {
  std::string script;
  std::vector<std::string> env;
  // mount path -> folder of each volume the container mounts read-only
  std::map<std::string, std::string> read_only;
};

// What a folder's tree holds: each entry's path, type, size, mode and
// modification time, in path order. Two listings differ when anything
// was created, removed, written, renamed or chmodded in between.
std::string tree_listing(const fs::path& root) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      continue;
    }
    entries.push_back(fmt::format(
        "{}|{}|{}|{}|{}.{}", it->path().lexically_relative(root).string(),
        st.st_mode & S_IFMT, st.st_size, st.st_mode & 07777, st.st_mtim.tv_sec,
        st.st_mtim.tv_nsec));
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& e : entries) {
    out += e;
    out += '\n';
  }
  return out;
}

// busybox httpd's 404 page (httpd.c send_headers_and_exit).
void busybox_404(httplib::Response& res) {
  res.status = 404;
  res.set_content("<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD>\n"
                  "<BODY><H1>404 Not Found</H1>\nThe requested URL was not "
                  "found\n</BODY></HTML>\n",
                  "text/html");
}

// The argument after `flag` in `argv`, or "".
std::string arg_of(const std::vector<std::string>& argv,
                   const std::string& flag) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) {
      return argv[i + 1];
    }
  }
  return {};
}

std::string temp_file(const fs::path& dir, const std::string& data) {
  std::string name = (dir / ".cgi-XXXXXX").string();
  int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return {};
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return name;
}

// Runs `run` as busybox httpd runs a CGI script; its whole output, or
// nothing when it could not start.
std::optional<std::string> run_cgi(const fs::path& dir, const CgiRun& run,
                                   const std::string& body) {
  std::string script = temp_file(dir, run.script);
  std::string in = temp_file(dir, body);
  std::string out = temp_file(dir, "");
  std::optional<std::string> result;
  if (!script.empty() && !in.empty() && !out.empty()) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_TRUNC,
                                     0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv = {const_cast<char*>("/bin/sh"), script.data(),
                               nullptr};
    std::vector<char*> envp;
    for (const auto& e : run.env) {
      envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv.data(), envp.data()) ==
        0) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      std::ifstream f(out, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      result = ss.str();
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  for (const auto& f : {script, in, out}) {
    if (!f.empty()) {
      ::unlink(f.c_str());
    }
  }
  return result;
}

// Whether a LabelSelector selects `labels` (matchLabels, and
// matchExpressions with In, NotIn, Exists, DoesNotExist); an empty one
// selects everything.
bool selects(const json& selector, const json& labels) {
  if (!selector.is_object()) {
    return false;
  }
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (labels.is_object() && labels.contains(k) && labels[k].is_string()) {
      return labels[k].get<std::string>();
    }
    return std::nullopt;
  };
  for (const auto& [k, v] :
       selector.value("matchLabels", json::object()).items()) {
    if (!v.is_string() || label(k) != v.get<std::string>()) {
      return false;
    }
  }
  for (const auto& e : selector.value("matchExpressions", json::array())) {
    auto have = label(e.value("key", ""));
    std::string op = e.value("operator", "");
    json values = e.value("values", json::array());
    bool in = have && std::find(values.begin(), values.end(), json(*have)) !=
                          values.end();
    if ((op == "In" && !in) || (op == "NotIn" && in) ||
        (op == "Exists" && !have) || (op == "DoesNotExist" && have)) {
      return false;
    }
  }
  return true;
}

} // namespace

// Whether the NetworkPolicies of `ns` let the API server's proxy reach
// `port` of `pod` (k8s.io/api networking/v1 types.go): a pod that a
// policy with policyTypes Ingress selects (policyTypes defaults to
// Ingress, plus Egress when the policy has egress rules) takes only what
// one of those policies' ingress rules allows: a rule without `from`
// admits every source, one with `from` admits the pods, namespaces and
// ipBlocks it names, and the API server is none of those here (an ipBlock
// that holds the control plane's address is not modelled); a rule without
// ports admits every port, else the port by number or by the container
// port's name, for TCP.
bool Cluster::ingress_allowed_locked(const std::string& ns, const json& pod,
                                     int port) {
  const Kind* k = find_kind("networking.k8s.io", "networkpolicies");
  if (k == nullptr) {
    return true;
  }
  json labels = pod["metadata"].value("labels", json::object());
  std::string port_name;
  for (const auto& c :
       pod.value("spec", json::object()).value("containers", json::array())) {
    for (const auto& p : c.value("ports", json::array())) {
      if (p.value("containerPort", 0) == port) {
        port_name = p.value("name", "");
      }
    }
  }
  bool isolated = false;
  std::string from = prefix(*k, ns);
  for (auto it = m_objects.lower_bound(from);
       it != m_objects.end() && it->first.starts_with(from); ++it) {
    json spec = it->second.value("spec", json::object());
    if (!selects(spec.value("podSelector", json::object()), labels)) {
      continue;
    }
    json types = spec.contains("policyTypes") ? spec["policyTypes"]
                                              : json::array({"Ingress"});
    if (std::find(types.begin(), types.end(), json("Ingress")) == types.end()) {
      continue;
    }
    isolated = true;
    for (const auto& rule : spec.value("ingress", json::array())) {
      if (!rule.value("from", json::array()).empty()) {
        continue;
      }
      json ports = rule.value("ports", json::array());
      if (ports.empty()) {
        return true;
      }
      for (const auto& p : ports) {
        if (p.value("protocol", "TCP") != "TCP") {
          continue;
        }
        json want = p.value("port", json());
        if (want.is_null() || (want.is_number_integer() && want == port) ||
            (want.is_string() && !port_name.empty() && want == port_name)) {
          return true;
        }
      }
    }
  }
  return !isolated;
}

void Cluster::pod_proxy(const httplib::Request& req, httplib::Response& res,
                        const std::string& ns, const std::string& name_port,
                        const std::string& path) {
  // utilnet.SplitSchemeNamePort: "name", "name:port" or "scheme:name:port".
  std::vector<std::string> parts;
  {
    std::stringstream in(name_port);
    std::string p;
    while (std::getline(in, p, ':')) {
      parts.push_back(p);
    }
  }
  std::string scheme, name, port;
  if (parts.size() == 1) {
    name = parts[0];
  } else if (parts.size() == 2) {
    name = parts[0];
    port = parts[1];
  } else if (parts.size() == 3 && (parts[0] == "http" || parts[0] == "https")) {
    scheme = parts[0];
    name = parts[1];
    port = parts[2];
  }
  if (name.empty()) {
    reply_status(res, 400, "BadRequest",
                 "invalid pod request \"" + name_port + "\"");
    return;
  }
  CgiRun run;
  std::string ip;
  {
    std::lock_guard lock(m_mutex);
    const Kind* pod_k = find_kind("", "pods");
    json* pod = object(pod_k, ns, name);
    if (pod == nullptr) {
      reply_status(res, 404, "NotFound", "pods \"" + name + "\" not found",
                   not_found_details(*pod_k, name));
      return;
    }
    json spec = pod->value("spec", json::object());
    json containers = spec.value("containers", json::array());
    if (port.empty()) {
      for (const auto& c : containers) {
        json ports = c.value("ports", json::array());
        if (!ports.empty()) {
          port = std::to_string(ports[0].value("containerPort", 0));
          break;
        }
      }
    }
    ip = pod->value("status", json::object()).value("podIP", "");
    if (ip.empty()) {
      reply_status(res, 400, "BadRequest", "address not allowed");
      return;
    }
    auto refused = [&] {
      reply_status(res, 503, "ServiceUnavailable",
                   "error trying to reach service: dial tcp " + ip + ":" +
                       (port.empty() ? "80" : port) +
                       ": connect: connection refused");
    };
    const json* httpd = nullptr;
    std::vector<std::string> argv;
    for (const auto& c : containers) {
      std::vector<std::string> words;
      for (const char* field : {"command", "args"}) {
        for (const auto& w : c.value(field, json::array())) {
          words.push_back(w.is_string() ? w.get<std::string>() : "");
        }
      }
      bool is_httpd = !words.empty() &&
                      (words[0] == "httpd" || words[0].ends_with("/httpd") ||
                       (words.size() > 1 && words[0].ends_with("busybox") &&
                        words[1] == "httpd"));
      if (is_httpd &&
          std::find(words.begin(), words.end(), "-f") != words.end() &&
          arg_of(words, "-p") == (port.empty() ? "80" : port)) {
        httpd = &c;
        argv = words;
        break;
      }
    }
    if (!ingress_allowed_locked(
            ns, *pod, std::atoi(port.empty() ? "80" : port.c_str()))) {
      // Dropped by the network plugin: the dial times out.
      reply_status(res, 503, "ServiceUnavailable",
                   "error trying to reach service: dial tcp " + ip + ":" +
                       (port.empty() ? "80" : port) + ": i/o timeout");
      return;
    }
    if (httpd == nullptr || scheme == "https") {
      refused();
      return;
    }
    // busybox httpd refuses a Content-Length above INT_MAX with a bare 400
    // (httpd.c handle_incoming_and_exit).
    if (req.has_header("Content-Length") &&
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr,
                      10) > 2147483647ULL) {
      res.status = 400;
      res.set_content("<HTML><HEAD><TITLE>400 Bad Request</TITLE></HEAD>\n"
                      "<BODY><H1>400 Bad Request</H1>\nUnsupported method\n"
                      "</BODY></HTML>\n",
                      "text/html");
      return;
    }
    std::string home = arg_of(argv, "-h");
    const std::string prefix = "/cgi-bin/";
    std::string file =
        path.starts_with(prefix) ? path.substr(prefix.size()) : std::string();
    if (home.empty() || file.empty() || file.find('/') != std::string::npos) {
      busybox_404(res);
      return;
    }
    // Volumes by name, and the host folder of each PVC mount.
    std::map<std::string, json> volumes;
    for (const auto& v : spec.value("volumes", json::array())) {
      volumes[v.value("name", "")] = v;
    }
    std::map<std::string, std::string> mounts; // mount path -> folder
    std::string cgi_map;
    for (const auto& m : httpd->value("volumeMounts", json::array())) {
      json v = volumes[m.value("name", "")];
      std::string at = m.value("mountPath", "");
      if (v.contains("configMap") && at == home + "/cgi-bin") {
        cgi_map = v["configMap"].value("name", "");
      } else if (v.contains("persistentVolumeClaim")) {
        json* pvc = object(find_kind("", "persistentvolumeclaims"), ns,
                           v["persistentVolumeClaim"].value("claimName", ""));
        json* pv = pvc == nullptr
                       ? nullptr
                       : object(find_kind("", "persistentvolumes"), "",
                                (*pvc)["spec"].value("volumeName", ""));
        std::string handle = pv == nullptr ? ""
                                           : (*pv)["spec"]
                                                 .value("csi", json::object())
                                                 .value("volumeHandle", "");
        if (!handle.empty() && handle.find('/') == std::string::npos) {
          std::error_code ec;
          fs::create_directories(volume_path(handle), ec);
          mounts[at] = volume_path(handle).string();
          // A mount is read-only when the mount or the volume source says
          // so (the kubelet mounts it ro either way: pkg/kubelet/
          // kubelet_pods.go makeMounts).
          if (m.value("readOnly", false) ||
              v["persistentVolumeClaim"].value("readOnly", false)) {
            run.read_only[at] = mounts[at];
          }
        }
      }
    }
    json* cm = cgi_map.empty()
                   ? nullptr
                   : object(find_kind("", "configmaps"), ns, cgi_map);
    if (cm == nullptr ||
        !cm->value("data", json::object()).value(file, json()).is_string()) {
      busybox_404(res);
      return;
    }
    run.script = (*cm)["data"][file].get<std::string>();
    run.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
               "GATEWAY_INTERFACE=CGI/1.1",
               "SERVER_PROTOCOL=HTTP/1.0",
               "REQUEST_METHOD=" + req.method,
               "SCRIPT_NAME=" + path,
               "HOME=" + home};
    auto q = req.target.find('?');
    run.env.push_back("QUERY_STRING=" +
                      (q == std::string::npos ? "" : req.target.substr(q + 1)));
    if (req.method == "POST" || req.method == "PUT") {
      run.env.push_back("CONTENT_LENGTH=" + std::to_string(req.body.size()));
      run.env.push_back("CONTENT_TYPE=" + req.get_header_value("Content-Type"));
    }
    for (const auto& e : httpd->value("env", json::array())) {
      std::string value = e.value("value", "");
      if (e.contains("valueFrom")) {
        json ref = e["valueFrom"].value("secretKeyRef", json::object());
        json* secret = object(find_kind("", "secrets"), ns,
                              ref.value("name", std::string()));
        json data = secret == nullptr
                        ? json()
                        : secret->value("data", json::object())
                              .value(ref.value("key", ""), json());
        auto decoded = data.is_string() ? base64_decode(data.get<std::string>())
                                        : std::nullopt;
        if (!decoded) {
          // The kubelet would not have started the container
          // (CreateContainerConfigError).
          refused();
          return;
        }
        value = *decoded;
      }
      if (auto m = mounts.find(value); m != mounts.end()) {
        value = m->second;
      }
      run.env.push_back(e.value("name", "") + "=" + value);
    }
  }
  std::map<std::string, std::string> before;
  for (const auto& [at, dir] : run.read_only) {
    before[at] = tree_listing(dir);
  }
  auto out = run_cgi(m_volume_root, run, req.body);
  for (const auto& [at, dir] : run.read_only) {
    if (tree_listing(dir) != before[at]) {
      // On a node the write fails with EROFS; lacking mount namespaces,
      // the emulator can only see that it happened, and answers an error
      // rather than let a script that writes to a read-only mount pass.
      res.status = 500;
      res.set_content("snap-emulator: the CGI script changed files under "
                      "read-only mount " +
                          at + " (a node refuses that write: EROFS)\n",
                      "text/plain");
      return;
    }
  }
  if (!out || out->empty()) {
    reply_status(res, 503, "ServiceUnavailable",
                 "error trying to reach service: EOF");
    return;
  }
  // cgi_io_loop_and_exit: the status line, then headers to an empty line.
  std::string text = std::move(*out);
  int status = 200;
  std::size_t at = 0;
  auto line_end = [&](std::size_t from) {
    std::size_t e = text.find('\n', from);
    return e == std::string::npos ? text.size() : e + 1;
  };
  if (text.starts_with("Status: ") || text.starts_with("HTTP")) {
    std::size_t sp = text.starts_with("HTTP") ? text.find(' ') + 1 : 8;
    status = std::atoi(text.c_str() + sp);
    at = line_end(0);
  }
  std::string content_type = "application/octet-stream";
  while (at < text.size()) {
    std::size_t e = line_end(at);
    std::string line = text.substr(at, e - at);
    at = e;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    if (line.empty()) {
      break;
    }
    std::string lower = line;
    for (auto& ch : lower) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (lower.starts_with("content-type:")) {
      content_type = line.substr(13);
      content_type.erase(0, content_type.find_first_not_of(' '));
    }
  }
  res.status = status < 100 || status > 599 ? 200 : status;
  res.set_content(text.substr(at), content_type);
}

} // namespace snap::emulator::kube
