// Must not compile: a GAN spec with adversaries but no generator.
#include "train/toy_gan.hpp"

struct GanWithoutGenerator {
  using discriminators = chord::disc::Set<toy_gan::LsganCritic>;
};
static_assert(sizeof(chord::GanModelImpl<GanWithoutGenerator>) > 0);
