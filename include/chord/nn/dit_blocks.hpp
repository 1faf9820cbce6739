#pragma once
/// @file
/// Blocks DiT-style backbones share (the F5-TTS DiT, the patch DiT, the DTM head): the sinusoidal
/// timestep embedding with its MLP, AdaLN modulation of a LayerNorm without affine parameters, and
/// RMSNorm with a weight. Parameter names follow F5-TTS (`time_mlp.0`, `time_mlp.2`, `weight`).

#include <torch/nn/functional/normalization.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>

namespace chord::nn {

/// Sinusoidal timestep features (sin first, scale 1000) → Linear → SiLU → Linear.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  explicit TimestepEmbeddingImpl(int64_t dim, int64_t freq_embed_dim = 256) : freq_dim_(freq_embed_dim) {
    time_mlp = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(freq_embed_dim, dim),
                                                                 torch::nn::SiLU(), torch::nn::Linear(dim, dim)));
  }
  /// `time [B]` → `[B, dim]`.
  torch::Tensor forward(const torch::Tensor& time) {
    const int64_t half = freq_dim_ / 2;
    const double step = std::log(10000.0) / static_cast<double>(half - 1);
    auto freqs = torch::exp(torch::arange(half, time.options().dtype(torch::kFloat32)) * -step);
    auto args = 1000.0 * time.unsqueeze(1) * freqs.unsqueeze(0);
    auto features = torch::cat({args.sin(), args.cos()}, -1).to(time.scalar_type());
    return time_mlp->forward(features);
  }
  torch::nn::Sequential time_mlp{nullptr};

 private:
  int64_t freq_dim_;
};
TORCH_MODULE(TimestepEmbedding);

/// The AdaLN modulation of DiT-style blocks: `LN(x)·(1 + scale) + shift` with a LayerNorm without
/// affine parameters (eps 1e-6). Per-item `shift, scale [B, D]` modulate `x [B, N, D]` token-wise
/// (they are broadcast over N); per-token ones `[B, N, D]` apply as they are.
inline torch::Tensor modulated_layer_norm(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale) {
  namespace F = torch::nn::functional;
  auto normed = F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).eps(1e-6));
  const bool per_item = shift.dim() == 2 && x.dim() == 3;
  return normed * (1 + (per_item ? scale.unsqueeze(1) : scale)) + (per_item ? shift.unsqueeze(1) : shift);
}

/// RMSNorm with a weight (used for optional q/k normalisation).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }
  torch::Tensor forward(const torch::Tensor& x) { return torch::rms_norm(x, {x.size(-1)}, weight, eps_); }
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace chord::nn
