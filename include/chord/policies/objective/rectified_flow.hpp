#pragma once
/// @file
/// Rectified flow as stable-audio-tools and SAGA-SR train it (t = 1 is pure noise, t = 0 is data):
/// `x_t = (1 − t)·x0 + t·ε`, target velocity `ε − x0`, plain MSE over the loss mask. Sampling
/// integrates from t = sigma_max (1: pure noise) to t = 0 with Euler (`x += (t_next − t)·v`) on a schedule:
///  - `schedule::LogSnr` — stable-audio-tools `sample_rf`: `t = sigmoid(−λ)`, `λ = linspace(−6, 2,
///    steps + 1)` in float32 (−6 → `log((1 − σ)/σ + 1e-6)` for sigma_max σ < 1), endpoints forced to σ and 0;
///  - `schedule::LinearQuadratic` — SAGA-SR's official sampler (Movie Gen): `steps/2` linear steps of
///    0.001 from 1, then quadratic `0.95·(1 − (j/n)²)` down to 0.
/// Training times come from a TimeSampler: `Uniform` (U[0,1)) or `LogitNormal` (`sigmoid(N(0, 1))`,
/// SAGA-SR's `logit_normal`).

#include "chord/core/error.hpp"
#include "chord/policies/objective/concept.hpp"
#include "chord/policies/objective/ode.hpp"

#include <cmath>
#include <vector>

namespace chord {

namespace schedule {

/// stable-audio-tools `sample_rf`: `t = sigmoid(−linspace(λ_max, 2, steps + 1))` in float32 with
/// `λ_max = −6` for sigma_max = 1, else `log((1 − σ)/σ + 1e-6)`; t[0] = sigma_max, t[steps] = 0.
struct LogSnr {
  static constexpr std::string_view name = "log_snr";
  static torch::Tensor times(int64_t steps, double sigma_max = 1.0) {
    const double highest = sigma_max < 1.0 ? std::log((1.0 - sigma_max) / sigma_max + 1e-6) : -6.0;
    auto t = torch::sigmoid(-torch::linspace(highest, 2.0, steps + 1, torch::kFloat));
    t[0] = sigma_max;
    t[steps] = 0.0;
    return t;
  }
};

/// SAGA-SR (TorchJaekwon `FlowMatching`, `linear_quadratic`): the first `steps/2` steps walk the
/// first `steps/2` thousandths of [1, 0] linearly; the rest fall quadratically from there to 0.
struct LinearQuadratic {
  static constexpr std::string_view name = "linear_quadratic";
  static torch::Tensor times(int64_t steps, double sigma_max = 1.0) {
    CHORD_CHECK(sigma_max == 1.0, "schedule::LinearQuadratic starts at t = 1; sigma_max ", sigma_max,
                " (partial noising) needs schedule::LogSnr");
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

}  // namespace schedule

namespace time_sampler {
struct Uniform {
  static constexpr std::string_view name = "uniform";
  static torch::Tensor draw(int64_t batch, torch::Generator& gen, const torch::TensorOptions& options) {
    return torch::rand({batch}, gen, options);
  }
};
struct LogitNormal {
  static constexpr std::string_view name = "logit_normal";
  static torch::Tensor draw(int64_t batch, torch::Generator& gen, const torch::TensorOptions& options) {
    return torch::sigmoid(torch::randn({batch}, gen, options));
  }
};
}  // namespace time_sampler

namespace obj {

template <class Schedule = schedule::LogSnr, class TimeSampler = time_sampler::LogitNormal>
struct RectifiedFlow {
  using policy_category = objective_policy_tag;
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
    p.time = TimeSampler::draw(data.size(0), gen, data.options());
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
    const auto times = Schedule::times(options.steps, options.sigma_max).to(x.device(), x.scalar_type());
    return ode::integrate<ode::Euler>([&](const torch::Tensor& y, const torch::Tensor& t) { return net.velocity(y, t); }, x, times);
  }

  static int64_t evaluations(const SamplerOptions& options) { return options.steps; }
};
static_assert(ObjectivePolicy<RectifiedFlow<>>);

}  // namespace obj
}  // namespace chord
