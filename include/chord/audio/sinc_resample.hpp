#pragma once
/// @file
/// Band-limited sinc resampling between integer rates, as torchaudio 2.11 computes it
/// (`torchaudio.functional.resample`, `torchaudio.transforms.Resample`): the rates are reduced by their
/// gcd to `orig → new`, a windowed-sinc bank of `new` phases with `2·width + orig` taps (`width =
/// ceil(lowpass_filter_width · orig / (min(orig, new) · rolloff))`) is convolved with stride `orig` over
/// the signal zero-padded by `width` left and `width + orig` right, and the output is cut to
/// `ceil(new · N / orig)` samples. Windows: Hann (`sinc_interp_hann`, the default) or Kaiser.
///
/// Bert-VITS2's WavLMLoss feeds its 44.1 kHz audio to WavLM through `transforms.Resample(44100, 16000)`
/// (441 → 160 phases, width 17, 475 taps). The transform builds its kernel in float64 and caches it as
/// float32 once; the functional form builds it in the waveform's dtype. Both are offered, kernel bit for
/// bit: `SincResample` (module, kernel as the buffer `kernel`, as the transform registers it) and
/// `sinc_resample()` (function). chord::audio::resample (libsoxr) is a different filter.

#include "chord/core/error.hpp"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

namespace chord::audio {

namespace detail {
inline constexpr double sinc_pi = 3.141592653589793;  // Python's math.pi
}  // namespace detail

enum class SincWindow { hann, kaiser };

struct SincResampleOptions {
  SincResampleOptions(int64_t orig_freq, int64_t new_freq) : orig_freq_(orig_freq), new_freq_(new_freq) {}
  TORCH_ARG(int64_t, orig_freq);
  TORCH_ARG(int64_t, new_freq);
  TORCH_ARG(int64_t, lowpass_filter_width) = 6;
  TORCH_ARG(double, rolloff) = 0.99;
  TORCH_ARG(SincWindow, window) = SincWindow::hann;
  /// Kaiser shape; torchaudio's default when unset.
  TORCH_ARG(std::optional<double>, beta) = std::nullopt;
};

/// A sinc kernel `[new, 1, 2·width + orig]` (gcd-reduced rates) and its `width`.
struct SincKernel {
  torch::Tensor kernel;
  int64_t width = 0;
};

/// torchaudio's `_get_sinc_resample_kernel`. `dtype` unset: computed in float64 (with the phase offsets
/// `-j / new` rounded to float32 first, as torchaudio's integer `arange` divides them) and returned as
/// float32 — the transform's kernel. `dtype` set: computed and returned in that dtype — the functional
/// form's kernel.
inline SincKernel sinc_resample_kernel(const SincResampleOptions& o, std::optional<torch::ScalarType> dtype = std::nullopt,
                                       torch::Device device = torch::kCPU) {
  CHORD_CHECK(o.orig_freq() > 0 && o.new_freq() > 0, "sinc resample: rates must be > 0, got ", o.orig_freq(), " -> ",
              o.new_freq());
  CHORD_CHECK(o.lowpass_filter_width() > 0, "sinc resample: lowpass_filter_width must be > 0, got ",
              o.lowpass_filter_width());
  const int64_t gcd = std::gcd(o.orig_freq(), o.new_freq());
  const int64_t orig = o.orig_freq() / gcd;
  const int64_t next = o.new_freq() / gcd;
  const double lpw = static_cast<double>(o.lowpass_filter_width());
  const double base_freq = static_cast<double>(std::min(orig, next)) * o.rolloff();
  const auto width = static_cast<int64_t>(std::ceil(lpw * static_cast<double>(orig) / base_freq));

  const auto idx_dtype = dtype.value_or(torch::kFloat64);
  const auto idx = torch::arange(-width, width + orig, torch::TensorOptions(idx_dtype).device(device)).view({1, 1, -1}) /
                   static_cast<double>(orig);
  // An unset dtype makes torchaudio's arange integer; its true division lands in float32.
  const auto phase_options = dtype ? torch::TensorOptions(*dtype).device(device) : torch::TensorOptions(torch::kLong).device(device);
  auto t = torch::arange(0, -next, -1, phase_options).view({-1, 1, 1}).div(next) + idx;
  t = t * base_freq;
  t = t.clamp(-lpw, lpw);

  torch::Tensor window;
  if (o.window() == SincWindow::hann) {
    window = (t * detail::sinc_pi / lpw / 2).cos().pow(2);
  } else {
    // torchaudio keeps beta as a float32 0-dim tensor, so i0(beta) is a float32 value.
    const auto beta = torch::scalar_tensor(o.beta().value_or(14.769656459379492), torch::TensorOptions(torch::kFloat32).device(device));
    window = torch::i0(beta * torch::sqrt(1 - (t / lpw).pow(2))) / torch::i0(beta);
  }
  t = t * detail::sinc_pi;
  const double scale = base_freq / static_cast<double>(orig);
  auto kernels = torch::where(t == 0, torch::ones({}, t.options()), t.sin() / t);
  kernels = kernels * (window * scale);
  if (!dtype) kernels = kernels.to(torch::kFloat32);
  return {kernels, width};
}

/// torchaudio's `_apply_sinc_resample_kernel`: `waveform [..., N]` → `[..., ceil(new · N / orig)]`.
inline torch::Tensor apply_sinc_resample_kernel(const torch::Tensor& waveform, int64_t orig_freq, int64_t new_freq,
                                                const torch::Tensor& kernel, int64_t width) {
  CHORD_CHECK(waveform.is_floating_point(), "sinc resample: floating-point waveform expected, got ", waveform.scalar_type());
  TORCH_CHECK(waveform.dim() >= 1, "sinc resample: waveform [..., N] expected, got ", waveform.sizes());
  const int64_t gcd = std::gcd(orig_freq, new_freq);
  const int64_t orig = orig_freq / gcd;
  const int64_t next = new_freq / gcd;
  TORCH_CHECK(kernel.dim() == 3 && kernel.size(0) == next && kernel.size(2) == 2 * width + orig,
              "sinc resample: kernel [", next, ", 1, ", 2 * width + orig, "] expected, got ", kernel.sizes());
  const auto shape = waveform.sizes().vec();
  const int64_t length = shape.back();
  auto x = waveform.reshape({-1, length});
  const int64_t num_wavs = x.size(0);
  namespace F = torch::nn::functional;
  x = F::pad(x, F::PadFuncOptions({width, width + orig}));
  auto y = F::conv1d(x.unsqueeze(1), kernel, F::Conv1dFuncOptions().stride(orig));
  y = y.transpose(1, 2).reshape({num_wavs, -1});
  // torchaudio: ceil(new_freq * length / orig_freq) in Python floats.
  const auto target = static_cast<int64_t>(std::ceil(static_cast<double>(next * length) / static_cast<double>(orig)));
  y = y.narrow(-1, 0, std::min<int64_t>(target, y.size(-1)));
  auto out_shape = shape;
  out_shape.back() = y.size(-1);
  return y.reshape(out_shape);
}

/// `torchaudio.functional.resample`: the kernel is built in the waveform's dtype on its device for
/// this call. Equal rates return the input.
inline torch::Tensor sinc_resample(const torch::Tensor& waveform, const SincResampleOptions& o) {
  CHORD_CHECK(o.orig_freq() > 0 && o.new_freq() > 0, "sinc resample: rates must be > 0, got ", o.orig_freq(), " -> ",
              o.new_freq());
  if (o.orig_freq() == o.new_freq()) return waveform;
  CHORD_CHECK(waveform.is_floating_point(), "sinc resample: floating-point waveform expected, got ", waveform.scalar_type());
  const auto k = sinc_resample_kernel(o, waveform.scalar_type(), waveform.device());
  return apply_sinc_resample_kernel(waveform, o.orig_freq(), o.new_freq(), k.kernel, k.width);
}

inline torch::Tensor sinc_resample(const torch::Tensor& waveform, int64_t orig_freq, int64_t new_freq) {
  return sinc_resample(waveform, SincResampleOptions(orig_freq, new_freq));
}

/// `torchaudio.transforms.Resample`: the float32 kernel is built once (in float64) and kept as the
/// buffer `kernel` (none for equal rates, which pass the input through). `forward(x [..., N])`.
class SincResampleImpl : public torch::nn::Module {
 public:
  explicit SincResampleImpl(SincResampleOptions options_) : options(std::move(options_)) {
    CHORD_CHECK(options.orig_freq() > 0 && options.new_freq() > 0, "sinc resample: rates must be > 0, got ",
                options.orig_freq(), " -> ", options.new_freq());
    if (options.orig_freq() != options.new_freq()) {
      auto k = sinc_resample_kernel(options);
      width = k.width;
      kernel = register_buffer("kernel", k.kernel);
    }
  }
  SincResampleImpl(int64_t orig_freq, int64_t new_freq) : SincResampleImpl(SincResampleOptions(orig_freq, new_freq)) {}

  torch::Tensor forward(const torch::Tensor& waveform) {
    if (options.orig_freq() == options.new_freq()) return waveform;
    return apply_sinc_resample_kernel(waveform, options.orig_freq(), options.new_freq(), kernel, width);
  }

  /// Output length for `n` input samples: `ceil(new · n / orig)` (gcd-reduced rates).
  int64_t output_length(int64_t n) const {
    if (options.orig_freq() == options.new_freq()) return n;
    const int64_t gcd = std::gcd(options.orig_freq(), options.new_freq());
    return static_cast<int64_t>(std::ceil(static_cast<double>(options.new_freq() / gcd * n) /
                                          static_cast<double>(options.orig_freq() / gcd)));
  }

  SincResampleOptions options;
  torch::Tensor kernel;
  int64_t width = 0;
};
TORCH_MODULE(SincResample);

}  // namespace chord::audio
