#pragma once
/// @file
/// The masking family: which frames are valid, which are given as condition, where the loss counts.
/// Page: docs/policies/masking.md.

#include "chord/policies/common.hpp"

#include <torch/types.h>

namespace chord {

struct masking_policy_tag {};

/// The three masks of a batch, bool `[B, N]`. `valid` may be undefined, meaning every frame is valid
/// (F5-TTS runs batch-1 inference without a mask).
struct Masks {
  torch::Tensor valid;  ///< real (non-padding) frames
  torch::Tensor cond;   ///< frames whose clean value is given to the model as condition
  torch::Tensor loss;   ///< frames where the training loss counts

  /// The masks on `device` (undefined ones stay undefined).
  Masks to(c10::Device device) const {
    auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
    return {move(valid), move(cond), move(loss)};
  }
};

/// Produces training masks from lengths and a generator.
template <class P>
concept ProducesTrainingMasks = requires(const P& p, const torch::Tensor& lens, int64_t frames, torch::Generator& gen) {
  { p.training_masks(lens, frames, gen) } -> std::same_as<Masks>;
};

/// Produces inference masks from the prompt lengths, an optional edit mask (true = keep) and the
/// per-item output durations.
template <class P>
concept ProducesInferenceMasks = requires(const P& p, const torch::Tensor& t) {
  { p.inference_masks(t, t, t) } -> std::same_as<Masks>;
};

/// P satisfies MaskingPolicy if:
/// 1. it opts in with `using policy_category = masking_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. `training_masks(lens [B], frames, gen) -> Masks`;
/// 4. `inference_masks(prompt_lens [B], edit_mask [B, Np] or undefined, duration [B]) -> Masks`.
template <class P>
concept MaskingPolicy = OptsInto<P, masking_policy_tag> && PolicyValue<P> && NamedPolicy<P> &&
                        ProducesTrainingMasks<P> && ProducesInferenceMasks<P>;

}  // namespace chord
