#pragma once
/// @file
/// Small waveform utilities: mono mixdown, RMS, RMS normalisation, cross-fading pieces.

#include "chord/core/error.hpp"

#include <torch/types.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace chord::audio {

/// `[C, N]` → `[1, N]`, the mean over channels (F5-TTS and SAGA-SR mix down this way).
inline torch::Tensor to_mono(const torch::Tensor& samples) {
  TORCH_CHECK(samples.dim() == 2, "to_mono: samples [C,N] expected, got ", samples.sizes());
  return samples.size(0) == 1 ? samples : samples.mean(0, /*keepdim=*/true);
}

/// Root mean square over all samples.
inline double rms(const torch::Tensor& samples) {
  return samples.to(torch::kFloat64).square().mean().sqrt().item<double>();
}

/// Scales `samples` to RMS `target`. With `only_if_quieter` (the F5-TTS prompt rule) louder audio is
/// left alone. Returns the scaled audio and the factor applied (undo by dividing).
inline std::pair<torch::Tensor, double> normalize_rms(const torch::Tensor& samples, double target = 0.1,
                                                      bool only_if_quieter = true) {
  const double current = rms(samples);
  if (current <= 0.0 || (only_if_quieter && current >= target)) return {samples, 1.0};
  const double gain = target / current;
  return {samples * gain, gain};
}

/// Joins waveforms (`[N]` or `[C, N]`, along the last dimension) with linear cross-fades: piece i+1's
/// first `fades[i]` samples overlap piece i's last ones (shortened where a piece is shorter). Linear,
/// not equal-power: the pieces joined (chunks of one voice, overlapping windows of one signal) are
/// correlated, and a linear fade keeps their level.
inline torch::Tensor cross_fade(const std::vector<torch::Tensor>& waves, const std::vector<int64_t>& fades) {
  CHORD_CHECK(!waves.empty(), "cross_fade: no waveforms");
  CHORD_CHECK(fades.size() + 1 == waves.size(), "cross_fade: ", fades.size(), " fades for ", waves.size(), " pieces");
  auto out = waves.front();
  for (size_t i = 1; i < waves.size(); ++i) {
    const auto& next = waves[i];
    const int64_t n = std::min({fades[i - 1], out.size(-1), next.size(-1)});
    if (n <= 0) {
      out = torch::cat({out, next}, -1);
      continue;
    }
    auto ramp = torch::linspace(0.0, 1.0, n, out.options());
    auto overlap = out.narrow(-1, out.size(-1) - n, n) * (1 - ramp) + next.narrow(-1, 0, n) * ramp;
    out = torch::cat({out.narrow(-1, 0, out.size(-1) - n), overlap, next.narrow(-1, n, next.size(-1) - n)}, -1);
  }
  return out;
}

/// The same fade of `fade` samples at every join.
inline torch::Tensor cross_fade(const std::vector<torch::Tensor>& waves, int64_t fade) {
  return cross_fade(waves, std::vector<int64_t>(waves.empty() ? 0 : waves.size() - 1, fade));
}

}  // namespace chord::audio
