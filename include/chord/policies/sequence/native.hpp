#pragma once
/// @file
/// Native variable length: the backbone sees every batch as it comes (F5-TTS, SAGA-SR).

#include "chord/policies/sequence/concept.hpp"

namespace chord::seq {

struct Native {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "native";

  template <class Batch>
  void adapt_training(Batch&, int64_t, torch::Generator&) const {}
};
static_assert(SequencePolicy<Native>);

}  // namespace chord::seq
