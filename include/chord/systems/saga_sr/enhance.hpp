#pragma once
/// @file
/// SAGA-SR inference on audio of any length: overlapping full-length windows, each encoded, sampled,
/// decoded and given back its low band (low-frequency replacement), then cross-faded.

#include "chord/audio/rolloff.hpp"
#include "chord/audio/signal.hpp"
#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/systems/saga_sr/config.hpp"
#include "chord/systems/saga_sr/data.hpp"
#include "chord/systems/saga_sr/run.hpp"
#include "chord/systems/saga_sr/specs.hpp"
#include "chord/systems/saga_sr/system.hpp"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chord::systems::saga_sr {

/// How enhance() samples, conditions, replaces the low band and cuts long input into windows.
struct EnhanceOptions {
  int64_t steps = 100;                    ///< Euler steps (the programs' --nfe)
  std::optional<double> guidance;         ///< nullopt = the spec's default strength
  double output_rolloff = 1.0;            ///< the brightness asked for (official evaluation: 1.0)
  std::optional<LowFrequencyReplacement> low_frequency_replacement;  ///< nullopt = the spec's
  uint64_t seed = 0;
  std::string caption;
  /// Long audio is enhanced in windows of this many latent frames (the SAGA-SR presets train on
  /// ~1024: 0.74 s with 32-sample patches, 47.6 s with the Oobleck VAE) overlapping by
  /// `overlap_frames`, cross-faded linearly. One window costs one short clip; the whole file as one
  /// sequence would cost attention over all of it. 0: the whole input as one sequence.
  int64_t window_frames = 1024;
  int64_t overlap_frames = 128;
  /// (window, windows, sampling steps done, steps in all) for progress output.
  std::function<void(size_t, size_t, int64_t, int64_t)> progress;
};

/// The windows `[start, start + length)` (samples) that enhance() cuts `length` samples into: every
/// window is full length, `overlap_frames` apart from the next, and the last one ends at the end
/// (overlapping its neighbour more), so no window is a sliver the model has never seen.
inline std::vector<std::pair<int64_t, int64_t>> plan_windows(int64_t length, int64_t samples_per_frame, int64_t window_frames,
                                                             int64_t overlap_frames) {
  const int64_t window = window_frames * samples_per_frame, hop = (window_frames - overlap_frames) * samples_per_frame;
  if (window_frames == 0 || length <= window) return {{0, length}};
  CHORD_CHECK(window_frames > 0 && overlap_frames >= 0 && overlap_frames < window_frames,
              "enhance: need 0 <= overlap < window, got window ", window_frames, " and overlap ", overlap_frames, " frames");
  std::vector<std::pair<int64_t, int64_t>> windows;
  int64_t start = 0;
  for (; start + window < length; start += hop) windows.emplace_back(start, window);
  windows.emplace_back(length - window, window);
  return windows;
}

namespace detail {
/// One window: encode, sample, decode, crop, replace the low band.
template <class Spec>
torch::Tensor enhance_window(SrRun<Spec>& run, const torch::Tensor& low, double seconds_start, double seconds_total,
                             uint64_t seed, const EnhanceOptions& o, std::function<void(int64_t, int64_t)> progress) {
  auto& pretransform = *run.pretransform;
  const auto length = low.size(1);
  auto padded = pretransform.pad_to_frames(low).unsqueeze(0);
  auto example = make_example({padded[0]}, {padded[0]}, {o.caption}, {seconds_start}, {seconds_total});
  example.input_rolloff = torch::tensor({static_cast<float>(audio::rolloff_ratio(low))});
  example.output_rolloff = torch::tensor({static_cast<float>(o.output_rolloff)});
  auto gen = make_generator(seed);
  typename SuperResolutionSystemImpl<Spec>::Model::Request request;
  request.low_resolution = pretransform.encode(padded).transpose(1, 2).contiguous();
  request.inputs.text = run.system->embed_text({o.caption});
  request.inputs.input_rolloff = example.input_rolloff;
  request.inputs.output_rolloff = example.output_rolloff;
  request.inputs.seconds_start = example.seconds_start;
  request.inputs.seconds_total = example.seconds_total;
  typename SuperResolutionSystemImpl<Spec>::Model::SampleOptions sample;
  sample.sampler.steps = o.steps;
  sample.guidance_strength = o.guidance;
  sample.seeds = {seed};
  sample.progress = std::move(progress);
  auto latents = run.system->model->sample(request, sample, gen).output;
  auto generated = pretransform.decode(latents.transpose(1, 2))[0].narrow(1, 0, length);
  return replace_low_frequencies(o.low_frequency_replacement.value_or(Spec::low_frequency_replacement), generated, low);
}
}  // namespace detail

/// Super-resolves `low [C, N]` (44.1 kHz, band-limited) of any length: in overlapping windows (see
/// EnhanceOptions; window i is seeded `seed + i`), cross-faded; audio that fits one window is one pass.
template <class Spec>
torch::Tensor enhance(SrRun<Spec>& run, const torch::Tensor& low, const EnhanceOptions& o) {
  torch::NoGradGuard no_grad;
  auto& pretransform = *run.pretransform;
  CHORD_CHECK(low.dim() == 2 && low.size(0) == pretransform.audio_channels(), "enhance: audio [", pretransform.audio_channels(),
              ", N] expected, got ", low.sizes());
  CHORD_CHECK(low.size(1) > 0, "enhance: the input has no samples");
  const auto device = run.system->model->device();
  const int64_t ratio = pretransform.downsampling_ratio();
  const auto windows = plan_windows(low.size(1), ratio, o.window_frames, o.overlap_frames);
  const double total = static_cast<double>(low.size(1)) / kSuperResolutionRate;
  std::vector<torch::Tensor> pieces;
  std::vector<int64_t> overlaps;
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto [start, length] = windows[i];
    if (i > 0) overlaps.push_back(windows[i - 1].first + windows[i - 1].second - start);
    std::function<void(int64_t, int64_t)> progress;
    if (o.progress) progress = [&, i](int64_t done, int64_t all) { o.progress(i, windows.size(), done, all); };
    pieces.push_back(detail::enhance_window(run, low.narrow(1, start, length).to(device), static_cast<double>(start) / kSuperResolutionRate,
                                            total, o.seed + i, o, progress).cpu());
  }
  return audio::cross_fade(pieces, overlaps);
}

}  // namespace chord::systems::saga_sr
