#pragma once
/// @file
/// Configurations that come from JSON as well as from a command line: the `--config <file.json>`
/// file read before the full parse (so the command line can override it), and range checks that name
/// the flag (CLI11's own checks do not run on values from the JSON file).

#include "chord/core/error.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <string_view>

namespace chord::io {

/// Reads `--config <file.json>` from argv before the full parse, so the command line can override it.
inline void read_json_config(int argc, char** argv, nlohmann::json& target) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--config") {
      std::ifstream in(argv[i + 1]);
      CHORD_CHECK(in, "cannot open config '", argv[i + 1], "'");
      try {
        target.update(nlohmann::json::parse(in));
      } catch (const nlohmann::json::exception& error) {
        CHORD_FAIL("config '", argv[i + 1], "': ", error.what());
      }
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
