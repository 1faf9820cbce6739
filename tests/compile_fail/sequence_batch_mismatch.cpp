// Must not compile: the fixed-condition-length policy needs condition tokens, which F5-TTS batches
// do not have.
#include <chord/policies/sequence/fixed_condition_length.hpp>
#include <chord/systems/f5tts.hpp>

struct F5WithFixedConditionLength : chord::systems::F5TTS {
  using sequence = chord::seq::FixedConditionLength;
};
static_assert(sizeof(chord::FlowModelImpl<F5WithFixedConditionLength>) > 0);
