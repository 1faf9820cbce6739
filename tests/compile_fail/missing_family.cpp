// Must not compile: the spec names no masking policy.
#include <chord/systems/f5tts.hpp>

struct SpecWithoutMasking {
  using backbone = chord::nn::F5DiT;
  using conditioning = chord::cond::F5TextAudio;
  using guidance = chord::guide::JointDropout;
  using sequence = chord::seq::Native;
  using objective = chord::obj::CondFlowMatching<>;
};

static_assert(sizeof(chord::FlowModelImpl<SpecWithoutMasking>) > 0);
