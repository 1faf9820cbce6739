#pragma once
/// @file
/// Fixed-grid ODE solvers over a time grid, as torchdiffeq's `euler` and `midpoint` methods compute them.

#include <torch/types.h>

#include <functional>
#include <string_view>

namespace chord::ode {

using VelocityFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

/// One velocity evaluation per step: `x ← x + (t1 − t0)·v(x, t0)`.
struct Euler {
  static constexpr std::string_view name = "euler";
  static constexpr int evaluations_per_step = 1;
  static torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1) {
    return x + (t1 - t0) * v(x, t0);
  }
};

/// Two evaluations per step: `x ← x + dt·v(x + v(x, t0)·dt/2, t0 + dt/2)`.
struct Midpoint {
  static constexpr std::string_view name = "midpoint";
  static constexpr int evaluations_per_step = 2;
  static torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1) {
    const auto dt = t1 - t0;
    const auto half = 0.5 * dt;
    const auto midpoint = x + v(x, t0) * half;
    return x + dt * v(midpoint, t0 + half);
  }
};

/// Integrates `v` over `grid [steps + 1]` from `x0`.
template <class Solver>
torch::Tensor integrate(const VelocityFn& v, torch::Tensor x, const torch::Tensor& grid) {
  for (int64_t k = 0; k + 1 < grid.size(0); ++k) x = Solver::step(v, x, grid[k], grid[k + 1]);
  return x;
}

}  // namespace chord::ode
