#pragma once
/// @file
/// Conditional flow matching (F5-TTS `CFM`): `x_t = (1 − t)·x0 + t·x1` with `x0 ~ N(0, I)`,
/// `t ~ U[0, 1)`, target velocity `x1 − x0`, MSE over the loss mask; sampling integrates the guided
/// velocity from t = 0 (noise) to 1 on a time grid with a fixed-step solver.

#include "chord/policies/objective/concept.hpp"
#include "chord/policies/objective/ode.hpp"
#include "chord/policies/objective/time_grid.hpp"

namespace chord::obj {

/// @tparam Solver a fixed-grid solver of ode.hpp (Euler, Midpoint, RK4, Heun2, Heun3, ExplicitAdams).
/// @tparam Grid grid::Uniform, grid::Epss or grid::Sway<...>.
template <ode::Solver Solver = ode::Euler, grid::TimeGrid Grid = grid::Sway<grid::Epss>>
struct CondFlowMatching {
  static_assert(Grid::noise_at == grid::NoiseAt::zero,
                "obj::CondFlowMatching<Solver, Grid>: conditional flow matching integrates from noise at t = 0 to data at t = 1; use grid::Uniform, grid::Epss or grid::Sway (grid::LogSnr/LinearQuadratic put noise at t = 1, for obj::RectifiedFlow)");
  using policy_category = objective_policy_tag;
  using solver_type = Solver;
  using grid_type = Grid;
  static constexpr std::string_view name = "cond_flow_matching";

  struct Pair {
    torch::Tensor x0;      ///< noise `[B, N, D]`
    torch::Tensor time;    ///< `[B]`
    torch::Tensor x_t;     ///< the interpolant
    torch::Tensor target;  ///< the velocity `x1 − x0`
  };

  struct SamplerOptions {
    int64_t steps = 32;                ///< grid intervals (NFE = steps × solver evaluations)
    typename Grid::Options grid{};
  };

  /// Draws x0 then t from `gen` (the order of the reference's `randn_like` and `rand`).
  Pair draw(const torch::Tensor& x1, torch::Generator& gen) const {
    Pair pair;
    pair.x0 = torch::randn(x1.sizes(), gen, x1.options());
    pair.time = torch::rand({x1.size(0)}, gen, x1.options());
    const auto t = pair.time.view({-1, 1, 1});
    pair.x_t = (1 - t) * pair.x0 + t * x1;
    pair.target = x1 - pair.x0;
    return pair;
  }

  torch::Tensor predict(const TrainingNet& net, const Pair& pair) const { return net.output(pair.x_t, pair.time); }

  /// Mean squared error over the frames where `loss_mask [B, N]` is true (all channels).
  torch::Tensor loss(const torch::Tensor& prediction, const Pair& pair, const torch::Tensor& loss_mask) const {
    return masked_mse(prediction, pair.target, loss_mask);
  }

  torch::Tensor sample(const GuidedNet& net, const torch::Tensor& x0, const SamplerOptions& options,
                       torch::Generator&) const {
    TORCH_CHECK(options.steps > 0, "CondFlowMatching: steps must be > 0, got ", options.steps);
    auto grid = Grid::times(options.steps, options.grid).to(x0.device(), x0.scalar_type());
    return ode::integrate<Solver>([&](const torch::Tensor& x, const torch::Tensor& t) { return net.velocity(x, t); },
                                  x0, grid);
  }

  /// Network evaluations of one sample() call (each one batched over the guidance branches).
  static int64_t evaluations(const SamplerOptions& options) { return ode::evaluations<Solver>(options.steps); }
};
static_assert(ObjectivePolicy<CondFlowMatching<>>);

}  // namespace chord::obj
