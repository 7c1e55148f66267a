// SPDX-License-Identifier: MIT
// Volume files off the cluster (`--copy-volumes`, docs/fabric-copy-volumes.md):
// a CSI VolumeSnapshot stays in the cluster's storage, so a save can also
// carry each snapshotted volume's files. For each one a temporary PVC is
// made from the snapshot and mounted read-only by a short-lived helper pod
// (busybox httpd with two CGI scripts from a ConfigMap); its files leave as
// tar.gz through the API server's pods/proxy subresource, which libcurl
// speaks as plain HTTP (exec would need SPDY or WebSocket, which Debian's
// libcurl lacks). A restore writes them back the same way, into the PVC it
// has just created, before any workload mounts it. The CGI scripts answer
// only a request that carries a random token the pods read from a Secret
// made for the run; every helper object carries the backup's label and is
// deleted on every way out.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "adapters/kube/graph.hpp"
#include "snap/archive.hpp"

namespace snap::adapters::kube {

inline constexpr std::string_view k_default_copy_image =
    "docker.io/library/busybox:1.36.1";

class VolumeCopier {
public:
  VolumeCopier(Client& api, Reporter& reporter, NoteFn note, std::string label,
               std::string id, std::string image, double timeout_s)
      : m_api(api), m_reporter(reporter), m_note(std::move(note)),
        m_label(std::move(label)), m_id(std::move(id)),
        m_image(std::move(image)), m_timeout_s(timeout_s) {}
  VolumeCopier(const VolumeCopier&) = delete;
  VolumeCopier& operator=(const VolumeCopier&) = delete;
  // Deletes what is left of the helper objects (cleanup() says if that
  // failed; this cannot).
  ~VolumeCopier();

  // Copies the files of the VolumeSnapshot that `rec` (a save's record of
  // it) names into entry payload/volumes/<namespace>/<pvc>.tar.gz, through
  // a PVC made from it with `pvc_spec`'s class and access modes. Returns
  // the archive's record: namespace, pvc, file, files, bytes. Errors:
  // `timeout`, `archive` when the copy is not a whole tar.gz, any.
  Expected<json> copy_out(const json& rec, const json& pvc_spec,
                          ArchiveWriter& out);
  // Writes the copy `rec` holds (an entry of `in`, which was verified as a
  // whole, describe_fabric included) into PVC `pvc` of `ns`, which the
  // restore has just created and nothing mounts yet, and checks
  // the number of files the pod wrote. Errors: `partial` when the count
  // differs, `timeout`, any.
  Expected<void> copy_in(const json& rec, const std::string& ns,
                         const std::string& pvc, ArchiveReader& in);
  // Asks the API server, with a dry-run create (dryRun=All), whether
  // namespace `ns` admits the helper pod that would mount `pvc` (Pod
  // Security, RBAC, quotas), before a save takes snapshots or a restore
  // changes anything. A namespace not there yet passes. Errors: `auth`
  // with what to do when Pod Security refuses it, any.
  Expected<void> preflight(const std::string& ns, const std::string& pvc,
                           bool read_only);
  // Deletes every helper object made so far (sent even after SIGINT).
  // Errors: the first deletion that failed, with the kubectl command.
  Expected<void> cleanup();

  // Deletes the helper objects of backup `id` a killed run left in `ns`
  // (those labelled with it and snap/role=volume-copy); returns them as
  // "plural/name".
  static Expected<std::vector<std::string>>
  remove_leftovers(Client& api, const std::string& ns, const std::string& id);

private:
  Expected<void> prepare(const std::string& ns);
  // POSTs `body` (or nothing) to CGI `script` of helper `pod` with the
  // token and `query`; the answer's text. Errors: any.
  Expected<std::string> post(const std::string& ns, const std::string& pod,
                             const std::string& script,
                             const std::string& query, Source* body = nullptr);
  json pod_object(const std::string& name, const std::string& pvc,
                  bool read_only) const;
  Error refused(const Error& e, const std::string& ns, bool read_only) const;
  Expected<std::string> start_pod(const std::string& ns, const std::string& pvc,
                                  bool read_only);
  Expected<void> wait_running(const std::string& ns, const std::string& pod);
  std::string proxy_path(const std::string& ns, const std::string& pod,
                         const std::string& script) const;
  json helper_labels() const;
  Expected<void> create(const ResourceType& t, const std::string& ns,
                        const std::string& name, const json& object);
  Expected<void> remove(const ResourceType& t, const std::string& ns,
                        const std::string& name);

  Client& m_api;
  Reporter& m_reporter;
  NoteFn m_note;
  std::string m_label;
  std::string m_id;
  std::string m_image;
  double m_timeout_s;
  std::string m_token; // the CGI scripts' token; never printed
  int m_next = 0;
  std::vector<std::string> m_prepared; // namespaces with Secret + ConfigMap
  // Helper objects still to delete: type, namespace, name.
  std::vector<std::tuple<ResourceType, std::string, std::string>> m_made;
};

// The bytes of one request when a copy is written back (at most INT_MAX,
// what busybox httpd takes; SNAP_COPY_PART_BYTES asks for less). A larger
// copy goes in parts.
std::uint64_t copy_part_bytes();

// The CGI scripts of the helper pod, by file name, as the ConfigMap holds
// them (exposed for the emulator's tests).
const std::vector<std::pair<std::string, std::string>>& copy_scripts();

} // namespace snap::adapters::kube
