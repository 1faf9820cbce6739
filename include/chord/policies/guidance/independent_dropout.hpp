#pragma once
/// @file
/// `guide::IndependentDropout` — the official SAGA-SR rule (TorchJaekwon FlowMatching +
/// `LatentSRTextFlow.apply_model`): the latent and the cross-attention tokens are dropped independently
/// per row with probability 0.1 each; at inference three branches `[cond, all dropped, tokens dropped]`
/// combine as `u_all + s_ic·(u_tok − u_all) + s_ca·(c − u_tok)` with s_ic = 1.4 (`input_concat_scale`)
/// and s_ca = the guidance strength (default 1.2).

#include "chord/core/random.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/signals.hpp"
#include "chord/policies/guidance/row_dropout.hpp"

#include <torch/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace chord::guide {

struct IndependentDropout {
  using policy_category = guidance_policy_tag;
  static constexpr std::string_view name = "independent_dropout";
  using dropped_signals = Signals<signal::LowResolution, signal::CrossAttention>;

  double drop_prob = 0.1;            ///< per signal, per row (TorchJaekwon `unconditional_prob`)
  double input_concat_scale = 1.4;   ///< s_ic (`cfg_scale.input_concat_cond`)
  double strength = 1.2;             ///< s_ca (`cfg_scale.cross_attn_cond`)

  double default_strength() const { return strength; }

  /// Draws the latent's drops, then the tokens' (independent: both dropped with probability p²).
  ConditionDrop training_drop(int64_t batch, torch::Generator& gen) const {
    ConditionDrop drop(batch);
    drop.set<signal::LowResolution>(detail::bernoulli_rows(batch, drop_prob, gen));
    drop.set<signal::CrossAttention>(detail::bernoulli_rows(batch, drop_prob, gen));
    return drop;
  }

  /// `[conditional, everything dropped, tokens dropped]`, the reference's batch order.
  std::vector<ConditionDrop> branches(int64_t batch, double) const {
    ConditionDrop conditional(batch), unconditional(batch), latent_only(batch);
    unconditional.set_all<signal::LowResolution>(true).set_all<signal::CrossAttention>(true);
    latent_only.set_all<signal::CrossAttention>(true);
    return {conditional, unconditional, latent_only};
  }

  torch::Tensor combine(const std::vector<torch::Tensor>& outputs, double s_ca) const {
    TORCH_CHECK(outputs.size() == 3, "IndependentDropout::combine: 3 branches expected, got ", outputs.size());
    const auto& u_all = outputs[1];
    const auto& u_latent = outputs[2];
    return u_all + input_concat_scale * (u_latent - u_all) + s_ca * (outputs[0] - u_latent);
  }
};
static_assert(GuidancePolicy<IndependentDropout>);

}  // namespace chord::guide
