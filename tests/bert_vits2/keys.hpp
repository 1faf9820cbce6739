#pragma once
/// @file
/// Key/shape lists of the Bert-VITS2 tests: reading the `<key> <d0,d1,...>` fixtures that
/// tests/parity/make_bert_vits2_*_fixtures.py write from the reference's modules at the real config
/// sizes, and comparing a chord state dict with them name for name and shape for shape.
#include "support.hpp"

#include <chord/io/state_dict.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace chord::test {

/// key → shape, sorted by key.
using KeyShapes = std::map<std::string, std::vector<int64_t>>;

/// `d0,d1,...` → {d0, d1, ...}; an empty field is a scalar's shape.
inline std::vector<int64_t> parse_shape(const std::string& dims) {
  std::vector<int64_t> shape;
  std::istringstream parts(dims);
  for (std::string d; std::getline(parts, d, ',');) shape.push_back(std::stoll(d));
  return shape;
}

/// The lines of fixture `name`: `<key> <dims>`, or with `prefixed` `<prefix> <key> <dims>` read as
/// `<prefix>.<key>` (the checkpoint list, whose prefixes are file prefixes). Empty lines are skipped.
inline KeyShapes read_key_shapes(const std::string& name, bool prefixed = false) {
  std::ifstream file(fixture(name));
  REQUIRE(file.good());
  KeyShapes shapes;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string prefix, key, dims;
    if (prefixed) fields >> prefix;
    fields >> key >> dims;
    shapes[prefixed ? prefix + "." + key : key] = parse_shape(dims);
  }
  return shapes;
}

/// The entries under `prefix.`, with the prefix removed.
inline KeyShapes keys_under(const KeyShapes& all, const std::string& prefix) {
  KeyShapes out;
  for (const auto& [key, shape] : all) {
    if (key.rfind(prefix + ".", 0) == 0) out.emplace(key.substr(prefix.size() + 1), shape);
  }
  return out;
}

/// The shapes of a tensor map (a state dict, or meta tensors built from a key list).
inline KeyShapes shapes_of(const chord::io::TensorMap& tensors) {
  KeyShapes out;
  for (const auto& [key, tensor] : tensors) out.emplace(key, tensor.sizes().vec());
  return out;
}

/// `got` holds exactly the keys of `want` with the same shapes. The first missing, extra and mismatched keys
/// are summarised up front; each wanted key is then required by name (stops at the first one that differs).
inline void require_same_key_shapes(const KeyShapes& want, const KeyShapes& got) {
  REQUIRE(!want.empty());  // an empty list would pass anything
  std::vector<std::string> missing, extra, mismatched;
  for (const auto& [key, shape] : want) {
    const auto found = got.find(key);
    if (found == got.end()) {
      missing.push_back(key);
    } else if (found->second != shape) {
      mismatched.push_back(key);
    }
  }
  for (const auto& [key, shape] : got) {
    if (!want.count(key)) extra.push_back(key);
  }
  INFO("missing " << missing.size() << (missing.empty() ? "" : " e.g. " + missing.front()) << ", extra " << extra.size()
                  << (extra.empty() ? "" : " e.g. " + extra.front()) << ", mismatched " << mismatched.size()
                  << (mismatched.empty() ? "" : " e.g. " + mismatched.front()));
  for (const auto& [key, shape] : want) {
    INFO(key);
    REQUIRE(got.count(key) == 1);
    REQUIRE(got.at(key) == shape);
  }
  REQUIRE(extra.empty());
  REQUIRE(got.size() == want.size());
}

/// The module's state dict against `want` (see above).
inline void require_same_key_shapes(const KeyShapes& want, const torch::nn::Module& module) {
  require_same_key_shapes(want, shapes_of(chord::io::state_dict(module)));
}

}  // namespace chord::test
