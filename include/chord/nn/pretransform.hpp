#pragma once
/// @file
/// Pretransforms: the fixed map between waveforms and the latent space a latent diffusion/flow model
/// works in (stable-audio-tools' `Pretransform`). Chosen at run time, because the checkpoint on disk
/// decides: the Stable Audio Open VAE when its weights are at hand, waveform patching when everything
/// must run offline (nothing to train or download, exactly invertible).
///
/// Both map `[B, audio_channels, N]` (N a multiple of `downsampling_ratio()`) to
/// `[B, latent_channels(), N / downsampling_ratio()]`, dividing by `scale` as the package does.

#include "chord/nn/oobleck.hpp"

#include <memory>
#include <string>

namespace chord::nn {

class PretransformImpl : public torch::nn::Module {
 public:
  virtual ~PretransformImpl() = default;
  /// Latents of `audio`; stochastic encoders sample with `generator` and give their mean without one.
  virtual torch::Tensor encode(const torch::Tensor& audio, torch::Generator* generator = nullptr) = 0;
  virtual torch::Tensor decode(const torch::Tensor& latents) = 0;
  virtual int64_t latent_channels() const = 0;
  virtual int64_t audio_channels() const = 0;
  virtual int64_t downsampling_ratio() const = 0;
  virtual std::string describe() const = 0;

  /// `audio` right-padded with zeros to a whole number of latent frames.
  torch::Tensor pad_to_frames(const torch::Tensor& audio) const {
    const auto rest = audio.size(-1) % downsampling_ratio();
    if (rest == 0) return audio;
    return torch::constant_pad_nd(audio, {0, downsampling_ratio() - rest});
  }
};

using Pretransform = std::shared_ptr<PretransformImpl>;

/// Waveform patching: `patch` consecutive samples of every channel become one latent frame of
/// `audio_channels · patch` channels, divided by `scale` (default 0.1: music and speech peaking near
/// full scale have an RMS around 0.1, so the latents have roughly unit variance like the noise).
class WaveformPatchingImpl : public PretransformImpl {
 public:
  WaveformPatchingImpl(int64_t audio_channels, int64_t patch, double scale = 0.1)
      : channels_(audio_channels), patch_(patch), scale_(scale) {
    CHORD_CHECK(audio_channels > 0 && patch > 0 && scale > 0, "WaveformPatching: audio_channels, patch and scale must be ",
                "positive, got ", audio_channels, ", ", patch, ", ", scale);
  }
  torch::Tensor encode(const torch::Tensor& audio, torch::Generator* = nullptr) override {
    CHORD_CHECK(audio.dim() == 3 && audio.size(1) == channels_, "WaveformPatching encode: audio [B, ", channels_,
                ", N] expected, got ", audio.sizes());
    CHORD_CHECK(audio.size(2) % patch_ == 0, "WaveformPatching encode: ", audio.size(2), " samples is not a multiple of the patch ",
                patch_, " (pad first)");
    const auto b = audio.size(0), frames = audio.size(2) / patch_;
    // [B, C, T·P] → [B, C, T, P] → [B, C, P, T] → [B, C·P, T]
    return (audio.view({b, channels_, frames, patch_}).transpose(2, 3).reshape({b, channels_ * patch_, frames}) / scale_);
  }
  torch::Tensor decode(const torch::Tensor& latents) override {
    CHORD_CHECK(latents.dim() == 3 && latents.size(1) == channels_ * patch_, "WaveformPatching decode: latents [B, ",
                channels_ * patch_, ", T] expected, got ", latents.sizes());
    const auto b = latents.size(0), frames = latents.size(2);
    return latents.reshape({b, channels_, patch_, frames}).transpose(2, 3).reshape({b, channels_, frames * patch_}) * scale_;
  }
  int64_t latent_channels() const override { return channels_ * patch_; }
  int64_t audio_channels() const override { return channels_; }
  int64_t downsampling_ratio() const override { return patch_; }
  std::string describe() const override {
    return "waveform patching (" + std::to_string(patch_) + " samples × " + std::to_string(channels_) + " channels per frame)";
  }

 private:
  int64_t channels_, patch_;
  double scale_;
};
TORCH_MODULE(WaveformPatching);

/// The Oobleck VAE as a frozen pretransform (stable-audio `AutoencoderPretransform`): encode samples
/// the posterior (or takes its mean), then divides by `scale`; decode multiplies first.
class OobleckPretransformImpl : public PretransformImpl {
 public:
  explicit OobleckPretransformImpl(OobleckOptions options = {}, double scale = 1.0) : scale_(scale) {
    autoencoder = register_module("model", OobleckAutoencoder(std::move(options)));
    autoencoder->eval();
    for (auto& p : autoencoder->parameters()) p.set_requires_grad(false);
  }
  /// From a checkpoint (see `load_oobleck` for the layouts it accepts).
  static std::shared_ptr<OobleckPretransformImpl> from_file(const std::filesystem::path& path, OobleckOptions options = {},
                                                            double scale = 1.0) {
    auto p = std::make_shared<OobleckPretransformImpl>(std::move(options), scale);
    load_oobleck(p->autoencoder, path);
    p->source_ = path.string();
    return p;
  }
  torch::Tensor encode(const torch::Tensor& audio, torch::Generator* generator = nullptr) override {
    torch::NoGradGuard no_grad;
    return autoencoder->encode(audio, generator) / scale_;
  }
  torch::Tensor decode(const torch::Tensor& latents) override {
    torch::NoGradGuard no_grad;
    return autoencoder->decode(latents * scale_);
  }
  int64_t latent_channels() const override { return autoencoder->options.latent_channels(); }
  int64_t audio_channels() const override { return autoencoder->options.audio_channels(); }
  int64_t downsampling_ratio() const override { return autoencoder->options.downsampling_ratio(); }
  std::string describe() const override {
    return "Oobleck VAE (" + std::to_string(downsampling_ratio()) + "×, " + std::to_string(latent_channels()) + " channels" +
           (source_.empty() ? "" : ", " + source_) + ")";
  }

  OobleckAutoencoder autoencoder{nullptr};

 private:
  double scale_;
  std::string source_;
};
TORCH_MODULE(OobleckPretransform);

}  // namespace chord::nn
