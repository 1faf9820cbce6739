// Must compile: the same construction as the compile-fail cases with a valid spec, so those fail
// for their stated reason only.
#include <chord/systems/f5tts.hpp>

struct ValidSpec : chord::systems::F5TTS {};
static_assert(sizeof(chord::FlowModelImpl<ValidSpec>) > 0);
