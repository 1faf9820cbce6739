// Must not compile: the backbone is not a LibTorch module holder.
#include <chord/systems/f5tts.hpp>

struct SpecWithPlainBackbone : chord::systems::F5TTS {
  using backbone = int;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithPlainBackbone>) > 0);
