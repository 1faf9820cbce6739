#pragma once
/// @file
/// Seed 003, solution 3: unconditional pre-training until `switch_step`, then conditional
/// fine-tuning with a learning rate of its own. Before the switch the policy removes any condition
/// from the batch; the learning rate follows `learning_rate(step, base)`. Both depend only on the
/// update index, so a run resumed from a checkpoint on either side of the switch continues exactly.

#include "chord/policies/sequence/concept.hpp"

#include <optional>

namespace chord::seq {

struct TwoStage {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "two_stage";

  int64_t switch_step = 1000;             ///< first update of the conditional stage
  std::optional<double> finetune_lr;      ///< the conditional stage's rate; nullopt = the base rate

  bool conditional(int64_t step) const { return step >= switch_step; }

  template <HasConditionTokens Batch>
  void adapt_training(Batch& batch, int64_t step, torch::Generator&) const {
    if (conditional(step)) return;
    batch.condition = torch::Tensor();
    batch.condition_mask = torch::Tensor();
  }

  double learning_rate(int64_t step, double base) const { return conditional(step) ? finetune_lr.value_or(base) : base; }
};
static_assert(SequencePolicy<TwoStage>);
static_assert(SchedulesLearningRate<TwoStage>);

}  // namespace chord::seq
