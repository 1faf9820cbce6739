#pragma once
/// @file
/// Per-row condition drops, the draw the dropout guidance policies share: row i is dropped with
/// probability p, drawn in float64 on the generator's device.

#include "chord/core/random.hpp"

#include <torch/types.h>

#include <cstdint>

namespace chord::guide {

namespace detail {
/// `[B]` bool: row i dropped with probability `p`, one uniform draw per row from `gen`.
inline torch::Tensor bernoulli_rows(int64_t batch, double p, torch::Generator& gen) {
  return torch::rand({batch}, gen, options_on(gen, torch::kFloat64)) < p;
}
}  // namespace detail

}  // namespace chord::guide
