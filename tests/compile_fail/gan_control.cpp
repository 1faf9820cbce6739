// Must compile: the toy GAN the GAN compile-fail cases vary, so those fail for their stated reason only.
#include "train/toy_gan.hpp"

static_assert(sizeof(chord::GanModelImpl<toy_gan::TwoCritics>) > 0);
