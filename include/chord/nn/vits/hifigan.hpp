#pragma once
/// @file
/// Bert-VITS2's waveform decoder: the VITS variant of the HiFi-GAN generator (`models.Generator`) and its
/// residual blocks (`modules.ResBlock1`, `modules.ResBlock2`), fishaudio/Bert-VITS2 8f7fbd8
/// (reference/vits2.md §1.10). Module and parameter names are the reference's, so a checkpoint's
/// `dec.*` tensors load key for key (weight-normed convolutions hold `weight_g`/`weight_v`).
///
/// `z [B, initial_channel, T]` → `conv_pre` (+ `cond(g)`) → per stage: leaky ReLU 0.1, weight-normed
/// transposed convolution (stride u, padding (k − u)/2), mean of the stage's residual blocks → leaky ReLU
/// with slope 0.01 (the reference calls `F.leaky_relu` without a slope there) → `conv_post` (no bias) →
/// tanh → `[B, 1, T·Πu]` (exactly Πu per frame when every k − u is even).

#include "chord/core/error.hpp"
#include "chord/nn/weight_norm.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chord::nn::vits {

/// `modules.LRELU_SLOPE`: every leaky ReLU of the generator and the discriminators but one.
inline constexpr double kLeakyReluSlope = 0.1;
/// The generator's last leaky ReLU, before `conv_post`: PyTorch's default slope (the reference passes none).
inline constexpr double kFinalLeakyReluSlope = 0.01;

/// "Same" padding of a dilated convolution (`commons.get_padding`).
inline int64_t get_padding(int64_t kernel_size, int64_t dilation = 1) { return (kernel_size * dilation - dilation) / 2; }

namespace detail {
inline torch::Tensor leaky_relu(const torch::Tensor& x, double slope) {
  namespace F = torch::nn::functional;
  return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(slope));
}

inline WeightNormConv same_conv1d(int64_t channels, int64_t kernel_size, int64_t dilation) {
  return WeightNormConv(WeightNormConvOptions(ConvKind::conv1d, channels, channels, {kernel_size})
                            .dilation({dilation})
                            .padding({get_padding(kernel_size, dilation)}));
}
}  // namespace detail

/// What the generator needs of a residual block: `x [B, C, T]`, optional `x_mask [B, 1, T]`.
class ResBlockBase : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask = {}) = 0;
};

/// `modules.ResBlock1`: three pairs (dilated conv, plain conv), each `x += c2(lrelu(c1(lrelu(x))))`;
/// with `x_mask`, the activations and the result are masked. State dict `convs1.{0,1,2}`, `convs2.{0,1,2}`.
class ResBlock1Impl : public ResBlockBase {
 public:
  explicit ResBlock1Impl(int64_t channels, int64_t kernel_size = 3, std::vector<int64_t> dilation = {1, 3, 5}) {
    CHORD_CHECK(dilation.size() == 3, "ResBlock1: 3 dilations expected, got ", dilation.size());
    convs1 = register_module("convs1", torch::nn::ModuleList());
    convs2 = register_module("convs2", torch::nn::ModuleList());
    for (auto d : dilation) {
      c1_.push_back(detail::same_conv1d(channels, kernel_size, d));
      convs1->push_back(c1_.back());
    }
    for (size_t i = 0; i < dilation.size(); ++i) {
      c2_.push_back(detail::same_conv1d(channels, kernel_size, 1));
      convs2->push_back(c2_.back());
    }
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask = {}) override {
    auto out = x;
    for (size_t i = 0; i < c1_.size(); ++i) {
      auto xt = detail::leaky_relu(out, kLeakyReluSlope);
      if (x_mask.defined()) xt = xt * x_mask;
      xt = detail::leaky_relu(c1_[i](xt), kLeakyReluSlope);
      if (x_mask.defined()) xt = xt * x_mask;
      out = c2_[i](xt) + out;
    }
    return x_mask.defined() ? out * x_mask : out;
  }

  torch::nn::ModuleList convs1{nullptr}, convs2{nullptr};

 private:
  std::vector<WeightNormConv> c1_, c2_;
};
TORCH_MODULE(ResBlock1);

/// `modules.ResBlock2`: two dilated convs, each `x += c(lrelu(x))` (masked as ResBlock1). State dict `convs.{0,1}`.
class ResBlock2Impl : public ResBlockBase {
 public:
  explicit ResBlock2Impl(int64_t channels, int64_t kernel_size = 3, std::vector<int64_t> dilation = {1, 3}) {
    CHORD_CHECK(dilation.size() == 2, "ResBlock2: 2 dilations expected, got ", dilation.size());
    convs = register_module("convs", torch::nn::ModuleList());
    for (auto d : dilation) {
      c_.push_back(detail::same_conv1d(channels, kernel_size, d));
      convs->push_back(c_.back());
    }
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask = {}) override {
    auto out = x;
    for (auto& c : c_) {
      auto xt = detail::leaky_relu(out, kLeakyReluSlope);
      if (x_mask.defined()) xt = xt * x_mask;
      out = c(xt) + out;
    }
    return x_mask.defined() ? out * x_mask : out;
  }

  torch::nn::ModuleList convs{nullptr};

 private:
  std::vector<WeightNormConv> c_;
};
TORCH_MODULE(ResBlock2);

/// `models.Generator(initial_channel, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
/// upsample_rates, upsample_initial_channel, upsample_kernel_sizes, gin_channels)`. Defaults: the
/// Bert-VITS2 2.3 config (reference/vits2.md §1.1), 512× upsampling.
struct GeneratorOptions {
  TORCH_ARG(int64_t, initial_channel) = 192;  ///< inter_channels: the latent z's channels
  TORCH_ARG(std::string, resblock) = "1";     ///< "1" (ResBlock1) or "2" (ResBlock2)
  TORCH_ARG(std::vector<int64_t>, resblock_kernel_sizes) = std::vector<int64_t>{3, 7, 11};
  TORCH_ARG(std::vector<std::vector<int64_t>>, resblock_dilation_sizes) =
      std::vector<std::vector<int64_t>>{{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  TORCH_ARG(std::vector<int64_t>, upsample_rates) = std::vector<int64_t>{8, 8, 2, 2, 2};
  TORCH_ARG(int64_t, upsample_initial_channel) = 512;
  TORCH_ARG(std::vector<int64_t>, upsample_kernel_sizes) = std::vector<int64_t>{16, 16, 8, 2, 2};
  TORCH_ARG(int64_t, gin_channels) = 512;  ///< 0: no speaker conditioning (no `cond`)

 public:
  /// Bert-VITS2 2.3 (`configs/config.json`).
  static GeneratorOptions bert_vits2() { return {}; }

  /// Output samples per input frame, Πu (exact when every kernel − rate is even).
  int64_t upsample_factor() const {
    int64_t f = 1;
    for (auto u : upsample_rates_) f *= u;
    return f;
  }

  void validate() const {
    CHORD_CHECK(resblock_ == "1" || resblock_ == "2", "GeneratorOptions: resblock \"1\" or \"2\" expected, got \"", resblock_, "\"");
    CHORD_CHECK(!resblock_kernel_sizes_.empty() && resblock_kernel_sizes_.size() == resblock_dilation_sizes_.size(),
                "GeneratorOptions: ", resblock_kernel_sizes_.size(), " resblock kernel sizes for ", resblock_dilation_sizes_.size(),
                " dilation lists (one each expected)");
    CHORD_CHECK(!upsample_rates_.empty() && upsample_rates_.size() == upsample_kernel_sizes_.size(), "GeneratorOptions: ",
                upsample_rates_.size(), " upsample rates for ", upsample_kernel_sizes_.size(), " upsample kernel sizes (one each expected)");
    for (size_t i = 0; i < upsample_rates_.size(); ++i) {
      CHORD_CHECK(upsample_rates_[i] > 0 && upsample_kernel_sizes_[i] >= upsample_rates_[i], "GeneratorOptions: upsample stage ", i,
                  " has rate ", upsample_rates_[i], " and kernel ", upsample_kernel_sizes_[i], " (kernel >= rate > 0 expected)");
    }
    CHORD_CHECK(initial_channel_ > 0 && gin_channels_ >= 0, "GeneratorOptions: initial_channel must be positive, gin_channels >= 0");
    CHORD_CHECK((upsample_initial_channel_ >> upsample_rates_.size()) > 0, "GeneratorOptions: upsample_initial_channel ",
                upsample_initial_channel_, " cannot be halved ", upsample_rates_.size(), " times");
  }
};

class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(GeneratorOptions options_ = {}) : options(std::move(options_)) {
    const auto& o = options;
    o.validate();
    const int64_t c0 = o.upsample_initial_channel();
    conv_pre = register_module("conv_pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.initial_channel(), c0, 7).padding(3)));
    ups = register_module("ups", torch::nn::ModuleList());
    resblocks = register_module("resblocks", torch::nn::ModuleList());
    int64_t ch = c0;
    for (size_t i = 0; i < o.upsample_rates().size(); ++i) {
      const int64_t u = o.upsample_rates()[i], k = o.upsample_kernel_sizes()[i];
      ch = c0 >> (i + 1);
      ups_.push_back(WeightNormConv(
          WeightNormConvOptions(ConvKind::transposed1d, c0 >> i, ch, {k}).stride({u}).padding({(k - u) / 2})));
      ups->push_back(ups_.back());
      for (size_t j = 0; j < o.resblock_kernel_sizes().size(); ++j) {
        std::shared_ptr<ResBlockBase> block;
        if (o.resblock() == "1") {
          block = std::make_shared<ResBlock1Impl>(ch, o.resblock_kernel_sizes()[j], o.resblock_dilation_sizes()[j]);
        } else {
          block = std::make_shared<ResBlock2Impl>(ch, o.resblock_kernel_sizes()[j], o.resblock_dilation_sizes()[j]);
        }
        resblocks->push_back(block);
        blocks_.push_back(block);
      }
    }
    conv_post = register_module("conv_post", torch::nn::Conv1d(torch::nn::Conv1dOptions(ch, 1, 7).padding(3).bias(false)));
    if (o.gin_channels() > 0) cond = register_module("cond", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.gin_channels(), c0, 1)));
  }

  /// `z [B, initial_channel, T]`, optional speaker embedding `g [B, gin_channels, 1]` → `[B, 1, T']`
  /// (T' = T·Πu when every kernel − rate is even).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& g = {}) {
    const auto& o = options;
    TORCH_CHECK(z.dim() == 3 && z.size(1) == o.initial_channel(), "z [B, ", o.initial_channel(), ", T] expected, got ", z.sizes());
    auto x = conv_pre(z);
    if (g.defined()) {
      CHORD_CHECK(!cond.is_empty(), "Generator: a speaker embedding g was given to a generator built without gin_channels");
      // Broadcast as the reference's `x + cond(g)`: one speaker for the batch, or one per frame.
      TORCH_CHECK(g.dim() == 3 && (g.size(0) == z.size(0) || g.size(0) == 1) && g.size(1) == o.gin_channels() &&
                      (g.size(2) == 1 || g.size(2) == z.size(2)),
                  "g [B, ", o.gin_channels(), ", 1] expected (B = ", z.size(0), "), got ", g.sizes());
      x = x + cond(g);
    }
    const auto kernels = static_cast<int64_t>(o.resblock_kernel_sizes().size());
    for (size_t i = 0; i < ups_.size(); ++i) {
      x = ups_[i](detail::leaky_relu(x, kLeakyReluSlope));
      torch::Tensor xs;
      for (int64_t j = 0; j < kernels; ++j) {
        auto y = blocks_[i * kernels + j]->forward(x);
        xs = xs.defined() ? xs + y : y;
      }
      x = xs / static_cast<double>(kernels);
    }
    return torch::tanh(conv_post(detail::leaky_relu(x, kFinalLeakyReluSlope)));
  }

  /// Folds every weight-normed convolution (`ups`, the residual blocks) into one weight, as the
  /// reference's `remove_weight_norm()` before inference; the state dict keeps `weight_g`/`weight_v`.
  /// Call again after loading new weights.
  void remove_weight_norm() { chord::nn::remove_weight_norm(*this); }

  GeneratorOptions options;
  torch::nn::Conv1d conv_pre{nullptr}, conv_post{nullptr}, cond{nullptr};
  torch::nn::ModuleList ups{nullptr}, resblocks{nullptr};

 private:
  std::vector<WeightNormConv> ups_;
  std::vector<std::shared_ptr<ResBlockBase>> blocks_;
};
TORCH_MODULE(Generator);

}  // namespace chord::nn::vits
