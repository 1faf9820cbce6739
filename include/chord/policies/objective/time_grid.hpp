#pragma once
/// @file
/// Time grids for flow sampling: the times, from the noise end to the data end, at which a sampler
/// evaluates the velocity. One vocabulary for both conventions of chord's objectives:
///  - noise at t = 0, data at t = 1 (F5-TTS `CFM`): `grid::Uniform`, `grid::Epss` (empirically pruned
///    step sampling) and `grid::Sway<Base>` on top of either;
///  - noise at t = 1, data at t = 0 (stable-audio-tools, SAGA-SR): `grid::LogSnr` and
///    `grid::LinearQuadratic`, which may start below 1 (`sigma_max`, partial noising).
/// An objective states which end it expects (`TimeGrid<G>` plus `G::noise_at`), so a grid of the other
/// convention is a compile error rather than a sampler running backwards.

#include "chord/core/error.hpp"

#include <torch/types.h>

#include <concepts>

#include <cmath>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace chord::grid {

/// Which end of the time interval is pure noise.
enum class NoiseAt { zero, one };

/// G satisfies TimeGrid if it has a `name`, says which end is noise (`static constexpr NoiseAt
/// noise_at`), has an `Options` value type and gives `times(steps, options)`: `[steps + 1]` float32,
/// from the noise end to the data end.
template <class G>
concept TimeGrid = requires(int64_t steps, const typename G::Options& options) {
  { G::name } -> std::convertible_to<std::string_view>;
  { G::noise_at } -> std::convertible_to<NoiseAt>;
  { G::times(steps, options) } -> std::same_as<torch::Tensor>;
} && std::default_initializable<typename G::Options>;

/// A grid that can start partway (`Options::sigma_max` ≤ 1: audio-to-audio from noised data).
template <class G>
concept StartsPartway = TimeGrid<G> && requires(typename G::Options& options) { options.sigma_max = 1.0; };

/// `linspace(0, 1, steps + 1)`.
struct Uniform {
  static constexpr std::string_view name = "uniform";
  static constexpr NoiseAt noise_at = NoiseAt::zero;
  struct Options {};
  static torch::Tensor times(int64_t steps, const Options& = {}) { return torch::linspace(0.0, 1.0, steps + 1); }
};

/// Fast F5-TTS (arXiv 2505.19931): hand-pruned grids in units of 1/32 for 5, 6, 7, 10, 12 and 16
/// steps; any other count falls back to the uniform grid (so the default 32 steps is uniform).
struct Epss {
  static constexpr std::string_view name = "epss";
  static constexpr NoiseAt noise_at = NoiseAt::zero;
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
template <TimeGrid Base = Epss>
struct Sway {
  static_assert(Base::noise_at == NoiseAt::zero, "grid::Sway<Base>: sway sampling bends a grid with noise at t = 0 (F5-TTS's convention)");
  static constexpr std::string_view name = "sway";
  static constexpr NoiseAt noise_at = NoiseAt::zero;
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

/// The options of the grids with noise at t = 1: where sampling starts.
struct PartialStart {
  double sigma_max = 1.0;  ///< ≤ 1; below 1 the sampler starts from noised data (audio-to-audio)
};

/// stable-audio-tools `sample_rf`: `t = sigmoid(−linspace(λ_max, 2, steps + 1))` in float32 with
/// `λ_max = −6` for sigma_max = 1, else `log((1 − σ)/σ + 1e-6)`; t[0] = sigma_max, t[steps] = 0.
struct LogSnr {
  static constexpr std::string_view name = "log_snr";
  static constexpr NoiseAt noise_at = NoiseAt::one;
  using Options = PartialStart;
  static torch::Tensor times(int64_t steps, const Options& options = {}) {
    const double sigma_max = options.sigma_max;
    const double highest = sigma_max < 1.0 ? std::log((1.0 - sigma_max) / sigma_max + 1e-6) : -6.0;
    auto t = torch::sigmoid(-torch::linspace(highest, 2.0, steps + 1, torch::kFloat));
    t[0] = sigma_max;
    t[steps] = 0.0;
    return t;
  }
};

/// SAGA-SR's official sampler (TorchJaekwon `FlowMatching`, `linear_quadratic`, after Movie Gen): the
/// first `steps/2` steps walk the first `steps/2` thousandths of [1, 0] linearly; the rest fall
/// quadratically from that knee to 0 (`knee·(1 − (j/n)²)`, n = steps − steps/2).
struct LinearQuadratic {
  static constexpr std::string_view name = "linear_quadratic";
  static constexpr NoiseAt noise_at = NoiseAt::one;
  using Options = PartialStart;  ///< sigma_max must be 1: this grid has no partial start
  static torch::Tensor times(int64_t steps, const Options& options = {}) {
    CHORD_CHECK(options.sigma_max == 1.0, "grid::LinearQuadratic starts at t = 1; sigma_max ", options.sigma_max,
                " (partial noising) needs grid::LogSnr");
    const int64_t linear = steps / 2, quadratic = steps - linear;
    std::vector<double> t;
    t.reserve(static_cast<size_t>(steps + 1));
    for (int64_t i = 0; i <= linear; ++i) t.push_back(1.0 - 0.001 * static_cast<double>(i));
    const double knee = t.back();
    for (int64_t j = 1; j <= quadratic; ++j) {
      const double u = static_cast<double>(j) / static_cast<double>(quadratic);
      t.push_back(knee * (1.0 - u * u));
    }
    return torch::tensor(t, torch::kDouble).to(torch::kFloat);
  }
};

static_assert(TimeGrid<Uniform> && TimeGrid<Epss> && TimeGrid<Sway<>> && StartsPartway<LogSnr> && StartsPartway<LinearQuadratic>);

}  // namespace chord::grid
