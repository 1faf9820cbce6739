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

/// P satisfies SequencePolicy if:
/// 1. it opts in with `using policy_category = sequence_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`.
/// A model additionally requires AdaptsTrainingBatch<P, its Batch type>.
template <class P>
concept SequencePolicy = OptsInto<P, sequence_policy_tag> && PolicyValue<P> && NamedPolicy<P>;

}  // namespace chord
