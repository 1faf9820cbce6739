#pragma once
/// @file
/// Rectified flow as stable-audio-tools and SAGA-SR train it (t = 1 is pure noise, t = 0 is data):
/// `x_t = (1 − t)·x0 + t·ε`, target velocity `ε − x0`, plain MSE over the loss mask. Sampling
/// integrates from t = 1 to t = 0 with Euler (`x += (t_next − t)·v`) on a schedule:
///  - `schedule::LogSnr` — stable-audio-tools `sample_rf`: `t = sigmoid(−λ)`, `λ = linspace(−6, 2,
///    steps + 1)`, endpoints forced to 1 and 0;
///  - `schedule::LinearQuadratic` — SAGA-SR's official sampler (Movie Gen): `steps/2` linear steps of
///    0.001 from 1, then quadratic `0.95·(1 − (j/n)²)` down to 0.
/// Training times come from a TimeSampler: `Uniform` (U[0,1)) or `LogitNormal` (`sigmoid(N(0, 1))`,
/// SAGA-SR's `logit_normal`).

#include "chord/policies/objective/concept.hpp"
#include "chord/policies/objective/ode.hpp"

#include <vector>

namespace chord {

namespace schedule {

/// stable-audio-tools `sample_rf` with sigma_max = 1.
struct LogSnr {
  static constexpr std::string_view name = "log_snr";
  static torch::Tensor times(int64_t steps) {
    auto t = torch::sigmoid(-torch::linspace(-6.0, 2.0, steps + 1, torch::kDouble));
    t[0] = 1.0;
    t[steps] = 0.0;
    return t.to(torch::kFloat);
  }
};

/// SAGA-SR (TorchJaekwon `FlowMatching`, `linear_quadratic`): the first `steps/2` steps walk the
/// first `steps/2` thousandths of [1, 0] linearly; the rest fall quadratically from there to 0.
struct LinearQuadratic {
  static constexpr std::string_view name = "linear_quadratic";
  static torch::Tensor times(int64_t steps) {
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
    int64_t steps = 100;  ///< both references' default
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

  /// From noise at t = 1 down the schedule to t = 0 (discrete Euler, no final denoise step).
  torch::Tensor sample(const GuidedNet& net, const torch::Tensor& noise, const SamplerOptions& options, torch::Generator&) const {
    TORCH_CHECK(options.steps > 0, "RectifiedFlow: steps must be > 0, got ", options.steps);
    const auto times = Schedule::times(options.steps).to(noise.device(), noise.scalar_type());
    return ode::integrate<ode::Euler>([&](const torch::Tensor& x, const torch::Tensor& t) { return net.velocity(x, t); },
                                      noise, times);
  }

  static int64_t evaluations(const SamplerOptions& options) { return options.steps; }
};
static_assert(ObjectivePolicy<RectifiedFlow<>>);

}  // namespace obj
}  // namespace chord
