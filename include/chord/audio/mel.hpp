#pragma once
/// @file
/// Mel filterbanks and (log-)mel spectrograms matching the references bit-for-bit in layout:
///  - HTK scale without filter normalisation (torchaudio's default; F5-TTS / Vocos features);
///  - Slaney scale with Slaney area normalisation (librosa's default; BigVGAN, VITS, Bert-VITS2).

#include "chord/audio/stft.hpp"

#include <torch/types.h>

#include <cmath>
#include <optional>
#include <vector>

namespace chord::audio {

enum class MelScale { htk, slaney };
enum class MelNorm { none, slaney };

/// Hz → mel on the given scale.
inline double hz_to_mel(double hz, MelScale scale) {
  if (scale == MelScale::htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
  constexpr double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) / logstep : hz / f_sp;
}

/// Mel → Hz on the given scale.
inline double mel_to_hz(double mel, MelScale scale) {
  if (scale == MelScale::htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  constexpr double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return mel >= min_log_mel ? min_log_hz * std::exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

/// Triangular mel filters `[n_freqs, n_mels]` (torchaudio's layout; librosa's is the transpose),
/// computed in float64 and returned as float32. Frequencies of the `n_freqs` bins span
/// `[0, sample_rate / 2]`.
inline torch::Tensor mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                                    int64_t sample_rate, MelScale scale, MelNorm norm) {
  TORCH_CHECK(n_freqs > 1 && n_mels > 0, "mel_filterbank: n_freqs > 1 and n_mels > 0 required, got ", n_freqs,
              ", ", n_mels);
  TORCH_CHECK(0.0 <= f_min && f_min < f_max && f_max <= sample_rate / 2.0 + 1e-9,
              "mel_filterbank: need 0 <= f_min < f_max <= sample_rate/2, got f_min=", f_min, " f_max=", f_max,
              " sample_rate=", sample_rate);
  const double mel_min = hz_to_mel(f_min, scale), mel_max = hz_to_mel(f_max, scale);
  std::vector<double> edges(n_mels + 2);
  for (int64_t i = 0; i < n_mels + 2; ++i) {
    edges[i] = mel_to_hz(mel_min + (mel_max - mel_min) * static_cast<double>(i) / static_cast<double>(n_mels + 1),
                         scale);
  }
  auto bank = torch::zeros({n_freqs, n_mels}, torch::kFloat64);
  auto weights = bank.accessor<double, 2>();
  const double nyquist = sample_rate / 2.0;
  for (int64_t f = 0; f < n_freqs; ++f) {
    const double hz = nyquist * static_cast<double>(f) / static_cast<double>(n_freqs - 1);
    for (int64_t m = 0; m < n_mels; ++m) {
      const double lower = (hz - edges[m]) / (edges[m + 1] - edges[m]);
      const double upper = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
      weights[f][m] = std::max(0.0, std::min(lower, upper));
    }
  }
  if (norm == MelNorm::slaney) {
    for (int64_t m = 0; m < n_mels; ++m) {
      const double area = 2.0 / (edges[m + 2] - edges[m]);
      for (int64_t f = 0; f < n_freqs; ++f) weights[f][m] *= area;
    }
  }
  return bank.to(torch::kFloat32);
}

/// Everything that defines a (log-)mel feature.
struct MelSpectrogramOptions {
  int64_t sample_rate = 24000;
  StftOptions stft{};
  int64_t n_mels = 100;
  double f_min = 0.0;
  std::optional<double> f_max;  ///< default: sample_rate / 2
  MelScale scale = MelScale::htk;
  MelNorm norm = MelNorm::none;
  /// Magnitude is `sqrt(re² + im² + magnitude_eps)` when > 0 (VITS 1e-6, BigVGAN 1e-9), else `|X|`.
  double magnitude_eps = 0.0;
  /// Output `log(max(mel, log_floor))` (natural log) when true, the linear mel otherwise.
  bool log = true;
  double log_floor = 1e-5;

  /// F5-TTS / Vocos features: torchaudio MelSpectrogram(24 kHz, n_fft 1024, hop 256, 100 mels,
  /// power 1, center, HTK, no norm), natural log clamped at 1e-5.
  static MelSpectrogramOptions vocos_24k() { return {}; }

  /// F5-TTS "bigvgan" features: half-window reflect padding, no centring, Slaney scale and norm,
  /// magnitude with 1e-9 inside the square root.
  static MelSpectrogramOptions bigvgan_24k() {
    MelSpectrogramOptions o;
    o.stft = {1024, 256, 1024, /*center=*/false, /*pad_half_window=*/true};
    o.scale = MelScale::slaney;
    o.norm = MelNorm::slaney;
    o.magnitude_eps = 1e-9;
    return o;
  }

  /// VITS / Bert-VITS2 `mel_spectrogram_torch` (defaults: Bert-VITS2 v2.3 at 44.1 kHz).
  static MelSpectrogramOptions vits(int64_t sample_rate = 44100, int64_t n_fft = 2048, int64_t hop = 512,
                                    int64_t win = 2048, int64_t n_mels = 128) {
    MelSpectrogramOptions o;
    o.sample_rate = sample_rate;
    o.stft = {n_fft, hop, win, /*center=*/false, /*pad_half_window=*/true};
    o.n_mels = n_mels;
    o.scale = MelScale::slaney;
    o.norm = MelNorm::slaney;
    o.magnitude_eps = 1e-6;
    return o;
  }

  double max_frequency() const { return f_max ? *f_max : sample_rate / 2.0; }
  int64_t n_freqs() const { return stft.n_fft / 2 + 1; }
};

/// Magnitude spectrogram `[..., n_fft/2+1, frames]` of `signal [..., N]`.
inline torch::Tensor magnitude_spectrogram(const torch::Tensor& signal, const StftOptions& options,
                                           const torch::Tensor& window, double magnitude_eps = 0.0) {
  auto spectrum = stft(signal, options, window);
  if (magnitude_eps > 0.0) {
    return (torch::view_as_real(spectrum).square().sum(-1) + magnitude_eps).sqrt();
  }
  return spectrum.abs();
}

/// VITS `spectrogram_torch`: linear magnitude with half-window padding and 1e-6 inside the root,
/// `[B, n_fft/2+1, N/hop]`.
inline torch::Tensor vits_linear_spectrogram(const torch::Tensor& signal, int64_t n_fft = 2048, int64_t hop = 512,
                                             int64_t win = 2048) {
  const StftOptions options{n_fft, hop, win, /*center=*/false, /*pad_half_window=*/true};
  return magnitude_spectrogram(signal, options, hann_window(win, signal.options()), 1e-6);
}

/// A mel feature extractor: holds the filterbank and window, applies them to waveforms.
class MelSpectrogram {
 public:
  explicit MelSpectrogram(MelSpectrogramOptions options = {})
      : options_(options),
        filterbank_(mel_filterbank(options.n_freqs(), options.f_min, options.max_frequency(), options.n_mels,
                                   options.sample_rate, options.scale, options.norm)),
        window_(hann_window(options.stft.win_length)) {}

  const MelSpectrogramOptions& options() const noexcept { return options_; }
  /// `[n_freqs, n_mels]`.
  const torch::Tensor& filterbank() const noexcept { return filterbank_; }
  const torch::Tensor& window() const noexcept { return window_; }

  /// Frames produced for `samples` input samples.
  int64_t frames(int64_t samples) const {
    const auto& s = options_.stft;
    if (s.center) return samples / s.hop_length + 1;
    const int64_t padded = samples + (s.pad_half_window ? 2 * ((s.n_fft - s.hop_length) / 2) : 0);
    return (padded - s.n_fft) / s.hop_length + 1;
  }

  /// Linear magnitude `[..., n_freqs, T]`.
  torch::Tensor magnitude(const torch::Tensor& signal) const {
    return magnitude_spectrogram(signal, options_.stft, window_, options_.magnitude_eps);
  }

  /// Linear magnitude → (log-)mel `[..., n_mels, T]`.
  torch::Tensor mel_from_magnitude(const torch::Tensor& magnitude) const {
    auto bank = filterbank_.to(magnitude.device(), magnitude.scalar_type());
    auto mel = torch::matmul(magnitude.transpose(-1, -2), bank).transpose(-1, -2);
    return options_.log ? mel.clamp_min(options_.log_floor).log() : mel;
  }

  /// Waveform `[..., N]` → (log-)mel `[..., n_mels, T]`.
  torch::Tensor operator()(const torch::Tensor& signal) const { return mel_from_magnitude(magnitude(signal)); }

 private:
  MelSpectrogramOptions options_;
  torch::Tensor filterbank_;
  torch::Tensor window_;
};

}  // namespace chord::audio
