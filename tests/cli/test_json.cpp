// SPDX-License-Identifier: MIT
// The --json contract (docs/json.md): the document of every verb, success
// and failure, checked against docs/json.schema.json with python3-jsonschema
// (Debian's; scripts/test.sh installs it), and the rules no schema states:
// a list's ids are the ids download, status and delete take.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

#include "tests/support/process.hpp"

namespace snap::test {
namespace {

using nlohmann::json;

const std::string k_schema = SNAP_SOURCE_DIR "/docs/json.schema.json";

// Checks `doc` against definition `name` of the schema; "" when it holds,
// else the validator's complaint.
std::string schema_error(const std::string& name, const json& doc) {
  TempDir dir;
  write_file(dir.path() / "doc.json", doc.dump());
  auto r = run({"/usr/bin/python3", "-c",
                "import json, sys, jsonschema\n"
                "schema = json.load(open(sys.argv[1]))\n"
                "ref = {'$ref': '#/definitions/' + sys.argv[2]}\n"
                "ref['definitions'] = schema['definitions']\n"
                "jsonschema.Draft7Validator.check_schema(schema)\n"
                "try:\n"
                "    jsonschema.validate(json.load(open(sys.argv[3])), ref,\n"
                "                        cls=jsonschema.Draft7Validator)\n"
                "except jsonschema.ValidationError as e:\n"
                "    print(e.message, list(e.absolute_path))\n"
                "    sys.exit(1)\n",
                k_schema, name, (dir.path() / "doc.json").string()});
  if (r.exit_code != 0 && r.out.empty()) {
    return "python3-jsonschema could not run (scripts/test.sh installs "
           "it): " +
           r.err;
  }
  return r.exit_code == 0 ? "" : r.out;
}

// Runs snap with --json, checks the exit code and that stdout is exactly one
// document of schema definition `name`.
json checked(const std::vector<std::string>& args, const std::string& name,
             int exit_code = 0) {
  std::vector<std::string> full = {"--json"};
  full.insert(full.end(), args.begin(), args.end());
  auto r = snap(full);
  INFO(args[0] << ": " << r.err << r.out);
  CHECK(r.exit_code == exit_code);
  json doc = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(doc.is_discarded());
  CHECK(schema_error(name, doc) == "");
  if (exit_code != 0) {
    REQUIRE(doc.contains("error"));
    CHECK(doc["error"]["exit_code"] == exit_code);
  }
  return doc;
}

} // namespace

TEST_CASE("the schema itself is valid and rejects a wrong document",
          "[cli][json]") {
  CHECK(schema_error(
            "error_document",
            {{"error",
              {{"kind", "usage"}, {"message", "x"}, {"exit_code", 2}}}}) == "");
  CHECK(schema_error("error_document",
                     {{"error", {{"kind", "usage"}, {"message", "x"}}}}) != "");
  CHECK(schema_error("list", {{"target", "t"}, {"backups", {{{"n", 1}}}}}) !=
        "");
  CHECK(schema_error("archive", {{"size", "1.4 KiB"}}) != "");
}

TEST_CASE("every verb's --json document matches docs/json.schema.json",
          "[cli][json]") {
  Emulator consul("consul");
  Emulator cloudify("cloudify", {"--job-ms", "50"});
  REQUIRE(http("PUT", consul.url() + "/v1/kv/app/greeting", "hello") == "true");
  TempDir dir;
  std::string out = dir.path().string();

  json saved = checked({"save", "consul", "--addr", consul.url(), "-o", out,
                        "--label", "tier=daily"},
                       "archive");
  CHECK(saved["origin"] == "save");
  CHECK(saved["labels"]["tier"] == "daily");
  std::string archive = saved["archive"];

  checked({"inspect", archive}, "inspect");
  json same = checked({"diff", archive, archive}, "diff");
  CHECK(same["identical"] == true);
  CHECK(same["records"]["changed"].empty());
  json exported =
      checked({"export", archive, "-o", out + "/consul.snap"}, "export");
  CHECK(exported["size"].get<int>() > 0);
  json imported = checked(
      {"import", "consul", out + "/consul.snap", "-o", out + "/imported.zip"},
      "archive");
  CHECK(imported["origin"] == "import");
  json bad = checked({"inspect", archive, "/nonexistent.zip"}, "inspect", 6);
  CHECK(bad["archives"][1]["error"]["kind"] == "not_found");
  checked({"restore", "consul", archive, "--addr", consul.url(), "--dry-run"},
          "restore_plan");
  json restored =
      checked({"restore", "consul", archive, "--addr", consul.url(), "--yes"},
              "restore");
  CHECK(restored["restored"] == true);
  CHECK(restored["partial"] == false);
  json status = checked({"status", "consul", "--addr", consul.url()}, "status");
  CHECK(status["ready"] == true);

  // Cloudify has every verb: list ids are what download, status and delete
  // take.
  checked({"save", "cloudify", "--addr", cloudify.url(), "--snapshot-id",
           "nightly", "-o", out},
          "archive");
  json listed = checked({"list", "cloudify", "--addr", cloudify.url()}, "list");
  REQUIRE(listed["backups"].size() == 1);
  std::string id = listed["backups"][0]["id"];
  json downloaded = checked({"download", "cloudify", id, "--addr",
                             cloudify.url(), "-o", out + "/copy.zip"},
                            "archive");
  CHECK(downloaded["origin"] == "download");
  checked({"status", "cloudify", id, "--addr", cloudify.url()}, "status");
  checked({"upload", "cloudify", out + "/copy.zip", "--addr", cloudify.url(),
           "--id", "again"},
          "upload");
  json deleted = checked(
      {"delete", "cloudify", id, "--addr", cloudify.url(), "--yes"}, "delete");
  CHECK(deleted["deleted"] == id);
  checked({"delete", "cloudify", id, "--addr", cloudify.url(), "--yes"},
          "error_document", 6);

  checked({"prune", out, "--keep-last", "1", "--dry-run"}, "prune");
  json schedule =
      checked({"schedule", "consul", "--addr", consul.url(), "--cron", "@daily",
               "--keep", "3", "--image", "snap:1"},
              "schedule");
  CHECK(schedule["objects"].back()["kind"] == "CronJob");
  checked({"adapters"}, "adapters");
  json version = checked({"--version"}, "version");
  CHECK(version["archive_format_version"] == 2);

  // Failures are one error document with the exit code in it.
  checked({"status", "consul", "--addr", "http://127.0.0.1:1"},
          "error_document", 4);
  checked({"save", "nosuch"}, "error_document", 2);
  checked({"restore", "consul", out + "/missing.zip", "--addr", consul.url(),
           "--yes"},
          "error_document", 6);
}

TEST_CASE("a status that is not ready says ready false and why, exit 10",
          "[cli][json]") {
  Emulator consul("consul", {"--no-leader"});
  json doc =
      checked({"status", "consul", "--addr", consul.url()}, "status", 10);
  CHECK(doc["ready"] == false);
  CHECK(doc["error"]["kind"] == "not_ready");
}

TEST_CASE("with --json, progress streams as JSON lines on stderr and one "
          "document goes to stdout",
          "[cli][json]") {
  Emulator consul("consul", {"--snapshot-bytes", "8000000"});
  TempDir dir;
  auto r = snap({"--json", "save", "consul", "--addr", consul.url(), "-o",
                 dir.path().string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(schema_error("archive", json::parse(r.out)) == "");
  std::istringstream lines(r.err);
  int n = 0;
  json last;
  for (std::string line; std::getline(lines, line);) {
    json doc = json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE(doc.is_object());
    CHECK((doc["type"] == "progress" || doc["type"] == "step"));
    CHECK(doc["label"].is_string());
    if (doc["type"] == "progress") {
      CHECK(doc["done"].is_number_unsigned());
      last = doc;
    }
    ++n;
  }
  CHECK(n > 0);
  REQUIRE(last.is_object());
  CHECK(last["done"].get<std::uint64_t>() > 1000000);
  auto quiet = snap({"--json", "--no-progress", "save", "consul", "--addr",
                     consul.url(), "-o", dir.path().string()});
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}

} // namespace snap::test
