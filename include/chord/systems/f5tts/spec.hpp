#pragma once
/// @file
/// The F5-TTS spec: flow matching on the F5 DiT with random-span infilling and joint CFG dropout, as
/// the reference trains and samples it. Page: docs/systems/f5tts.md.

#include "chord/models/flow_model.hpp"
#include "chord/nn/f5_dit.hpp"
#include "chord/policies/conditioning/f5_text_audio.hpp"
#include "chord/policies/guidance/joint_dropout.hpp"
#include "chord/policies/masking/random_span.hpp"
#include "chord/policies/objective/cond_flow_matching.hpp"
#include "chord/policies/sequence/native.hpp"

namespace chord::systems {

/// The F5-TTS system as the reference trains and samples it.
struct F5TTS {
  using backbone = nn::F5DiT;
  using conditioning = cond::F5TextAudio;
  using masking = mask::RandomSpan;
  using guidance = guide::JointDropout;
  using sequence = seq::Native;
  using objective = obj::CondFlowMatching<ode::Euler, grid::Sway<grid::Epss>>;
};

using F5TTSModel = FlowModel<F5TTS>;

}  // namespace chord::systems
