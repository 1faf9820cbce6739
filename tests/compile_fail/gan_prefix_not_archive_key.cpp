// Must not compile: a member prefix that cannot name checkpoint entries.
#include "train/toy_gan.hpp"

struct SlashedPrefix : toy_gan::LsganCritic {
  static constexpr std::string_view prefix = "D/period";
};
struct GanWithSlashedPrefix : toy_gan::OneCritic {
  using discriminators = chord::disc::Set<SlashedPrefix>;
};
static_assert(sizeof(chord::GanModelImpl<GanWithSlashedPrefix>) > 0);
