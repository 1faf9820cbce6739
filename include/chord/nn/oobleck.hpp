#pragma once
/// @file
/// The Oobleck autoencoder of stable-audio-tools: Stable Audio Open's VAE (the latent space of
/// SAGA-SR). Convolutions carry weight normalisation (`weight_g`, `weight_v`), activations are
/// SnakeBeta with log-scale α, β; every block is a strided convolution between residual units with
/// dilations 1, 3, 9. Module and parameter names follow the package, so a Stable Audio Open
/// `model.safetensors` loads with the prefix `pretransform.model.` (see `load_oobleck`).
///
/// Stable Audio Open 1.0: channels 128, c_mults {1, 2, 4, 8, 16}, strides {2, 4, 4, 8, 8} (2048×),
/// 64 latent channels (the encoder emits 128: mean and scale), stereo, no final tanh.

#include "chord/core/error.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/activation.h>
#include <torch/types.h>

#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

namespace chord::nn {

struct OobleckOptions {
  TORCH_ARG(int64_t, audio_channels) = 2;              ///< io_channels: 2 for Stable Audio Open
  TORCH_ARG(int64_t, channels) = 128;                  ///< width of the first block
  TORCH_ARG(std::vector<int64_t>, channel_multipliers) = std::vector<int64_t>{1, 2, 4, 8, 16};
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>{2, 4, 4, 8, 8};
  TORCH_ARG(int64_t, latent_channels) = 64;            ///< after the VAE bottleneck
  TORCH_ARG(bool, snake) = true;                       ///< SnakeBeta (true) or ELU activations
  TORCH_ARG(bool, final_tanh) = false;
  TORCH_ARG(int64_t, sample_rate) = 44100;

 public:
  /// Stable Audio Open 1.0's VAE.
  static OobleckOptions stable_audio_open() { return {}; }
  int64_t downsampling_ratio() const {
    return std::accumulate(strides_.begin(), strides_.end(), int64_t{1}, std::multiplies<>());
  }
  void validate() const {
    CHORD_CHECK(!strides_.empty() && strides_.size() == channel_multipliers_.size(), "OobleckOptions: ",
                strides_.size(), " strides for ", channel_multipliers_.size(), " channel multipliers (one each expected)");
    CHORD_CHECK(audio_channels_ > 0 && channels_ > 0 && latent_channels_ > 0, "OobleckOptions: channel counts must be positive");
    for (auto s : strides_) CHORD_CHECK(s > 0, "OobleckOptions: strides must be positive");
  }
};

/// `x + sin²(α x) / β` with α = exp(alpha), β = exp(beta) per channel (stable-audio `SnakeBeta`).
class SnakeBetaImpl : public torch::nn::Module {
 public:
  explicit SnakeBetaImpl(int64_t channels) {
    alpha = register_parameter("alpha", torch::zeros({channels}));
    beta = register_parameter("beta", torch::zeros({channels}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto a = alpha.exp().view({1, -1, 1});
    auto b = beta.exp().view({1, -1, 1});
    return x + (b + 1e-9).reciprocal() * (x * a).sin().square();
  }
  torch::Tensor alpha, beta;
};
TORCH_MODULE(SnakeBeta);

/// A (transposed) 1-D convolution with weight normalisation over every axis but the first
/// (`torch.nn.utils.weight_norm(dim=0)`): `weight = weight_g · weight_v / ‖weight_v‖`.
class WeightNormConv1dImpl : public torch::nn::Module {
 public:
  struct Geometry {
    int64_t in_channels, out_channels, kernel, stride = 1, padding = 0, dilation = 1;
    bool bias = true, transposed = false;
  };
  explicit WeightNormConv1dImpl(Geometry g) : geometry(g) {
    // Default PyTorch conv initialisation, then g = ‖v‖ so the initial weight equals v.
    auto fan_in = (g.transposed ? g.out_channels : g.in_channels) * g.kernel;
    auto bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    auto shape = g.transposed ? std::vector<int64_t>{g.in_channels, g.out_channels, g.kernel}
                              : std::vector<int64_t>{g.out_channels, g.in_channels, g.kernel};
    auto v = torch::empty(shape).uniform_(-bound, bound);
    weight_g = register_parameter("weight_g", v.flatten(1).norm(2, 1).view({shape[0], 1, 1}));
    weight_v = register_parameter("weight_v", v);
    if (g.bias) bias = register_parameter("bias", torch::empty({g.out_channels}).uniform_(-bound, bound));
  }
  torch::Tensor weight() const { return torch::_weight_norm(weight_v, weight_g, 0); }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto& g = geometry;
    if (g.transposed) return torch::conv_transpose1d(x, weight(), bias, g.stride, g.padding);
    return torch::conv1d(x, weight(), bias, g.stride, g.padding, g.dilation);
  }
  Geometry geometry;
  torch::Tensor weight_g, weight_v, bias;
};
TORCH_MODULE(WeightNormConv1d);

inline WeightNormConv1d weight_norm_conv(WeightNormConv1dImpl::Geometry geometry) { return WeightNormConv1d(geometry); }

namespace oobleck_detail {

inline torch::nn::AnyModule activation(bool snake, int64_t channels) {
  if (snake) return torch::nn::AnyModule(SnakeBeta(channels));
  return torch::nn::AnyModule(torch::nn::ELU());
}

inline int64_t half_up(int64_t stride) { return (stride + 1) / 2; }

}  // namespace oobleck_detail

/// activation → 7-tap dilated conv → activation → 1×1 conv, plus the input.
class OobleckResidualUnitImpl : public torch::nn::Module {
 public:
  OobleckResidualUnitImpl(int64_t channels, int64_t dilation, bool snake) {
    using oobleck_detail::activation;
    layers = register_module("layers", torch::nn::Sequential());
    layers->push_back(activation(snake, channels));
    layers->push_back(weight_norm_conv({channels, channels, 7, 1, dilation * 3, dilation}));
    layers->push_back(activation(snake, channels));
    layers->push_back(weight_norm_conv({channels, channels, 1}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + layers->forward(x); }
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(OobleckResidualUnit);

/// An encoder or decoder block: its sub-layers under `layers.*`, as the package's EncoderBlock/DecoderBlock.
class OobleckBlockImpl : public torch::nn::Module {
 public:
  explicit OobleckBlockImpl(torch::nn::Sequential inner) : layers(register_module("layers", std::move(inner))) {}
  torch::Tensor forward(const torch::Tensor& x) { return layers->forward(x); }
  torch::nn::Sequential layers;
};
TORCH_MODULE(OobleckBlock);

/// Waveform `[B, audio_channels, N]` → `[B, 2·latent_channels, N / downsampling_ratio]` (mean, scale).
class OobleckEncoderImpl : public torch::nn::Module {
 public:
  explicit OobleckEncoderImpl(const OobleckOptions& o) {
    o.validate();
    using oobleck_detail::activation;
    std::vector<int64_t> widths{o.channels()};
    for (auto m : o.channel_multipliers()) widths.push_back(m * o.channels());
    layers = register_module("layers", torch::nn::Sequential());
    layers->push_back(weight_norm_conv({o.audio_channels(), widths[0], 7, 1, 3}));
    for (size_t i = 0; i + 1 < widths.size(); ++i) {
      const auto in = widths[i], out = widths[i + 1], stride = o.strides()[i];
      torch::nn::Sequential block;
      for (int64_t dilation : {1, 3, 9}) block->push_back(OobleckResidualUnit(in, dilation, o.snake()));
      block->push_back(activation(o.snake(), in));
      block->push_back(weight_norm_conv({in, out, 2 * stride, stride, oobleck_detail::half_up(stride)}));
      layers->push_back(OobleckBlock(block));
    }
    layers->push_back(activation(o.snake(), widths.back()));
    layers->push_back(weight_norm_conv({widths.back(), 2 * o.latent_channels(), 3, 1, 1}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return layers->forward(x); }

  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(OobleckEncoder);

/// Latents `[B, latent_channels, T]` → waveform `[B, audio_channels, T · downsampling_ratio]`.
class OobleckDecoderImpl : public torch::nn::Module {
 public:
  explicit OobleckDecoderImpl(const OobleckOptions& o) {
    o.validate();
    using oobleck_detail::activation;
    std::vector<int64_t> widths{o.channels()};
    for (auto m : o.channel_multipliers()) widths.push_back(m * o.channels());
    layers = register_module("layers", torch::nn::Sequential());
    layers->push_back(weight_norm_conv({o.latent_channels(), widths.back(), 7, 1, 3}));
    for (size_t i = widths.size() - 1; i > 0; --i) {
      const auto in = widths[i], out = widths[i - 1], stride = o.strides()[i - 1];
      torch::nn::Sequential block;
      block->push_back(activation(o.snake(), in));
      block->push_back(weight_norm_conv({in, out, 2 * stride, stride, oobleck_detail::half_up(stride), 1, true, true}));
      for (int64_t dilation : {1, 3, 9}) block->push_back(OobleckResidualUnit(out, dilation, o.snake()));
      layers->push_back(OobleckBlock(block));
    }
    layers->push_back(activation(o.snake(), widths[0]));
    layers->push_back(weight_norm_conv({widths[0], o.audio_channels(), 7, 1, 3, 1, /*bias=*/false}));
    final_tanh = o.final_tanh();
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = layers->forward(x);
    return final_tanh ? y.tanh() : y;
  }
  torch::nn::Sequential layers{nullptr};
  bool final_tanh = false;
};
TORCH_MODULE(OobleckDecoder);

/// The VAE: encoder, stable-audio `VAEBottleneck` (sample `mean + (softplus(scale) + 1e-4)·ε`), decoder.
class OobleckAutoencoderImpl : public torch::nn::Module {
 public:
  explicit OobleckAutoencoderImpl(OobleckOptions options_ = {}) : options(std::move(options_)) {
    encoder = register_module("encoder", OobleckEncoder(options));
    decoder = register_module("decoder", OobleckDecoder(options));
  }

  /// Mean and standard deviation of the posterior, each `[B, latent_channels, T]`.
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& audio) {
    check_audio(audio);
    auto moments = encoder->forward(audio).chunk(2, 1);
    return {moments[0], torch::nn::functional::softplus(moments[1]) + 1e-4};
  }
  /// Latents: a posterior sample (the package's behaviour), or its mean when `generator` is null.
  torch::Tensor encode(const torch::Tensor& audio, torch::Generator* generator = nullptr) {
    auto [mean, stdev] = posterior(audio);
    if (!generator) return mean;
    return mean + stdev * torch::randn(mean.sizes(), *generator, mean.options());
  }
  torch::Tensor decode(const torch::Tensor& latents) {
    CHORD_CHECK(latents.dim() == 3 && latents.size(1) == options.latent_channels(), "Oobleck decode: latents [B, ",
                options.latent_channels(), ", T] expected, got ", latents.sizes());
    return decoder->forward(latents);
  }
  /// KL term of the package: `Σ_channels (μ² + σ² − log σ² − 1)`, averaged over batch and frames.
  static torch::Tensor kl_divergence(const torch::Tensor& mean, const torch::Tensor& stdev) {
    auto var = stdev.square();
    return (mean.square() + var - var.log() - 1).sum(1).mean();
  }

  void check_audio(const torch::Tensor& audio) const {
    CHORD_CHECK(audio.dim() == 3 && audio.size(1) == options.audio_channels(), "Oobleck encode: audio [B, ",
                options.audio_channels(), ", N] expected, got ", audio.sizes());
    CHORD_CHECK(audio.size(2) % options.downsampling_ratio() == 0, "Oobleck encode: ", audio.size(2),
                " samples is not a multiple of the downsampling ratio ", options.downsampling_ratio(), " (pad first)");
  }

  OobleckOptions options;
  OobleckEncoder encoder{nullptr};
  OobleckDecoder decoder{nullptr};
};
TORCH_MODULE(OobleckAutoencoder);

/// Loads an Oobleck VAE from safetensors: a full Stable Audio Open checkpoint (keys under
/// `pretransform.model.`), an autoencoder checkpoint (`encoder.*`, `decoder.*`, optionally under
/// `autoencoder.` or `model.`), or one saved by chord. PyTorch's newer weight-norm parametrisation
/// names (`parametrizations.weight.original0/1`) are accepted too. Strict: any missing or unexpected
/// autoencoder key is reported by name and nothing is loaded.
inline io::LoadReport load_oobleck(OobleckAutoencoder& model, const std::filesystem::path& path) {
  auto tensors = io::load_safetensors(path);
  std::string prefix;
  for (const char* candidate : {"pretransform.model.", "autoencoder.", "model.", ""}) {
    if (tensors.count(std::string(candidate) + "encoder.layers.0.weight_v") ||
        tensors.count(std::string(candidate) + "encoder.layers.0.parametrizations.weight.original1")) {
      prefix = candidate;
      break;
    }
    CHORD_CHECK(*candidate != '\0', "'", path.string(), "' holds no Oobleck autoencoder (no encoder.layers.0.weight_v under ",
                "pretransform.model., autoencoder., model. or at the top level)");
  }
  io::TensorMap selected;
  auto rename = [](std::string key) {
    for (auto [from, to] : {std::pair{"parametrizations.weight.original0", "weight_g"},
                            std::pair{"parametrizations.weight.original1", "weight_v"}}) {
      if (auto at = key.find(from); at != std::string::npos) key.replace(at, std::string(from).size(), to);
    }
    return key;
  };
  for (auto& [key, value] : tensors) {
    if (key.rfind(prefix, 0) != 0) continue;
    auto name = key.substr(prefix.size());
    if (name.rfind("encoder.", 0) == 0 || name.rfind("decoder.", 0) == 0) selected.emplace(rename(name), value);
  }
  io::LoadOptions options;
  options.source_name = path.string() + (prefix.empty() ? "" : " (" + prefix + "*)");
  return io::load_state_dict(*model, selected, options);
}

}  // namespace chord::nn
