#pragma once
/// @file
/// Low-pass IIR filters for low-resolution simulation (SAGA-SR / NVSR recipe): Chebyshev I,
/// Butterworth, Bessel and elliptic designs of order 2–10 from liquid-dsp, as second-order sections;
/// zero-phase filtering like scipy's `sosfiltfilt` (odd extension, steady-state initial conditions);
/// and the random degradation `simulate_low_resolution`: a random filter at a random cutoff, then
/// resampling down to twice the cutoff and back (libsoxr).

#include "chord/audio/resample.hpp"
#include "chord/core/error.hpp"

#include <complex>  // before liquid.h: its complex type becomes std::complex
#include <liquid/liquid.h>
#include <torch/types.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace chord::audio {

enum class FilterFamily { chebyshev1, butterworth, bessel, elliptic };

inline std::string to_string(FilterFamily family) {
  switch (family) {
    case FilterFamily::chebyshev1: return "chebyshev1";
    case FilterFamily::butterworth: return "butterworth";
    case FilterFamily::bessel: return "bessel";
    case FilterFamily::elliptic: return "elliptic";
  }
  return "?";
}

/// Second-order sections `{b0, b1, b2, a0, a1, a2}` (a0 = 1).
struct SosFilter {
  std::vector<std::array<double, 6>> sections;

  /// `|H(e^{jω})|` at frequencies `hz` for a sample rate.
  std::vector<double> magnitude(const std::vector<double>& hz, double sample_rate) const {
    std::vector<double> out;
    out.reserve(hz.size());
    for (double f : hz) {
      const std::complex<double> z = std::polar(1.0, -2.0 * M_PI * f / sample_rate);  // z^-1
      std::complex<double> h = 1.0;
      for (const auto& s : sections) h *= (s[0] + s[1] * z + s[2] * z * z) / (s[3] + s[4] * z + s[5] * z * z);
      out.push_back(std::abs(h));
    }
    return out;
  }
};

struct LowpassDesign {
  FilterFamily family = FilterFamily::butterworth;
  int order = 8;
  double cutoff_hz = 4000.0;
  double sample_rate = 44100.0;
  double passband_ripple_db = 0.1;    ///< Chebyshev I and elliptic (the reference's 0.1 dB)
  double stopband_attenuation_db = 60.0;  ///< elliptic
};

/// Designs the filter with liquid-dsp (`liquid_iirdes`, low-pass, second-order sections).
inline SosFilter design_lowpass(const LowpassDesign& d) {
  CHORD_CHECK(d.order >= 1 && d.order <= 20, "design_lowpass: order ", d.order, " outside 1..20");
  CHORD_CHECK(d.cutoff_hz > 0.0 && d.cutoff_hz < d.sample_rate / 2.0, "design_lowpass: cutoff ", d.cutoff_hz,
              " Hz outside (0, ", d.sample_rate / 2.0, ")");
  liquid_iirdes_filtertype type = LIQUID_IIRDES_BUTTER;
  switch (d.family) {
    case FilterFamily::chebyshev1: type = LIQUID_IIRDES_CHEBY1; break;
    case FilterFamily::butterworth: type = LIQUID_IIRDES_BUTTER; break;
    case FilterFamily::bessel: type = LIQUID_IIRDES_BESSEL; break;
    case FilterFamily::elliptic: type = LIQUID_IIRDES_ELLIP; break;
  }
  const unsigned n = static_cast<unsigned>(d.order);
  const unsigned count = (n + n % 2) / 2;
  std::vector<float> b(3 * count), a(3 * count);
  const int status = liquid_iirdes(type, LIQUID_IIRDES_LOWPASS, LIQUID_IIRDES_SOS, n, static_cast<float>(d.cutoff_hz / d.sample_rate),
                                   0.0f, static_cast<float>(d.passband_ripple_db), static_cast<float>(d.stopband_attenuation_db),
                                   b.data(), a.data());
  CHORD_CHECK(status == LIQUID_OK, "design_lowpass: liquid-dsp failed to design a ", to_string(d.family), " filter of order ",
              d.order, " at ", d.cutoff_hz, " Hz (error ", status, ")");
  SosFilter filter;
  for (unsigned i = 0; i < count; ++i) {
    const double a0 = a[3 * i];
    filter.sections.push_back({b[3 * i] / a0, b[3 * i + 1] / a0, b[3 * i + 2] / a0, 1.0, a[3 * i + 1] / a0, a[3 * i + 2] / a0});
  }
  return filter;
}

namespace detail {
/// One section, transposed direct form II, in place, starting from state `(z1, z2)`.
inline void filter_section(std::vector<double>& x, const std::array<double, 6>& s, double z1, double z2) {
  for (double& v : x) {
    const double y = s[0] * v + z1;
    z1 = s[1] * v - s[4] * y + z2;
    z2 = s[2] * v - s[5] * y;
    v = y;
  }
}
/// The section state that a constant input of 1 holds steady (scipy `lfilter_zi`).
inline std::array<double, 2> steady_state(const std::array<double, 6>& s) {
  // (I − Aᵀ)·zi = B with the companion matrix of (a1, a2): [[1 + a1, −1], [a2, 1]]·zi = [b1 − a1·b0, b2 − a2·b0].
  const double r0 = s[1] - s[4] * s[0], r1 = s[2] - s[5] * s[0];
  const double det = (1.0 + s[4]) + s[5];
  const double z1 = (r0 + r1) / det;
  return {z1, r1 - s[5] * z1};
}
/// The cascade run once forwards, each section starting from its steady state for input level x0.
inline void filter_cascade(std::vector<double>& x, const SosFilter& f) {
  double level = x.empty() ? 0.0 : x.front();
  for (const auto& s : f.sections) {
    const auto zi = steady_state(s);
    filter_section(x, s, zi[0] * level, zi[1] * level);
    level *= (s[0] + s[1] + s[2]) / (s[3] + s[4] + s[5]);  // the section's DC gain
  }
}
}  // namespace detail

/// Zero-phase filtering of `signal [N]` (scipy `sosfiltfilt`: odd extension of
/// `3·(2·sections + 1)` samples, forward and backward passes with steady-state initial conditions).
inline torch::Tensor sosfiltfilt(const torch::Tensor& signal, const SosFilter& filter) {
  TORCH_CHECK(signal.dim() == 1, "sosfiltfilt: signal [N] expected, got ", signal.sizes());
  const int64_t n = signal.size(0);
  const int64_t pad = 3 * (2 * static_cast<int64_t>(filter.sections.size()) + 1);
  CHORD_CHECK(n > pad, "sosfiltfilt: ", n, " samples, need more than ", pad);
  auto x64 = signal.to(torch::kDouble).contiguous();
  const double* in = x64.data_ptr<double>();
  std::vector<double> x(static_cast<size_t>(n + 2 * pad));
  for (int64_t i = 0; i < pad; ++i) x[static_cast<size_t>(i)] = 2.0 * in[0] - in[pad - i];
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(pad + i)] = in[i];
  for (int64_t i = 0; i < pad; ++i) x[static_cast<size_t>(pad + n + i)] = 2.0 * in[n - 1] - in[n - 2 - i];
  detail::filter_cascade(x, filter);
  std::reverse(x.begin(), x.end());
  detail::filter_cascade(x, filter);
  std::reverse(x.begin(), x.end());
  auto out = torch::from_blob(x.data() + pad, {n}, torch::kDouble).clone();
  return out.to(signal.scalar_type());
}

struct LowResolutionOptions {
  std::vector<FilterFamily> families{FilterFamily::chebyshev1, FilterFamily::butterworth, FilterFamily::bessel,
                                     FilterFamily::elliptic};
  int min_order = 2, max_order = 10;
  int64_t min_cutoff_hz = 2000, max_cutoff_hz = 16000;  ///< randint(2000, 16000) as the reference
  bool resample = true;  ///< down to 2·cutoff and back up after filtering
};

struct LowResolution {
  torch::Tensor audio;  ///< same shape and rate as the input
  LowpassDesign design;
};

/// The reference's LR simulation on `audio [N]` or `[C, N]`: a random family and order, a cutoff
/// drawn uniformly (integer Hz), zero-phase filtering of every channel, then (optionally) resampling
/// to `2·cutoff` and back. All draws from `gen`.
inline LowResolution simulate_low_resolution(const torch::Tensor& audio, int64_t sample_rate, torch::Generator& gen,
                                             const LowResolutionOptions& o = {}) {
  TORCH_CHECK(audio.dim() == 1 || audio.dim() == 2, "simulate_low_resolution: audio [N] or [C, N] expected, got ", audio.sizes());
  CHORD_CHECK(!o.families.empty() && o.min_order <= o.max_order && o.min_cutoff_hz <= o.max_cutoff_hz &&
                  2 * o.max_cutoff_hz <= sample_rate,
              "simulate_low_resolution: empty family list or inverted ranges, or a cutoff above Nyquist (", sample_rate / 2, " Hz)");
  auto draw = [&](int64_t low, int64_t high) { return torch::randint(low, high + 1, {1}, gen).item<int64_t>(); };
  LowResolution out;
  out.design.family = o.families[static_cast<size_t>(draw(0, static_cast<int64_t>(o.families.size()) - 1))];
  out.design.order = static_cast<int>(draw(o.min_order, o.max_order));
  out.design.cutoff_hz = static_cast<double>(draw(o.min_cutoff_hz, o.max_cutoff_hz));
  out.design.sample_rate = static_cast<double>(sample_rate);
  const auto filter = design_lowpass(out.design);
  auto channels = audio.dim() == 1 ? audio.unsqueeze(0) : audio;
  std::vector<torch::Tensor> filtered;
  for (int64_t c = 0; c < channels.size(0); ++c) filtered.push_back(sosfiltfilt(channels[c], filter));
  auto lr = torch::stack(filtered);
  if (o.resample) {
    const auto low_rate = static_cast<int64_t>(2.0 * out.design.cutoff_hz);
    lr = resample(resample(lr, sample_rate, low_rate), low_rate, sample_rate);
    lr = lr.size(1) >= audio.size(-1) ? lr.narrow(1, 0, audio.size(-1))
                                      : torch::constant_pad_nd(lr, {0, audio.size(-1) - lr.size(1)});
  }
  out.audio = audio.dim() == 1 ? lr[0] : lr;
  return out;
}

}  // namespace chord::audio
