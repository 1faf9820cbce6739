#pragma once
/// @file
/// The guidance (classifier-free guidance) family: train-time condition dropout and the test-time
/// combination of conditional and unconditional predictions. Page: docs/policies/guidance.md.

#include "chord/core/condition_drop.hpp"
#include "chord/policies/common.hpp"

#include <torch/types.h>

#include <vector>

namespace chord {

struct guidance_policy_tag {};

/// Declares the condition signals it may drop (`using dropped_signals = Signals<...>;`).
template <class P>
concept DeclaresDroppedSignals = requires { typename P::dropped_signals; } && SignalList<typename P::dropped_signals>;

/// Decides the training-time drops of a batch from a generator.
template <class P>
concept DropsConditionsInTraining = requires(const P& p, int64_t batch, torch::Generator& gen) {
  { p.training_drop(batch, gen) } -> std::same_as<ConditionDrop>;
};

/// Names the inference branches (one ConditionDrop each, evaluated in one batched pass) for a
/// guidance strength, and combines the branches' outputs.
template <class P>
concept CombinesBranches = requires(const P& p, int64_t batch, double strength, const std::vector<torch::Tensor>& outs) {
  { p.branches(batch, strength) } -> std::same_as<std::vector<ConditionDrop>>;
  { p.combine(outs, strength) } -> std::same_as<torch::Tensor>;
  { p.default_strength() } -> std::convertible_to<double>;
};

/// P satisfies GuidancePolicy if:
/// 1. it opts in with `using policy_category = guidance_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. it lists `dropped_signals`;
/// 4. `training_drop(batch, gen) -> ConditionDrop`;
/// 5. `branches(batch, strength) -> std::vector<ConditionDrop>`, `combine(outputs, strength) -> Tensor`,
///    `default_strength() -> double`.
template <class P>
concept GuidancePolicy = OptsInto<P, guidance_policy_tag> && PolicyValue<P> && NamedPolicy<P> &&
                         DeclaresDroppedSignals<P> && DropsConditionsInTraining<P> && CombinesBranches<P>;

}  // namespace chord
