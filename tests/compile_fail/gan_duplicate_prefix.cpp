// Must not compile: two members under one checkpoint/optimiser prefix.
#include "train/toy_gan.hpp"

struct SamePrefix : toy_gan::LsganCritic {
  static constexpr std::string_view name = "another";
};
struct GanWithClash : toy_gan::OneCritic {
  using discriminators = chord::disc::Set<toy_gan::LsganCritic, SamePrefix>;
};
static_assert(sizeof(chord::GanModelImpl<GanWithClash>) > 0);
