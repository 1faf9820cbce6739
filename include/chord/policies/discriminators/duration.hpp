#pragma once
/// @file
/// `disc::Duration`: VITS2's duration discriminator in Bert-VITS2's speaker-conditioned LSTM form
/// (reference/vits2.md §2.2). It tells the alignment's log-durations (real) from both predictors'
/// (the deterministic `logw` and the stochastic `logw_sdp`), as train_ms.py: two calls, their LSGAN
/// pairs summed; padded positions are not masked, as the reference. Checkpoint prefix "DUR".
///
/// Its instability early in training is the reference's most reported problem, so `start_step` turns
/// it on later (0: from the start, as the reference).

#include "chord/nn/vits/discriminators.hpp"
#include "chord/nn/vits/losses.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/discriminators/outputs.hpp"
#include "chord/policies/discriminators/vits_defaults.hpp"

#include <cstdint>
#include <string_view>

namespace chord::disc {

struct Duration : VitsOptimiser {
  static constexpr std::string_view name = "duration";
  static constexpr std::string_view prefix = "DUR";
  using consumes = Signals<out::TextHidden, out::TextMask, out::TargetLogDurations, out::PredictedLogDurations,
                           out::SampledLogDurations, out::Speaker>;
  using Module = nn::vits::DurationDiscriminator;

  nn::vits::DurationDiscriminatorOptions options = nn::vits::DurationDiscriminatorOptions::bert_vits2();
  int64_t start_step = 0;  ///< the first global step it trains and is trained against

  bool active(int64_t step) const { return step >= start_step; }
  Module make_module() const { return Module(options); }

  torch::Tensor discriminator_loss(Module& d, const GeneratorOutputs& o) const {
    const auto [real_dp, fake_dp] = score(d, o, o.get<out::PredictedLogDurations>());
    const auto [real_sdp, fake_sdp] = score(d, o, o.get<out::SampledLogDurations>());
    return nn::vits::discriminator_loss({real_dp, real_sdp}, {fake_dp, fake_sdp}).loss;
  }
  /// The adversarial term on both predictors; no feature matching.
  GeneratorTerms generator_terms(Module& d, const GeneratorOutputs& o) const {
    const auto fake_dp = score(d, o, o.get<out::PredictedLogDurations>())[1];
    const auto fake_sdp = score(d, o, o.get<out::SampledLogDurations>())[1];
    return {nn::vits::generator_loss({fake_dp, fake_sdp}).loss, {}};
  }

 private:
  static std::array<torch::Tensor, 2> score(Module& d, const GeneratorOutputs& o, const torch::Tensor& predicted) {
    return d(o.get<out::TextHidden>(), o.get<out::TextMask>(), o.get<out::TargetLogDurations>(), predicted, o.get<out::Speaker>());
  }
};

}  // namespace chord::disc
