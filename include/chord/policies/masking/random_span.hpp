#pragma once
/// @file
/// F5-TTS random-span infilling: one contiguous span of 70–100 % of each utterance is generated, the
/// rest is given as the audio prompt, and the loss counts on the span only.

#include "chord/core/mask.hpp"
#include "chord/policies/masking/concept.hpp"

#include <torch/nn/functional/padding.h>

namespace chord::mask {

/// The inference masks every prompt-conditioned masking policy shares: the prompt frames (and the
/// kept frames of an edit) are the condition; `valid` only for batches of more than one item.
inline Masks prompt_inference_masks(const torch::Tensor& prompt_lengths, const torch::Tensor& edit_mask,
                                    const torch::Tensor& duration) {
  const int64_t frames = duration.max().item<int64_t>();
  Masks masks;
  masks.cond = lens_to_mask(prompt_lengths, frames);
  if (edit_mask.defined()) {
    TORCH_CHECK(edit_mask.dim() == 2 && edit_mask.size(0) == prompt_lengths.size(0) && edit_mask.size(1) <= frames,
                "edit_mask [B, Np] expected with B = ", prompt_lengths.size(0), " and Np <= ", frames, ", got ",
                edit_mask.sizes());
    masks.cond = masks.cond & torch::constant_pad_nd(edit_mask.to(torch::kBool), {0, frames - edit_mask.size(1)}, 0);
  }
  if (duration.size(0) > 1) masks.valid = lens_to_mask(duration, frames);  // batch 1 runs unmasked, as the reference
  return masks;
}

struct RandomSpan {
  using policy_category = masking_policy_tag;
  static constexpr std::string_view name = "random_span";

  /// The span covers `frac ~ U[min_fraction, max_fraction)` of each utterance.
  double min_fraction = 0.7;
  double max_fraction = 1.0;

  Masks training_masks(const torch::Tensor& lens, int64_t frames, torch::Generator& gen) const {
    TORCH_CHECK(0.0 <= min_fraction && min_fraction <= max_fraction && max_fraction <= 1.0,
                "RandomSpan: need 0 <= min_fraction <= max_fraction <= 1, got ", min_fraction, ", ", max_fraction);
    Masks masks;
    masks.valid = lens_to_mask(lens, frames);
    // The draws follow F5-TTS CFM.forward: frac via uniform_, then the start via rand_like(frac).
    auto frac = torch::empty({lens.size(0)}, torch::TensorOptions(torch::kFloat32).device(lens.device()))
                    .uniform_(min_fraction, max_fraction, gen);
    masks.loss = mask_from_frac_lengths(lens, frac, gen, frames) & masks.valid;
    masks.cond = masks.valid & ~masks.loss;
    return masks;
  }

  Masks inference_masks(const torch::Tensor& prompt_lengths, const torch::Tensor& edit_mask,
                        const torch::Tensor& duration) const {
    return prompt_inference_masks(prompt_lengths, edit_mask, duration);
  }
};
static_assert(MaskingPolicy<RandomSpan>);

}  // namespace chord::mask
