// SPDX-License-Identifier: MIT
// The conformance fixture of every adapter, one row each (each test file
// defines its adapter's), and the check that the registry has no adapter
// without one.
#include "tests/adapters/suite.hpp"

namespace snap::test {

AdapterFixture conformance_camunda();
AdapterFixture conformance_cloudify();
AdapterFixture conformance_consul();
AdapterFixture conformance_elasticsearch();
AdapterFixture conformance_fabric();
AdapterFixture conformance_flux();
AdapterFixture conformance_zeebe();

const AdapterFixture* conformance_fixture(const std::string& adapter) {
  static const std::map<std::string, AdapterFixture> fixtures = {
      {"camunda", conformance_camunda()},
      {"cloudify", conformance_cloudify()},
      {"consul", conformance_consul()},
      {"elasticsearch", conformance_elasticsearch()},
      {"fabric", conformance_fabric()},
      {"flux", conformance_flux()},
      {"zeebe", conformance_zeebe()},
  };
  auto it = fixtures.find(adapter);
  return it == fixtures.end() ? nullptr : &it->second;
}

TEST_CASE("every adapter of the registry has a conformance fixture",
          "[unit][suite]") {
  for (const auto& entry : all_adapters()) {
    std::string name(entry.info().name);
    INFO(name);
    const AdapterFixture* f = conformance_fixture(name);
    REQUIRE(f != nullptr);
    CHECK(f->adapter == name);
  }
}

} // namespace snap::test
