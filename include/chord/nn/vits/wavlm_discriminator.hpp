#pragma once
/// @file
/// Bert-VITS2's WavLM-feature discriminator and losses (fishaudio/Bert-VITS2 8f7fbd8: `models.
/// WavLMDiscriminator`, `losses.WavLMLoss`; the StyleTTS2 design), with the reference's key names.
///
/// `WavLMDiscriminator(slm_hidden, slm_layers, initial_channel)`: WavLM's stacked hidden states
/// `[B, slm_hidden·slm_layers, T']` → weight-normed 1×1 `pre` (no activation) → three weight-normed
/// convs (kernel 5, ×2, ×2, ×1 channels), each followed by leaky ReLU 0.1 → weight-normed `conv_post`
/// (kernel 3) → `[B, T']` scores. Shipped config: (768, 13, 64).
///
/// `WavLMLoss(wavlm, wd, model_sr, slm_sr)`: a frozen, eval-mode WavLM fed through
/// `torchaudio.transforms.Resample(model_sr, slm_sr)` (chord::audio::SincResample), with the
/// discriminator `wd` shared with the trainer. Its terms (waveforms `[B, N]` at `model_sr`):
///   `forward(wav, y_rec)`      Σ over hidden states of mean|H(wav) − H(y_rec)| (no gradient through wav)
///   `generator(y_rec)`         mean((1 − wd(E(y_rec)))²)
///   `discriminator(wav, y_rec)` mean((1 − wd(E(wav)))²) + mean(wd(E(y_rec))²), WavLM under no-grad
///   `discriminator_forward(wav)` wd(E(wav)), WavLM under no-grad
/// where E stacks the hidden states to `[B, hidden·layers, T']` (layer-major channels).
/// Inputs `[B, 1, N]` are accepted as `[B, N]`. The reference squeezes its training batch before the
/// call, so with batch size 1 it hands WavLM a 1-D signal and fails; chord needs the batch dim instead.

#include "chord/audio/sinc_resample.hpp"
#include "chord/core/error.hpp"
#include "chord/nn/wavlm.hpp"
#include "chord/nn/weight_norm.hpp"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace chord::nn::vits {

struct WavLMDiscriminatorOptions {
  TORCH_ARG(int64_t, slm_hidden) = 768;
  TORCH_ARG(int64_t, slm_layers) = 13;
  TORCH_ARG(int64_t, initial_channel) = 64;
};

class WavLMDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit WavLMDiscriminatorImpl(WavLMDiscriminatorOptions options_ = {}) : options(std::move(options_)) {
    const int64_t c = options.initial_channel();
    CHORD_CHECK(options.slm_hidden() > 0 && options.slm_layers() > 0 && c > 0,
                "WavLMDiscriminator: slm_hidden, slm_layers and initial_channel must be > 0, got ", options.slm_hidden(),
                ", ", options.slm_layers(), ", ", c);
    pre = register_module("pre", weight_norm_conv1d(options.slm_hidden() * options.slm_layers(), c, 1));
    convs = register_module("convs", torch::nn::ModuleList());
    convs->push_back(weight_norm_conv1d(c, 2 * c, 5, 1, 2));
    convs->push_back(weight_norm_conv1d(2 * c, 4 * c, 5, 1, 2));
    convs->push_back(weight_norm_conv1d(4 * c, 4 * c, 5, 1, 2));
    conv_post = register_module("conv_post", weight_norm_conv1d(4 * c, 1, 3, 1, 1));
  }

  /// `x [B, slm_hidden·slm_layers, T']` → `[B, T']`.
  torch::Tensor forward(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == options.slm_hidden() * options.slm_layers(), "WavLMDiscriminator: x [B, ",
                options.slm_hidden() * options.slm_layers(), ", T] expected, got ", x.sizes());
    auto h = pre(x);
    for (const auto& conv : *convs) h = torch::leaky_relu(conv->as<WeightNormConvImpl>()->forward(h), lrelu_slope);
    return conv_post(h).flatten(1);
  }

  static constexpr double lrelu_slope = 0.1;  ///< modules.LRELU_SLOPE
  WavLMDiscriminatorOptions options;
  WeightNormConv pre{nullptr};
  torch::nn::ModuleList convs{nullptr};
  WeightNormConv conv_post{nullptr};
};
TORCH_MODULE(WavLMDiscriminator);

/// WavLM hidden states → the discriminator's input: `stack(dim 1).transpose(-1, -2).flatten(1, 2)`,
/// `[B, layers·hidden, T']` with channel `l·hidden + c` = layer l, channel c.
inline torch::Tensor stack_wavlm_hidden_states(const std::vector<torch::Tensor>& hidden_states) {
  CHORD_CHECK(!hidden_states.empty(), "stack_wavlm_hidden_states: no hidden states");
  return torch::stack(hidden_states, 1).transpose(-1, -2).flatten(1, 2);
}

class WavLMLossImpl : public torch::nn::Module {
 public:
  /// Registers `wavlm`, `wd` and `resample` (buffer `resample.kernel`) as the reference does; freezes
  /// the WavLM (eval mode, no gradients for its parameters). `wd` is shared, not copied.
  WavLMLossImpl(chord::nn::WavLMModel wavlm_, WavLMDiscriminator wd_, int64_t model_sr, int64_t slm_sr = 16000) {
    wavlm = register_module("wavlm", std::move(wavlm_));
    wd = register_module("wd", std::move(wd_));
    resample = register_module("resample", chord::audio::SincResample(model_sr, slm_sr));
    wavlm->eval();
    for (auto& p : wavlm->parameters()) p.set_requires_grad(false);
  }

  /// Feature matching (`loss_lm`): Σ_l mean|H_l(wav) − H_l(y_rec)|; gradient flows to `y_rec` only.
  torch::Tensor forward(const torch::Tensor& wav, const torch::Tensor& y_rec) {
    std::vector<torch::Tensor> real;
    {
      torch::NoGradGuard no_grad;
      real = hidden_states(wav);
    }
    const auto gen = hidden_states(y_rec);
    torch::Tensor loss;
    for (size_t i = 0; i < real.size(); ++i) {
      auto term = (real[i] - gen[i]).abs().mean();
      loss = loss.defined() ? loss + term : term;
    }
    return loss;
  }

  /// Adversarial generator term (`loss_lm_gen`): mean((1 − wd(E(y_rec)))²).
  torch::Tensor generator(const torch::Tensor& y_rec) {
    const auto scores = wd(stack_wavlm_hidden_states(hidden_states(y_rec)));
    return (1 - scores).pow(2).mean();
  }

  /// Discriminator term (`loss_slm`): mean((1 − wd(E(wav)))²) + mean(wd(E(y_rec))²); the WavLM runs
  /// under no-grad, so only `wd` receives gradients.
  torch::Tensor discriminator(const torch::Tensor& wav, const torch::Tensor& y_rec) {
    torch::Tensor real, gen;
    {
      torch::NoGradGuard no_grad;
      real = stack_wavlm_hidden_states(hidden_states(wav));
      gen = stack_wavlm_hidden_states(hidden_states(y_rec));
    }
    return (1 - wd(real)).pow(2).mean() + wd(gen).pow(2).mean();
  }

  /// `wd(E(wav))` `[B, T']`, the WavLM under no-grad.
  torch::Tensor discriminator_forward(const torch::Tensor& wav) {
    torch::Tensor real;
    {
      torch::NoGradGuard no_grad;
      real = stack_wavlm_hidden_states(hidden_states(wav));
    }
    return wd(real);
  }

  /// Resampled to `slm_sr`, then WavLM's hidden states (`num_hidden_layers + 1` × `[B, T', hidden]`).
  std::vector<torch::Tensor> hidden_states(const torch::Tensor& wav) {
    TORCH_CHECK(wav.dim() == 2 || (wav.dim() == 3 && wav.size(1) == 1), "WavLMLoss: wav [B, N] or [B, 1, N] expected, got ",
                wav.sizes());
    const auto x = wav.dim() == 3 ? wav.squeeze(1) : wav;
    return wavlm->forward(resample(x)).hidden_states;
  }

  chord::nn::WavLMModel wavlm{nullptr};
  WavLMDiscriminator wd{nullptr};
  chord::audio::SincResample resample{nullptr};
};
TORCH_MODULE(WavLMLoss);

}  // namespace chord::nn::vits
