// Must not compile: the guidance policy drops a condition signal (a low-resolution latent, as in
// SAGA-SR) that F5-TTS's text + audio-prompt conditioning does not provide.
#include <chord/policies/signals.hpp>
#include <chord/systems/f5tts.hpp>

struct LatentDropout : chord::guide::JointDropout {
  using dropped_signals = chord::Signals<chord::signal::LowResolution>;
};
static_assert(chord::GuidancePolicy<LatentDropout>);  // a valid guidance policy on its own

struct MismatchedSpec : chord::systems::F5TTS {
  using guidance = LatentDropout;
};

static_assert(sizeof(chord::FlowModelImpl<MismatchedSpec>) > 0);
