#pragma once
/// @file
/// Low-frequency replacement: the band of a generated waveform below the input's roll-off is replaced
/// by the low-resolution input's, as the official SAGA-SR post-process does it (a hard cut) or with
/// the raised-cosine transition band seed 001 (step 2′.3) proposes.

#include "chord/audio/rolloff.hpp"
#include "chord/audio/stft.hpp"
#include "chord/core/error.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace chord::audio {

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
