#pragma once
/// @file
/// The guidance rules around SAGA-SR:
///  - `CrossAttentionDropout` — stable-audio-tools: in training each row's cross-attention tokens are
///    zeroed with probability 0.1 (`cfg_dropout_prob`); at inference one batched pass of
///    [conditional; null tokens] and `u + (c − u)·s`, optionally rescaled (`scale_phi`: the output's
///    std over channels pulled towards the conditional one's); `s = 1` runs the conditional pass alone.
///  - `LatentDropout<Inner>` — the seed's step 3: Inner's rule plus a per-row drop of the
///    low-resolution latent with probability 0.1 in training (inference is Inner's).
///  - `RolloffDropout<Inner>` — the seed's RolloffFourierConditioner (step 2) drops its own outputs
///    per row with probability 0.1 in training, independently of the tokens.
///  - `IndependentDropout` — the official SAGA-SR rule (TorchJaekwon FlowMatching +
///    `LatentSRTextFlow.apply_model`): the latent and the cross-attention tokens are dropped
///    independently per row with probability 0.1 each; at inference three branches
///    `[cond, all dropped, tokens dropped]` combine as `u_all + s_ic·(u_tok − u_all) + s_ca·(c − u_tok)`
///    with s_ic = 1.4 (`input_concat_scale`) and s_ca = the guidance strength (default 1.2).

#include "chord/core/random.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/signals.hpp"

#include <array>

namespace chord::guide {

namespace detail {
inline torch::Tensor bernoulli_rows(int64_t batch, double p, torch::Generator& gen) {
  return torch::rand({batch}, gen, options_on(gen, torch::kFloat64)) < p;
}
}  // namespace detail

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

namespace detail {
struct LatentSignal {
  using signal = chord::signal::LowResolution;
  static constexpr std::string_view name = "latent_dropout";
};
struct RolloffSignal {
  using signal = chord::signal::Rolloff;
  static constexpr std::string_view name = "rolloff_dropout";
};
}  // namespace detail

/// Inner's rule plus a per-row training drop of one more signal (`Extra::signal`) with probability
/// `drop_prob`, drawn after Inner's; inference is Inner's.
template <class Inner, class Extra>
struct ExtraDropout {
  using policy_category = guidance_policy_tag;
  static constexpr std::string_view name = Extra::name;
  using dropped_signals = append_signal_t<typename Inner::dropped_signals, typename Extra::signal>;

  Inner inner{};
  double drop_prob = 0.1;  ///< the seed's `latent_dropout_prob` / RolloffFourierConditioner `dropout_rate`

  double default_strength() const { return inner.default_strength(); }
  ConditionDrop training_drop(int64_t batch, torch::Generator& gen) const {
    auto drop = inner.training_drop(batch, gen);
    drop.template set<typename Extra::signal>(detail::bernoulli_rows(batch, drop_prob, gen));
    return drop;
  }
  std::vector<ConditionDrop> branches(int64_t batch, double s) const { return inner.branches(batch, s); }
  torch::Tensor combine(const std::vector<torch::Tensor>& outputs, double s) const { return inner.combine(outputs, s); }
};

/// The seed's step 3: the low-resolution latent dropped per row (10 %) on top of Inner.
template <class Inner = CrossAttentionDropout>
using LatentDropout = ExtraDropout<Inner, detail::LatentSignal>;
/// The seed's RolloffFourierConditioner dropout (10 %, its own outputs zeroed) on top of Inner.
template <class Inner = CrossAttentionDropout>
using RolloffDropout = ExtraDropout<Inner, detail::RolloffSignal>;

static_assert(GuidancePolicy<LatentDropout<>>);
static_assert(GuidancePolicy<RolloffDropout<>>);

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
