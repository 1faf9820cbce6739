#pragma once
/// @file
/// F5-TTS classifier-free guidance: in training the audio prompt is dropped with probability 0.3 and
/// both prompt and text with probability 0.2, once per batch; at inference one batched pass computes
/// the conditional and the fully unconditional branch and returns `pred + (pred − null)·s`.

#include "chord/core/random.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/signals.hpp"

#include <array>

namespace chord::guide {

struct JointDropout {
  using policy_category = guidance_policy_tag;
  static constexpr std::string_view name = "joint_dropout";
  using dropped_signals = Signals<signal::AudioPrompt, signal::Text>;

  double audio_drop_prob = 0.3;  ///< drop the audio prompt alone
  double cond_drop_prob = 0.2;   ///< drop prompt and text together
  bool per_sample = false;       ///< one decision per batch (the reference) or per row
  double strength = 2.0;         ///< default guidance strength at inference (F5-TTS `cfg_strength`)

  double default_strength() const { return strength; }

  ConditionDrop training_drop(int64_t batch, torch::Generator& gen) const {
    ConditionDrop drop(batch);
    torch::Tensor audio, both;
    if (per_sample) {
      audio = torch::rand({batch}, gen, options_on(gen, torch::kFloat64)) < audio_drop_prob;
      both = torch::rand({batch}, gen, options_on(gen, torch::kFloat64)) < cond_drop_prob;
    } else {
      audio = torch::full({batch}, uniform_scalar(gen) < audio_drop_prob, torch::kBool);
      both = torch::full({batch}, uniform_scalar(gen) < cond_drop_prob, torch::kBool);
    }
    drop.set<signal::AudioPrompt>(audio | both);
    drop.set<signal::Text>(both);
    return drop;
  }

  /// Strength < 1e-5 runs the conditional branch alone (the reference skips the unconditional pass).
  std::vector<ConditionDrop> branches(int64_t batch, double s) const {
    ConditionDrop conditional(batch);
    if (s < 1e-5) return {conditional};
    ConditionDrop unconditional(batch);
    unconditional.set_all<signal::AudioPrompt>(true).set_all<signal::Text>(true);
    return {conditional, unconditional};
  }

  torch::Tensor combine(const std::vector<torch::Tensor>& outputs, double s) const {
    TORCH_CHECK(!outputs.empty() && outputs.size() <= 2, "JointDropout::combine: 1 or 2 branches expected, got ",
                outputs.size());
    if (outputs.size() == 1) return outputs[0];
    return outputs[0] + (outputs[0] - outputs[1]) * s;
  }
};
static_assert(GuidancePolicy<JointDropout>);

}  // namespace chord::guide
