// Must not compile: a guidance policy that does not say which condition signals it drops.
#include <chord/systems/f5tts.hpp>

struct SilentGuidance : chord::guide::NoGuidance {
  using dropped_signals = void;  // hides NoGuidance's empty list
};
struct SpecWithSilentGuidance : chord::systems::F5TTS {
  using guidance = SilentGuidance;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithSilentGuidance>) > 0);
