// Must not compile: `sequence` names something that is not a sequence-length policy.
#include <chord/systems/f5tts.hpp>

struct SpecWithWrongSequence : chord::systems::F5TTS {
  using sequence = chord::guide::JointDropout;  // a policy of another family
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithWrongSequence>) > 0);
