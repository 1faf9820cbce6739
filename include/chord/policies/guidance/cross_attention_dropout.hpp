#pragma once
/// @file
/// `guide::CrossAttentionDropout` — stable-audio-tools' classifier-free guidance: in training each
/// row's cross-attention tokens are zeroed with probability 0.1 (`cfg_dropout_prob`); at inference one
/// batched pass of [conditional; null tokens] and `u + (c − u)·s`, optionally rescaled (`scale_phi`:
/// the output's std over channels pulled towards the conditional one's), and only inside
/// `cfg_interval`; `s = 1` runs the conditional pass alone. SAGA-SR step 1.

#include "chord/core/random.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/signals.hpp"
#include "chord/policies/guidance/row_dropout.hpp"

#include <torch/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace chord::guide {

struct CrossAttentionDropout {
  using policy_category = guidance_policy_tag;
  static constexpr std::string_view name = "cross_attention_dropout";
  using dropped_signals = Signals<signal::CrossAttention>;

  double drop_prob = 0.1;  ///< stable-audio-tools `cfg_dropout_prob`
  double strength = 1.2;   ///< default scale (SAGA-SR's text scale; stable-audio's generation default is 6)
  double scale_phi = 0.0;  ///< CFG rescale: 0 = off
  /// stable-audio-tools' `cfg_interval`: guidance only while `low ≤ t ≤ high` (both inclusive, compared
  /// in float32, decided by the batch's first item as the reference does); elsewhere the conditional
  /// output alone, without rescale.
  double interval_low = 0.0, interval_high = 1.0;

  double default_strength() const { return strength; }

  bool guides_at(const torch::Tensor& t) const {
    const float first = t.flatten()[0].item<float>();
    return static_cast<float>(interval_low) <= first && first <= static_cast<float>(interval_high);
  }

  ConditionDrop training_drop(int64_t batch, torch::Generator& gen) const {
    ConditionDrop drop(batch);
    drop.set<signal::CrossAttention>(detail::bernoulli_rows(batch, drop_prob, gen));
    return drop;
  }

  std::vector<ConditionDrop> branches(int64_t batch, double s) const {
    ConditionDrop conditional(batch);
    if (s == 1.0) return {conditional};
    ConditionDrop unconditional(batch);
    unconditional.set_all<signal::CrossAttention>(true);
    return {conditional, unconditional};
  }

  torch::Tensor combine(const std::vector<torch::Tensor>& outputs, double s) const {
    TORCH_CHECK(outputs.size() == 1 || outputs.size() == 2, "CrossAttentionDropout::combine: 1 or 2 branches expected, got ",
                outputs.size());
    if (outputs.size() == 1) return outputs[0];
    const auto& cond = outputs[0];
    auto out = outputs[1] + (cond - outputs[1]) * s;
    if (scale_phi == 0.0) return out;
    // Channels are the last axis here (the reference's dim 1 of [B, C, T]).
    auto rescaled = out * (cond.std(-1, true, true) / out.std(-1, true, true));
    return scale_phi * rescaled + (1.0 - scale_phi) * out;
  }
};
static_assert(GuidancePolicy<CrossAttentionDropout>);

}  // namespace chord::guide
