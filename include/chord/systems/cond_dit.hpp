#pragma once
/// @file
/// The conditional DiT with prepended condition tokens (seed 003) and its sequence-length variants.
/// Data: 64×64 log-mel tiles (64 mel bins × 64 frames, `data/mel_tiles.hpp`) of the demo corpus; the
/// condition is the same tile average-pooled to 32×32 (spectrogram super-resolution); patch 4 gives
/// 256 target and 64 condition tokens. Page: docs/systems/cond_dit.md.

#include "chord/core/error.hpp"
#include "chord/data/mel_tiles.hpp"
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

#include <cstdint>
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

// The tiles (chord::data, data/mel_tiles.hpp), under the names the experiment spells.
using data::make_mel_tiles;
using data::TileOptions;
using data::TileSet;

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
