// SPDX-License-Identifier: MIT
// The factories the registry table names; each adapter's class stays hidden
// in its own .cpp.
#pragma once

#include <memory>

#include "snap/adapter.hpp"

namespace snap::adapters {

const AdapterInfo& camunda_info();
std::unique_ptr<Adapter> make_camunda(AdapterContext ctx);
Expected<Fields> describe_camunda(ArchiveReader& in,
                                  const DescribeOptions& opts);

const AdapterInfo& cloudify_info();
std::unique_ptr<Adapter> make_cloudify(AdapterContext ctx);
Expected<Fields> describe_cloudify(ArchiveReader& in,
                                   const DescribeOptions& opts);

const AdapterInfo& consul_info();
std::unique_ptr<Adapter> make_consul(AdapterContext ctx);
Expected<Fields> describe_consul(ArchiveReader& in,
                                 const DescribeOptions& opts);

const AdapterInfo& elasticsearch_info();
std::unique_ptr<Adapter> make_elasticsearch(AdapterContext ctx);
Expected<Fields> describe_elasticsearch(ArchiveReader& in,
                                        const DescribeOptions& opts);

const AdapterInfo& fabric_info();
std::unique_ptr<Adapter> make_fabric(AdapterContext ctx);
Expected<Fields> describe_fabric(ArchiveReader& in,
                                 const DescribeOptions& opts);
KubeAccess fabric_kube_access(const AdapterFlags& flags);

const AdapterInfo& flux_info();
std::unique_ptr<Adapter> make_flux(AdapterContext ctx);
Expected<Fields> describe_flux(ArchiveReader& in, const DescribeOptions& opts);

const AdapterInfo& zeebe_info();
std::unique_ptr<Adapter> make_zeebe(AdapterContext ctx);
Expected<Fields> describe_zeebe(ArchiveReader& in, const DescribeOptions& opts);

} // namespace snap::adapters
