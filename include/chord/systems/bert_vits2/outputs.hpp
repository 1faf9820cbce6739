#pragma once
/// @file
/// The outputs of Bert-VITS2's training forward that only its own losses read (the KL term, the
/// duration losses, the segment starts, the alignment); what discriminators read is in
/// policies/discriminators/outputs.hpp.

#include "chord/policies/discriminators/outputs.hpp"

#include <string_view>

namespace chord::systems::bert_vits2::out {

using namespace chord::out;  // Audio, RealAudio, TextHidden, ... under one name

/// `l_length [B]`: the duration losses of both predictors.
struct DurationLoss {
  static constexpr std::string_view name = "duration_loss";
};
/// `z_p`, `logs_q`, `m_p`, `logs_p [B, inter, T_y]` and `y_mask [B, 1, T_y]`: the KL term's inputs.
struct FlowLatent {
  static constexpr std::string_view name = "z_p";
};
struct PosteriorLogScale {
  static constexpr std::string_view name = "logs_q";
};
struct PriorMean {
  static constexpr std::string_view name = "m_p";
};
struct PriorLogScale {
  static constexpr std::string_view name = "logs_p";
};
struct FrameMask {
  static constexpr std::string_view name = "y_mask";
};
/// `ids_slice [B]` (long): the first frame of each item's segment.
struct SegmentStarts {
  static constexpr std::string_view name = "ids_slice";
};
/// `attn [B, 1, T_y, T_x]`: the hard alignment found by MAS.
struct Alignment {
  static constexpr std::string_view name = "attn";
};

}  // namespace chord::systems::bert_vits2::out
