#pragma once
/// @file
/// The flow-objective family: the training pair, the loss and the sampler. Page: docs/policies/objective.md.
///
/// An objective talks to the network only through a *net* object the model builds:
///  - training: `net.output(x_t, t)` and `net.features(x_t, t)` with the batch's conditions and drops;
///  - sampling: `net.branch_outputs(x, t)` (one tensor per guidance branch, computed in one batched
///    pass), `net.stacked_features(x, t)` (the same pass's features, branches stacked along the
///    batch) and `net.combine(per_branch)`.
/// It never sees masks or drop decisions except the loss mask it must respect — those belong to the
/// masking and guidance families.

#include "chord/policies/common.hpp"

#include <torch/types.h>

#include <torch/nn/module.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace chord {

struct objective_policy_tag {};

/// What an objective may call during training.
struct TrainingNet {
  std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)> output;    ///< backbone output
  std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)> features;  ///< before the output projection
};

/// What an objective may call during sampling (all guidance branches at once).
struct GuidedNet {
  std::function<std::vector<torch::Tensor>(const torch::Tensor& x, const torch::Tensor& t)> branch_outputs;
  /// The features of every branch from the one batched pass, stacked branch-major `[K·B, N, F]`
  /// (branch i is rows i·B … (i+1)·B − 1): an objective that runs more of its own per branch (DTM's
  /// head) keeps them stacked instead of splitting and re-joining them.
  std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)> stacked_features;
  int64_t branches = 1;  ///< K
  std::function<torch::Tensor(const std::vector<torch::Tensor>& per_branch)> combine;
  /// Whether guidance applies at time t (stable-audio's `cfg_interval`); empty = always. Outside it
  /// the velocity is the first (conditional) branch's alone.
  std::function<bool(const torch::Tensor& t)> guided_at;
  /// The guided output (the common case): combine(branch_outputs(x, t)).
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t) const {
    if (guided_at && !guided_at(t)) return branch_outputs(x, t).front();
    return combine(branch_outputs(x, t));
  }
};

/// An objective that can start sampling from data (audio-to-audio): `start(noise, data, options)`
/// is the first state of the sampler.
template <class P>
concept StartsFromData = requires(const P& p, const torch::Tensor& x, const typename P::SamplerOptions& options) {
  { p.start(x, x, options) } -> std::same_as<torch::Tensor>;
};

/// An objective with parameters of its own (DTM's head): `typename P::Module`, a module holder that
/// `make_module(feature_dim, channels)` builds for a backbone of `feature_dim` and tokens of `channels`.
/// The model registers it as "head" and hands it, typed, to `predict(net, pair, module)` and
/// `sample(net, x0, options, gen, module)`.
template <class P>
concept OwnsModule = requires(const P& p, int64_t n) {
  typename P::Module;
  { p.make_module(n, n) } -> std::same_as<typename P::Module>;
};

namespace detail {
template <class P>
struct objective_module {
  using type = std::nullptr_t;
};
template <OwnsModule P>
struct objective_module<P> {
  using type = typename P::Module;
};
}  // namespace detail

/// The objective's own module type, or `std::nullptr_t` for objectives without one.
template <class P>
using ObjectiveModuleOf = typename detail::objective_module<P>::type;

/// Training: draws its pair, predicts through the net (and its own module, if it has one), and
/// reduces a loss over the loss mask.
template <class P>
concept TrainsWithPairs = requires(const P& p, const torch::Tensor& x1, torch::Generator& gen, const typename P::Pair& pair,
                                   const torch::Tensor& mask) {
  typename P::Pair;
  { p.draw(x1, gen) } -> std::same_as<typename P::Pair>;
  { p.loss(mask, pair, mask) } -> std::same_as<torch::Tensor>;
} && (requires(const P& p, const TrainingNet& net, const typename P::Pair& pair) {
  { p.predict(net, pair) } -> std::same_as<torch::Tensor>;
} || requires(const P& p, const TrainingNet& net, const typename P::Pair& pair, ObjectiveModuleOf<P>& module) {
  requires OwnsModule<P>;
  { p.predict(net, pair, module) } -> std::same_as<torch::Tensor>;
});

/// Sampling: integrates from noise `x0` with a guided net (and its own module, if it has one).
template <class P>
concept SamplesWithGuidedNet = requires { typename P::SamplerOptions; } &&
    (requires(const P& p, const GuidedNet& net, const torch::Tensor& x0, const typename P::SamplerOptions& options, torch::Generator& gen) {
      { p.sample(net, x0, options, gen) } -> std::same_as<torch::Tensor>;
    } || requires(const P& p, const GuidedNet& net, const torch::Tensor& x0, const typename P::SamplerOptions& options,
                  torch::Generator& gen, ObjectiveModuleOf<P>& module) {
      requires OwnsModule<P>;
      { p.sample(net, x0, options, gen, module) } -> std::same_as<torch::Tensor>;
    });

/// Mean squared error over the frames where `loss_mask [B, N]` is true (every channel); the plain mean
/// when the mask is undefined. The reduction of F5-TTS: `mse_loss(reduction="none")[mask].mean()`.
inline torch::Tensor masked_mse(const torch::Tensor& prediction, const torch::Tensor& target, const torch::Tensor& loss_mask) {
  TORCH_CHECK(prediction.sizes() == target.sizes(), "masked_mse: prediction ", prediction.sizes(), " vs target ",
              target.sizes());
  auto squared = (prediction - target).square();
  return loss_mask.defined() ? squared.index({loss_mask}).mean() : squared.mean();
}

/// P satisfies ObjectivePolicy if:
/// 1. it opts in with `using policy_category = objective_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. `draw(x1, gen) -> Pair`, `predict(net, pair) -> Tensor`, `loss(prediction, pair, loss_mask) -> Tensor`;
/// 4. `sample(guided_net, x0, SamplerOptions, gen) -> Tensor`;
/// optionally 5. a module of its own (OwnsModule), then predict and sample take it as a last argument.
template <class P>
concept ObjectivePolicy = OptsInto<P, objective_policy_tag> && PolicyValue<P> && NamedPolicy<P> && TrainsWithPairs<P> &&
                          SamplesWithGuidedNet<P>;

}  // namespace chord
