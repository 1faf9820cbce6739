#pragma once
/// @file
/// SAGA-SR's data pipeline before the latent encoding: clips of a manifest at 44.1 kHz, random crops
/// with the reference's random low-pass simulation, roll-off ratios and captions (`SrExample`), and
/// the fixed validation batches under the official degradation.

#include "chord/audio/io.hpp"
#include "chord/audio/lowpass.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/rolloff.hpp"
#include "chord/core/device.hpp"
#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/data/manifest.hpp"
#include "chord/systems/saga_sr/config.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace chord::systems::saga_sr {

/// Audio for the model: 44.1 kHz with `channels` channels (mono mixed down, or duplicated).
inline torch::Tensor to_model_audio(const audio::Audio& a, int64_t channels) {
  auto wave = a.samples.dim() == 1 ? a.samples.unsqueeze(0) : a.samples;
  if (a.sample_rate != kSuperResolutionRate) wave = audio::resample(wave, a.sample_rate, kSuperResolutionRate);
  if (wave.size(0) != channels) wave = channels == 1 ? wave.mean(0, true) : wave.mean(0, true).expand({channels, -1}).contiguous();
  return wave;
}

/// Clips of a manifest at 44.1 kHz with `channels` channels (mono mixed down, mono duplicated to
/// stereo, other rates resampled), and their captions.
struct SrClips {
  std::vector<torch::Tensor> audio;  ///< `[C, N]`
  std::vector<std::string> captions;
  std::vector<std::string> names;
};

inline SrClips load_clips(const data::Manifest& manifest, int64_t channels) {
  SrClips clips;
  for (const auto& item : manifest.items()) {
    clips.audio.push_back(to_model_audio(audio::read_audio(item.audio), channels).to(torch::kFloat32));
    clips.captions.push_back(item.text);
    clips.names.push_back(item.audio.stem().string());
  }
  CHORD_CHECK(!clips.audio.empty(), "the manifest lists no clips");
  return clips;
}

/// A batch of waveform pairs with their conditions, before the latent encoding.
struct SrExample {
  torch::Tensor high, low;  ///< `[B, C, N]`
  std::vector<std::string> captions;
  torch::Tensor input_rolloff, output_rolloff, seconds_start, seconds_total;  ///< `[B]`

  SrExample to(c10::Device device, bool non_blocking = false) const {
    return {moved(high, device, non_blocking), moved(low, device, non_blocking), captions, moved(input_rolloff, device, non_blocking),
            moved(output_rolloff, device, non_blocking), moved(seconds_start, device, non_blocking), moved(seconds_total, device, non_blocking)};
  }
  SrExample pin_memory() const {
    return {pinned(high), pinned(low), captions, pinned(input_rolloff), pinned(output_rolloff), pinned(seconds_start), pinned(seconds_total)};
  }
};

/// Stacks pairs and measures their roll-off ratios (LR: input, HR: output; the 0.985 rule).
inline SrExample make_example(std::vector<torch::Tensor> high, std::vector<torch::Tensor> low, std::vector<std::string> captions,
                              std::vector<double> starts, std::vector<double> totals) {
  SrExample e;
  std::vector<double> in, out;
  for (size_t i = 0; i < high.size(); ++i) {
    in.push_back(audio::rolloff_ratio(low[i]));
    out.push_back(audio::rolloff_ratio(high[i]));
  }
  e.high = torch::stack(high);
  e.low = torch::stack(low);
  e.captions = std::move(captions);
  auto tensor = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64).to(torch::kFloat32); };
  e.input_rolloff = tensor(in);
  e.output_rolloff = tensor(out);
  e.seconds_start = tensor(starts);
  e.seconds_total = tensor(totals);
  return e;
}

/// Random crops of `segment` samples with the reference's random low-pass simulation; a pure function
/// of `seed` (the trainer's batches must be).
inline SrExample random_example(const SrClips& clips, int64_t batch, int64_t segment, uint64_t seed) {
  auto gen = make_generator(seed);
  std::vector<torch::Tensor> high, low;
  std::vector<std::string> captions;
  std::vector<double> starts, totals;
  for (int64_t b = 0; b < batch; ++b) {
    const auto index = torch::randint(static_cast<int64_t>(clips.audio.size()), {1}, gen).item<int64_t>();
    const auto& clip = clips.audio[static_cast<size_t>(index)];
    torch::Tensor crop;
    int64_t start = 0;
    if (clip.size(1) <= segment) {
      crop = torch::constant_pad_nd(clip, {0, segment - clip.size(1)});
    } else {
      start = torch::randint(clip.size(1) - segment + 1, {1}, gen).item<int64_t>();
      crop = clip.narrow(1, start, segment);
    }
    high.push_back(crop);
    low.push_back(audio::simulate_low_resolution(crop, kSuperResolutionRate, gen).audio.to(torch::kFloat32));
    captions.push_back(clips.captions[static_cast<size_t>(index)]);
    starts.push_back(static_cast<double>(start) / kSuperResolutionRate);
    totals.push_back(static_cast<double>(clip.size(1)) / kSuperResolutionRate);
  }
  return make_example(std::move(high), std::move(low), std::move(captions), std::move(starts), std::move(totals));
}

/// The official validation degradation: Chebyshev I, order 8, 4 kHz, zero-phase, resampled to 8 kHz and back.
inline audio::LowResolutionOptions validation_degradation() {
  audio::LowResolutionOptions o;
  o.families = {audio::FilterFamily::chebyshev1};
  o.min_order = o.max_order = 8;
  o.min_cutoff_hz = o.max_cutoff_hz = 4000;
  return o;
}

/// Fixed validation batches: the first `segment` samples of every clip (zero-padded), degraded as the
/// official validation does, `batch` clips at a time — the same inputs at every validation.
inline std::vector<SrExample> validation_examples(const SrClips& clips, int64_t segment, int64_t batch) {
  auto gen = make_generator(0);
  std::vector<SrExample> examples;
  for (size_t first = 0; first < clips.audio.size(); first += static_cast<size_t>(batch)) {
    std::vector<torch::Tensor> high, low;
    std::vector<std::string> captions;
    std::vector<double> starts, totals;
    for (size_t i = first; i < std::min(clips.audio.size(), first + static_cast<size_t>(batch)); ++i) {
      const auto& clip = clips.audio[i];
      auto crop = clip.size(1) <= segment ? torch::constant_pad_nd(clip, {0, segment - clip.size(1)}) : clip.narrow(1, 0, segment);
      high.push_back(crop);
      low.push_back(audio::simulate_low_resolution(crop, kSuperResolutionRate, gen, validation_degradation()).audio.to(torch::kFloat32));
      captions.push_back(clips.captions[i]);
      starts.push_back(0.0);
      totals.push_back(static_cast<double>(clip.size(1)) / kSuperResolutionRate);
    }
    examples.push_back(make_example(std::move(high), std::move(low), std::move(captions), std::move(starts), std::move(totals)));
  }
  return examples;
}

}  // namespace chord::systems::saga_sr
