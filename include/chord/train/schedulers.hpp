#pragma once
/// @file
/// Learning-rate schedules of the reference trainers, as closed forms of (update step, epoch), so
/// resuming needs nothing but the counters.
///
/// Convention: `lr(step, epoch)` is the rate used by the update with 0-based index `step` during
/// 0-based `epoch`, i.e. what the reference's optimizer holds after `step` calls of
/// `scheduler.step()` (or `epoch` calls, for per-epoch schedules).

#include "chord/core/error.hpp"

#include <torch/optim/optimizer.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>

namespace chord::train {

/// A schedule: (update step, epoch) → learning rate.
using LrSchedule = std::function<double(int64_t step, int64_t epoch)>;

/// A constant rate.
inline LrSchedule constant_lr(double lr) {
  return [lr](int64_t, int64_t) { return lr; };
}

/// F5-TTS: `SequentialLR([LinearLR(1e-8 → 1, warmup), LinearLR(1 → 1e-8, total - warmup)], [warmup])`.
/// Linear warm-up from ~0 to `base_lr` over `warmup_steps`, then linear decay to ~0 at `total_steps`.
inline LrSchedule warmup_linear_decay(double base_lr, int64_t warmup_steps, int64_t total_steps,
                                      double start_factor = 1e-8, double end_factor = 1e-8) {
  CHORD_CHECK(warmup_steps >= 0 && total_steps > warmup_steps, "warmup_linear_decay: need 0 <= warmup (",
              warmup_steps, ") < total (", total_steps, ")");
  return [=](int64_t step, int64_t) {
    if (step < warmup_steps) {
      return base_lr * (start_factor + (1.0 - start_factor) * static_cast<double>(step) / warmup_steps);
    }
    const double decay_steps = static_cast<double>(total_steps - warmup_steps);
    const double progress = std::min(static_cast<double>(step - warmup_steps), decay_steps) / decay_steps;
    return base_lr * (1.0 + (end_factor - 1.0) * progress);
  };
}

/// stable-audio-tools / k-diffusion `InverseLR`:
/// `lr = (1 − warmup^(step+1)) · max(final_lr, base_lr · (1 + step/inv_gamma)^(−power))`.
inline LrSchedule inverse_lr(double base_lr, double inv_gamma = 1.0, double power = 1.0, double warmup = 0.0,
                             double final_lr = 0.0) {
  CHORD_CHECK(inv_gamma > 0.0 && warmup >= 0.0 && warmup < 1.0, "inverse_lr: need inv_gamma > 0 and 0 <= warmup < 1");
  return [=](int64_t step, int64_t) {
    const double ramp = 1.0 - std::pow(warmup, static_cast<double>(step + 1));
    const double decayed = base_lr * std::pow(1.0 + static_cast<double>(step) / inv_gamma, -power);
    return ramp * std::max(final_lr, decayed);
  };
}

/// Bert-VITS2: `ExponentialLR(gamma)` stepped once per epoch: `lr = base_lr · gamma^epoch`.
inline LrSchedule exponential_per_epoch(double base_lr, double gamma) {
  CHORD_CHECK(gamma > 0.0, "exponential_per_epoch: gamma must be > 0, got ", gamma);
  return [=](int64_t, int64_t epoch) { return base_lr * std::pow(gamma, static_cast<double>(epoch)); };
}

/// Sets every parameter group of `optimizer` to `lr`.
inline void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace chord::train
