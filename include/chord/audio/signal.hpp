#pragma once
/// @file
/// Small waveform utilities: mono mixdown, RMS, RMS normalisation.

#include <torch/types.h>

#include <utility>

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

}  // namespace chord::audio
