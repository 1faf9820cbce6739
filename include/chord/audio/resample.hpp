#pragma once
/// @file
/// Sample-rate conversion with libsoxr (band-limited, linear phase).

#include "chord/core/error.hpp"

#include <soxr.h>
#include <torch/types.h>

#include <cmath>

namespace chord::audio {

enum class ResampleQuality { quick, low, medium, high, very_high };

/// Resamples `samples` (`[C, N]` or `[N]`, float) from `from_rate` to `to_rate`. Output length is
/// `round(N · to_rate / from_rate)`. Returns the input unchanged when the rates are equal.
inline torch::Tensor resample(const torch::Tensor& samples, int64_t from_rate, int64_t to_rate,
                              ResampleQuality quality = ResampleQuality::high) {
  TORCH_CHECK(samples.dim() == 1 || samples.dim() == 2, "resample: samples [C,N] or [N] expected, got ",
              samples.sizes());
  CHORD_CHECK(from_rate > 0 && to_rate > 0, "resample: rates must be > 0, got ", from_rate, " -> ", to_rate);
  if (from_rate == to_rate) return samples;
  const bool mono = samples.dim() == 1;
  auto data = mono ? samples.unsqueeze(0) : samples;
  auto interleaved = data.detach().to(torch::kCPU, torch::kFloat32).t().contiguous();  // [N, C]
  const auto channels = static_cast<unsigned>(data.size(0));
  const size_t in_frames = static_cast<size_t>(data.size(1));
  const size_t out_frames = static_cast<size_t>(
      std::llround(static_cast<double>(in_frames) * static_cast<double>(to_rate) / static_cast<double>(from_rate)));
  auto out = torch::zeros({static_cast<int64_t>(out_frames), static_cast<int64_t>(channels)}, torch::kFloat32);

  unsigned long recipe = SOXR_HQ;
  switch (quality) {
    case ResampleQuality::quick: recipe = SOXR_QQ; break;
    case ResampleQuality::low: recipe = SOXR_LQ; break;
    case ResampleQuality::medium: recipe = SOXR_MQ; break;
    case ResampleQuality::high: recipe = SOXR_HQ; break;
    case ResampleQuality::very_high: recipe = SOXR_VHQ; break;
  }
  const soxr_io_spec_t io_spec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality_spec = soxr_quality_spec(recipe, 0);
  size_t produced = 0;
  const soxr_error_t error =
      soxr_oneshot(static_cast<double>(from_rate), static_cast<double>(to_rate), channels,
                   interleaved.data_ptr<float>(), in_frames, nullptr, out.data_ptr<float>(), out_frames,
                   &produced, &io_spec, &quality_spec, nullptr);
  CHORD_CHECK(error == nullptr, "resample ", from_rate, " -> ", to_rate, " Hz failed: ", error);
  auto result = out.t().contiguous().to(samples.device(), samples.scalar_type());
  return mono ? result.squeeze(0) : result;
}

}  // namespace chord::audio
