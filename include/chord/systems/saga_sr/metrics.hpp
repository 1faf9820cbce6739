#pragma once
/// @file
/// How SAGA-SR output is measured and shown: LSD (TorchJaekwon's formula) and SI-SDR of a clip, the
/// settings line reports print, and stacked log-magnitude spectrograms.

#include "chord/audio/metrics.hpp"
#include "chord/audio/stft.hpp"
#include "chord/viz/plots.hpp"

#include <torch/types.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace chord::systems::saga_sr {

/// LSD (n_fft 2048, hop 512, TorchJaekwon's formula) and SI-SDR (dB) of one clip, channels averaged.
struct SrMetrics {
  double lsd = 0.0, si_sdr = 0.0;
};
inline SrMetrics sr_metrics(const torch::Tensor& estimate, const torch::Tensor& target) {
  auto e = estimate.dim() == 1 ? estimate.unsqueeze(0) : estimate;
  auto t = target.dim() == 1 ? target.unsqueeze(0) : target;
  const auto n = std::min(e.size(-1), t.size(-1));
  e = e.narrow(-1, 0, n);
  t = t.narrow(-1, 0, n);
  return {audio::log_spectral_distance(e, t).mean().item<double>(), audio::si_sdr(e, t).mean().item<double>()};
}
/// The metric settings in one line, for reports.
inline std::string lsd_settings() {
  const audio::LsdOptions o;
  return "LSD: STFT n_fft " + std::to_string(o.n_fft) + ", hop " + std::to_string(o.hop_length) +
         ", Hann, centred, log10 power ratio (TorchJaekwon get_lsd_from_spec); SI-SDR: dB, no mean removal, 44.1 kHz";
}

/// Log-magnitude spectrograms of the clips, stacked with a shared colour scale.
inline void save_sr_spectrograms(const std::filesystem::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& clips) {
  const audio::StftOptions stft{1024, 256, 1024, true};
  auto window = audio::hann_window(1024);
  std::vector<viz::SpectrogramPanel> panels;
  for (const auto& [title, wave] : clips) {
    auto mono = wave.dim() == 2 ? wave.mean(0) : wave;
    panels.push_back({title, (audio::stft(mono.to(torch::kFloat32), stft, window).abs() + 1e-5).log10()});
  }
  viz::save_spectrograms_png(path, panels,
                             {.pixels_per_frame = 1, .pixels_per_bin = 1, .y_label = "frequency bin (21.5 Hz)", .x_label = "frame (5.8 ms)"});
}

}  // namespace chord::systems::saga_sr
