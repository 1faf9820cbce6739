// Must not compile: an objective that opted in and trains, but has no sampler.
#include <chord/systems/f5tts.hpp>

struct TrainOnlyObjective : chord::obj::CondFlowMatching<> {
  using SamplerOptions = void;
};
struct SpecWithTrainOnlyObjective : chord::systems::F5TTS {
  using objective = TrainOnlyObjective;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithTrainOnlyObjective>) > 0);
