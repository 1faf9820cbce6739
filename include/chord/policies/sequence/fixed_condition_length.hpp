#pragma once
/// @file
/// Seed 003, solution 2: every condition is padded or truncated to `length` tokens, with a key
/// padding mask so that padded tokens cannot change the output; with `pad_unconditional` an
/// unconditional batch gets `length` fully masked tokens, so every sequence has one length.

#include "chord/policies/sequence/concept.hpp"

namespace chord::seq {

struct FixedConditionLength {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "fixed_condition_length";

  int64_t length = 64;
  bool pad_unconditional = true;

  /// `condition [B, Lc, C]` (mask `[B, Lc]` or undefined) → exactly `length` tokens and a mask.
  void fix(torch::Tensor& condition, torch::Tensor& mask, int64_t batch, int64_t channels,
           const torch::TensorOptions& options) const {
    TORCH_CHECK(length > 0, "FixedConditionLength: length must be > 0, got ", length);
    if (!condition.defined()) {
      if (!pad_unconditional) return;
      condition = torch::zeros({batch, length, channels}, options);
      mask = torch::zeros({batch, length}, options.dtype(torch::kBool));
      return;
    }
    const int64_t lc = condition.size(1);
    auto keep = mask.defined() ? mask.to(torch::kBool) : torch::ones({condition.size(0), lc}, condition.options().dtype(torch::kBool));
    if (lc >= length) {
      condition = condition.narrow(1, 0, length);
      keep = keep.narrow(1, 0, length);
    } else {
      condition = torch::constant_pad_nd(condition, {0, 0, 0, length - lc}, 0.0);
      keep = torch::constant_pad_nd(keep, {0, length - lc}, 0);
    }
    mask = keep;
  }

  template <HasConditionTokens Batch>
  void adapt_training(Batch& batch, int64_t, torch::Generator&) const {
    fix(batch.condition, batch.condition_mask, batch.target.size(0), batch.target.size(2), batch.target.options());
  }

  /// A request's condition is fixed the same way. An unconditional request stays without tokens:
  /// fully masked padding is exactly equivalent (see the tests), so nothing is gained by adding it.
  template <class Request>
    requires requires(Request& r) { r.condition; r.condition_mask; }
  void adapt_inference(Request& request) const {
    if (!request.condition.defined()) return;
    fix(request.condition, request.condition_mask, request.condition.size(0), request.condition.size(2),
        request.condition.options());
  }
};
static_assert(SequencePolicy<FixedConditionLength>);

}  // namespace chord::seq
