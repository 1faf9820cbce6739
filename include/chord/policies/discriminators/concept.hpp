#pragma once
/// @file
/// The discriminator-set family: which adversaries train against a generator, each with its own
/// optimiser, schedule and checkpoint prefix. Page: docs/policies/discriminators.md. Built-in members
/// (multi-period, duration, WavLM/SLM) arrive with the GAN system; FlowModel uses NoDiscriminators.

#include "chord/policies/common.hpp"

#include <array>
#include <string_view>

namespace chord {

struct discriminator_set_policy_tag {};

/// Names one checkpoint/optimiser prefix per member (`static constexpr std::array prefixes`), e.g.
/// {"D", "DUR", "WD"} as Bert-VITS2 names its files.
template <class P>
concept NamesMemberPrefixes = requires {
  { P::prefixes.size() } -> std::convertible_to<std::size_t>;
};

/// P satisfies DiscriminatorSetPolicy if:
/// 1. it opts in with `using policy_category = discriminator_set_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. it lists its members' `prefixes`.
template <class P>
concept DiscriminatorSetPolicy =
    OptsInto<P, discriminator_set_policy_tag> && PolicyValue<P> && NamedPolicy<P> && NamesMemberPrefixes<P>;

namespace disc {
/// The empty set: a model trained without adversaries (every flow model).
struct NoDiscriminators {
  using policy_category = discriminator_set_policy_tag;
  static constexpr std::string_view name = "none";
  static constexpr std::array<std::string_view, 0> prefixes{};
};
}  // namespace disc
static_assert(DiscriminatorSetPolicy<disc::NoDiscriminators>);

}  // namespace chord
