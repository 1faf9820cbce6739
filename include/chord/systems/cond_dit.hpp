#pragma once
/// @file
/// The conditional DiT with prepended condition tokens (seed 003) and its sequence-length variants.
/// Data: 64×64 log-mel tiles (64 mel bins × 64 frames) of the demo corpus; the condition is the same
/// tile average-pooled to 32×32 (spectrogram super-resolution); patch 4 gives 256 target and 64
/// condition tokens. Page: docs/systems/cond_dit.md.

#include "chord/audio/io.hpp"
#include "chord/audio/mel.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/data/manifest.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/patch_dit.hpp"
#include "chord/policies/conditioning/prepended_tokens.hpp"
#include "chord/policies/guidance/no_guidance.hpp"
#include "chord/policies/masking/length_only.hpp"
#include "chord/policies/objective/clean_target_flow.hpp"
#include "chord/policies/sequence/compose.hpp"
#include "chord/policies/sequence/dummy_condition.hpp"
#include "chord/policies/sequence/fixed_condition_length.hpp"
#include "chord/policies/sequence/native.hpp"
#include "chord/policies/sequence/relative_positions.hpp"
#include "chord/policies/sequence/two_stage.hpp"

#include <torch/nn/functional/pooling.h>

#include <functional>
#include <string>

namespace chord::systems {

/// The seed's model as it is: absolute position tables, native lengths (the sequence suddenly grows
/// from 256 to 320 tokens when fine-tuning starts).
struct CondDiT {
  using backbone = nn::PatchDiT;
  using conditioning = cond::PrependedTokens;
  using masking = mask::LengthOnly;
  using guidance = guide::NoGuidance;
  using sequence = seq::Native;
  using objective = obj::CleanTargetFlow<ode::Euler>;
};
/// Solution 1: dummy condition tokens with probability p during pre-training.
struct CondDiTDummyCondition : CondDiT { using sequence = seq::DummyCondition; };
/// Solution 2: every condition padded/truncated to a fixed length with a key-padding mask.
struct CondDiTFixedLength : CondDiT { using sequence = seq::FixedConditionLength; };
/// Solution 3: the two-stage schedule with a fine-tuning learning rate of its own.
struct CondDiTTwoStage : CondDiT { using sequence = seq::TwoStage; };
/// Solution 4: 2-D rotary positions instead of absolute tables.
struct CondDiTRelative : CondDiT { using sequence = seq::RelativePositions; };
/// The seed's recommendation, 1 + 3.
struct CondDiTRecommended : CondDiT { using sequence = seq::Compose<seq::TwoStage, seq::DummyCondition>; };

static_assert(SequencePolicy<CondDiTRecommended::sequence>);

namespace cond_dit {

enum class Preset { tiny, small, seed };

/// tiny: tests (0.05 M parameters); small: the CPU experiment (1.3 M); seed: the seed's width (768, 12 × 12; 129 M).
inline nn::PatchDiTOptions preset_options(Preset preset) {
  switch (preset) {
    case Preset::tiny: return nn::PatchDiTOptions(32, 2, 2).mlp_ratio(2);
    case Preset::small: return nn::PatchDiTOptions(128, 4, 4);
    case Preset::seed: return nn::PatchDiTOptions(768, 12, 12);
  }
  CHORD_FAIL("unknown cond-DiT preset");
}

inline Preset parse_preset(const std::string& name) {
  if (name == "tiny") return Preset::tiny;
  if (name == "small") return Preset::small;
  if (name == "seed") return Preset::seed;
  CHORD_FAIL("unknown cond-DiT preset '", name, "' (tiny, small, seed)");
}

/// Log-mel tiles, normalised to zero mean and unit variance over the set.
struct TileSet {
  torch::Tensor tiles;  ///< `[M, 1, mel_bins, frames]`
  double mean = 0.0, std = 1.0;
  int64_t size() const { return tiles.size(0); }
};

struct TileOptions {
  int64_t mel_bins = 64;
  int64_t frames = 64;
  int64_t hop_frames = 32;  ///< tiles overlap by half
  int64_t sample_rate = 24000;
};

/// Cuts every utterance of `manifest` into log-mel tiles (24 kHz, n_fft 1024, hop 256, `mel_bins`
/// HTK mels up to 12 kHz). `stats` normalises with given statistics (a validation set uses the
/// training set's); otherwise the set's own. `progress(done, total)` is called per utterance.
inline TileSet make_mel_tiles(const data::Manifest& manifest, const TileOptions& options = {},
                              const TileSet* stats = nullptr,
                              const std::function<void(size_t, size_t)>& progress = {}) {
  audio::MelSpectrogramOptions mel_options;
  mel_options.sample_rate = options.sample_rate;
  mel_options.n_mels = options.mel_bins;
  audio::MelSpectrogram mel(mel_options);
  std::vector<torch::Tensor> tiles;
  const auto& items = manifest.items();
  for (size_t i = 0; i < items.size(); ++i) {
    auto clip = audio::read_audio(items[i].audio);
    auto wave = audio::to_mono(clip.samples);
    if (clip.sample_rate != options.sample_rate) wave = audio::resample(wave, clip.sample_rate, options.sample_rate);
    auto spectrogram = mel(wave)[0];  // [mel_bins, T]
    for (int64_t start = 0; start + options.frames <= spectrogram.size(1); start += options.hop_frames) {
      tiles.push_back(spectrogram.narrow(1, start, options.frames).unsqueeze(0));
    }
    if (progress) progress(i + 1, items.size());
  }
  CHORD_CHECK(!tiles.empty(), "make_mel_tiles: no utterance is ", options.frames, " frames long (",
              options.frames * 256.0 / options.sample_rate, " s)");
  TileSet set;
  set.tiles = torch::stack(tiles);
  set.mean = stats ? stats->mean : set.tiles.mean().item<double>();
  set.std = stats ? stats->std : set.tiles.std().item<double>();
  set.tiles = (set.tiles - set.mean) / set.std;
  return set;
}

/// The condition of a tile: its average-pooled version (`[M, 1, H/f, W/f]`).
inline torch::Tensor downsample(const torch::Tensor& tiles, int64_t factor = 2) {
  return torch::nn::functional::avg_pool2d(tiles, torch::nn::functional::AvgPool2dFuncOptions(factor));
}

/// A training batch of the tiles at `indices`, with or without their condition tokens.
inline cond::PrependedTokens::Batch make_batch(const TileSet& set, const torch::Tensor& indices, int64_t patch,
                                               bool with_condition, int64_t factor = 2) {
  auto tiles = set.tiles.index_select(0, indices);
  cond::PrependedTokens::Batch batch;
  batch.target = nn::patchify(tiles, patch);
  if (with_condition) batch.condition = nn::patchify(downsample(tiles, factor), patch);
  return batch;
}

}  // namespace cond_dit

}  // namespace chord::systems
