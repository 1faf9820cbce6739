#pragma once
/// @file
/// F5-TTS's named backbone sizes (the published F5TTS_v1_Base, F5TTS_Base, F5TTS_v1_Small and a tiny
/// one for tests) and the model options of a preset.

#include "chord/core/error.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/f5_dit.hpp"
#include "chord/systems/f5tts/spec.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace chord::systems::f5tts {

/// Named backbone sizes. The published ones match SWivid/F5-TTS `configs/*.yaml`.
enum class Preset { v1_base, base, v1_small, tiny };

inline const std::map<std::string, Preset>& preset_names() {
  static const std::map<std::string, Preset> names{{"F5TTS_v1_Base", Preset::v1_base},
                                                   {"F5TTS_Base", Preset::base},
                                                   {"F5TTS_v1_Small", Preset::v1_small},
                                                   {"tiny", Preset::tiny}};
  return names;
}

inline Preset parse_preset(const std::string& name) {
  auto found = preset_names().find(name);
  if (found != preset_names().end()) return found->second;
  std::string known;
  for (const auto& [n, p] : preset_names()) known += (known.empty() ? "" : ", ") + n;
  CHORD_FAIL("unknown F5-TTS preset '", name, "' (known: ", known, ")");
}

/// Backbone options of a preset for a vocabulary of `vocab_size` tokens (2545 for the released
/// Emilia pinyin models).
inline nn::F5DiTOptions preset_options(Preset preset, int64_t vocab_size) {
  switch (preset) {
    case Preset::v1_base:  // dim 1024, depth 22, heads 16, ff 2, text 512, conv 4; 337 M parameters
      return nn::F5DiTOptions(1024, 22, 16).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size);
    case Preset::base:  // v0: no text-padding mask, RoPE on the first head only
      return nn::F5DiTOptions(1024, 22, 16).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size)
          .text_mask_padding(false).pe_attn_head(1);
    case Preset::v1_small:  // dim 768, depth 18, heads 12; 159 M parameters
      return nn::F5DiTOptions(768, 18, 12).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size);
    case Preset::tiny:  // for tests and the CPU demo: 1.15 M parameters at vocab 42 (1.32 M at 2545)
      return nn::F5DiTOptions(128, 4, 2).ff_mult(2).text_dim(64).conv_layers(2).text_num_embeds(vocab_size);
  }
  CHORD_FAIL("unhandled preset");
}

/// Model options for a preset with the reference's policy defaults.
inline FlowModelOptions<F5TTS> model_options(Preset preset, int64_t vocab_size) {
  return FlowModelOptions<F5TTS>(preset_options(preset, vocab_size));
}
}  // namespace chord::systems::f5tts
