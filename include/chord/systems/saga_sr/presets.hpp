#pragma once
/// @file
/// SAGA-SR's DiT sizes (tiny, small, full) and the `FlowModelOptions` of a spec at a size, with the
/// conditioners the spec's conditioning needs.

#include "chord/core/error.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/super_resolution_dit.hpp"

#include <cstdint>
#include <string>

namespace chord::systems::saga_sr {

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

}  // namespace chord::systems::saga_sr
