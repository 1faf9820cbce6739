#pragma once
/// @file
/// STFT / iSTFT over `torch::stft` with the conventions chord's references use.

#include <torch/nn/functional/padding.h>
#include <torch/types.h>

#include <optional>
#include <vector>

namespace chord::audio {

/// Frame layout of a short-time Fourier transform.
struct StftOptions {
  int64_t n_fft = 1024;
  int64_t hop_length = 256;
  int64_t win_length = 1024;
  /// torch.stft's own centring: pad `n_fft / 2` on both sides (reflect), frames = N / hop + 1.
  bool center = true;
  /// Extra reflect padding of `(n_fft - hop) / 2` on both sides before a non-centred STFT (VITS,
  /// BigVGAN): frames = N / hop. Use with `center = false`.
  bool pad_half_window = false;
};

/// Periodic Hann window (torch.hann_window default).
inline torch::Tensor hann_window(int64_t length, const torch::TensorOptions& options = {}) {
  return torch::hann_window(length, /*periodic=*/true, options);
}

/// Complex STFT of `signal [..., N]` → `[..., n_fft/2+1, frames]`.
inline torch::Tensor stft(const torch::Tensor& signal, const StftOptions& options, const torch::Tensor& window) {
  TORCH_CHECK(signal.dim() >= 1, "stft: signal [..., N] expected, got ", signal.sizes());
  auto leading = signal.sizes().slice(0, signal.dim() - 1).vec();
  auto flat = signal.reshape({-1, signal.size(-1)});
  if (options.pad_half_window) {
    const int64_t pad = (options.n_fft - options.hop_length) / 2;
    namespace F = torch::nn::functional;
    flat = F::pad(flat.unsqueeze(1), F::PadFuncOptions({pad, pad}).mode(torch::kReflect)).squeeze(1);
  }
  auto spectrum = torch::stft(flat, options.n_fft, options.hop_length, options.win_length,
                              window.to(flat.device(), flat.scalar_type()), options.center, "reflect",
                              /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true);
  leading.push_back(spectrum.size(-2));
  leading.push_back(spectrum.size(-1));
  return spectrum.reshape(leading);
}

/// Inverse of stft() for `center = true` layouts: `[..., F, frames]` → `[..., length]`.
inline torch::Tensor istft(const torch::Tensor& spectrum, const StftOptions& options, const torch::Tensor& window,
                           std::optional<int64_t> length = std::nullopt) {
  TORCH_CHECK(spectrum.dim() >= 2 && spectrum.is_complex(), "istft: complex [..., F, T] expected, got ",
              spectrum.sizes(), " ", spectrum.scalar_type());
  TORCH_CHECK(options.center && !options.pad_half_window, "istft: only centred layouts are invertible here");
  auto leading = spectrum.sizes().slice(0, spectrum.dim() - 2).vec();
  auto flat = spectrum.reshape({-1, spectrum.size(-2), spectrum.size(-1)});
  auto signal = torch::istft(flat, options.n_fft, options.hop_length, options.win_length,
                             window.to(flat.device(), c10::toRealValueType(flat.scalar_type())),
                             /*center=*/true, /*normalized=*/false, /*onesided=*/true, length);
  leading.push_back(signal.size(-1));
  return signal.reshape(leading);
}

}  // namespace chord::audio
