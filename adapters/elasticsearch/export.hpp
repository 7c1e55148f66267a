// SPDX-License-Identifier: MIT
// The Elasticsearch logical export (`save --export`) and its import: index
// definitions and every document, independent of any snapshot repository.
#pragma once

#include "adapters/elasticsearch/client.hpp"

namespace snap::adapters::es {

// payload/indices.json: {"<index>": {settings, mappings, aliases,
// documents}}; payload/documents/<index>.ndjson: _bulk action and source
// lines, one pair per document. payload/data_streams.json: {"<stream>":
// {template_name, index_template, component_templates, backing_indices,
// timestamp_field, documents}}, their documents in documents/<stream>.ndjson
// as `create` actions.
inline constexpr std::string_view k_indices_entry = "payload/indices.json";
inline constexpr std::string_view k_streams_entry = "payload/data_streams.json";

struct ExportOptions {
  std::string indices; // multi-target patterns; "" = every open index
  int batch_size = 5000;
  // Clients of their own, one a slice, to read an index by slices at once
  // (of its point in time on Elasticsearch 7.15+, else of a scroll); fewer
  // than 2: one reader.
  std::vector<Client*> slices;
  bool include_hidden = false; // hidden indices the pattern matches too
  bool open_closed = false;    // closed ones, opened and closed again
  json query;                  // --query: the documents it matches (null: all)
  bool include_global_state = false; // templates, policies, pipelines, scripts
};

// Reads each matching open index's definition and all its documents (point in
// time and search_after from 7.12, scroll before; an index of more than a
// page by slices at once when `slices` are given) into `out`, checking
// that each index (each slice) gave as many documents as its point in
// time or scroll holds.
Expected<SaveResult> export_indices(Client& c, ArchiveWriter& out,
                                    const ExportOptions& o);

struct ImportOptions {
  std::string indices;
  std::string rename_pattern, rename_replacement;
  bool include_aliases = false;
  bool replace = false;
  bool include_global_state = false; // put the archive's definitions
  int batch_size = 5000;
  // Clients of their own for _bulk requests sent at the same time (each
  // thread needs one); empty: one request at a time on the main client.
  std::vector<Client*> senders;
};

// Re-creates the archived indices and loads their documents with _bulk,
// checking every item; then refreshes and compares the counts. With
// `dry_run`, returns the plan and changes nothing. Errors: `conflict` when
// an index exists and --replace is absent, `partial` when documents failed.
Expected<RestoreReport> import_indices(Client& c, ArchiveReader& in,
                                       const ImportOptions& o, bool dry_run);

// Checks an export's documents offline: every file has the archived number
// of action/source pairs. Errors: `archive`.
Expected<Fields> describe_export(ArchiveReader& in, bool verify);

// The target name of `index` after --rename-pattern/--rename-replacement
// (Java-style $1 groups). Errors: `usage` for a bad pattern.
Expected<std::string> rename_index(const std::string& index,
                                   const std::string& pattern,
                                   const std::string& replacement);

// Index name -> "open" or "close" for every index in the cluster
// (GET _cat/indices). Errors: any kind.
Expected<std::map<std::string, std::string>> index_states(Client& c);

} // namespace snap::adapters::es
