#pragma once
/// @file
/// The spectral roll-off of a recording: the 0.985 cumulative-magnitude rule that gives SAGA-SR's
/// "cutoff ratio" condition (the reference's `UtilAudioSR.get_cutoff_index` on librosa's STFT).

#include "chord/audio/stft.hpp"
#include "chord/core/error.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cstdint>

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

}  // namespace chord::audio
