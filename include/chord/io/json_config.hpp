#pragma once
/// @file
/// Configurations that come from JSON as well as from a command line: the `--config <file.json>`
/// file read before the full parse (so the command line can override it), and range checks that name
/// the flag (CLI11's own checks do not run on values from the JSON file).

#include "chord/core/error.hpp"
#include "chord/io/json_checks.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <string_view>

namespace chord::io {

/// Refuses a configuration object whose keys or value types differ from `defaults` (the JSON of a
/// default-constructed config): an unknown (e.g. misspelt) key would be ignored silently, and a float
/// where an integer belongs is converted by nlohmann with a cast that is undefined out of range.
inline void check_config_json(const nlohmann::json& defaults, const nlohmann::json& config, const std::string& source) {
  CHORD_CHECK(config.is_object(), source, ": expected a JSON object of options, got ", config.type_name());
  for (const auto& [key, value] : config.items()) {
    const auto known = defaults.find(key);
    if (known == defaults.end()) {
      std::string names;
      for (const auto& [name, unused] : defaults.items()) names += (names.empty() ? "" : ", ") + name;
      CHORD_FAIL(source, ": unknown option '", key, "' (known: ", names, ")");
    }
    const char* expected = nullptr;
    if (known->is_boolean() && !value.is_boolean()) expected = "true or false";
    if (known->is_number_integer() && !json_holds<int64_t>(value)) expected = "a whole number within 64 bits";
    if (known->is_number_float() && !value.is_number()) expected = "a number";
    if (known->is_string() && !value.is_string()) expected = "a string";
    if (expected != nullptr) CHORD_FAIL(source, ": option '", key, "' must be ", expected, ", got ", value.dump());
  }
}

/// Reads `--config <file.json>` from argv before the full parse, so the command line can override it;
/// `target` holds the defaults, and the file's keys and value types are checked against them.
inline void read_json_config(int argc, char** argv, nlohmann::json& target) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--config") {
      std::ifstream in(argv[i + 1]);
      CHORD_CHECK(in, "cannot open config '", argv[i + 1], "'");
      nlohmann::json file;
      try {
        file = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& error) {
        CHORD_FAIL("config '", argv[i + 1], "': ", error.what());
      }
      check_config_json(target, file, "config '" + std::string(argv[i + 1]) + "'");
      target.update(file);
    }
  }
}

/// Refuses a configuration value outside its range, naming the flag (for values that may come from a
/// JSON config, where CLI11's checks do not run).
template <class T>
void require_range(const char* flag, T value, T low, T high = std::numeric_limits<T>::max()) {
  CHORD_CHECK(value >= low && value <= high, flag, " must be in [", low, ", ", high, "], got ", value);
}
template <class T>
void require_positive(const char* flag, T value) {
  CHORD_CHECK(value > T{0}, flag, " must be > 0, got ", value);
}

}  // namespace chord::io
