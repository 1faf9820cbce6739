#pragma once
/// @file
/// Rectified flow as stable-audio-tools and SAGA-SR train it (t = 1 is pure noise, t = 0 is data):
/// `x_t = (1 − t)·x0 + t·ε`, target velocity `ε − x0`, plain MSE over the loss mask. Sampling
/// integrates from t = sigma_max (1: pure noise) to t = 0 with Euler (`x += (t_next − t)·v`) on a time
/// grid with noise at t = 1 (`grid::LogSnr`, stable-audio-tools `sample_rf`; `grid::LinearQuadratic`,
/// SAGA-SR's official sampler — time_grid.hpp). Training times come from a time sampler
/// (`time_sampler::UniformTime` or `LogitNormalTime`, time_sampler.hpp).

#include "chord/core/error.hpp"
#include "chord/policies/objective/concept.hpp"
#include "chord/policies/objective/ode.hpp"
#include "chord/policies/objective/time_grid.hpp"
#include "chord/policies/objective/time_sampler.hpp"

#include <cmath>
#include <vector>

namespace chord {

namespace obj {

/// @tparam Grid a time grid with noise at t = 1 that can start partway (grid::LogSnr, grid::LinearQuadratic).
/// @tparam Times the training-time sampler (time_sampler::LogitNormalTime, time_sampler::UniformTime).
template <grid::StartsPartway Grid = grid::LogSnr, time_sampler::TimeSampler Times = time_sampler::LogitNormalTime>
struct RectifiedFlow {
  static_assert(Grid::noise_at == grid::NoiseAt::one,
                "obj::RectifiedFlow<Grid>: rectified flow samples from noise at t = 1 down to t = 0; use grid::LogSnr or grid::LinearQuadratic (grid::Uniform/Epss/Sway put noise at t = 0, for obj::CondFlowMatching)");
  using policy_category = objective_policy_tag;
  using grid_type = Grid;
  using time_sampler_type = Times;
  static constexpr std::string_view name = "rectified_flow";

  struct Pair {
    torch::Tensor noise;   ///< ε
    torch::Tensor time;    ///< `[B]`; 1 = noise
    torch::Tensor x_t;     ///< `(1 − t)·x0 + t·ε`
    torch::Tensor target;  ///< `ε − x0`
  };

  struct SamplerOptions {
    int64_t steps = 100;     ///< both references' default
    /// Where sampling starts (stable-audio's `sigma_max`, ≤ 1): from data given to start() — audio-to-audio
    /// — at `init·(1 − σ) + noise·σ`; without data the reference starts from the unscaled noise.
    double sigma_max = 1.0;
  };

  /// `data` is the clean sample (the references' x0). Draws t, then ε.
  Pair draw(const torch::Tensor& data, torch::Generator& gen) const {
    Pair p;
    p.time = Times::draw(data.size(0), gen, data.options());
    p.noise = torch::randn(data.sizes(), gen, data.options());
    const auto t = p.time.view({-1, 1, 1});
    p.x_t = (1 - t) * data + t * p.noise;
    p.target = p.noise - data;
    return p;
  }

  torch::Tensor predict(const TrainingNet& net, const Pair& p) const { return net.output(p.x_t, p.time); }

  torch::Tensor loss(const torch::Tensor& prediction, const Pair& p, const torch::Tensor& loss_mask) const {
    return masked_mse(prediction, p.target, loss_mask);
  }

  /// The starting point for data `init` (same shape as the noise): `init·(1 − σ) + noise·σ`.
  torch::Tensor start(const torch::Tensor& noise, const torch::Tensor& init, const SamplerOptions& options) const {
    TORCH_CHECK(init.sizes() == noise.sizes(), "RectifiedFlow: init data ", init.sizes(), " vs noise ", noise.sizes());
    return init * (1 - options.sigma_max) + noise * options.sigma_max;
  }

  /// From `x` at t = sigma_max down the schedule to t = 0 (discrete Euler, no final denoise step).
  torch::Tensor sample(const GuidedNet& net, const torch::Tensor& x, const SamplerOptions& options, torch::Generator&) const {
    TORCH_CHECK(options.steps > 0, "RectifiedFlow: steps must be > 0, got ", options.steps);
    CHORD_CHECK(options.sigma_max > 0.0 && options.sigma_max <= 1.0, "RectifiedFlow: sigma_max must be in (0, 1], got ", options.sigma_max);
    typename Grid::Options grid_options;
    grid_options.sigma_max = options.sigma_max;
    const auto times = Grid::times(options.steps, grid_options).to(x.device(), x.scalar_type());
    return ode::integrate<ode::Euler>([&](const torch::Tensor& y, const torch::Tensor& t) { return net.velocity(y, t); }, x, times);
  }

  static int64_t evaluations(const SamplerOptions& options) { return options.steps; }
};
static_assert(ObjectivePolicy<RectifiedFlow<>>);

}  // namespace obj
}  // namespace chord
