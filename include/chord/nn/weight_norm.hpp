#pragma once
/// @file
/// Weight-normalised convolutions, as `torch.nn.utils.weight_norm(conv)` (dim 0) builds them: the
/// weight is `g · v / ‖v‖` (norm over every dimension but the first) recomputed on every call, and a
/// state dict holds `weight_g` (`[out, 1, …]`; `[in, 1, 1]` for a transposed convolution, whose first
/// dimension is the input's) and `weight_v` instead of `weight`. `remove_weight_norm()` folds them into
/// one weight for inference, as the reference's `remove_weight_norm` does (the state dict keeps g and v;
/// a checkpoint that holds a plain `weight` loads into a module built with `weight_norm(false)`).
///
/// Initialisation: the convolution's default (`weight_v` = PyTorch's kaiming-uniform weight,
/// `weight_g = ‖weight_v‖`), which is what a reference `init_weights` call leaves in effect (it writes
/// the derived `.weight`, recomputed from g and v on the next forward; reference/vits2.md §10).

#include "chord/core/error.hpp"

#include <ATen/ops/_weight_norm.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace chord::nn {

enum class ConvKind { conv1d, conv2d, transposed1d };

struct WeightNormConvOptions {
  WeightNormConvOptions(ConvKind kind, int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel)
      : kind_(kind), in_channels_(in_channels), out_channels_(out_channels), kernel_(std::move(kernel)) {}
  TORCH_ARG(ConvKind, kind);
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(std::vector<int64_t>, kernel);       ///< one entry (1d) or two (2d)
  TORCH_ARG(std::vector<int64_t>, stride) = {1};
  TORCH_ARG(std::vector<int64_t>, padding) = {0};
  TORCH_ARG(std::vector<int64_t>, dilation) = {1};
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(bool, bias) = true;
  /// Plain weights from the start (a checkpoint with `weight`, or after remove_weight_norm()).
  TORCH_ARG(bool, weight_norm) = true;
};

class WeightNormConvImpl : public torch::nn::Module {
 public:
  explicit WeightNormConvImpl(WeightNormConvOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.kernel().size() == (o.kind() == ConvKind::conv2d ? 2u : 1u), "WeightNormConv: ", o.kernel().size(),
                " kernel sizes for a ", o.kind() == ConvKind::conv2d ? "2d" : "1d", " convolution");
    torch::Tensor weight, bias;
    if (o.kind() == ConvKind::conv2d) {
      torch::nn::Conv2d conv(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), {o.kernel()[0], o.kernel()[1]})
                                 .groups(o.groups()).bias(o.bias()));
      weight = conv->weight.detach();
      if (o.bias()) bias = conv->bias.detach();
    } else if (o.kind() == ConvKind::conv1d) {
      torch::nn::Conv1d conv(torch::nn::Conv1dOptions(o.in_channels(), o.out_channels(), o.kernel()[0]).groups(o.groups()).bias(o.bias()));
      weight = conv->weight.detach();
      if (o.bias()) bias = conv->bias.detach();
    } else {
      torch::nn::ConvTranspose1d conv(
          torch::nn::ConvTranspose1dOptions(o.in_channels(), o.out_channels(), o.kernel()[0]).groups(o.groups()).bias(o.bias()));
      weight = conv->weight.detach();
      if (o.bias()) bias = conv->bias.detach();
    }
    if (o.weight_norm()) {
      weight_g = register_parameter("weight_g", norm_except_first(weight));
      weight_v = register_parameter("weight_v", weight.clone());
    } else {
      this->weight = register_parameter("weight", weight.clone());
    }
    if (o.bias()) this->bias = register_parameter("bias", bias.clone());
  }

  /// The effective weight: `g · v / ‖v‖`, or the plain weight.
  torch::Tensor effective_weight() const {
    if (weight.defined()) return weight;
    if (folded_.defined() && folded_.device() == weight_v.device() && folded_.scalar_type() == weight_v.scalar_type()) return folded_;
    return at::_weight_norm(weight_v, weight_g, 0);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const auto& o = options;
    const auto w = effective_weight();
    namespace F = torch::nn::functional;
    switch (o.kind()) {
      case ConvKind::conv1d:
        return F::conv1d(x, w, F::Conv1dFuncOptions().bias(bias).stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups()));
      case ConvKind::conv2d:
        return F::conv2d(x, w, F::Conv2dFuncOptions().bias(bias).stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups()));
      case ConvKind::transposed1d:
        return F::conv_transpose1d(
            x, w, F::ConvTranspose1dFuncOptions().bias(bias).stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups()));
    }
    return {};
  }

  /// Computes `g · v / ‖v‖` once and uses it from now on (inference: the reference's
  /// `remove_weight_norm`). g and v stop training; call again after changing them (loading weights).
  void remove_weight_norm() {
    if (weight.defined()) return;
    folded_ = torch::Tensor();
    folded_ = at::_weight_norm(weight_v, weight_g, 0).detach();
    weight_g.set_requires_grad(false);
    weight_v.set_requires_grad(false);
  }

  /// Whether the weight is recomputed from g and v on every call.
  bool weight_normalised() const { return !weight.defined() && !folded_.defined(); }

  WeightNormConvOptions options;
  torch::Tensor weight_g, weight_v, weight, bias;

 private:
  torch::Tensor folded_;

  static torch::Tensor norm_except_first(const torch::Tensor& v) {
    std::vector<int64_t> dims;
    for (int64_t d = 1; d < v.dim(); ++d) dims.push_back(d);
    return v.norm(2, dims, /*keepdim=*/true);
  }
};
TORCH_MODULE(WeightNormConv);

/// A weight-normalised Conv1d with the usual arguments.
inline WeightNormConv weight_norm_conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
                                         int64_t dilation = 1, int64_t groups = 1, bool bias = true) {
  return WeightNormConv(WeightNormConvOptions(ConvKind::conv1d, in, out, {kernel})
                            .stride({stride}).padding({padding}).dilation({dilation}).groups(groups).bias(bias));
}

/// remove_weight_norm() on every WeightNormConv in `module`'s tree.
inline void remove_weight_norm(torch::nn::Module& module) {
  for (const auto& child : module.modules()) {
    if (auto* conv = dynamic_cast<WeightNormConvImpl*>(child.get())) conv->remove_weight_norm();
  }
}

}  // namespace chord::nn
