#pragma once
/// @file
/// Exponential moving average of model weights with ema-pytorch (0.8) semantics, the EMA of both
/// F5-TTS and stable-audio-tools.

#include "chord/core/error.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/io/tensor_map.hpp"

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <string>

namespace chord::train {

struct EmaOptions {
  double beta = 0.9999;            ///< the decay's ceiling
  int64_t update_after_step = 100; ///< before this, updates copy the weights
  int64_t update_every = 10;       ///< average only on every n-th call
  double inv_gamma = 1.0;
  double power = 2.0 / 3.0;        ///< F5-TTS default; stable-audio-tools uses 3/4
  double min_value = 0.0;

  /// F5-TTS trainer: `EMA(model, include_online_model=False)` with the package defaults.
  static EmaOptions f5tts() { return {}; }
  /// stable-audio-tools: beta 0.9999, power 3/4, update every call from step 1.
  static EmaOptions stable_audio() { return {0.9999, 1, 1, 1.0, 0.75, 0.0}; }
};

/// The averaged ("shadow") copy of a model's floating-point parameters and buffers.
///
/// Call update(model) once per optimiser update. The first call copies the weights; afterwards every
/// `update_every`-th call copies while `step <= update_after_step` and then lerps with
/// `decay = clamp(1 − (1 + e/inv_gamma)^(−power), min_value, beta)`, `e = max(step − update_after_step − 1, 0)`
/// (0 when e = 0), computed in float32 as the reference does.
class ExponentialMovingAverage {
 public:
  ExponentialMovingAverage(const torch::nn::Module& model, EmaOptions options = {}) : options_(options) {
    CHORD_CHECK(options.update_every > 0, "EmaOptions.update_every must be > 0, got ", options.update_every);
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : io::state_dict(model)) {
      if (tensor.is_floating_point()) shadow_.emplace(name, tensor.clone());
    }
  }

  const EmaOptions& options() const noexcept { return options_; }
  int64_t step() const noexcept { return step_; }
  bool initted() const noexcept { return initted_; }
  /// The averaged tensors by name.
  const io::TensorMap& shadow() const noexcept { return shadow_; }

  /// ema-pytorch `get_current_decay()` at the current step.
  double current_decay() const {
    auto epoch = (torch::tensor(step_ - options_.update_after_step - 1)).clamp_min(0.0);
    if (epoch.item<double>() <= 0.0) return 0.0;
    auto value = 1 - (1 + epoch / options_.inv_gamma).pow(-options_.power);
    return value.clamp(options_.min_value, options_.beta).item<double>();
  }

  void update(const torch::nn::Module& model) {
    const int64_t step = step_++;
    if (!initted_) {
      copy_from(model);
      initted_ = true;
      return;
    }
    if (step % options_.update_every != 0) return;
    if (step <= options_.update_after_step) {
      copy_from(model);
      return;
    }
    const double weight = 1.0 - current_decay();
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : io::state_dict(model)) {
      auto found = shadow_.find(name);
      if (found != shadow_.end()) found->second.lerp_(tensor, weight);
    }
  }

  /// Loads the averaged weights into `target` (a model of the same architecture).
  void copy_to(torch::nn::Module& target) const {
    io::LoadOptions options;
    options.strict = false;
    options.source_name = "EMA weights";
    auto report = io::load_state_dict(target, shadow_, options);
    CHORD_CHECK(report.unexpected.empty() && report.mismatched.empty(),
                "EMA weights do not fit the target module: ", report.describe());
  }

  /// The ema-pytorch state dict (`initted`, `step`, `<prefix><name>`), the layout of F5-TTS's
  /// released `.safetensors`.
  io::TensorMap state_dict(const std::string& prefix = "ema_model.") const {
    io::TensorMap out;
    out.emplace("initted", torch::tensor(initted_));
    out.emplace("step", torch::tensor(step_));
    for (const auto& [name, tensor] : shadow_) out.emplace(prefix + name, tensor);
    return out;
  }

  void save(torch::serialize::OutputArchive& archive) const {
    archive.write("step", c10::IValue(step_));
    archive.write("initted", c10::IValue(initted_));
    io::write_tensor_map(archive, "shadow", shadow_);
  }

  void load(torch::serialize::InputArchive& archive) {
    c10::IValue value;
    archive.read("step", value);
    step_ = value.toInt();
    archive.read("initted", value);
    initted_ = value.toBool();
    auto stored = io::read_tensor_map(archive, "shadow");
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : shadow_) {
      auto found = stored.find(name);
      CHORD_CHECK(found != stored.end(), "EMA checkpoint has no shadow tensor '", name, "'");
      CHORD_CHECK(found->second.sizes() == tensor.sizes(), "EMA checkpoint: '", name, "' is ", found->second.sizes(),
                  ", the model has ", tensor.sizes());
      tensor.copy_(found->second);
    }
  }

 private:
  void copy_from(const torch::nn::Module& model) {
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : io::state_dict(model)) {
      auto found = shadow_.find(name);
      if (found != shadow_.end()) found->second.copy_(tensor);
    }
  }

  EmaOptions options_;
  io::TensorMap shadow_;
  int64_t step_ = 0;
  bool initted_ = false;
};

}  // namespace chord::train
