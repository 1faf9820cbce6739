#pragma once
/// @file
/// Training-time samplers: how a flow objective draws the time of each training example (the grids of
/// time_grid.hpp are the deterministic times of sampling; these are random draws).

#include <torch/types.h>

#include <concepts>
#include <string_view>

namespace chord::time_sampler {

/// T satisfies TimeSampler if it has a `name` and `draw(batch, gen, options)` gives `[batch]` times in
/// [0, 1] on `options`' device, drawn from `gen`.
template <class T>
concept TimeSampler = requires(int64_t batch, torch::Generator& gen, const torch::TensorOptions& options) {
  { T::name } -> std::convertible_to<std::string_view>;
  { T::draw(batch, gen, options) } -> std::same_as<torch::Tensor>;
};

/// `U[0, 1)` (stable-audio-tools' `uniform` timestep sampler).
struct UniformTime {
  static constexpr std::string_view name = "uniform";
  static torch::Tensor draw(int64_t batch, torch::Generator& gen, const torch::TensorOptions& options) {
    return torch::rand({batch}, gen, options);
  }
};

/// `sigmoid(N(0, 1))` (SAGA-SR's and stable-audio-tools' `logit_normal`).
struct LogitNormalTime {
  static constexpr std::string_view name = "logit_normal";
  static torch::Tensor draw(int64_t batch, torch::Generator& gen, const torch::TensorOptions& options) {
    return torch::sigmoid(torch::randn({batch}, gen, options));
  }
};

static_assert(TimeSampler<UniformTime> && TimeSampler<LogitNormalTime>);

}  // namespace chord::time_sampler
