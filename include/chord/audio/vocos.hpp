#pragma once
/// @file
/// The Vocos vocoder (charactr/vocos-mel-24khz, the F5-TTS default): a ConvNeXt backbone over log-mel
/// frames and an ISTFT head with "same" padding. Modules are registered under the `vocos` package's
/// names, so `scripts/convert_vocos.py` output (or any state dict of a `Vocos` object saved as
/// safetensors) loads key for key.

#include "chord/core/error.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"

#include <torch/arg.h>
#include <torch/fft.h>
#include <torch/nn/functional/fold.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <filesystem>
#include <vector>

namespace chord::audio {

/// Vocos hyperparameters; the defaults are charactr/vocos-mel-24khz's `config.yaml`.
struct VocosOptions {
  TORCH_ARG(int64_t, input_channels) = 100;
  TORCH_ARG(int64_t, dim) = 512;
  TORCH_ARG(int64_t, intermediate_dim) = 1536;
  TORCH_ARG(int64_t, num_layers) = 8;
  TORCH_ARG(int64_t, n_fft) = 1024;
  TORCH_ARG(int64_t, hop_length) = 256;
  TORCH_ARG(int64_t, sample_rate) = 24000;
};

class VocosConvNeXtBlockImpl : public torch::nn::Module {
 public:
  VocosConvNeXtBlockImpl(int64_t dim, int64_t intermediate_dim, double layer_scale) {
    dwconv = register_module("dwconv", torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, 7).padding(3).groups(dim)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
    pwconv1 = register_module("pwconv1", torch::nn::Linear(dim, intermediate_dim));
    pwconv2 = register_module("pwconv2", torch::nn::Linear(intermediate_dim, dim));
    gamma = register_parameter("gamma", torch::full({dim}, layer_scale));
  }
  /// `x [B, C, T]`.
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = norm(dwconv(x).transpose(1, 2));
    h = gamma * pwconv2(torch::gelu(pwconv1(h)));
    return x + h.transpose(1, 2);
  }
  torch::nn::Conv1d dwconv{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear pwconv1{nullptr}, pwconv2{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(VocosConvNeXtBlock);

class VocosBackboneImpl : public torch::nn::Module {
 public:
  explicit VocosBackboneImpl(const VocosOptions& o) {
    embed = register_module("embed", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.input_channels(), o.dim(), 7).padding(3)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-6)));
    convnext = register_module("convnext", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_layers(); ++i) {
      blocks_.push_back(VocosConvNeXtBlock(o.dim(), o.intermediate_dim(), 1.0 / static_cast<double>(o.num_layers())));
      convnext->push_back(blocks_.back());
    }
    final_layer_norm = register_module("final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-6)));
  }
  /// `mel [B, C, T]` → `[B, T, dim]`.
  torch::Tensor forward(const torch::Tensor& mel) {
    auto x = norm(embed(mel).transpose(1, 2)).transpose(1, 2);
    for (auto& block : blocks_) x = block(x);
    return final_layer_norm(x.transpose(1, 2));
  }
  torch::nn::Conv1d embed{nullptr};
  torch::nn::LayerNorm norm{nullptr}, final_layer_norm{nullptr};
  torch::nn::ModuleList convnext{nullptr};

 private:
  std::vector<VocosConvNeXtBlock> blocks_;
};
TORCH_MODULE(VocosBackbone);

/// Inverse STFT with "same" padding (the `vocos` package's ISTFT: irfft, windowed overlap-add,
/// `(win − hop)/2` trimmed from both ends, divided by the window envelope): T frames → T·hop samples.
class VocosIstftImpl : public torch::nn::Module {
 public:
  VocosIstftImpl(int64_t n_fft, int64_t hop_length) : n_fft_(n_fft), hop_(hop_length) {
    window = register_buffer("window", torch::hann_window(n_fft));
  }
  torch::Tensor forward(const torch::Tensor& spec) {
    namespace F = torch::nn::functional;
    const int64_t frames = spec.size(2);
    const int64_t pad = (n_fft_ - hop_) / 2;
    const int64_t length = (frames - 1) * hop_ + n_fft_;
    auto frames_time = torch::fft::irfft(spec, n_fft_, 1, "backward") * window.view({1, -1, 1});
    const auto fold = F::FoldFuncOptions({1, length}, {1, n_fft_}).stride({1, hop_});
    auto y = F::fold(frames_time, fold).select(1, 0).select(1, 0).narrow(1, pad, length - 2 * pad);
    auto envelope = F::fold(window.square().expand({1, frames, -1}).transpose(1, 2), fold).flatten().narrow(0, pad, length - 2 * pad);
    TORCH_CHECK((envelope > 1e-11).all().item<bool>(), "Vocos ISTFT: window envelope vanishes (hop too large)");
    return y / envelope;
  }
  torch::Tensor window;

 private:
  int64_t n_fft_, hop_;
};
TORCH_MODULE(VocosIstft);

class VocosHeadImpl : public torch::nn::Module {
 public:
  explicit VocosHeadImpl(const VocosOptions& o) {
    out = register_module("out", torch::nn::Linear(o.dim(), o.n_fft() + 2));
    istft = register_module("istft", VocosIstft(o.n_fft(), o.hop_length()));
  }
  /// `x [B, T, dim]` → audio `[B, T·hop]`.
  torch::Tensor forward(const torch::Tensor& x) {
    auto parts = out(x).transpose(1, 2).chunk(2, 1);
    auto magnitude = torch::exp(parts[0]).clamp_max(1e2);
    auto spec = torch::complex(magnitude * torch::cos(parts[1]), magnitude * torch::sin(parts[1]));
    return istft(spec);
  }
  torch::nn::Linear out{nullptr};
  VocosIstft istft{nullptr};
};
TORCH_MODULE(VocosHead);

/// Log-mel `[B, 100, T]` (F5-TTS / Vocos features) → 24 kHz audio `[B, T·256]`.
class VocosImpl : public torch::nn::Module {
 public:
  explicit VocosImpl(VocosOptions options = {}) : options(options) {
    backbone = register_module("backbone", VocosBackbone(options));
    head = register_module("head", VocosHead(options));
  }
  torch::Tensor forward(const torch::Tensor& mel) {
    TORCH_CHECK(mel.dim() == 3 && mel.size(1) == options.input_channels(), "Vocos: mel [B, ", options.input_channels(),
                ", T] expected, got ", mel.sizes());
    return head(backbone(mel));
  }
  /// The same as forward(), named like the Python `Vocos.decode`.
  torch::Tensor decode(const torch::Tensor& mel) { return forward(mel); }

  VocosOptions options;
  VocosBackbone backbone{nullptr};
  VocosHead head{nullptr};
};
TORCH_MODULE(Vocos);

/// Loads Vocos weights from a safetensors file (keys `backbone.*`, `head.*`; the feature extractor's
/// buffers, if present, are ignored). Strict otherwise.
inline io::LoadReport load_vocos(Vocos& vocos, const std::filesystem::path& path) {
  CHORD_CHECK(std::filesystem::exists(path), "Vocos weights '", path.string(),
              "' not found. Convert the original charactr/vocos-mel-24khz weights once with "
              "scripts/convert_vocos.py (needs the PyPI `vocos` package), or use the Griffin-Lim vocoder.");
  auto tensors = io::SafetensorsReader(path).tensors(/*copy=*/false);
  for (auto it = tensors.begin(); it != tensors.end();) {
    it = it->first.rfind("feature_extractor.", 0) == 0 ? tensors.erase(it) : std::next(it);
  }
  io::LoadOptions options;
  options.source_name = "Vocos weights '" + path.string() + "'";
  return io::load_state_dict(*vocos, tensors, options);
}

}  // namespace chord::audio
