#pragma once
/// @file
/// Seed 003, solution 1: during (unconditional) pre-training, a batch without a condition gets a
/// dummy condition of `tokens` tokens with probability `probability`, so the backbone sees the
/// conditional sequence length and the condition table from the start.

#include "chord/core/random.hpp"
#include "chord/policies/sequence/concept.hpp"

namespace chord::seq {

struct DummyCondition {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "dummy_condition";

  enum class Content { noise, zeros };

  double probability = 0.1;       ///< the seed: 10–20 %
  int64_t tokens = 64;            ///< the condition length to imitate (32×32 tile, patch 4)
  Content content = Content::noise;
  int64_t until_step = -1;        ///< stop adding dummies from this update on (−1: never stop)

  /// One draw per batch, and only for a batch that has no condition: batches that carry a real
  /// condition are untouched and consume nothing from `gen`.
  template <HasConditionTokens Batch>
  void adapt_training(Batch& batch, int64_t step, torch::Generator& gen) const {
    if (batch.condition.defined() || (until_step >= 0 && step >= until_step)) return;
    const auto draw = torch::rand({1}, gen, options_on(gen)).template item<double>();
    if (draw >= probability) return;
    const auto& target = batch.target;
    const std::vector<int64_t> shape{target.size(0), tokens, target.size(2)};
    batch.condition = content == Content::noise ? torch::randn(shape, gen, target.options()) : torch::zeros(shape, target.options());
    batch.condition_mask = torch::Tensor();
  }
};
static_assert(SequencePolicy<DummyCondition>);

}  // namespace chord::seq
