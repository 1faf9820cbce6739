#pragma once
/// @file
/// The sequence-length family: what sequence lengths and position patterns the backbone sees in
/// pre-training versus conditional fine-tuning. Page: docs/policies/sequence.md.

#include "chord/policies/common.hpp"

#include <torch/types.h>

namespace chord {

struct sequence_policy_tag {};

/// Adapts a training batch of type `Batch` at a given update step (dummy condition tokens, fixed
/// condition length, stage switches ...).
template <class P, class Batch>
concept AdaptsTrainingBatch = requires(const P& p, Batch& batch, int64_t step, torch::Generator& gen) {
  { p.adapt_training(batch, step, gen) } -> std::same_as<void>;
};

/// Optional: adjusts the backbone's hyperparameters before it is built (e.g. relative positions).
template <class P, class BackboneOptions>
concept ConfiguresBackbone = requires(const P& p, BackboneOptions& options) {
  { p.configure_backbone(options) } -> std::same_as<void>;
};

/// Optional: adapts a generation request the way training batches were adapted (e.g. padding).
template <class P, class Request>
concept AdaptsRequest = requires(const P& p, Request& request) {
  { p.adapt_inference(request) } -> std::same_as<void>;
};

/// Optional: sets the learning rate of an update from the base rate (e.g. a stage of its own).
template <class P>
concept SchedulesLearningRate = requires(const P& p, int64_t step, double base) {
  { p.learning_rate(step, base) } -> std::convertible_to<double>;
};

/// The batches the seed-003 policies work on: target tokens plus optional condition tokens and mask.
template <class Batch>
concept HasConditionTokens = requires(Batch& b) {
  { b.target } -> std::convertible_to<torch::Tensor>;
  { b.condition } -> std::convertible_to<torch::Tensor>;
  { b.condition_mask } -> std::convertible_to<torch::Tensor>;
};

/// P satisfies SequencePolicy if:
/// 1. it opts in with `using policy_category = sequence_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`.
/// A model additionally requires AdaptsTrainingBatch<P, its Batch type>, and uses the optional
/// ConfiguresBackbone, AdaptsRequest and SchedulesLearningRate hooks when P has them.
template <class P>
concept SequencePolicy = OptsInto<P, sequence_policy_tag> && PolicyValue<P> && NamedPolicy<P>;

}  // namespace chord
