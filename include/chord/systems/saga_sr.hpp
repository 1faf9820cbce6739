#pragma once
/// @file
/// SAGA-SR (arXiv 2509.24924): latent audio super-resolution on the Stable Audio DiT with rectified
/// flow. The seed's ablation plan (seed 001, steps 0–3) and the official configuration are spec
/// structs; they differ only in types, so each is its own compiled model. Page: docs/systems/saga_sr.md.
///
/// | spec | conditions | guidance | objective (train t / sampling schedule) | LFR |
/// |---|---|---|---|---|
/// | SagaStep0 | LR latent, seconds | none | uniform / log-SNR | hard |
/// | SagaStep1 | + text | cross-attention dropout 0.1 | uniform / log-SNR | hard |
/// | SagaStep2 | + roll-offs (RolloffFourierConditioner) | + roll-off dropout 0.1 | uniform / log-SNR | hard |
/// | SagaStep2Prime | as step 2 | as step 2 | as step 2 | cross-fade (or off) |
/// | SagaStep3 | as step 2 | + LR-latent dropout 0.1 | uniform / log-SNR | hard |
/// | SagaOfficial | LR latent (null −5), text, roll-offs | independent dropout, 3 branches | logit-normal / linear-quadratic | hard |

#include "chord/audio/super_resolution.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/super_resolution_dit.hpp"
#include "chord/policies/conditioning/latent_super_resolution.hpp"
#include "chord/policies/guidance/no_guidance.hpp"
#include "chord/policies/guidance/super_resolution_guidance.hpp"
#include "chord/policies/masking/length_only.hpp"
#include "chord/policies/objective/rectified_flow.hpp"
#include "chord/policies/sequence/native.hpp"

#include <string>
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
  using objective = obj::RectifiedFlow<schedule::LogSnr, time_sampler::Uniform>;
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
  using objective = obj::RectifiedFlow<schedule::LinearQuadratic, time_sampler::LogitNormal>;
  static constexpr LowFrequencyReplacement low_frequency_replacement = LowFrequencyReplacement::hard;
};

namespace saga_sr {

enum class Preset { tiny, small, full };

/// DiT sizes: tiny (tests: 64 wide, 2 blocks, 1 head, 8 latent channels), small (the seed's 512/8/8,
/// conditioners of 512, tokens projected), full (the official 1536/24/24, conditioners of 768,
/// tokens unprojected: 12 key/value heads for 24 query heads).
struct PresetSizes {
  int64_t embed_dim, depth, heads, latent_channels, cond_dim;
  bool project_cond_tokens;
};

inline PresetSizes preset_sizes(Preset preset) {
  switch (preset) {
    case Preset::tiny: return {64, 2, 1, 8, 64, true};
    case Preset::small: return {512, 8, 8, 64, 512, true};
    case Preset::full: return {1536, 24, 24, 64, 768, false};
  }
  CHORD_FAIL("unknown SAGA-SR preset");
}

inline Preset parse_preset(const std::string& name) {
  if (name == "tiny") return Preset::tiny;
  if (name == "small") return Preset::small;
  if (name == "full") return Preset::full;
  CHORD_FAIL("unknown SAGA-SR preset '", name, "' (tiny, small, full)");
}

/// Options for `FlowModel<Spec>` at a preset, with the conditioners `Spec::conditioning` needs and
/// the DiT's condition widths derived from them. `text_dim`: the width of the text embeddings the
/// data provides (T5-base: 768); `latent_channels`: the pretransform's (0 = the preset's: 8 for tiny,
/// 64 = the Stable Audio Open VAE otherwise).
template <class Spec>
FlowModelOptions<Spec> model_options(Preset preset, int64_t text_dim = 768, int64_t latent_channels = 0) {
  using C = typename Spec::conditioning;
  auto s = preset_sizes(preset);
  if (latent_channels > 0) s.latent_channels = latent_channels;
  nn::SuperResolutionDiTOptions net(nn::StableAudioDiTOptions(s.embed_dim, s.depth, s.heads));
  net.cond_dim(s.cond_dim).text_dim(C::uses_text ? text_dim : 0);
  net.dit.project_cond_tokens(s.project_cond_tokens);
  FlowModelOptions<Spec> options(net);
  options.conditioning.latent_channels = s.latent_channels;
  options.conditioning.configure_backbone(options.backbone);  // the model does it again; the options read true now
  return options;
}

/// The low-frequency replacement `Spec` names (or `override_mode`), applied to decoded audio `generated`
/// with the low-resolution input `low_resolution` (both `[samples]` or `[channels, samples]`).
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

template <class Spec>
using SagaSRModel = FlowModel<Spec>;

}  // namespace chord::systems
