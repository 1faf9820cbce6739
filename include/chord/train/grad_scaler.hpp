#pragma once
/// @file
/// Loss scaling for fp16 training, as `torch.cuda.amp.GradScaler` does it and GAN trainers use it: one
/// scaler shared by every optimiser of the run. Losses are multiplied by the scale before backward;
/// each optimiser's gradients are divided by it before clipping and stepping; an optimiser whose
/// gradients overflowed skips its step; after the update the scale backs off if any overflowed, and
/// grows after `growth_interval` clean updates.

#include "chord/core/error.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace chord::train {

struct GradScalerOptions {
  double init_scale = 65536.0;  ///< 2^16, torch's default
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {}) : options_(options), scale_(options.init_scale) {
    CHORD_CHECK(options.init_scale > 0 && options.growth_factor > 1 && options.backoff_factor > 0 && options.backoff_factor < 1 &&
                    options.growth_interval >= 1,
                "GradScaler: need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1");
  }

  double scale() const noexcept { return scale_; }

  /// The loss to backpropagate.
  torch::Tensor scaled(const torch::Tensor& loss) const { return loss * scale_; }

  /// Divides the gradients by the scale, in place; returns false when any is not finite (the optimiser
  /// must then skip its step).
  bool unscale(const std::vector<torch::Tensor>& parameters) const {
    bool finite = true;
    const double inverse = 1.0 / scale_;
    for (const auto& p : parameters) {
      auto grad = p.grad();
      if (!grad.defined()) continue;
      grad.mul_(inverse);
      finite = finite && torch::isfinite(grad).all().item<bool>();
    }
    return finite;
  }

  /// After every optimiser of an update: back off when any overflowed, else count towards growth.
  void update(bool overflowed) {
    if (overflowed) {
      scale_ *= options_.backoff_factor;
      clean_updates_ = 0;
      return;
    }
    if (++clean_updates_ == options_.growth_interval) {
      scale_ *= options_.growth_factor;
      clean_updates_ = 0;
    }
  }

  void save(torch::serialize::OutputArchive& archive) const {
    archive.write("scale", c10::IValue(scale_));
    archive.write("clean_updates", c10::IValue(clean_updates_));
  }
  void load(torch::serialize::InputArchive& archive) {
    c10::IValue value;
    archive.read("scale", value);
    scale_ = value.toDouble();
    archive.read("clean_updates", value);
    clean_updates_ = value.toInt();
  }

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t clean_updates_ = 0;
};

}  // namespace chord::train
