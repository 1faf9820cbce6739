// Must not compile: `objective` is a masking policy, not a flow objective.
#include <chord/systems/f5tts.hpp>

struct SpecWithWrongObjective : chord::systems::F5TTS {
  using objective = chord::systems::F5TTS::masking;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithWrongObjective>) > 0);
