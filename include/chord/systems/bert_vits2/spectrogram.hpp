#pragma once
/// @file
/// Bert-VITS2's spectrogram features: `mel_processing.spectrogram_torch` (linear magnitude the posterior
/// encoder reads), `spec_to_mel_torch` (training mel target from that spectrogram) and
/// `mel_spectrogram_torch` (mel of generated audio), with `dynamic_range_compression_torch`
/// (fishaudio/Bert-VITS2 8f7fbd8; reference/vits2.md §4.1). Built on chord::audio's STFT and librosa-style
/// Slaney mel filterbank (chord/audio/mel.hpp), which are already checked against librosa/torch there.
///
/// Layout: reflect padding of (n_fft - hop) / 2 on both sides, periodic Hann window, no centring,
/// magnitude `sqrt(re² + im² + 1e-6)`, so a waveform of L samples gives floor(L / hop) frames.
/// Unlike the reference, nothing is printed for samples outside [-1, 1].

#include "chord/audio/mel.hpp"
#include "chord/audio/stft.hpp"
#include "chord/core/error.hpp"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <optional>

namespace chord::systems::bert_vits2 {

/// The spectral settings of `hps.data`.
struct SpectrogramConfig {
  int64_t sampling_rate = 44100;
  int64_t filter_length = 2048;  ///< n_fft
  int64_t hop_length = 512;
  int64_t win_length = 2048;
  int64_t n_mel_channels = 128;
  double mel_fmin = 0.0;
  std::optional<double> mel_fmax;  ///< null in the config: sampling_rate / 2

  /// configs/config.json of Bert-VITS2 2.3 (the defaults above).
  static SpectrogramConfig v2_3() { return {}; }

  /// From a config's `data` object; missing keys keep the 2.3 values.
  static SpectrogramConfig from_json(const nlohmann::json& data) {
    SpectrogramConfig c;
    auto read_int = [&](const char* key, int64_t& target) {
      if (!data.contains(key)) return;
      CHORD_CHECK(data[key].is_number_integer() && data[key].get<int64_t>() > 0, "config data.", key,
                  " must be a positive integer");
      target = data[key].get<int64_t>();
    };
    read_int("sampling_rate", c.sampling_rate);
    read_int("filter_length", c.filter_length);
    read_int("hop_length", c.hop_length);
    read_int("win_length", c.win_length);
    read_int("n_mel_channels", c.n_mel_channels);
    if (data.contains("mel_fmin")) {
      CHORD_CHECK(data["mel_fmin"].is_number(), "config data.mel_fmin must be a number");
      c.mel_fmin = data["mel_fmin"].get<double>();
    }
    if (data.contains("mel_fmax") && !data["mel_fmax"].is_null()) {
      CHORD_CHECK(data["mel_fmax"].is_number(), "config data.mel_fmax must be a number or null");
      c.mel_fmax = data["mel_fmax"].get<double>();
    }
    CHORD_CHECK(c.win_length <= c.filter_length, "config data.win_length (", c.win_length,
                ") must not exceed filter_length (", c.filter_length, ")");
    return c;
  }

  audio::StftOptions stft() const {
    return {filter_length, hop_length, win_length, /*center=*/false, /*pad_half_window=*/true};
  }
  double max_frequency() const { return mel_fmax ? *mel_fmax : sampling_rate / 2.0; }
  int64_t n_freqs() const { return filter_length / 2 + 1; }
  /// Frames of an L-sample waveform: floor(L / hop).
  int64_t frames(int64_t samples) const {
    const int64_t pad = (filter_length - hop_length) / 2;
    return (samples + 2 * pad - filter_length) / hop_length + 1;
  }
};

/// `dynamic_range_compression_torch(x, C, clip_val)`: `log(clamp(x, min=clip_val) * C)`.
inline torch::Tensor dynamic_range_compression(const torch::Tensor& x, double C = 1.0, double clip_val = 1e-5) {
  return torch::log(torch::clamp_min(x, clip_val) * C);
}

/// `dynamic_range_decompression_torch(x, C)`: `exp(x) / C`.
inline torch::Tensor dynamic_range_decompression(const torch::Tensor& x, double C = 1.0) { return torch::exp(x) / C; }

/// The three feature functions with their filterbank and window built once (the reference caches them
/// per dtype/device in module globals).
class MelProcessing {
 public:
  explicit MelProcessing(SpectrogramConfig config = {})
      : config_(config),
        // librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) layout: [n_mels, n_fft/2+1].
        mel_basis_(audio::mel_filterbank(config.n_freqs(), config.mel_fmin, config.max_frequency(),
                                         config.n_mel_channels, config.sampling_rate, audio::MelScale::slaney,
                                         audio::MelNorm::slaney)
                       .t()
                       .contiguous()),
        window_(audio::hann_window(config.win_length)) {
    CHORD_CHECK(config.hop_length > 0 && config.filter_length > config.hop_length,
                "MelProcessing: need 0 < hop_length < filter_length, got hop ", config.hop_length, ", n_fft ",
                config.filter_length);
  }

  const SpectrogramConfig& config() const noexcept { return config_; }
  /// `[n_mels, n_fft/2+1]`, float32.
  const torch::Tensor& mel_basis() const noexcept { return mel_basis_; }

  /// `spectrogram_torch(y, ...)`: `y [B, L]` → `[B, n_fft/2+1, floor(L/hop)]` (any leading dims kept).
  torch::Tensor spectrogram(const torch::Tensor& y) const {
    TORCH_CHECK(y.dim() >= 1 && y.is_floating_point(), "spectrogram: waveform y [B, L] (float) expected, got ",
                y.sizes(), " ", y.scalar_type());
    const int64_t pad = (config_.filter_length - config_.hop_length) / 2;
    TORCH_CHECK(y.size(-1) > pad, "spectrogram: y [B, L] needs L > (n_fft - hop) / 2 = ", pad,
                " for the reflect padding, got L = ", y.size(-1));
    return audio::magnitude_spectrogram(y, config_.stft(), window_, 1e-6);
  }

  /// `spec_to_mel_torch(spec, ...)`: linear `[..., n_fft/2+1, T]` → log-mel `[..., n_mels, T]`.
  torch::Tensor spec_to_mel(const torch::Tensor& spec) const {
    TORCH_CHECK(spec.dim() >= 2 && spec.size(-2) == config_.n_freqs(), "spec_to_mel: spec [..., ",
                config_.n_freqs(), ", T] expected, got ", spec.sizes());
    auto basis = mel_basis_.to(spec.device(), spec.scalar_type());
    return dynamic_range_compression(torch::matmul(basis, spec));
  }

  /// `mel_spectrogram_torch(y, ...)`: waveform `[B, L]` → log-mel `[B, n_mels, floor(L/hop)]`.
  torch::Tensor mel_spectrogram(const torch::Tensor& y) const { return spec_to_mel(spectrogram(y)); }

 private:
  SpectrogramConfig config_;
  torch::Tensor mel_basis_;
  torch::Tensor window_;
};

}  // namespace chord::systems::bert_vits2
