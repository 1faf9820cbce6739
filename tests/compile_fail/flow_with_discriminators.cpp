// Must not compile: a flow model with adversaries (adversarial fine-tuning is not implemented).
#include "train/toy_gan.hpp"

#include <chord/systems/f5tts.hpp>

struct F5WithCritic : chord::systems::F5TTS {
  using discriminators = chord::disc::Set<toy_gan::LsganCritic>;
};
static_assert(sizeof(chord::FlowModelImpl<F5WithCritic>) > 0);
