#pragma once
/// @file
/// Objective metrics for generated audio: log-spectral distance, SI-SDR, mel L1.

#include "chord/audio/stft.hpp"

#include <torch/types.h>

#include <optional>

namespace chord::audio {

/// STFT settings of the LSD (SAGA-SR / TorchJaekwon defaults at 44.1 kHz).
struct LsdOptions {
  int64_t n_fft = 2048;
  int64_t hop_length = 512;
  double eps = 1e-12;
};

/// Log-spectral distance per item, `[B]` for `[B, N]` inputs (a scalar tensor for `[N]`).
///
/// With magnitudes P (estimate) and T (target) from a centred Hann STFT:
/// `LSD = mean_t sqrt( mean_f ( log10( (T+ε)² / (P+ε)² + ε ) )² )` — log10 of the *power* ratio with
/// no factor 10, exactly as TorchJaekwon's `get_lsd_from_spec` (SAGA-SR's evaluation) computes it.
inline torch::Tensor log_spectral_distance(const torch::Tensor& estimate, const torch::Tensor& target,
                                           const LsdOptions& options = {}) {
  TORCH_CHECK(estimate.sizes() == target.sizes(), "log_spectral_distance: estimate ", estimate.sizes(),
              " and target ", target.sizes(), " differ");
  const StftOptions stft_options{options.n_fft, options.hop_length, options.n_fft, /*center=*/true};
  auto window = hann_window(options.n_fft, estimate.options().dtype(torch::kFloat32));
  auto p = stft(estimate.to(torch::kFloat32), stft_options, window).abs();
  auto t = stft(target.to(torch::kFloat32), stft_options, window).abs();
  auto ratio = ((t + options.eps).square() / (p + options.eps).square() + options.eps).log10();
  return ratio.square().mean(-2).sqrt().mean(-1);
}

/// Scale-invariant SDR in dB along the last axis (`[B, N]` → `[B]`), no mean removal unless
/// `zero_mean` is set.
///
/// Convention: the textbook one (Le Roux et al. 2019), projecting the estimate ŝ onto the reference s:
/// `α = <ŝ,s>/‖s‖²`, `SI-SDR = 10·log10(‖αs‖² / ‖αs − ŝ‖²)`. TorchJaekwon's `get_si_sdr` (SAGA-SR's
/// evaluation) projects the reference onto the estimate instead; both equal `10·log10(cot²θ)` for the
/// angle θ between the two signals, so they agree exactly (tests/audio pins this).
inline torch::Tensor si_sdr(const torch::Tensor& estimate, const torch::Tensor& reference, bool zero_mean = false,
                            double eps = 1e-12) {
  TORCH_CHECK(estimate.sizes() == reference.sizes(), "si_sdr: estimate ", estimate.sizes(), " and reference ",
              reference.sizes(), " differ");
  auto e = estimate.to(torch::kFloat64);
  auto r = reference.to(torch::kFloat64);
  if (zero_mean) {
    e = e - e.mean(-1, true);
    r = r - r.mean(-1, true);
  }
  auto alpha = (e * r).sum(-1, true) / (r.square().sum(-1, true) + eps);
  auto target = alpha * r;
  auto residual = target - e;
  return 10.0 * ((target.square().sum(-1) + eps) / (residual.square().sum(-1) + eps)).log10();
}

/// Mean absolute difference of two (log-)mel spectrograms `[B, n_mels, T]`, optionally only over
/// frames where `frame_mask [B, T]` is true.
inline torch::Tensor mel_l1(const torch::Tensor& estimate, const torch::Tensor& target,
                            const std::optional<torch::Tensor>& frame_mask = std::nullopt) {
  TORCH_CHECK(estimate.sizes() == target.sizes(), "mel_l1: estimate ", estimate.sizes(), " and target ",
              target.sizes(), " differ");
  auto diff = (estimate - target).abs();
  if (!frame_mask) return diff.mean();
  TORCH_CHECK(estimate.dim() == 3 && frame_mask->sizes() == torch::IntArrayRef({estimate.size(0), estimate.size(2)}),
              "mel_l1: frame_mask [B, T] = [", estimate.size(0), ", ", estimate.size(2), "] expected, got ",
              frame_mask->sizes());
  auto mask = frame_mask->unsqueeze(1).to(diff.scalar_type());
  return (diff * mask).sum() / (mask.sum() * estimate.size(1)).clamp_min(1.0);
}

}  // namespace chord::audio
