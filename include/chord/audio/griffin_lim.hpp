#pragma once
/// @file
/// Griffin-Lim phase reconstruction (torchaudio's fast variant with momentum) and a mel vocoder
/// built on it: chord's offline default vocoder, needing no weights.

#include "chord/audio/mel.hpp"
#include "chord/audio/stft.hpp"

#include <torch/types.h>

#include <optional>

namespace chord::audio {

struct GriffinLimOptions {
  int64_t n_iter = 32;
  double momentum = 0.99;  ///< torchaudio's default; 0 is the classic algorithm
  bool random_init = true; ///< random initial phase (from the generator) instead of zero phase
};

/// Waveform `[..., N]` whose STFT magnitude approximates `magnitude [..., F, T]` (a centred layout).
inline torch::Tensor griffin_lim(const torch::Tensor& magnitude, const StftOptions& stft_options,
                                 const torch::Tensor& window, const GriffinLimOptions& options,
                                 torch::Generator& gen, std::optional<int64_t> length = std::nullopt) {
  TORCH_CHECK(magnitude.dim() >= 2 && !magnitude.is_complex(), "griffin_lim: real magnitude [..., F, T] expected, got ",
              magnitude.sizes());
  TORCH_CHECK(options.momentum >= 0.0 && options.momentum < 1.0, "griffin_lim: momentum must be in [0, 1), got ",
              options.momentum);
  const double momentum = options.momentum / (1.0 + options.momentum);
  const auto complex_type = c10::toComplexType(magnitude.scalar_type());
  auto angles = options.random_init
                    ? torch::rand(magnitude.sizes(), gen, magnitude.options().dtype(complex_type))
                    : torch::ones(magnitude.sizes(), magnitude.options().dtype(complex_type));
  auto previous = torch::zeros({}, magnitude.options());
  for (int64_t i = 0; i < options.n_iter; ++i) {
    auto signal = istft(magnitude * angles, stft_options, window, length);
    auto rebuilt = stft(signal, stft_options, window);
    angles = momentum > 0.0 ? rebuilt - previous * momentum : rebuilt;
    angles = angles / (angles.abs() + 1e-16);
    previous = rebuilt;
  }
  return istft(magnitude * angles, stft_options, window, length);
}

/// Inverts a log-mel (as made by a MelSpectrogram with a centred STFT) to audio: least-squares mel →
/// linear magnitude (clamped at 0, as torchaudio's InverseMelScale), then Griffin-Lim.
class GriffinLimVocoder {
 public:
  explicit GriffinLimVocoder(MelSpectrogramOptions mel_options = MelSpectrogramOptions::vocos_24k(),
                             GriffinLimOptions options = {})
      : mel_(mel_options), options_(options) {
    TORCH_CHECK(mel_options.stft.center && !mel_options.stft.pad_half_window,
                "GriffinLimVocoder: needs a centred STFT layout (e.g. MelSpectrogramOptions::vocos_24k())");
    // Pseudo-inverse once: pinv(fb^T) maps mel [n_mels, T] to the minimum-norm linear magnitude.
    inverse_ = torch::linalg_pinv(mel_.filterbank().to(torch::kFloat64).t()).to(torch::kFloat32);
  }

  int64_t sample_rate() const noexcept { return mel_.options().sample_rate; }
  int64_t hop_length() const noexcept { return mel_.options().stft.hop_length; }

  /// `mel [B, n_mels, T]` (log if the options say so) → waveform `[B, (T-1)·hop]`.
  torch::Tensor decode(const torch::Tensor& mel, torch::Generator& gen) const {
    TORCH_CHECK(mel.dim() == 3 && mel.size(1) == mel_.options().n_mels, "GriffinLimVocoder: mel [B, ",
                mel_.options().n_mels, ", T] expected, got ", mel.sizes());
    auto linear_mel = mel_.options().log ? mel.to(torch::kFloat32).exp() : mel.to(torch::kFloat32);
    auto magnitude = torch::matmul(inverse_.to(linear_mel.device()), linear_mel).clamp_min(0.0);
    const int64_t length = (mel.size(2) - 1) * hop_length();
    return griffin_lim(magnitude, mel_.options().stft, mel_.window(), options_, gen, length);
  }

 private:
  MelSpectrogram mel_;
  GriffinLimOptions options_;
  torch::Tensor inverse_;
};

}  // namespace chord::audio
