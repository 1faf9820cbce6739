#pragma once
/// @file
/// The normalising flows between VITS's posterior and prior (fishaudio/Bert-VITS2 8f7fbd8;
/// reference/vits2.md §1.6): `modules.ResidualCouplingLayer` (WaveNet coupling, VITS-1),
/// `modules.TransformerCouplingLayer` (relative-position transformer coupling, VITS2, Bert-VITS2's
/// default), `modules.Flip` (channel reversal, `FlowFlip`), and the blocks `models.ResidualCouplingBlock` and
/// `models.TransformerCouplingBlock` that alternate n coupling layers with Flip (`flows.0`, `flows.2`,
/// ... hold the weights, as the reference's ModuleList).
///
/// Coupling: `x0, x1 = split(x)`, `stats = post(enc(pre(x0)·mask))·mask`, forward
/// `x1' = m + x1·exp(logs)·mask`, reverse `x1 = (x1' − m)·exp(−logs)·mask`, logdet `Σ logs`. The
/// untouched half `x0` passes unmasked, as in the reference, so padded frames of `x0` reach the output
/// (reference/vits2.md §10). `post` starts at zero (each layer starts as the identity). The reference's
/// `share_parameter=True` path (one shared encoder, `attentions.FFT`) crashes there and is not carried over.

#include "chord/core/error.hpp"
#include "chord/nn/vits/attentions.hpp"
#include "chord/nn/vits/wavenet.hpp"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace chord::nn::vits {

namespace flow_detail {

inline void check_flow_input(const char* who, const torch::Tensor& x, int64_t channels, const torch::Tensor& x_mask) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == channels, who, ": x [B, ", channels, ", T] expected, got ", x.sizes());
  TORCH_CHECK(x_mask.dim() == 3 && x_mask.size(0) == x.size(0) && x_mask.size(1) == 1 && x_mask.size(2) == x.size(2), who, ": x_mask [",
              x.size(0), ", 1, ", x.size(2), "] expected, got ", x_mask.sizes());
}

/// The affine coupling on `x1` given the network's masked `stats` (`[B, half, T]` for mean-only,
/// `[B, 2·half, T]` otherwise). Forward returns `(x, Σ logs)`, reverse `(x, undefined)`.
inline std::pair<torch::Tensor, torch::Tensor> affine_coupling(const torch::Tensor& x0, const torch::Tensor& x1, const torch::Tensor& stats,
                                                               const torch::Tensor& x_mask, int64_t half, bool mean_only, bool reverse) {
  const auto m = mean_only ? stats : stats.narrow(1, 0, half);
  const auto logs = mean_only ? torch::zeros_like(m) : stats.narrow(1, half, half);
  if (!reverse) {
    const auto y1 = m + x1 * torch::exp(logs) * x_mask;
    return {torch::cat({x0, y1}, 1), torch::sum(logs, {1, 2})};
  }
  const auto y1 = (x1 - m) * torch::exp(-logs) * x_mask;
  return {torch::cat({x0, y1}, 1), torch::Tensor()};
}

}  // namespace flow_detail

/// `modules.Flip` as the coupling blocks use it: reverses the channel order; log-determinant 0. No
/// parameters; a module so that `flows.i` numbers as the reference's. (Named apart from the duration
/// predictors' `Flip`, duration_predictors.hpp, whose forward returns the tensor alone.)
class FlowFlipImpl : public torch::nn::Module {
 public:
  /// Forward: `(flip(x), zeros [B])`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    return {torch::flip(x, {1}), torch::zeros({x.size(0)}, x.options())};
  }
  torch::Tensor reverse(const torch::Tensor& x) { return torch::flip(x, {1}); }
};
TORCH_MODULE(FlowFlip);

struct ResidualCouplingLayerOptions {
  ResidualCouplingLayerOptions(int64_t channels, int64_t hidden_channels, int64_t kernel_size, int64_t dilation_rate, int64_t n_layers)
      : channels_(channels), hidden_channels_(hidden_channels), kernel_size_(kernel_size), dilation_rate_(dilation_rate), n_layers_(n_layers) {}
  TORCH_ARG(int64_t, channels);  ///< even
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, dilation_rate);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(double, p_dropout) = 0.0;
  TORCH_ARG(int64_t, gin_channels) = 0;
  /// Shift only (log-scale 0); `post` then predicts `channels/2` values instead of `channels`.
  TORCH_ARG(bool, mean_only) = false;
};

namespace flow_detail {

/// The shape both coupling layers share: `pre` (1×1) on the first half, an encoder, `post` (1×1,
/// zero-initialised, so a new layer is the identity), the affine coupling of the second half.
/// Registered in the reference's order (pre, enc, post).
template <class Encoder>
class CouplingLayer : public torch::nn::Module {
 public:
  /// `x [B, channels, T]`, `x_mask [B, 1, T]`, `g [B, gin, 1]` (or undefined) → `(y, logdet [B])`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    return couple(x, x_mask, g, false);
  }
  /// The inverse of forward.
  torch::Tensor reverse(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    return couple(x, x_mask, g, true).first;
  }

  torch::nn::Conv1d pre{nullptr}, post{nullptr};
  Encoder enc{nullptr};

 protected:
  CouplingLayer(const char* who, int64_t channels, int64_t hidden_channels, bool mean_only, Encoder encoder)
      : who_(who), channels_(channels), half_(channels / 2), mean_only_(mean_only) {
    CHORD_CHECK(channels % 2 == 0, who, ": channels ", channels, " are not even");
    pre = register_module("pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(half_, hidden_channels, 1)));
    enc = register_module("enc", std::move(encoder));
    post = register_module("post", torch::nn::Conv1d(torch::nn::Conv1dOptions(hidden_channels, half_ * (mean_only ? 1 : 2), 1)));
    torch::NoGradGuard no_grad;
    post->weight.zero_();
    post->bias.zero_();
  }

 private:
  std::pair<torch::Tensor, torch::Tensor> couple(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g, bool reverse) {
    check_flow_input(who_, x, channels_, x_mask);
    const auto x0 = x.narrow(1, 0, half_);
    const auto x1 = x.narrow(1, half_, half_);
    auto h = pre(x0) * x_mask;
    h = enc(h, x_mask, g);
    const auto stats = post(h) * x_mask;
    return affine_coupling(x0, x1, stats, x_mask, half_, mean_only_, reverse);
  }

  const char* who_;
  int64_t channels_, half_;
  bool mean_only_;
};

}  // namespace flow_detail

/// `modules.ResidualCouplingLayer`: `pre` (1×1), `enc` (WN), `post` (1×1, zero-initialised).
class ResidualCouplingLayerImpl : public flow_detail::CouplingLayer<WN> {
 public:
  explicit ResidualCouplingLayerImpl(ResidualCouplingLayerOptions options_)
      : CouplingLayer("ResidualCouplingLayer", options_.channels(), options_.hidden_channels(), options_.mean_only(),
                      WN(WNOptions(options_.hidden_channels(), options_.kernel_size(), options_.dilation_rate(), options_.n_layers())
                             .p_dropout(options_.p_dropout())
                             .gin_channels(options_.gin_channels()))),
        options(std::move(options_)) {}

  ResidualCouplingLayerOptions options;
};
TORCH_MODULE(ResidualCouplingLayer);

struct TransformerCouplingLayerOptions {
  TransformerCouplingLayerOptions(int64_t channels, int64_t hidden_channels, int64_t kernel_size, int64_t n_layers, int64_t n_heads)
      : channels_(channels), hidden_channels_(hidden_channels), kernel_size_(kernel_size), n_layers_(n_layers), n_heads_(n_heads) {}
  TORCH_ARG(int64_t, channels);  ///< even
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(double, p_dropout) = 0.0;
  TORCH_ARG(int64_t, filter_channels) = 0;
  TORCH_ARG(bool, mean_only) = false;
  /// Speaker embedding width, added before encoder layer 2 (so n_layers must exceed 2 when set).
  TORCH_ARG(int64_t, gin_channels) = 0;
};

/// `modules.TransformerCouplingLayer`: `pre` (1×1), `enc` (attentions.Encoder, window 4),
/// `post` (1×1, zero-initialised).
class TransformerCouplingLayerImpl : public flow_detail::CouplingLayer<AttentionEncoder> {
 public:
  explicit TransformerCouplingLayerImpl(TransformerCouplingLayerOptions options_)
      : CouplingLayer("TransformerCouplingLayer", options_.channels(), options_.hidden_channels(), options_.mean_only(),
                      AttentionEncoder(AttentionEncoderOptions(options_.hidden_channels(), options_.filter_channels(), options_.n_heads(),
                                                               options_.n_layers())
                                           .kernel_size(options_.kernel_size())
                                           .p_dropout(options_.p_dropout())
                                           .gin_channels(options_.gin_channels()))),
        options(std::move(options_)) {}

  TransformerCouplingLayerOptions options;
};
TORCH_MODULE(TransformerCouplingLayer);

namespace flow_detail {

/// n coupling layers, each followed by a FlowFlip, registered as `flows.0 … flows.2n−1`. Forward runs them
/// in order and drops the log-determinants (the reference's blocks); reverse runs them backwards.
template <typename Coupling>
class CouplingStack {
 public:
  void add(torch::nn::ModuleList& list, Coupling layer) {
    couplings.push_back(layer);
    flips.push_back(FlowFlip());
    list->push_back(couplings.back());
    list->push_back(flips.back());
  }
  torch::Tensor run(torch::Tensor x, const torch::Tensor& x_mask, const torch::Tensor& g, bool reverse) {
    if (!reverse) {
      for (size_t i = 0; i < couplings.size(); ++i) {
        x = couplings[i]->forward(x, x_mask, g).first;
        x = flips[i]->forward(x).first;
      }
    } else {
      for (size_t i = couplings.size(); i-- > 0;) {
        x = flips[i]->reverse(x);
        x = couplings[i]->reverse(x, x_mask, g);
      }
    }
    return x;
  }
  std::vector<Coupling> couplings;
  std::vector<FlowFlip> flips;
};

}  // namespace flow_detail

struct ResidualCouplingBlockOptions {
  ResidualCouplingBlockOptions(int64_t channels, int64_t hidden_channels, int64_t kernel_size, int64_t dilation_rate, int64_t n_layers)
      : channels_(channels), hidden_channels_(hidden_channels), kernel_size_(kernel_size), dilation_rate_(dilation_rate), n_layers_(n_layers) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, dilation_rate);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, n_flows) = 4;
  TORCH_ARG(int64_t, gin_channels) = 0;

 public:
  /// Bert-VITS2 2.3's flow with `use_transformer_flow=False` (192 channels, kernel 5, dilation 1, 4
  /// WN layers, 4 flows, gin 512).
  static ResidualCouplingBlockOptions bert_vits2_v23() { return ResidualCouplingBlockOptions(192, 192, 5, 1, 4).gin_channels(512); }
};

/// `models.ResidualCouplingBlock`: n × [ResidualCouplingLayer (mean-only), FlowFlip].
class ResidualCouplingBlockImpl : public torch::nn::Module {
 public:
  explicit ResidualCouplingBlockImpl(ResidualCouplingBlockOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.n_flows() >= 1, "ResidualCouplingBlock: n_flows ", o.n_flows(), " is not positive");
    flows = register_module("flows", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.n_flows(); ++i) {
      stack_.add(flows, ResidualCouplingLayer(ResidualCouplingLayerOptions(o.channels(), o.hidden_channels(), o.kernel_size(), o.dilation_rate(),
                                                                           o.n_layers())
                                                  .gin_channels(o.gin_channels())
                                                  .mean_only(true)));
    }
  }

  /// `x [B, channels, T]`, `x_mask [B, 1, T]`, `g [B, gin, 1]` (or undefined); `reverse` inverts.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g = {}, bool reverse = false) {
    return stack_.run(x, x_mask, g, reverse);
  }

  ResidualCouplingBlockOptions options;
  torch::nn::ModuleList flows{nullptr};

 private:
  flow_detail::CouplingStack<ResidualCouplingLayer> stack_;
};
TORCH_MODULE(ResidualCouplingBlock);

struct TransformerCouplingBlockOptions {
  TransformerCouplingBlockOptions(int64_t channels, int64_t hidden_channels, int64_t filter_channels, int64_t n_heads, int64_t n_layers,
                                  int64_t kernel_size, double p_dropout)
      : channels_(channels),
        hidden_channels_(hidden_channels),
        filter_channels_(filter_channels),
        n_heads_(n_heads),
        n_layers_(n_layers),
        kernel_size_(kernel_size),
        p_dropout_(p_dropout) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(double, p_dropout);
  TORCH_ARG(int64_t, n_flows) = 4;
  TORCH_ARG(int64_t, gin_channels) = 0;

 public:
  /// Bert-VITS2 2.3's `flow` (192 channels, filter 768, 2 heads, 4 layers, kernel 5, dropout 0.1, 4
  /// flows, gin 512).
  static TransformerCouplingBlockOptions bert_vits2_v23() {
    return TransformerCouplingBlockOptions(192, 192, 768, 2, 4, 5, 0.1).gin_channels(512);
  }
};

/// `models.TransformerCouplingBlock`: n × [TransformerCouplingLayer (mean-only), FlowFlip].
class TransformerCouplingBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerCouplingBlockImpl(TransformerCouplingBlockOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.n_flows() >= 1, "TransformerCouplingBlock: n_flows ", o.n_flows(), " is not positive");
    flows = register_module("flows", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.n_flows(); ++i) {
      stack_.add(flows, TransformerCouplingLayer(TransformerCouplingLayerOptions(o.channels(), o.hidden_channels(), o.kernel_size(), o.n_layers(),
                                                                                 o.n_heads())
                                                     .p_dropout(o.p_dropout())
                                                     .filter_channels(o.filter_channels())
                                                     .mean_only(true)
                                                     .gin_channels(o.gin_channels())));
    }
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g = {}, bool reverse = false) {
    return stack_.run(x, x_mask, g, reverse);
  }

  TransformerCouplingBlockOptions options;
  torch::nn::ModuleList flows{nullptr};

 private:
  flow_detail::CouplingStack<TransformerCouplingLayer> stack_;
};
TORCH_MODULE(TransformerCouplingBlock);

}  // namespace chord::nn::vits
