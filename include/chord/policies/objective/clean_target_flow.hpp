#pragma once
/// @file
/// Flow matching with a clean-target (x-) prediction network, as the seed-003 DiT trains
/// (`clean_pred = model(noisy_target, t, condition)`): the same path as conditional flow matching,
/// `x_t = (1 − t)·x0 + t·x1`, but the network predicts `x1` and the loss is the MSE to `x1`. Sampling
/// turns the prediction into the path's velocity, `v = (x̂1 − x_t)/(1 − t)`, on a uniform grid (whose
/// last evaluation is at `t = 1 − 1/steps`, so the division is safe).

#include "chord/policies/objective/cond_flow_matching.hpp"

namespace chord::obj {

/// @tparam Solver a fixed-grid ODE solver (ode::Solver).
template <ode::Solver Solver = ode::Euler>
struct CleanTargetFlow {
  using policy_category = objective_policy_tag;
  using solver_type = Solver;
  static constexpr std::string_view name = "clean_target_flow";

  /// Conditional flow matching's pair (noise x0, time, interpolant) with the clean `x1` as target.
  using Pair = typename CondFlowMatching<Solver, grid::Uniform>::Pair;

  struct SamplerOptions {
    int64_t steps = 32;  ///< uniform grid intervals
  };

  Pair draw(const torch::Tensor& x1, torch::Generator& gen) const {
    auto pair = CondFlowMatching<Solver, grid::Uniform>{}.draw(x1, gen);
    pair.target = x1;
    return pair;
  }

  torch::Tensor predict(const TrainingNet& net, const Pair& pair) const { return net.output(pair.x_t, pair.time); }

  torch::Tensor loss(const torch::Tensor& prediction, const Pair& pair, const torch::Tensor& loss_mask) const {
    return masked_mse(prediction, pair.target, loss_mask);
  }

  torch::Tensor sample(const GuidedNet& net, const torch::Tensor& x0, const SamplerOptions& options, torch::Generator&) const {
    TORCH_CHECK(options.steps > 0, "CleanTargetFlow: steps must be > 0, got ", options.steps);
    const auto times = grid::Uniform::times(options.steps).to(x0.device(), x0.scalar_type());
    auto velocity = [&](const torch::Tensor& x, const torch::Tensor& t) {
      return (net.velocity(x, t) - x) / (1 - t).clamp_min(1e-4);  // net.velocity = the guided clean estimate
    };
    return ode::integrate<Solver>(velocity, x0, times);
  }

  static int64_t evaluations(const SamplerOptions& options) { return ode::evaluations<Solver>(options.steps); }
};
static_assert(ObjectivePolicy<CleanTargetFlow<>>);

}  // namespace chord::obj
