// SPDX-License-Identifier: MIT
// The factories the registry table names; each adapter's class stays hidden
// in its own .cpp.
#pragma once

#include <memory>

#include "snap/adapter.hpp"

namespace snap::adapters {

const AdapterInfo& camunda_info();
std::unique_ptr<Adapter> make_camunda(AdapterContext ctx);

const AdapterInfo& cloudify_info();
std::unique_ptr<Adapter> make_cloudify(AdapterContext ctx);

const AdapterInfo& consul_info();
std::unique_ptr<Adapter> make_consul(AdapterContext ctx);

const AdapterInfo& elasticsearch_info();
std::unique_ptr<Adapter> make_elasticsearch(AdapterContext ctx);

const AdapterInfo& fabric_info();
std::unique_ptr<Adapter> make_fabric(AdapterContext ctx);

const AdapterInfo& flux_info();
std::unique_ptr<Adapter> make_flux(AdapterContext ctx);

const AdapterInfo& zeebe_info();
std::unique_ptr<Adapter> make_zeebe(AdapterContext ctx);

} // namespace snap::adapters
