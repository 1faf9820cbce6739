#pragma once
/// @file
/// The non-causal WaveNet stack of VITS / Bert-VITS2 (`modules.WN`, fishaudio/Bert-VITS2 8f7fbd8;
/// reference/vits2.md §1.5): dilated weight-normed convolutions with a tanh·sigmoid gate, residual
/// and skip outputs, and an optional global condition (`cond_layer`, one weight-normed 1×1 convolution
/// giving every layer its own `2·hidden` slice). Used by the posterior encoder and the residual
/// coupling flow. Layout `[B, C, T]`; state-dict keys as the reference (`in_layers.i.weight_g`, ...).

#include "chord/core/error.hpp"
#include "chord/nn/vits/commons.hpp"
#include "chord/nn/weight_norm.hpp"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace chord::nn::vits {

struct WNOptions {
  WNOptions(int64_t hidden_channels, int64_t kernel_size, int64_t dilation_rate, int64_t n_layers)
      : hidden_channels_(hidden_channels), kernel_size_(kernel_size), dilation_rate_(dilation_rate), n_layers_(n_layers) {}
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size);    ///< odd
  TORCH_ARG(int64_t, dilation_rate);  ///< layer i dilates by dilation_rate^i
  TORCH_ARG(int64_t, n_layers);
  /// Global condition width; 0 = none (no `cond_layer`).
  TORCH_ARG(int64_t, gin_channels) = 0;
  TORCH_ARG(double, p_dropout) = 0.0;
};

/// `modules.WN`. The input is not masked on entry (as the reference); the residual path is masked
/// after every layer but the last, and the summed skip output is masked.
class WNImpl : public torch::nn::Module {
 public:
  explicit WNImpl(WNOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.kernel_size() % 2 == 1, "WN: kernel_size ", o.kernel_size(), " is not odd");
    CHORD_CHECK(o.n_layers() >= 1, "WN: n_layers ", o.n_layers(), " is not positive");
    CHORD_CHECK(o.dilation_rate() >= 1, "WN: dilation_rate ", o.dilation_rate(), " is not positive");
    const int64_t h = o.hidden_channels();
    in_layers = register_module("in_layers", torch::nn::ModuleList());
    res_skip_layers = register_module("res_skip_layers", torch::nn::ModuleList());
    drop = register_module("drop", torch::nn::Dropout(o.p_dropout()));
    if (o.gin_channels() != 0) cond_layer = register_module("cond_layer", weight_norm_conv1d(o.gin_channels(), 2 * h * o.n_layers(), 1));
    int64_t dilation = 1;
    for (int64_t i = 0; i < o.n_layers(); ++i) {
      const int64_t padding = (o.kernel_size() * dilation - dilation) / 2;
      in_.push_back(weight_norm_conv1d(h, 2 * h, o.kernel_size(), 1, padding, dilation));
      // The last layer has no residual half.
      res_skip_.push_back(weight_norm_conv1d(h, i < o.n_layers() - 1 ? 2 * h : h, 1));
      in_layers->push_back(in_.back());
      res_skip_layers->push_back(res_skip_.back());
      dilation *= o.dilation_rate();
    }
  }

  /// `x [B, hidden, T]`, `x_mask [B, 1, T]`, `g [B, gin, 1]` (or `[B, gin, T]`, or undefined) → `[B, hidden, T]`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    const auto& o = options;
    const int64_t h = o.hidden_channels();
    TORCH_CHECK(x.dim() == 3 && x.size(1) == h, "WN: x [B, ", h, ", T] expected, got ", x.sizes());
    TORCH_CHECK(x_mask.dim() == 3 && x_mask.size(0) == x.size(0) && x_mask.size(1) == 1 && x_mask.size(2) == x.size(2), "WN: x_mask [",
                x.size(0), ", 1, ", x.size(2), "] expected, got ", x_mask.sizes());
    torch::Tensor cond;
    if (g.defined()) {
      TORCH_CHECK(o.gin_channels() != 0, "WN: g given, but the stack has no condition (gin_channels 0)");
      TORCH_CHECK(g.dim() == 3 && g.size(0) == x.size(0) && g.size(1) == o.gin_channels() && (g.size(2) == 1 || g.size(2) == x.size(2)),
                  "WN: g [", x.size(0), ", ", o.gin_channels(), ", 1] or [", x.size(0), ", ", o.gin_channels(), ", ", x.size(2),
                  "] expected, got ", g.sizes());
      cond = cond_layer(g);
    }
    auto output = torch::zeros_like(x);
    for (int64_t i = 0; i < o.n_layers(); ++i) {
      const auto layer = static_cast<size_t>(i);
      const auto x_in = in_[layer](x);
      const auto g_l = cond.defined() ? cond.narrow(1, i * 2 * h, 2 * h) : torch::zeros_like(x_in);
      const auto acts = drop(fused_add_tanh_sigmoid_multiply(x_in, g_l, h));
      const auto res_skip = res_skip_[layer](acts);
      if (i < o.n_layers() - 1) {
        x = (x + res_skip.narrow(1, 0, h)) * x_mask;
        output = output + res_skip.narrow(1, h, h);
      } else {
        output = output + res_skip;
      }
    }
    return output * x_mask;
  }

  WNOptions options;
  torch::nn::ModuleList in_layers{nullptr}, res_skip_layers{nullptr};
  WeightNormConv cond_layer{nullptr};
  torch::nn::Dropout drop{nullptr};

 private:
  std::vector<WeightNormConv> in_, res_skip_;
};
TORCH_MODULE(WN);

}  // namespace chord::nn::vits
