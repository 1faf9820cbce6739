#pragma once
/// @file
/// Fixed-grid ODE solvers over a time grid, as torchdiffeq's fixed-grid methods compute them (the
/// `method` of F5-TTS's `CFM(odeint_kwargs=...)`): `euler`, `midpoint`, `rk4` (torchdiffeq's is the 3/8
/// rule), `heun2`, `heun3` and `explicit_adams`. Each step is written in the reference's operation order,
/// so a float32 solve matches `odeint` bit for bit. torchdiffeq's adaptive methods (dopri5, ...) and
/// `implicit_adams` take a data-dependent number of evaluations and have no fixed-grid counterpart here.

#include <torch/types.h>

#include <array>
#include <concepts>
#include <deque>
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

namespace detail {
/// torchdiffeq's `rk4_alt_step_func` (Kutta's 3/8 rule) with the first evaluation given.
inline torch::Tensor rk4_alt_increment(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1,
                                       const torch::Tensor& k1) {
  const auto dt = t1 - t0;
  constexpr double third = 1.0 / 3.0, two_thirds = 2.0 / 3.0;
  const auto k2 = v(x + dt * k1 * third, t0 + dt * third);
  const auto k3 = v(x + dt * (k2 - k1 * third), t0 + dt * two_thirds);
  const auto k4 = v(x + dt * (k1 - k2 + k3), t1);
  return (k1 + 3 * (k2 + k3) + k4) * dt * 0.125;
}
}  // namespace detail

/// torchdiffeq's `rk4`: four evaluations per step with the 3/8 rule (not the classic 1/6 rule);
/// the last one at the grid time t1.
struct RK4 {
  static constexpr std::string_view name = "rk4";
  static constexpr int evaluations_per_step = 4;
  static torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1) {
    return x + detail::rk4_alt_increment(v, x, t0, t1, v(x, t0));
  }
};

/// torchdiffeq's `heun2`: `k2 = v(x + dt·k1, t0 + dt)` (at t0 + dt, not the grid's t1), `dx = dt·(k1/2 + k2/2)`.
struct Heun2 {
  static constexpr std::string_view name = "heun2";
  static constexpr int evaluations_per_step = 2;
  static torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1) {
    const auto dt = t1 - t0;
    const auto k1 = v(x, t0);
    const auto k2 = v(x + dt * k1 * 1.0, t0 + dt * 1.0);
    return x + dt * (k1 * 0.5 + k2 * 0.5);
  }
};

/// torchdiffeq's `heun3` (Heun's third-order tableau): stages at 1/3 and 2/3, weights 1/4, 0, 3/4.
struct Heun3 {
  static constexpr std::string_view name = "heun3";
  static constexpr int evaluations_per_step = 3;
  static torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, const torch::Tensor& t0, const torch::Tensor& t1) {
    const auto dt = t1 - t0;
    constexpr double third = 1.0 / 3.0, two_thirds = 2.0 / 3.0;
    const auto k1 = v(x, t0);
    const auto k2 = v(x + dt * k1 * third, t0 + dt * third);
    const auto k3 = v(x + dt * (k1 * 0.0 + k2 * two_thirds), t0 + dt * two_thirds);
    return x + dt * (k1 * 0.25 + k2 * 0.0 + k3 * 0.75);
  }
};

/// torchdiffeq's `explicit_adams`: Adams–Bashforth of the highest order the history allows (up to
/// 11), started with two 3/8-rule RK4 steps. Each step evaluates the velocity once (the first two
/// four times), so it keeps a history across steps: `integrate()` is its own.
struct ExplicitAdams {
  static constexpr std::string_view name = "explicit_adams";
  static constexpr int max_order = 11;

  /// Evaluations of a solve over `steps` intervals.
  static int64_t evaluations(int64_t steps) { return steps <= 2 ? 4 * steps : 8 + (steps - 2); }

  /// The order-k Adams–Bashforth weights, newest evaluation first (torchdiffeq's table, exact in double).
  static std::vector<double> coefficients(int order) {
    static const std::array<std::vector<double>, 12> numerators{{
        {},
        {1},
        {3, -1},
        {23, -16, 5},
        {55, -59, 37, -9},
        {1901, -2774, 2616, -1274, 251},
        {4277, -7923, 9982, -7298, 2877, -475},
        {198721, -447288, 705549, -688256, 407139, -134472, 19087},
        {434241, -1152169, 2183877, -2664477, 2102243, -1041723, 295767, -36799},
        {14097247, -43125206, 95476786, -139855262, 137968480, -91172642, 38833486, -9664106, 1070017},
        {30277247, -104995189, 265932680, -454661776, 538363838, -444772162, 252618224, -94307320, 20884811, -2082753},
        {2132509567, -8271795124, 23591063805, -46113029016, 63716378958, -63176201472, 44857168434, -22329634920, 7417904451,
         -1479574348, 134211265},
    }};
    static const std::array<double, 12> divisors{0, 1, 2, 12, 24, 720, 1440, 60480, 120960, 3628800, 7257600, 479001600};
    std::vector<double> out;
    for (double n : numerators.at(static_cast<size_t>(order))) out.push_back(n / divisors[static_cast<size_t>(order)]);
    return out;
  }

  static torch::Tensor integrate(const VelocityFn& v, torch::Tensor x, const torch::Tensor& grid) {
    std::deque<torch::Tensor> history;  // newest first, at most max_order entries
    for (int64_t k = 0; k + 1 < grid.size(0); ++k) {
      const auto t0 = grid[k], t1 = grid[k + 1];
      history.push_front(v(x, t0));
      if (static_cast<int>(history.size()) > max_order) history.pop_back();
      const int order = static_cast<int>(history.size());
      if (order < 3) {
        x = x + detail::rk4_alt_increment(v, x, t0, t1, history.front());
        continue;
      }
      // torchdiffeq: `dt * coefficients` in float64, each weight then applied in the state's dtype,
      // summed newest first.
      const auto dt = (t1 - t0).to(torch::kFloat64);
      const auto weights = coefficients(order);
      torch::Tensor dy;
      for (int i = 0; i < order; ++i) {
        const auto term = history[static_cast<size_t>(i)] * (dt * weights[static_cast<size_t>(i)]).to(x.scalar_type());
        dy = i == 0 ? term : dy + term;
      }
      x = x + dy;
    }
    return x;
  }
};

/// S satisfies Solver if it has a `name` and either steps one interval at a time
/// (`step(v, x, t0, t1)` with `evaluations_per_step`) or integrates a whole grid itself, keeping state
/// across steps (`integrate(v, x, grid)` with `evaluations(steps)`, as multistep methods do).
template <class S>
concept Solver = requires { { S::name } -> std::convertible_to<std::string_view>; } &&
                 (requires(const VelocityFn& v, const torch::Tensor& x) {
                   { S::step(v, x, x, x) } -> std::same_as<torch::Tensor>;
                   { S::evaluations_per_step } -> std::convertible_to<int>;
                 } || requires(const VelocityFn& v, const torch::Tensor& x, int64_t steps) {
                   { S::integrate(v, x, x) } -> std::same_as<torch::Tensor>;
                   { S::evaluations(steps) } -> std::convertible_to<int64_t>;
                 });

/// Velocity evaluations of a solve over `steps` grid intervals.
template <Solver Method>
int64_t evaluations(int64_t steps) {
  if constexpr (requires { Method::evaluations(steps); }) return Method::evaluations(steps);
  else return steps * Method::evaluations_per_step;
}

/// Integrates `v` over `grid [steps + 1]` from `x0`.
template <Solver Method>
torch::Tensor integrate(const VelocityFn& v, torch::Tensor x, const torch::Tensor& grid) {
  if constexpr (requires { Method::integrate(v, x, grid); }) {
    return Method::integrate(v, std::move(x), grid);
  } else {
    for (int64_t k = 0; k + 1 < grid.size(0); ++k) x = Method::step(v, x, grid[k], grid[k + 1]);
    return x;
  }
}

static_assert(Solver<Euler> && Solver<Midpoint> && Solver<RK4> && Solver<Heun2> && Solver<Heun3> && Solver<ExplicitAdams>);

}  // namespace chord::ode
