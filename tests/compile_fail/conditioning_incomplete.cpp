// Must not compile: a conditioning policy that opts in but declares neither its signals nor its
// Batch and Request types.
#include <chord/systems/f5tts.hpp>

struct HalfAConditioning {
  using policy_category = chord::conditioning_policy_tag;
  static constexpr std::string_view name = "half";
};
struct SpecWithHalfConditioning : chord::systems::F5TTS {
  using conditioning = HalfAConditioning;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithHalfConditioning>) > 0);
