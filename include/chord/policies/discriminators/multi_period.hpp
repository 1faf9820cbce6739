#pragma once
/// @file
/// `disc::MultiPeriod`: HiFi-GAN's multi-period discriminator as VITS and Bert-VITS2 use it (one
/// DiscriminatorS plus periods 2, 3, 5, 7, 11; reference/vits2.md §2.1), an LSGAN adversary on the
/// decoded waveform segment with feature matching. Checkpoint prefix "D" (Bert-VITS2's `D_<step>`).

#include "chord/nn/vits/discriminators.hpp"
#include "chord/nn/vits/losses.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/discriminators/outputs.hpp"
#include "chord/policies/discriminators/vits_defaults.hpp"

#include <string_view>

namespace chord::disc {

struct MultiPeriod : VitsOptimiser {
  static constexpr std::string_view name = "multi_period";
  static constexpr std::string_view prefix = "D";
  using consumes = Signals<out::Audio, out::RealAudio>;
  using Module = nn::vits::MultiPeriodDiscriminator;

  nn::vits::MultiPeriodDiscriminatorOptions options{};

  Module make_module() const { return Module(options); }

  /// Σ over sub-discriminators of mean((1 − D(y))²) + mean(D(ŷ)²) (losses.discriminator_loss).
  torch::Tensor discriminator_loss(Module& d, const GeneratorOutputs& outputs) const {
    const auto scores = d(outputs.get<out::RealAudio>(), outputs.get<out::Audio>());
    return nn::vits::discriminator_loss(scores.y_d_rs, scores.y_d_gs).loss;
  }
  /// Σ mean((1 − D(ŷ))²) and 2·Σ mean|fmap(y) − fmap(ŷ)| (losses.generator_loss, feature_loss).
  GeneratorTerms generator_terms(Module& d, const GeneratorOutputs& outputs) const {
    const auto scores = d(outputs.get<out::RealAudio>(), outputs.get<out::Audio>());
    return {nn::vits::generator_loss(scores.y_d_gs).loss, nn::vits::feature_loss(scores.fmap_rs, scores.fmap_gs)};
  }
};

}  // namespace chord::disc
