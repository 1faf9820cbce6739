#pragma once
/// @file
/// Seed 003, solution 4: relative (rotary) positions instead of absolute tables, so attention
/// scores depend only on offsets and any number of condition tokens is native. Switches the
/// backbone's position encoding before it is built; batches pass unchanged.

#include "chord/nn/patch_dit.hpp"
#include "chord/policies/sequence/concept.hpp"

namespace chord::seq {

struct RelativePositions {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "relative_positions";

  double theta = 100.0;  ///< rotary base; 16 positions per axis need a small one

  void configure_backbone(nn::PatchDiTOptions& options) const {
    options.positions(nn::PositionEncoding::rotary).rope_theta(theta);
  }

  template <class Batch>
  void adapt_training(Batch&, int64_t, torch::Generator&) const {}
};
static_assert(SequencePolicy<RelativePositions>);
static_assert(ConfiguresBackbone<RelativePositions, nn::PatchDiTOptions>);

}  // namespace chord::seq
