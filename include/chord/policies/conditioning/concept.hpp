#pragma once
/// @file
/// The conditioning family: which condition signals exist and how they enter the backbone.
/// Page: docs/policies/conditioning.md.
///
/// A conditioning policy defines the data a model trains on (`Batch`) and is asked for (`Request`),
/// builds the backbone's inputs from them (applying the guidance family's drops), and runs the
/// backbone. It works with the backbones whose interface it knows: `Conditions<P, Backbone>`.

#include "chord/core/condition_drop.hpp"
#include "chord/core/device.hpp"
#include "chord/policies/common.hpp"
#include "chord/policies/masking/concept.hpp"

#include <torch/types.h>

#include <vector>

namespace chord {

struct conditioning_policy_tag {};

/// Lists the signals it provides (`using signals = Signals<...>;`) and defines its data types.
template <class P>
concept DeclaresConditionData = requires {
  typename P::signals;
  typename P::Batch;
  typename P::Request;
} && SignalList<typename P::signals>;

/// Reads training targets and lengths, and the per-item durations of a request.
template <class P>
concept ReadsConditionData = requires(const P& p, const typename P::Batch& batch, const typename P::Request& request) {
  { p.target(batch) } -> std::same_as<torch::Tensor>;
  { p.lengths(batch) } -> std::same_as<torch::Tensor>;
  { p.durations(request) } -> std::same_as<torch::Tensor>;
  { p.channels() } -> std::convertible_to<int64_t>;
};

/// A refinement for systems that generate around given frames (F5-TTS's audio prompt, speech
/// editing): the prompt of a request, its per-item lengths and an optional edit mask. The model
/// conditions on those frames and restores them exactly in the output. Systems without prompts
/// (super-resolution, the conditional DiT) do not provide it.
template <class P>
concept ProvidesPrompt = requires(const P& p, const typename P::Request& request) {
  { p.prompt_lengths(request) } -> std::same_as<torch::Tensor>;
  { p.edit_mask(request) } -> std::same_as<torch::Tensor>;
  { p.prompt(request, int64_t{}) } -> std::same_as<torch::Tensor>;
};

/// A refinement: the policy derives the backbone options that depend on its conditions (which
/// condition channels exist and their widths), so that fact lives in one place.
template <class P, class BackboneOptions>
concept ConfiguresItsBackbone = requires(const P& p, BackboneOptions& options) {
  { p.configure_backbone(options) };
};

/// P satisfies ConditioningPolicy if:
/// 1. it opts in with `using policy_category = conditioning_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. it lists its `signals` and defines `Batch` and `Request`;
/// 4. it reads targets, lengths and durations from them;
/// optionally 5. it provides prompts (ProvidesPrompt) and 6. configures its backbone (ConfiguresItsBackbone).
template <class P>
concept ConditioningPolicy =
    OptsInto<P, conditioning_policy_tag> && PolicyValue<P> && NamedPolicy<P> && DeclaresConditionData<P> && ReadsConditionData<P>;

/// P can drive `Backbone` (a module holder): it prepares inputs for a set of drop branches and runs
/// the backbone to outputs or features.
template <class P, class Backbone>
concept Conditions = ConditioningPolicy<P> &&
    requires(const P& p, Backbone& backbone, const typename P::Batch& batch, const typename P::Request& request,
             const Masks& masks, const ConditionDrop& drop, const std::vector<ConditionDrop>& branches,
             const torch::Tensor& x, const torch::Tensor& t) {
      typename P::template Prepared<Backbone>;
      { p.prepare_training(backbone, batch, masks, drop) } -> std::same_as<typename P::template Prepared<Backbone>>;
      { p.prepare_inference(backbone, request, masks, branches) } -> std::same_as<typename P::template Prepared<Backbone>>;
      { p.run(backbone, std::declval<const typename P::template Prepared<Backbone>&>(), x, t, bool{}) } -> std::same_as<torch::Tensor>;
    };

}  // namespace chord
