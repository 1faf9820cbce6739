#pragma once
/// @file
/// Signal tools of audio super-resolution (SAGA-SR): the spectral roll-off of a recording (the
/// 0.985 cumulative-magnitude rule that gives SAGA-SR's "cutoff ratio" condition) and low-frequency
/// replacement of a generated waveform by the low-resolution input, as the official post-process
/// does it (a hard cut) or with the raised-cosine transition band seed 001 (step 2′.3) proposes.

#include "chord/audio/stft.hpp"
#include "chord/core/error.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cmath>

namespace chord::audio {

struct RolloffOptions {
  int64_t n_fft = 2048;     ///< librosa defaults, as the reference calls it
  int64_t hop_length = 512;
  double threshold = 0.985;  ///< share of the total magnitude below the roll-off bin
};

namespace detail {
inline torch::Tensor mono_signal(const torch::Tensor& wave, const char* what) {
  TORCH_CHECK(wave.dim() == 1 || wave.dim() == 2, what, ": waveform [N] or [C, N] expected, got ", wave.sizes());
  return wave.dim() == 2 ? wave.mean(0) : wave;
}
inline StftOptions rolloff_stft(const RolloffOptions& o) { return {o.n_fft, o.hop_length, o.n_fft, /*center=*/true, false}; }
/// Signals of n_fft/2 samples or fewer cannot be reflect-padded for a centred STFT: zeros are appended
/// (they add no energy, so roll-offs and levels are unchanged); longer signals are returned as they are.
inline torch::Tensor pad_for_stft(const torch::Tensor& x, int64_t n_fft) {
  const int64_t needed = n_fft / 2 + 1;
  return x.size(-1) >= needed ? x : torch::constant_pad_nd(x, {0, needed - x.size(-1)});
}
}  // namespace detail

/// The roll-off bin `k*` of a magnitude spectrogram `[F, T]`: with `e[k]` the cumulative sum over
/// bins of the time-summed magnitude, the largest k with `e[k] < threshold·e[F−1]` (0 if none) —
/// the reference's scan from the top, `UtilAudioSR.get_cutoff_index`.
inline int64_t rolloff_bin(const torch::Tensor& magnitude, double threshold = 0.985) {
  TORCH_CHECK(magnitude.dim() == 2, "rolloff_bin: magnitude [F, T] expected, got ", magnitude.sizes());
  auto cumulative = magnitude.to(torch::kDouble).sum(1).cumsum(0);
  const double limit = threshold * cumulative[-1].item<double>();
  const int64_t below = (cumulative < limit).sum().item<int64_t>();  // e is non-decreasing
  return std::max<int64_t>(below - 1, 0);
}

/// The roll-off bin of a waveform (channels averaged), STFT with `n_fft`, hop, Hann, centred.
inline int64_t rolloff_bin(const torch::Tensor& wave, const RolloffOptions& options) {
  auto mono = detail::pad_for_stft(detail::mono_signal(wave, "rolloff_bin"), options.n_fft);
  auto magnitude = stft(mono.to(torch::kFloat), detail::rolloff_stft(options), hann_window(options.n_fft)).abs();
  return rolloff_bin(magnitude, options.threshold);
}

/// SAGA-SR's cutoff ratio: `rolloff_bin / (n_fft/2 + 1)`, in [0, 1).
inline double rolloff_ratio(const torch::Tensor& wave, const RolloffOptions& options = {}) {
  return static_cast<double>(rolloff_bin(wave, options)) / static_cast<double>(options.n_fft / 2 + 1);
}

struct LowFrequencyReplacementOptions {
  RolloffOptions rolloff{};
  /// Transition band as fractions of the cutoff bin: 100 % input below `band_low·k`, 100 % generated
  /// above `band_high·k`, a raised cosine between. {1, 1} is the official hard cut at bin k.
  double band_low = 1.0, band_high = 1.0;
  double ratio_min = 0.8, ratio_max = 1.2;  ///< clip of the level ratio at the cutoff bin

  static LowFrequencyReplacementOptions hard() { return {}; }
  /// Seed 001, step 2′.3: f1 = 0.9·cutoff, f2 = 1.1·cutoff.
  static LowFrequencyReplacementOptions cross_fade(double low = 0.9, double high = 1.1) {
    LowFrequencyReplacementOptions o;
    o.band_low = low;
    o.band_high = high;
    return o;
  }
};

/// Weight of the input's spectrum per bin `[F]` for cutoff bin k: 1 below the band, 0 above, a
/// raised cosine inside; the hard cut is 1 for bins < k.
inline torch::Tensor input_weights(int64_t bins, int64_t cutoff, const LowFrequencyReplacementOptions& o) {
  auto f = torch::arange(bins, torch::kDouble);
  if (o.band_high <= o.band_low) return (f < static_cast<double>(cutoff)).to(torch::kDouble);
  const double low = o.band_low * static_cast<double>(cutoff), high = o.band_high * static_cast<double>(cutoff);
  auto u = ((f - low) / (high - low)).clamp(0.0, 1.0);
  return 0.5 * (1.0 + torch::cos(u * M_PI));
}

/// Low-frequency replacement on complex spectrograms `[F, T]` (input `lr`, generated `generated`):
/// `r = clip(Σ|LR[k]| / Σ|G[k]|)` at the cutoff bin k, then `w·LR/r + (1 − w)·G` per bin.
inline torch::Tensor replace_low_frequencies_spectrum(const torch::Tensor& lr, const torch::Tensor& generated, int64_t cutoff,
                                                      const LowFrequencyReplacementOptions& o = {}) {
  TORCH_CHECK(lr.is_complex() && generated.is_complex() && lr.sizes() == generated.sizes() && lr.dim() == 2,
              "replace_low_frequencies: complex spectrograms [F, T] of one shape expected, got ", lr.sizes(), " and ",
              generated.sizes());
  CHORD_CHECK(0 <= cutoff && cutoff < lr.size(0), "replace_low_frequencies: cutoff bin ", cutoff, " outside [0, ", lr.size(0), ")");
  const double generated_level = generated[cutoff].abs().sum().item<double>();
  const double ratio = generated_level > 0.0
                           ? std::clamp(lr[cutoff].abs().sum().item<double>() / generated_level, o.ratio_min, o.ratio_max)
                           : 1.0;
  auto w = input_weights(lr.size(0), cutoff, o).to(lr.device(), c10::toRealValueType(lr.scalar_type())).unsqueeze(1);
  return w * (lr / ratio) + (1 - w) * generated;
}

/// The waveform version (`UtilAudioSR.wav_replace_ops`): the cutoff bin from the input's roll-off,
/// STFT of both (librosa settings), replacement, iSTFT to the generated length. `[N]` or `[C, N]`.
inline torch::Tensor replace_low_frequencies(const torch::Tensor& generated, const torch::Tensor& lr,
                                             const LowFrequencyReplacementOptions& o = {}) {
  TORCH_CHECK(generated.sizes() == lr.sizes() && (generated.dim() == 1 || generated.dim() == 2),
              "replace_low_frequencies: generated and input waveforms of one shape [N] or [C, N] expected, got ",
              generated.sizes(), " and ", lr.sizes());
  const auto settings = detail::rolloff_stft(o.rolloff);
  const auto window = hann_window(o.rolloff.n_fft, generated.options());
  const int64_t cutoff = rolloff_bin(lr, o.rolloff);
  auto one = [&](const torch::Tensor& g, const torch::Tensor& l) {
    const auto padded_g = detail::pad_for_stft(g, o.rolloff.n_fft), padded_l = detail::pad_for_stft(l, o.rolloff.n_fft);
    auto spectrum = replace_low_frequencies_spectrum(stft(padded_l, settings, window), stft(padded_g, settings, window), cutoff, o);
    return istft(spectrum, settings, window, padded_g.size(-1)).narrow(-1, 0, g.size(-1));
  };
  if (generated.dim() == 1) return one(generated, lr);
  std::vector<torch::Tensor> channels;
  for (int64_t c = 0; c < generated.size(0); ++c) channels.push_back(one(generated[c], lr[c]));
  return torch::stack(channels);
}

}  // namespace chord::audio
