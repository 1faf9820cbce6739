#pragma once
/// @file
/// The VITS posterior encoder (`models.PosteriorEncoder`, fishaudio/Bert-VITS2 8f7fbd8;
/// reference/vits2.md §1.5): a 1×1 `pre` projection of the linear spectrogram, the WaveNet stack `enc`
/// (speaker-conditioned), a 1×1 `proj` to mean and log-deviation, and the reparameterised sample
/// `z = (m + ε·exp(logs))·mask`. The reference draws ε with `randn_like(m)` from the global generator;
/// here ε comes from an explicit generator (same stream as `torch.manual_seed` on the CPU) or is given.

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/nn/vits/commons.hpp"
#include "chord/nn/vits/wavenet.hpp"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace chord::nn::vits {

struct PosteriorEncoderOptions {
  PosteriorEncoderOptions(int64_t in_channels, int64_t out_channels, int64_t hidden_channels, int64_t kernel_size, int64_t dilation_rate,
                          int64_t n_layers)
      : in_channels_(in_channels),
        out_channels_(out_channels),
        hidden_channels_(hidden_channels),
        kernel_size_(kernel_size),
        dilation_rate_(dilation_rate),
        n_layers_(n_layers) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, dilation_rate);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, gin_channels) = 0;

 public:
  /// Bert-VITS2 2.3's `enc_q` (1025 linear-spectrogram bins, 192 channels, kernel 5, dilation 1, 16
  /// layers, gin 512).
  static PosteriorEncoderOptions bert_vits2_v23() { return PosteriorEncoderOptions(1025, 192, 192, 5, 1, 16).gin_channels(512); }
};

/// The reference's tuple `z, m, logs, y_mask`.
struct PosteriorOutput {
  torch::Tensor z;       ///< `[B, out, T]` sample (masked)
  torch::Tensor m;       ///< `[B, out, T]` (masked)
  torch::Tensor logs;    ///< `[B, out, T]` (masked)
  torch::Tensor y_mask;  ///< `[B, 1, T]`
};

class PosteriorEncoderImpl : public torch::nn::Module {
 public:
  explicit PosteriorEncoderImpl(PosteriorEncoderOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    pre = register_module("pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.in_channels(), o.hidden_channels(), 1)));
    enc = register_module("enc", WN(WNOptions(o.hidden_channels(), o.kernel_size(), o.dilation_rate(), o.n_layers()).gin_channels(o.gin_channels())));
    proj = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.hidden_channels(), 2 * o.out_channels(), 1)));
  }

  /// The posterior with ε drawn from `gen` (`[B, out, T]` standard normal, on gen's device, moved to
  /// the input's): `y [B, in, T]`, `y_lengths [B]`, `g [B, gin, 1]` (or undefined).
  PosteriorOutput forward(const torch::Tensor& y, const torch::Tensor& y_lengths, torch::Generator& gen, const torch::Tensor& g = {}) {
    auto out = encode(y, y_lengths, g);
    const auto eps = torch::randn(out.m.sizes(), gen, options_on(gen, out.m.scalar_type())).to(out.m.device());
    out.z = sample(out.m, out.logs, out.y_mask, eps);
    return out;
  }

  /// The posterior with a given ε `[B, out, T]` (parity with a reference draw, or a fixed noise).
  PosteriorOutput forward_with_noise(const torch::Tensor& y, const torch::Tensor& y_lengths, const torch::Tensor& eps,
                                     const torch::Tensor& g = {}) {
    auto out = encode(y, y_lengths, g);
    TORCH_CHECK(eps.sizes() == out.m.sizes(), "PosteriorEncoder: eps ", out.m.sizes(), " expected, got ", eps.sizes());
    out.z = sample(out.m, out.logs, out.y_mask, eps);
    return out;
  }

  /// m, logs and the mask without a sample (`z` left undefined).
  PosteriorOutput encode(const torch::Tensor& y, const torch::Tensor& y_lengths, const torch::Tensor& g = {}) {
    const auto& o = options;
    TORCH_CHECK(y.dim() == 3 && y.size(1) == o.in_channels(), "PosteriorEncoder: y [B, ", o.in_channels(), ", T] expected, got ",
                y.sizes());
    TORCH_CHECK(y_lengths.dim() == 1 && y_lengths.size(0) == y.size(0), "PosteriorEncoder: y_lengths [", y.size(0), "] expected, got ",
                y_lengths.sizes());
    const auto y_mask = sequence_mask(y_lengths.to(y.device()), y.size(2), y.scalar_type());
    auto h = pre(y) * y_mask;
    h = enc(h, y_mask, g);
    const auto stats = proj(h) * y_mask;
    return {torch::Tensor(), stats.narrow(1, 0, o.out_channels()), stats.narrow(1, o.out_channels(), o.out_channels()), y_mask};
  }

  /// `(m + eps·exp(logs))·mask`, in the reference's order.
  static torch::Tensor sample(const torch::Tensor& m, const torch::Tensor& logs, const torch::Tensor& mask, const torch::Tensor& eps) {
    return (m + eps * torch::exp(logs)) * mask;
  }

  PosteriorEncoderOptions options;
  torch::nn::Conv1d pre{nullptr}, proj{nullptr};
  WN enc{nullptr};
};
TORCH_MODULE(PosteriorEncoder);

}  // namespace chord::nn::vits
