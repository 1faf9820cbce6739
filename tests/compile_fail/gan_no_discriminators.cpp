// Must not compile: a GAN spec that names no discriminator set.
#include "train/toy_gan.hpp"

struct GanWithoutDiscriminators {
  using generator = toy_gan::Generator;
};
static_assert(sizeof(chord::GanModelImpl<GanWithoutDiscriminators>) > 0);
