// Must not compile: a masking policy that opted in but cannot produce inference masks.
#include <chord/systems/f5tts.hpp>

struct TrainingOnlyMask {
  using policy_category = chord::masking_policy_tag;
  static constexpr std::string_view name = "training-only";
  chord::Masks training_masks(const torch::Tensor&, int64_t, torch::Generator&) const { return {}; }
};
struct SpecWithTrainingOnlyMask : chord::systems::F5TTS {
  using masking = TrainingOnlyMask;
};
static_assert(sizeof(chord::FlowModelImpl<SpecWithTrainingOnlyMask>) > 0);
