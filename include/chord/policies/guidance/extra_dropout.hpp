#pragma once
/// @file
/// `guide::ExtraDropout<Inner, Extra>` — Inner's guidance plus a per-row training drop of one more
/// signal, and its two uses in the seed's SAGA-SR ablation:
///  - `LatentDropout<Inner>` — step 3: the low-resolution latent dropped per row with probability 0.1
///    in training (inference is Inner's);
///  - `RolloffDropout<Inner>` — the seed's RolloffFourierConditioner (step 2) drops its own outputs
///    per row with probability 0.1 in training, independently of the tokens.

#include "chord/core/random.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/signals.hpp"
#include "chord/policies/guidance/cross_attention_dropout.hpp"
#include "chord/policies/guidance/row_dropout.hpp"

#include <torch/types.h>

#include <concepts>
#include <cstdint>
#include <string_view>
#include <vector>

namespace chord::guide {

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

/// What ExtraDropout adds: `using signal = <condition signal>` (the signal dropped) and
/// `static constexpr std::string_view name` (the composed policy's name).
template <class E>
concept ExtraDropSignal = requires {
  typename E::signal;
  { E::name } -> std::convertible_to<std::string_view>;
} && ConditionSignal<typename E::signal>;

/// Inner's rule plus a per-row training drop of one more signal (`Extra::signal`) with probability
/// `drop_prob`, drawn after Inner's; inference is Inner's.
/// @tparam Inner  the guidance policy underneath (a GuidancePolicy; its value is `inner`): it makes
///                its own training drops first and supplies the branches, the combination and the
///                default strength (CrossAttentionDropout in the seed's steps; ExtraDropouts nest, step
///                3 is `LatentDropout<RolloffDropout<CrossAttentionDropout>>`).
/// @tparam Extra  what is added: a struct with `using signal = <condition signal type>` (the signal
///                dropped, added to `dropped_signals`) and `static constexpr std::string_view name`
///                (the policy's name), as `detail::LatentSignal` and `detail::RolloffSignal`.
template <GuidancePolicy Inner, ExtraDropSignal Extra>
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

static_assert(ExtraDropSignal<detail::LatentSignal> && ExtraDropSignal<detail::RolloffSignal>);
static_assert(GuidancePolicy<LatentDropout<>>);
static_assert(GuidancePolicy<RolloffDropout<>>);

}  // namespace chord::guide
