// Must not compile: a guidance policy that drops conditions in training but cannot combine branches.
#include <chord/systems/f5tts.hpp>

struct DropOnlyGuidance {
  using policy_category = chord::guidance_policy_tag;
  using dropped_signals = chord::Signals<>;
  static constexpr std::string_view name = "drop-only";
  chord::ConditionDrop training_drop(int64_t, torch::Generator&) const { return {}; }
};
struct SpecWithDropOnlyGuidance : chord::systems::F5TTS {
  using guidance = DropOnlyGuidance;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithDropOnlyGuidance>) > 0);
