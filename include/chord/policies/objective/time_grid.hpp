#pragma once
/// @file
/// Time grids for flow sampling on [0, 1] (t = 0 noise, t = 1 data, the F5-TTS convention):
/// uniform, EPSS (empirically pruned step sampling) and sway sampling on top of either.

#include <torch/types.h>

#include <cmath>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace chord::grid {

/// `linspace(0, 1, steps + 1)`.
struct Uniform {
  static constexpr std::string_view name = "uniform";
  struct Options {};
  static torch::Tensor times(int64_t steps, const Options& = {}) { return torch::linspace(0.0, 1.0, steps + 1); }
};

/// Fast F5-TTS (arXiv 2505.19931): hand-pruned grids in units of 1/32 for 5, 6, 7, 10, 12 and 16
/// steps; any other count falls back to the uniform grid (so the default 32 steps is uniform).
struct Epss {
  static constexpr std::string_view name = "epss";
  struct Options {};
  static torch::Tensor times(int64_t steps, const Options& = {}) {
    static const std::map<int64_t, std::vector<int64_t>> tables{
        {5, {0, 2, 4, 8, 16, 32}},
        {6, {0, 2, 4, 6, 8, 16, 32}},
        {7, {0, 2, 4, 6, 8, 16, 24, 32}},
        {10, {0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32}},
        {12, {0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32}},
        {16, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32}}};
    auto found = tables.find(steps);
    if (found == tables.end()) return Uniform::times(steps);
    return torch::tensor(found->second, torch::kFloat32) * (1.0 / 32.0);
  }
};

/// Sway sampling on top of `Base`: `t ← t + s·(cos(πt/2) − 1 + t)`. F5-TTS's inference default is
/// s = −1 (denser steps near the noise end); `coefficient = nullopt` leaves the base grid alone.
template <class Base = Epss>
struct Sway {
  static constexpr std::string_view name = "sway";
  struct Options {
    std::optional<double> coefficient = -1.0;
    typename Base::Options base{};
  };
  static torch::Tensor times(int64_t steps, const Options& options = {}) {
    auto t = Base::times(steps, options.base);
    if (!options.coefficient) return t;
    return t + *options.coefficient * (torch::cos(M_PI / 2.0 * t) - 1.0 + t);
  }
};

}  // namespace chord::grid
