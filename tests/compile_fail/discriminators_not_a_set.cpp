// Must not compile: a bare member where the spec expects a discriminator set (chord::disc::Set<...>).
#include "train/toy_gan.hpp"

struct GanWithBareMember : toy_gan::OneCritic {
  using discriminators = toy_gan::LsganCritic;
};
static_assert(sizeof(chord::GanModelImpl<GanWithBareMember>) > 0);
