#pragma once
/// @file
/// The SAGA-SR spec structs (arXiv 2509.24924): the seed's ablation plan (seed 001, steps 0–3) and the
/// official configuration. They differ only in types, so each is its own compiled model; each names the
/// low-frequency replacement its audio gets after decoding. Page: docs/systems/saga_sr.md.
///
/// | spec | conditions | guidance | objective (train t / sampling schedule) | LFR |
/// |---|---|---|---|---|
/// | SagaStep0 | LR latent, seconds | none | uniform / log-SNR | hard |
/// | SagaStep1 | + text | cross-attention dropout 0.1 | uniform / log-SNR | hard |
/// | SagaStep2 | + roll-offs (RolloffFourierConditioner) | + roll-off dropout 0.1 | uniform / log-SNR | hard |
/// | SagaStep2Prime | as step 2 | as step 2 | as step 2 | cross-fade (or off) |
/// | SagaStep3 | as step 2 | + LR-latent dropout 0.1 | uniform / log-SNR | hard |
/// | SagaOfficial | LR latent (null −5), text, roll-offs | independent dropout, 3 branches | logit-normal / linear-quadratic | hard |

#include "chord/audio/band_replacement.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/super_resolution_dit.hpp"
#include "chord/policies/conditioning/latent_super_resolution.hpp"
#include "chord/policies/guidance/cross_attention_dropout.hpp"
#include "chord/policies/guidance/extra_dropout.hpp"
#include "chord/policies/guidance/independent_dropout.hpp"
#include "chord/policies/guidance/no_guidance.hpp"
#include "chord/policies/masking/length_only.hpp"
#include "chord/policies/objective/rectified_flow.hpp"
#include "chord/policies/sequence/native.hpp"

#include <torch/types.h>

#include <string_view>

namespace chord::systems {

/// How the low-frequency band of the input is put back after decoding.
enum class LowFrequencyReplacement { off, hard, cross_fade };

/// The seed's baseline: rectified flow (stable-audio: uniform t, log-SNR sampling), the LR latent by
/// input concatenation, seconds_start/seconds_total as the global vector; no text, no roll-off.
struct SagaStep0 {
  static constexpr std::string_view name = "step0";
  /// Registered as "model": the DiT's keys are `model.model.*`, as in stable-audio-tools' checkpoints.
  static constexpr std::string_view backbone_name = "model";
  using backbone = nn::SuperResolutionDiT;
  using conditioning = cond::LatentSuperResolution<sr::seconds, 0>;
  using masking = mask::LengthOnly;
  using guidance = guide::NoGuidance;
  using sequence = seq::Native;
  using objective = obj::RectifiedFlow<grid::LogSnr, time_sampler::UniformTime>;
  static constexpr LowFrequencyReplacement low_frequency_replacement = LowFrequencyReplacement::hard;
};
/// Step 1: text embeddings as cross-attention tokens, with stable-audio's per-row token dropout.
struct SagaStep1 : SagaStep0 {
  static constexpr std::string_view name = "step1";
  using conditioning = cond::LatentSuperResolution<sr::seconds | sr::text, 0>;
  using guidance = guide::CrossAttentionDropout;
};
/// Step 2: the roll-off ratios on top, through the seed's RolloffFourierConditioner (one cross token;
/// its global embedding plus the timestep embedding prepended) with its own 10 % dropout.
struct SagaStep2 : SagaStep1 {
  static constexpr std::string_view name = "step2";
  using conditioning = cond::LatentSuperResolution<sr::seconds | sr::text | sr::rolloff_fourier, 0>;
  using guidance = guide::RolloffDropout<guide::CrossAttentionDropout>;
};
/// Step 2′: the same model; the hard low-frequency replacement swapped for the seed's cross-fade.
struct SagaStep2Prime : SagaStep2 {
  static constexpr std::string_view name = "step2prime";
  static constexpr LowFrequencyReplacement low_frequency_replacement = LowFrequencyReplacement::cross_fade;
};
/// Step 3: 10 % LR-latent dropout in training (zeros, as the seed multiplies by a keep mask).
struct SagaStep3 : SagaStep2 {
  static constexpr std::string_view name = "step3";
  using guidance = guide::LatentDropout<guide::RolloffDropout<guide::CrossAttentionDropout>>;
};
/// The official SAGA-SR configuration: text and roll-offs, no seconds; independent 10 % drops of the
/// latent (null value −5) and the tokens; three-branch guidance (1.4, 1.2); logit-normal training
/// times; 100 Euler steps on the linear-quadratic schedule.
struct SagaOfficial {
  static constexpr std::string_view name = "official";
  static constexpr std::string_view backbone_name = "model";
  using backbone = nn::SuperResolutionDiT;
  using conditioning = cond::LatentSuperResolution<sr::text | sr::rolloff, -5>;
  using masking = mask::LengthOnly;
  using guidance = guide::IndependentDropout;
  using sequence = seq::Native;
  using objective = obj::RectifiedFlow<grid::LinearQuadratic, time_sampler::LogitNormalTime>;
  static constexpr LowFrequencyReplacement low_frequency_replacement = LowFrequencyReplacement::hard;
};

template <class Spec>
using SagaSRModel = FlowModel<Spec>;

namespace saga_sr {

/// The low-frequency replacement `mode` (a spec's `low_frequency_replacement`, or an override), applied
/// to decoded audio `generated` with the low-resolution input `low_resolution` (both `[samples]` or
/// `[channels, samples]`).
inline torch::Tensor replace_low_frequencies(LowFrequencyReplacement mode, const torch::Tensor& generated,
                                             const torch::Tensor& low_resolution) {
  switch (mode) {
    case LowFrequencyReplacement::off: return generated;
    case LowFrequencyReplacement::hard:
      return audio::replace_low_frequencies(generated, low_resolution, audio::LowFrequencyReplacementOptions::hard());
    case LowFrequencyReplacement::cross_fade:
      return audio::replace_low_frequencies(generated, low_resolution, audio::LowFrequencyReplacementOptions::cross_fade());
  }
  return generated;
}


}  // namespace saga_sr

}  // namespace chord::systems
