#pragma once
/// @file
/// The condition signals of chord's systems, as types (see core/condition_drop.hpp): conditioning
/// policies provide them, guidance policies drop them. A signal of your own is one more such struct.

#include "chord/core/condition_drop.hpp"

#include <string_view>

namespace chord::signal {

// F5-TTS (cond::F5TextAudio)
/// The masked mel prompt (F5-TTS `cond`).
struct AudioPrompt {
  static constexpr std::string_view name = "audio_prompt";
};
/// Text tokens.
struct Text {
  static constexpr std::string_view name = "text";
};

// The conditional DiT (cond::PrependedTokens, seed 003)
/// Condition tokens before the target.
struct PrependedTokens {
  static constexpr std::string_view name = "prepended_tokens";
};

// SAGA-SR (cond::LatentSuperResolution)
/// The low-resolution latent (input concatenation).
struct LowResolution {
  static constexpr std::string_view name = "low_resolution";
};
/// All cross-attention tokens (text, roll-offs).
struct CrossAttention {
  static constexpr std::string_view name = "cross_attention";
};
/// The outputs of the seed's roll-off conditioner (SAGA-SR step 2).
struct Rolloff {
  static constexpr std::string_view name = "rolloff";
};

}  // namespace chord::signal
