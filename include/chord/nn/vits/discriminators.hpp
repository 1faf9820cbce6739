#pragma once
/// @file
/// Bert-VITS2's adversaries (fishaudio/Bert-VITS2 8f7fbd8 `models.py`, reference/vits2.md §2.1–2.2): the
/// waveform discriminators `DiscriminatorP` (period folding, 2-D convolutions), `DiscriminatorS` (grouped
/// 1-D convolutions) and `MultiPeriodDiscriminator` (S + periods 2, 3, 5, 7, 11), all weight-normed, and
/// the VITS2 `DurationDiscriminator` in its Bert-VITS2 2.3 form (speaker-conditioned, bidirectional LSTM,
/// sigmoid output). Names are the reference's, so `net_d` / `net_dur_disc` checkpoints load key for key.
///
/// The reference hard-codes the waveform discriminators' channel counts; the options expose them only so
/// tests can run the same code at a smaller width (the defaults are the reference's). Spectral norm
/// (`use_spectral_norm=True`, unused by Bert-VITS2's config) is not offered.

#include "chord/core/error.hpp"
#include "chord/nn/vits/commons.hpp"
#include "chord/nn/vits/hifigan.hpp"
#include "chord/nn/weight_norm.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace chord::nn::vits {

/// A discriminator's score (`[B, N]`, flattened) and its feature maps (every activation, then the score map).
using DiscriminatorOutput = std::pair<torch::Tensor, std::vector<torch::Tensor>>;

namespace detail {
inline void check_waveform(const torch::Tensor& y, const char* name) {
  TORCH_CHECK(y.dim() == 3 && y.size(1) == 1, name, " [B, 1, T] expected, got ", y.sizes());
}
}  // namespace detail

namespace detail {
/// Both discriminators' stack: each conv followed by leaky ReLU 0.1, then `conv_post`; the flattened
/// score and every activation (the feature maps of feature matching).
inline std::pair<torch::Tensor, std::vector<torch::Tensor>> score_with_features(torch::Tensor x, std::vector<WeightNormConv>& convs,
                                                                                WeightNormConv& conv_post) {
  std::vector<torch::Tensor> fmap;
  for (auto& conv : convs) {
    x = leaky_relu(conv(x), kLeakyReluSlope);
    fmap.push_back(x);
  }
  x = conv_post(x);
  fmap.push_back(x);
  return {x.flatten(1, -1), std::move(fmap)};
}
}  // namespace detail

/// `models.DiscriminatorP(period, kernel_size=5, stride=3)`.
struct DiscriminatorPOptions {
  explicit DiscriminatorPOptions(int64_t period) : period_(period) {}
  TORCH_ARG(int64_t, period);
  TORCH_ARG(int64_t, kernel_size) = 5;
  TORCH_ARG(int64_t, stride) = 3;
  /// Output channels of the five convolutions (the first four strided); the reference's 32, 128, 512, 1024, 1024.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 128, 512, 1024, 1024};
};

/// Folds `[B, C, T]` into `[B, C, T/p, p]` (`DiscriminatorP.forward`'s "1d to 2d"): a length that is not a
/// multiple of `period` is first reflect-padded on the right to the next multiple.
inline torch::Tensor fold_period(const torch::Tensor& x, int64_t period) {
  auto y = x;
  int64_t t = x.size(2);
  if (t % period != 0) {
    const int64_t n_pad = period - t % period;
    TORCH_CHECK(n_pad < t, "waveform of ", t, " samples is too short to reflect-pad to a multiple of the period ", period);
    namespace F = torch::nn::functional;
    y = F::pad(x, F::PadFuncOptions({0, n_pad}).mode(torch::kReflect));
    t += n_pad;
  }
  return y.view({x.size(0), x.size(1), t / period, period});
}

class DiscriminatorPImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorPImpl(DiscriminatorPOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.period() > 0, "DiscriminatorP: period must be positive, got ", o.period());
    CHORD_CHECK(o.channels().size() == 5, "DiscriminatorP: 5 channel counts expected, got ", o.channels().size());
    convs = register_module("convs", torch::nn::ModuleList());
    int64_t in = 1;
    for (size_t i = 0; i < o.channels().size(); ++i) {
      const int64_t stride = i + 1 < o.channels().size() ? o.stride() : 1;
      convs_.push_back(WeightNormConv(WeightNormConvOptions(ConvKind::conv2d, in, o.channels()[i], {o.kernel_size(), 1})
                                          .stride({stride, 1})
                                          .padding({get_padding(o.kernel_size(), 1), 0})
                                          .dilation({1, 1})));
      convs->push_back(convs_.back());
      in = o.channels()[i];
    }
    conv_post = register_module("conv_post", WeightNormConv(WeightNormConvOptions(ConvKind::conv2d, in, 1, {3, 1})
                                                            .stride({1, 1})
                                                            .padding({1, 0})
                                                            .dilation({1, 1})));
  }

  /// `y [B, 1, T]` → score `[B, N]`, six feature maps.
  DiscriminatorOutput forward(const torch::Tensor& y) {
    detail::check_waveform(y, "y");
    return detail::score_with_features(fold_period(y, options.period()), convs_, conv_post);
  }

  DiscriminatorPOptions options;
  torch::nn::ModuleList convs{nullptr};
  WeightNormConv conv_post{nullptr};

 private:
  std::vector<WeightNormConv> convs_;
};
TORCH_MODULE(DiscriminatorP);

/// `models.DiscriminatorS()`: kernels 15, 41, 41, 41, 41, 5; strides 1, 4, 4, 4, 4, 1.
struct DiscriminatorSOptions {
  /// The reference's 16, 64, 256, 1024, 1024, 1024.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{16, 64, 256, 1024, 1024, 1024};
  /// The reference's 1, 4, 16, 64, 256, 1.
  TORCH_ARG(std::vector<int64_t>, groups) = std::vector<int64_t>{1, 4, 16, 64, 256, 1};
};

class DiscriminatorSImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorSImpl(DiscriminatorSOptions options_ = {}) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.channels().size() == 6 && o.groups().size() == 6, "DiscriminatorS: 6 channel counts and 6 group counts expected, got ",
                o.channels().size(), " and ", o.groups().size());
    static constexpr int64_t kernels[] = {15, 41, 41, 41, 41, 5};
    static constexpr int64_t strides[] = {1, 4, 4, 4, 4, 1};
    static constexpr int64_t paddings[] = {7, 20, 20, 20, 20, 2};
    convs = register_module("convs", torch::nn::ModuleList());
    int64_t in = 1;
    for (size_t i = 0; i < 6; ++i) {
      CHORD_CHECK(in % o.groups()[i] == 0 && o.channels()[i] % o.groups()[i] == 0, "DiscriminatorS: conv ", i, " (", in, " → ",
                  o.channels()[i], " channels) cannot have ", o.groups()[i], " groups");
      convs_.push_back(WeightNormConv(WeightNormConvOptions(ConvKind::conv1d, in, o.channels()[i], {kernels[i]})
                                          .stride({strides[i]})
                                          .padding({paddings[i]})
                                          .groups(o.groups()[i])));
      convs->push_back(convs_.back());
      in = o.channels()[i];
    }
    conv_post = register_module("conv_post", WeightNormConv(WeightNormConvOptions(ConvKind::conv1d, in, 1, {3}).padding({1})));
  }

  /// `y [B, 1, T]` → score `[B, N]`, seven feature maps.
  DiscriminatorOutput forward(const torch::Tensor& y) {
    detail::check_waveform(y, "y");
    return detail::score_with_features(y, convs_, conv_post);
  }

  DiscriminatorSOptions options;
  torch::nn::ModuleList convs{nullptr};
  WeightNormConv conv_post{nullptr};

 private:
  std::vector<WeightNormConv> convs_;
};
TORCH_MODULE(DiscriminatorS);

/// `models.MultiPeriodDiscriminator()`: `discriminators.0` is DiscriminatorS, `discriminators.1..` the periods.
struct MultiPeriodDiscriminatorOptions {
  TORCH_ARG(std::vector<int64_t>, periods) = std::vector<int64_t>{2, 3, 5, 7, 11};
  TORCH_ARG(DiscriminatorSOptions, scale) = DiscriminatorSOptions();
  /// Channels of every DiscriminatorP (the reference's 32, 128, 512, 1024, 1024).
  TORCH_ARG(std::vector<int64_t>, period_channels) = std::vector<int64_t>{32, 128, 512, 1024, 1024};
};

/// What `MultiPeriodDiscriminator.forward(y, y_hat)` returns, in its order: per sub-discriminator the
/// scores of the real and generated waveforms and their feature maps.
struct MultiPeriodOutput {
  std::vector<torch::Tensor> y_d_rs, y_d_gs;
  std::vector<std::vector<torch::Tensor>> fmap_rs, fmap_gs;
};

class MultiPeriodDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit MultiPeriodDiscriminatorImpl(MultiPeriodDiscriminatorOptions options_ = {}) : options(std::move(options_)) {
    discriminators = register_module("discriminators", torch::nn::ModuleList());
    scale_ = DiscriminatorS(options.scale());
    discriminators->push_back(scale_);
    for (auto p : options.periods()) {
      periods_.push_back(DiscriminatorP(DiscriminatorPOptions(p).channels(options.period_channels())));
      discriminators->push_back(periods_.back());
    }
  }

  /// Real `y` and generated `y_hat`, both `[B, 1, T]`.
  MultiPeriodOutput forward(const torch::Tensor& y, const torch::Tensor& y_hat) {
    detail::check_waveform(y, "y");
    detail::check_waveform(y_hat, "y_hat");
    MultiPeriodOutput out;
    auto add = [&](DiscriminatorOutput real, DiscriminatorOutput fake) {
      out.y_d_rs.push_back(std::move(real.first));
      out.y_d_gs.push_back(std::move(fake.first));
      out.fmap_rs.push_back(std::move(real.second));
      out.fmap_gs.push_back(std::move(fake.second));
    };
    add(scale_(y), scale_(y_hat));
    for (auto& d : periods_) add(d(y), d(y_hat));
    return out;
  }

  MultiPeriodDiscriminatorOptions options;
  torch::nn::ModuleList discriminators{nullptr};

 private:
  DiscriminatorS scale_{nullptr};
  std::vector<DiscriminatorP> periods_;
};
TORCH_MODULE(MultiPeriodDiscriminator);

/// `models.DurationDiscriminator(in_channels, filter_channels, kernel_size, p_dropout, gin_channels)`.
struct DurationDiscriminatorOptions {
  DurationDiscriminatorOptions(int64_t in_channels, int64_t filter_channels, int64_t kernel_size, double p_dropout,
                               int64_t gin_channels = 0)
      : in_channels_(in_channels),
        filter_channels_(filter_channels),
        kernel_size_(kernel_size),
        p_dropout_(p_dropout),
        gin_channels_(gin_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(double, p_dropout);
  TORCH_ARG(int64_t, gin_channels);  ///< 0: no `cond`

 public:
  /// As train_ms.py builds it for the 2.3 config: (hidden 192, 192, 3, 0.1, gin 512).
  static DurationDiscriminatorOptions bert_vits2() { return {192, 192, 3, 0.1, 512}; }
};

/// Scores log-durations per phone: `x [B, in, T_x]` (text-encoder output, detached) and `g` (detached)
/// → two convolutions with ReLU, channel LayerNorm and dropout; then for each duration `[B, 1, T_x]`:
/// `[x; dur_proj(dur)]` through a bidirectional LSTM (no mask, no packing, as the reference) and
/// `Linear(2F, 1)` + sigmoid → `[B, T_x, 1]` probabilities.
class DurationDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DurationDiscriminatorImpl(DurationDiscriminatorOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.in_channels() > 0 && o.filter_channels() > 0 && o.kernel_size() > 0 && o.gin_channels() >= 0,
                "DurationDiscriminator: channel counts and kernel size must be positive");
    const int64_t f = o.filter_channels();
    drop = register_module("drop", torch::nn::Dropout(o.p_dropout()));
    conv_1 = register_module("conv_1", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.in_channels(), f, o.kernel_size()).padding(o.kernel_size() / 2)));
    norm_1 = register_module("norm_1", ChannelLayerNorm(f));
    conv_2 = register_module("conv_2", torch::nn::Conv1d(torch::nn::Conv1dOptions(f, f, o.kernel_size()).padding(o.kernel_size() / 2)));
    norm_2 = register_module("norm_2", ChannelLayerNorm(f));
    dur_proj = register_module("dur_proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, f, 1)));
    LSTM = register_module("LSTM", torch::nn::LSTM(torch::nn::LSTMOptions(2 * f, f).batch_first(true).bidirectional(true)));
    if (o.gin_channels() > 0) cond = register_module("cond", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.gin_channels(), o.in_channels(), 1)));
    output_layer = register_module("output_layer", torch::nn::Sequential(torch::nn::Linear(2 * f, 1), torch::nn::Sigmoid()));
  }

  /// `x [B, F, T_x]` (after the convolutions), `dur [B, 1, T_x]` → `[B, T_x, 1]`.
  torch::Tensor forward_probability(const torch::Tensor& x, const torch::Tensor& dur) {
    auto h = torch::cat({x, dur_proj(dur)}, 1).transpose(1, 2);
    h = std::get<0>(LSTM->forward(h));
    return output_layer->forward(h);
  }

  /// `x [B, in, T_x]`, `x_mask [B, 1, T_x]`, real and predicted log-durations `[B, 1, T_x]`, optional
  /// `g [B, gin, 1]` → {prob_real, prob_hat}, each `[B, T_x, 1]`.
  std::array<torch::Tensor, 2> forward(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& dur_r,
                                       const torch::Tensor& dur_hat, const torch::Tensor& g = {}) {
    const auto& o = options;
    TORCH_CHECK(x.dim() == 3 && x.size(1) == o.in_channels(), "x [B, ", o.in_channels(), ", T] expected, got ", x.sizes());
    const int64_t b = x.size(0), t = x.size(2);
    TORCH_CHECK(x_mask.dim() == 3 && x_mask.size(0) == b && x_mask.size(1) == 1 && x_mask.size(2) == t, "x_mask [", b, ", 1, ", t,
                "] expected, got ", x_mask.sizes());
    for (const auto* d : {&dur_r, &dur_hat}) {
      TORCH_CHECK(d->dim() == 3 && d->size(0) == b && d->size(1) == 1 && d->size(2) == t, "durations [", b, ", 1, ", t,
                  "] expected, got ", d->sizes());
    }
    auto h = x.detach();
    if (g.defined()) {
      CHORD_CHECK(!cond.is_empty(), "DurationDiscriminator: g was given to a discriminator built without gin_channels");
      TORCH_CHECK(g.dim() == 3 && g.size(1) == o.gin_channels(), "g [B, ", o.gin_channels(), ", 1] expected, got ", g.sizes());
      h = h + cond(g.detach());
    }
    h = drop(norm_1(torch::relu(conv_1(h * x_mask))));
    h = drop(norm_2(torch::relu(conv_2(h * x_mask))));
    return {forward_probability(h, dur_r), forward_probability(h, dur_hat)};
  }

  DurationDiscriminatorOptions options;
  torch::nn::Dropout drop{nullptr};
  torch::nn::Conv1d conv_1{nullptr}, conv_2{nullptr}, dur_proj{nullptr}, cond{nullptr};
  ChannelLayerNorm norm_1{nullptr}, norm_2{nullptr};
  torch::nn::LSTM LSTM{nullptr};  // NOLINT(readability-identifier-naming): the reference's attribute name
  torch::nn::Sequential output_layer{nullptr};
};
TORCH_MODULE(DurationDiscriminator);

}  // namespace chord::nn::vits
