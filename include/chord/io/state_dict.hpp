#pragma once
/// @file
/// State dicts for LibTorch modules (C++ has no `load_state_dict`): collect parameters and buffers by
/// their registered names, and load a name → tensor map into a module with a full report.

#include "chord/core/error.hpp"
#include "chord/io/tensor_map.hpp"

#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace chord::io {

/// Parameters and buffers of `module` (recursively) under their dotted names, detached.
inline TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out.emplace(item.key(), item.value().detach());
  return out;
}

struct ShapeMismatch {
  std::string key;
  std::vector<int64_t> expected;  ///< the module's shape
  std::vector<int64_t> found;     ///< the source's shape
};

/// What a load did and did not match.
struct LoadReport {
  std::vector<std::string> missing;       ///< in the module, not in the source
  std::vector<std::string> unexpected;    ///< in the source (after prefix stripping), not in the module
  std::vector<ShapeMismatch> mismatched;  ///< in both, different shapes (not loaded)
  std::vector<std::string> loaded;        ///< copied

  bool clean() const noexcept { return missing.empty() && unexpected.empty() && mismatched.empty(); }

  /// Human-readable summary, listing up to `max_per_kind` keys of each kind.
  std::string describe(size_t max_per_kind = 12) const {
    std::ostringstream out;
    out << loaded.size() << " loaded";
    auto list = [&](const char* title, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      out << "; " << keys.size() << " " << title << ":";
      for (size_t i = 0; i < keys.size() && i < max_per_kind; ++i) out << " " << keys[i];
      if (keys.size() > max_per_kind) out << " ...";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    if (!mismatched.empty()) {
      out << "; " << mismatched.size() << " shape mismatches:";
      for (size_t i = 0; i < mismatched.size() && i < max_per_kind; ++i) {
        out << " " << mismatched[i].key << " (module " << c10::IntArrayRef(mismatched[i].expected)
            << ", source " << c10::IntArrayRef(mismatched[i].found) << ")";
      }
      if (mismatched.size() > max_per_kind) out << " ...";
    }
    return out.str();
  }
};

struct LoadOptions {
  /// Refuse any missing, unexpected or mismatched key; nothing is copied unless everything matches.
  bool strict = true;
  /// Remove this prefix from source keys first (e.g. "ema_model." for EMA dicts).
  std::string strip_prefix;
  /// Source keys to drop silently (after stripping), e.g. the EMA bookkeeping "initted", "step".
  std::set<std::string> ignore;
  /// Named in error messages (usually the file the map came from).
  std::string source_name = "state dict";
};

/// Copies `source` into `module`'s parameters and buffers by name (dtype converted, device kept).
/// Strict by default: any difference throws chord::Error with the full report, and the module is left
/// unchanged. Non-strict: matching keys are copied and the report says what was not.
inline LoadReport load_state_dict(torch::nn::Module& module, const TensorMap& source,
                                  const LoadOptions& options = {}) {
  TensorMap renamed;
  const auto& prefix = options.strip_prefix;
  LoadReport report;
  for (const auto& [key, tensor] : source) {
    std::string name = key;
    if (!prefix.empty()) {
      if (name.rfind(prefix, 0) == 0) {
        name = name.substr(prefix.size());
      } else if (!options.ignore.count(name)) {
        report.unexpected.push_back(key);
        continue;
      }
    }
    if (options.ignore.count(name)) continue;
    renamed.emplace(std::move(name), tensor);
  }

  auto targets = state_dict(module);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, target] : targets) {
    auto found = renamed.find(name);
    if (found == renamed.end()) {
      report.missing.push_back(name);
      continue;
    }
    if (found->second.sizes() != target.sizes()) {
      report.mismatched.push_back({name, target.sizes().vec(), found->second.sizes().vec()});
      continue;
    }
    copies.emplace_back(target, found->second);
    report.loaded.push_back(name);
  }
  for (const auto& [name, tensor] : renamed) {
    if (!targets.count(name)) report.unexpected.push_back(prefix.empty() ? name : prefix + name);
  }
  if (options.strict && !report.clean()) {
    CHORD_FAIL("loading ", options.source_name, " into the module failed (strict): ", report.describe(),
               ". Nothing was loaded.");
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

}  // namespace chord::io
