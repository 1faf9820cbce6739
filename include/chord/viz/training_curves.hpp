#pragma once
/// @file
/// Loss curves straight from a trainer's JSON Lines log.

#include "chord/train/observers.hpp"
#include "chord/viz/plots.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace chord::viz {

/// Plots the named scalars of a JsonlLogger file (e.g. {"loss", "valid/loss"}) against step.
/// Names missing from the log are skipped. Returns false, writing nothing, when none is there yet
/// (a run stopped before its first logged update) or the log does not exist.
inline bool save_training_curves_png(const std::filesystem::path& jsonl, const std::filesystem::path& png,
                                     const std::vector<std::string>& names, PlotOptions options = {}) {
  if (!std::filesystem::exists(jsonl)) return false;
  const auto logged = train::read_jsonl_scalars(jsonl);
  std::vector<Series> series;
  for (const auto& name : names) {
    auto found = logged.find(name);
    if (found == logged.end()) continue;
    Series s{name, {}, {}};
    for (const auto& [step, value] : found->second) {
      s.x.push_back(step);
      s.y.push_back(value);
    }
    series.push_back(std::move(s));
  }
  if (series.empty()) return false;
  save_curves_png(png, series, options);
  return true;
}

}  // namespace chord::viz
