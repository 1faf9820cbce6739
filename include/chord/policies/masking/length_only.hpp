#pragma once
/// @file
/// Length-only masking: every real frame is generated and counts in the loss; no frame is given as
/// condition. Inference ignores any prompt.

#include "chord/core/mask.hpp"
#include "chord/policies/masking/concept.hpp"

namespace chord::mask {

struct LengthOnly {
  using policy_category = masking_policy_tag;
  static constexpr std::string_view name = "length_only";

  Masks training_masks(const torch::Tensor& lens, int64_t frames, torch::Generator&) const {
    Masks masks;
    masks.valid = lens_to_mask(lens, frames);
    masks.loss = masks.valid;
    masks.cond = torch::zeros_like(masks.valid);
    return masks;
  }

  Masks inference_masks(const torch::Tensor& prompt_lengths, const torch::Tensor&, const torch::Tensor& duration) const {
    const int64_t frames = duration.max().item<int64_t>();
    Masks masks;
    masks.cond = torch::zeros({prompt_lengths.size(0), frames}, torch::TensorOptions(torch::kBool).device(duration.device()));
    if (duration.size(0) > 1) masks.valid = lens_to_mask(duration, frames);
    return masks;
  }
};
static_assert(MaskingPolicy<LengthOnly>);

}  // namespace chord::mask
