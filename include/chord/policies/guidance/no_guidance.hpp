#pragma once
/// @file
/// No classifier-free guidance: nothing is dropped in training, one conditional pass at inference.

#include "chord/policies/guidance/concept.hpp"

#include <array>

namespace chord::guide {

struct NoGuidance {
  using policy_category = guidance_policy_tag;
  static constexpr std::string_view name = "none";
  using dropped_signals = Signals<>;

  double default_strength() const { return 0.0; }
  ConditionDrop training_drop(int64_t batch, torch::Generator&) const { return ConditionDrop(batch); }
  std::vector<ConditionDrop> branches(int64_t batch, double) const { return {ConditionDrop(batch)}; }
  torch::Tensor combine(const std::vector<torch::Tensor>& outputs, double) const {
    TORCH_CHECK(outputs.size() == 1, "NoGuidance::combine: one branch expected, got ", outputs.size());
    return outputs[0];
  }
};
static_assert(GuidancePolicy<NoGuidance>);

}  // namespace chord::guide
