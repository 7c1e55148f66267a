// SPDX-License-Identifier: MIT
// Checks requests against Elastic's own REST API spec files (shared/specs/
// elasticsearch/full/rest-api-spec-<version>): every request snap sends must
// match a path, a method and parameters that Elasticsearch declares.
#pragma once

#include <string>
#include <vector>

namespace snap::test {

// Whether spec `version` is at hand ($SNAP_SHARED_DIR, else the CMake
// option SNAP_SHARED_DIR, /specs/elasticsearch/full); when it is not, says
// "SKIPPED: needs …" so ctest reports the test as skipped.
bool es_spec_available(const std::string& version);

// "" when `request` ("METHOD /path?a=1&b") matches an API of spec `version`
// ("8.19" or "7.17"), else why not.
std::string check_against_es_spec(const std::string& request,
                                  const std::string& version);

// The first request of `requests` that does not match, with the reason, or
// "" (also when the spec is absent: the test is then reported skipped).
std::string first_off_spec(const std::vector<std::string>& requests,
                           const std::string& version);

} // namespace snap::test
