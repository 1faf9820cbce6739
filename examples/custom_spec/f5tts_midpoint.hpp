#pragma once
// An experiment is a type: F5-TTS with the midpoint solver and a uniform grid instead of Euler on
// EPSS + sway. Everything else (conditioning, span masking, CFG dropout) is inherited. Built into a
// trainer by chord_add_trainer(chord-f5tts-midpoint-train SPEC_HEADER custom_spec/f5tts_midpoint.hpp
// SPEC F5TTSMidpoint) in examples/CMakeLists.txt.
#include <chord/systems/f5tts.hpp>

struct F5TTSMidpoint : chord::systems::F5TTS {
  using objective = chord::obj::CondFlowMatching<chord::ode::Midpoint, chord::grid::Uniform>;
};
