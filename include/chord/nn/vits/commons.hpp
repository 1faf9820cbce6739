#pragma once
/// @file
/// Shared pieces of the VITS family (Bert-VITS2 `commons.py` and `modules.LayerNorm`): the channel-first
/// layer norm, sequence masks, the WaveNet gate, segment slicing and the hard alignment path of given
/// durations. Layout: `[B, C, T]` (channels first), as the reference.

#include "chord/core/mask.hpp"
#include "chord/core/random.hpp"

#include <torch/nn/functional/normalization.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace chord::nn::vits {

/// Layer norm over the channels of `[B, C, T]` (`modules.LayerNorm`: eps 1e-5, `gamma`/`beta`).
class ChannelLayerNormImpl : public torch::nn::Module {
 public:
  explicit ChannelLayerNormImpl(int64_t channels, double eps = 1e-5) : channels_(channels), eps_(eps) {
    gamma = register_parameter("gamma", torch::ones({channels}));
    beta = register_parameter("beta", torch::zeros({channels}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    namespace F = torch::nn::functional;
    auto y = F::layer_norm(x.transpose(1, -1), F::LayerNormFuncOptions({channels_}).weight(gamma).bias(beta).eps(eps_));
    return y.transpose(1, -1);
  }
  torch::Tensor gamma, beta;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(ChannelLayerNorm);

/// `[B, 1, T]` mask of `lengths [B]` in `dtype` (`commons.sequence_mask(...).unsqueeze(1)`).
inline torch::Tensor sequence_mask(const torch::Tensor& lengths, int64_t max_length, c10::ScalarType dtype = torch::kFloat32) {
  return lens_to_mask(lengths, max_length).unsqueeze(1).to(dtype);
}

/// The WaveNet gate: `tanh(a + b)[:, :n] · sigmoid(a + b)[:, n:]`.
inline torch::Tensor fused_add_tanh_sigmoid_multiply(const torch::Tensor& a, const torch::Tensor& b, int64_t n) {
  const auto in = a + b;
  return torch::tanh(in.narrow(1, 0, n)) * torch::sigmoid(in.narrow(1, n, n));
}

/// `x [B, C, T]` cut at `starts [B]` (long) to `[B, C, size]` (`commons.slice_segments`, a gather).
inline torch::Tensor slice_segments(const torch::Tensor& x, const torch::Tensor& starts, int64_t size) {
  const auto index = (starts.to(torch::kLong).view({-1, 1, 1}) + torch::arange(size, starts.options().dtype(torch::kLong)))
                         .expand({x.size(0), x.size(1), size})
                         .to(x.device());
  return x.gather(2, index);
}

/// Random segments of `size` frames inside each item's `lengths` (`commons.rand_slice_segments`):
/// `start = floor(rand · max(length − size + 1, 0))`, one `rand` draw of `[B]` from `gen`.
inline std::pair<torch::Tensor, torch::Tensor> rand_slice_segments(const torch::Tensor& x, const torch::Tensor& lengths, int64_t size,
                                                                   torch::Generator& gen) {
  const auto highest = (lengths.to(torch::kLong) - size + 1).clamp_min(0);
  const auto starts = (torch::rand({x.size(0)}, gen, options_on(gen)).to(lengths.device()) * highest).to(torch::kLong);
  return {slice_segments(x, starts, size), starts};
}

/// The hard alignment of integer durations (`commons.generate_path`): `durations [B, 1, T_x]`,
/// `mask [B, 1, T_y, T_x]` → `[B, 1, T_y, T_x]` with token x on frames [cum[x − 1], cum[x]).
inline torch::Tensor generate_path(const torch::Tensor& durations, const torch::Tensor& mask) {
  const int64_t b = mask.size(0), t_y = mask.size(2), t_x = mask.size(3);
  const auto cumulative = durations.cumsum(-1).view({b * t_x});
  auto path = lens_to_mask(cumulative.to(torch::kLong), t_y).to(mask.scalar_type()).view({b, t_x, t_y});
  path = path - torch::constant_pad_nd(path, {0, 0, 1, 0}).narrow(1, 0, t_x);
  return path.unsqueeze(1).transpose(2, 3) * mask;
}

}  // namespace chord::nn::vits
