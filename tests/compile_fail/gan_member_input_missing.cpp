// Must not compile: a discriminator reads durations the toy generator does not produce.
#include "train/toy_gan.hpp"

struct DurationCritic : toy_gan::LsganCritic {
  static constexpr std::string_view prefix = "DUR";
  using consumes = chord::Signals<toy_gan::Durations>;
};
struct GanWithDurationCritic : toy_gan::OneCritic {
  using discriminators = chord::disc::Set<toy_gan::LsganCritic, DurationCritic>;
};
static_assert(sizeof(chord::GanModelImpl<GanWithDurationCritic>) > 0);
