// Must not compile: F5-TTS's text + audio-prompt conditioning cannot drive the Stable Audio DiT.
#include <chord/nn/stable_audio_dit.hpp>
#include <chord/systems/f5tts.hpp>

struct F5OnStableAudio : chord::systems::F5TTS {
  using backbone = chord::nn::StableAudioDiT;
};
static_assert(sizeof(chord::FlowModelImpl<F5OnStableAudio>) > 0);
