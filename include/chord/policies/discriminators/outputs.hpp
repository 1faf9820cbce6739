#pragma once
/// @file
/// Named generator outputs that discriminator members read (the GAN half of the signal vocabulary of
/// policies/signals.hpp). Each is a type, so a member that reads an output its generator does not
/// provide fails to compile (GanModel's check), and a misspelt name does not compile at all. A
/// generator lists what it sets in `using provides = chord::Signals<...>;`.

#include <string_view>

namespace chord::out {

/// `y_hat [B, 1, segment_size]`: the decoded waveform segment.
struct Audio {
  static constexpr std::string_view name = "audio";
};
/// `y [B, 1, segment_size]`: the recorded waveform cut at the same place.
struct RealAudio {
  static constexpr std::string_view name = "real_audio";
};
/// `hidden_x [B, hidden, T_x]`: the text encoder's output.
struct TextHidden {
  static constexpr std::string_view name = "text_hidden";
};
/// `x_mask [B, 1, T_x]`.
struct TextMask {
  static constexpr std::string_view name = "text_mask";
};
/// `logw_ [B, 1, T_x]`: log-durations from the alignment (the duration discriminator's "real").
struct TargetLogDurations {
  static constexpr std::string_view name = "target_log_durations";
};
/// `logw [B, 1, T_x]`: the deterministic duration predictor's.
struct PredictedLogDurations {
  static constexpr std::string_view name = "predicted_log_durations";
};
/// `logw_sdp [B, 1, T_x]`: the stochastic duration predictor's reverse pass.
struct SampledLogDurations {
  static constexpr std::string_view name = "sampled_log_durations";
};
/// `g [B, gin, 1]`: the speaker embedding.
struct Speaker {
  static constexpr std::string_view name = "speaker";
};

}  // namespace chord::out
