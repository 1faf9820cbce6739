#pragma once
/// @file
/// Difference Transition Matching (Shaul et al., "Transition Matching", arXiv 2506.23589, Algorithms 3
/// and 4). The backbone reads `X_t = (1 − t/T)·X_0 + (t/T)·X_T` at a discrete transition time and gives
/// per-token features; a small head learns, by flow matching over an inner time s, the distribution of
/// the difference `Y = X_T − X_0` at each token. Sampling makes T transitions `X ← X + Y/T`, each with
/// one backbone pass (all guidance branches batched) and K head steps on a fresh `Y_0`, guided on the
/// head's velocity.
///
/// Masking and guidance are not this policy's business: the loss counts where the masking family says,
/// the backbone sees the conditions and drops the conditioning and guidance families prepared.

#include "chord/core/error.hpp"
#include "chord/nn/dtm_head.hpp"
#include "chord/policies/objective/concept.hpp"
#include "chord/policies/objective/ode.hpp"

#include <memory>

namespace chord::obj {

/// @tparam Solver the inner (head) ODE solver, a fixed-grid solver of ode.hpp.
template <ode::Solver Solver = ode::Euler>
struct DifferenceTransitionMatching {
  using policy_category = objective_policy_tag;
  using solver_type = Solver;
  using Module = nn::DtmHead;  ///< the head, registered by the model as "head"
  static constexpr std::string_view name = "difference_transition_matching";

  int64_t transitions = 16;  ///< T: training draws t ∈ {0, …, T−1} (paper's sweet spot ≈ 16)
  int64_t head_width = 512;  ///< paper 1024
  int64_t head_depth = 6;

  struct Pair {
    torch::Tensor x0, time, x_t;  ///< noise, t/T `[B]`, the transition state
    torch::Tensor y0, s, y_s;     ///< inner noise, inner time `[B, N]`, inner state
    torch::Tensor target;         ///< `Y − Y_0` with `Y = X_T − X_0`
  };

  struct SamplerOptions {
    int64_t steps = 16;      ///< T at inference (backbone passes)
    int64_t head_steps = 4;  ///< K inner steps per transition
  };

  Module make_module(int64_t feature_dim, int64_t channels) const {
    return nn::DtmHead(nn::DtmHeadOptions(feature_dim, channels).width(head_width).depth(head_depth));
  }

  Pair draw(const torch::Tensor& x1, torch::Generator& gen) const {
    CHORD_CHECK(transitions > 0, "DifferenceTransitionMatching: transitions must be > 0, got ", transitions);
    const int64_t b = x1.size(0), n = x1.size(1);
    Pair p;
    p.x0 = torch::randn(x1.sizes(), gen, x1.options());
    p.time = torch::randint(0, transitions, {b}, gen, x1.options().dtype(torch::kLong)).to(x1.scalar_type()) /
             static_cast<double>(transitions);
    const auto t = p.time.view({-1, 1, 1});
    p.x_t = (1 - t) * p.x0 + t * x1;
    p.y0 = torch::randn(x1.sizes(), gen, x1.options());
    p.s = torch::rand({b, n}, gen, x1.options());
    const auto y = x1 - p.x0;
    p.y_s = (1 - p.s.unsqueeze(-1)) * p.y0 + p.s.unsqueeze(-1) * y;
    p.target = y - p.y0;
    return p;
  }

  torch::Tensor predict(const TrainingNet& net, const Pair& p, Module& head) const {
    return head->forward(net.features(p.x_t, p.time), p.y_s, p.s, p.time);
  }

  torch::Tensor loss(const torch::Tensor& prediction, const Pair& p, const torch::Tensor& loss_mask) const {
    return masked_mse(prediction, p.target, loss_mask);
  }

  torch::Tensor sample(const GuidedNet& net, torch::Tensor x, const SamplerOptions& options, torch::Generator& gen, Module& head) const {
    CHORD_CHECK(options.steps > 0 && options.head_steps > 0, "DifferenceTransitionMatching: steps (", options.steps,
                ") and head_steps (", options.head_steps, ") must be > 0");
    const auto inner_grid = torch::linspace(0.0, 1.0, options.head_steps + 1, x.options());
    for (int64_t k = 0; k < options.steps; ++k) {
      const auto t = torch::full({}, static_cast<double>(k) / static_cast<double>(options.steps), x.options());
      // One batched backbone pass for every guidance branch; the head then runs all branches at once
      // too, with the transition's part of its condition computed once for the K inner steps.
      const auto condition = head->condition(net.stacked_features(x, t), t);
      auto velocity = [&](const torch::Tensor& y, const torch::Tensor& s) {
        auto all = head->velocity(condition, net.branches == 1 ? y : y.repeat({net.branches, 1, 1}), s);
        return net.combine(all.chunk(net.branches, 0));
      };
      auto y = ode::integrate<Solver>(velocity, torch::randn(x.sizes(), gen, x.options()), inner_grid);
      x = x + y / static_cast<double>(options.steps);
    }
    return x;
  }

  /// Backbone passes and head evaluations of one sample() call (per guidance branch).
  static std::pair<int64_t, int64_t> evaluations(const SamplerOptions& o) {
    return {o.steps, o.steps * ode::evaluations<Solver>(o.head_steps)};
  }

};
static_assert(ObjectivePolicy<DifferenceTransitionMatching<>>);
static_assert(OwnsModule<DifferenceTransitionMatching<>>);

}  // namespace chord::obj
