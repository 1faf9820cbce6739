#pragma once
/// @file
/// DTM-F5TTS: F5-TTS with Difference Transition Matching as its objective. Only the objective changes;
/// the text + audio-prompt conditioning, random-span masking and joint CFG dropout come with the spec,
/// so span-masked training and guided sampling work exactly as in F5-TTS. Page: docs/systems/dtm_f5tts.md.

#include "chord/policies/objective/difference_transition_matching.hpp"
#include "chord/systems/f5tts.hpp"

namespace chord::systems {

struct DTMF5TTS : F5TTS {
  using objective = obj::DifferenceTransitionMatching<ode::Euler>;
};

using DTMF5TTSModel = FlowModel<DTMF5TTS>;

}  // namespace chord::systems
