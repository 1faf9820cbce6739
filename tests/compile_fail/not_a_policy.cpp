// Must not compile: `masking` is a look-alike that never opted into the masking family.
#include <chord/systems/f5tts.hpp>

struct LooksLikeAMask {  // has the right members but no `using policy_category = chord::masking_policy_tag;`
  static constexpr std::string_view name = "look-alike";
  chord::Masks training_masks(const torch::Tensor&, int64_t, torch::Generator&) const { return {}; }
  chord::Masks inference_masks(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) const { return {}; }
};

struct SpecWithLookAlike : chord::systems::F5TTS {
  using masking = LooksLikeAMask;
};

static_assert(sizeof(chord::FlowModelImpl<SpecWithLookAlike>) > 0);
