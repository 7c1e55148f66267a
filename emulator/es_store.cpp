// SPDX-License-Identifier: MIT
#include "emulator/es_store.hpp"

#include <random>

namespace snap::emulator::es {

std::string random_id(std::size_t length) {
  static const char k_chars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out(length, 'A');
  for (auto& c : out) {
    c = k_chars[rng() % 64];
  }
  return out;
}

int Index::shards() const {
  return std::stoi(settings.value("index.number_of_shards", "1"));
}

bool Index::hidden(const std::string& name) const {
  return settings.value("index.hidden", "false") == "true" ||
         (!name.empty() && name[0] == '.');
}

bool Index::recovering() const {
  return recovery && now_ms() < recovery->end_ms;
}

View Index::current() const {
  auto v = std::make_shared<std::vector<DocPtr>>();
  v->reserve(live);
  for (const auto& d : slots) {
    if (d) {
      v->push_back(d);
    }
  }
  return v;
}

void Index::refresh() {
  if (dirty) {
    view = current();
    dirty = false;
  }
}

void Index::maybe_refresh() {
  if (dirty && now_ms() - last_write_ms >= 1000) {
    refresh();
  }
}

bool Index::put(DocPtr doc) {
  source_bytes += doc->source.size();
  dirty = true;
  last_write_ms = now_ms();
  auto it = by_id.find(doc->id);
  if (it != by_id.end() && slots[it->second]) {
    source_bytes -= slots[it->second]->source.size();
    slots[it->second] = std::move(doc);
    return false;
  }
  by_id[doc->id] = slots.size();
  slots.push_back(std::move(doc));
  ++live;
  return true;
}

bool Index::remove(const std::string& id) {
  auto it = by_id.find(id);
  if (it == by_id.end() || !slots[it->second]) {
    return false;
  }
  source_bytes -= slots[it->second]->source.size();
  slots[it->second] = nullptr;
  by_id.erase(it);
  --live;
  dirty = true;
  last_write_ms = now_ms();
  return true;
}

std::optional<std::int64_t> parse_time_ms(const std::string& text) {
  std::size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &pos);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(pos);
  static const std::map<std::string, std::int64_t> k_units = {
      {"ms", 1},
      {"s", 1000},
      {"m", 60'000},
      {"h", 3'600'000},
      {"d", 86'400'000}};
  auto it = k_units.find(unit);
  if (it == k_units.end() || n < 0) {
    return std::nullopt;
  }
  return n * it->second;
}

namespace {

std::string setting_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void flatten_into(const json& value, const std::string& prefix, json& out) {
  for (const auto& [k, v] : value.items()) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) {
      flatten_into(v, key, out);
    } else if (v.is_array()) {
      json list = json::array();
      for (const auto& item : v) {
        list.push_back(setting_text(item));
      }
      out[key] = list;
    } else {
      out[key] = setting_text(v);
    }
  }
}

} // namespace

json flatten_settings(const json& settings) {
  json flat = json::object();
  flatten_into(settings, "", flat);
  json out = json::object();
  for (const auto& [k, v] : flat.items()) {
    out[k.starts_with("index.") ? k : "index." + k] = v;
  }
  return out;
}

json nest_settings(const json& flat) {
  json out = json::object();
  for (const auto& [k, v] : flat.items()) {
    json* at = &out;
    std::size_t start = 0;
    for (;;) {
      auto dot = k.find('.', start);
      std::string part = k.substr(start, dot - start);
      if (dot == std::string::npos) {
        (*at)[part] = v;
        break;
      }
      at = &(*at)[part];
      start = dot + 1;
    }
  }
  return out;
}

std::optional<std::string> map_dynamically(json& mappings, const json& source) {
  if (!source.is_object()) {
    return std::nullopt;
  }
  std::string dynamic =
      mappings.contains("dynamic") ? setting_text(mappings["dynamic"]) : "true";
  json& props = mappings["properties"];
  if (props.is_null()) {
    props = json::object();
  }
  for (const auto& [field, value] : source.items()) {
    if (props.contains(field)) {
      if (value.is_object() && props[field].contains("properties")) {
        if (auto err = map_dynamically(props[field], value)) {
          return err;
        }
      }
      continue;
    }
    if (dynamic == "strict") {
      return "mapping set to strict, dynamic introduction of [" + field +
             "] within [_doc] is not allowed";
    }
    if (dynamic == "false" || value.is_null()) {
      continue;
    }
    json m;
    if (value.is_string()) {
      m = {{"type", "text"},
           {"fields",
            {{"keyword", {{"type", "keyword"}, {"ignore_above", 256}}}}}};
    } else if (value.is_boolean()) {
      m = {{"type", "boolean"}};
    } else if (value.is_number_integer()) {
      m = {{"type", "long"}};
    } else if (value.is_number()) {
      m = {{"type", "float"}};
    } else if (value.is_object()) {
      m = {{"properties", json::object()}};
      map_dynamically(m, value);
      m.erase("dynamic");
    } else if (value.is_array() && !value.empty()) {
      json wrapper = {{"properties", json::object()}};
      map_dynamically(wrapper, json{{field, value[0]}});
      m = wrapper["properties"].value(field, json{{"type", "text"}});
    } else {
      continue;
    }
    props[field] = m;
  }
  return std::nullopt;
}

} // namespace snap::emulator::es
