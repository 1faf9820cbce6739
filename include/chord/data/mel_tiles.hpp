#pragma once
/// @file
/// Log-mel tiles of a manifest's utterances: fixed-size, half-overlapping windows of the log-mel
/// spectrogram (24 kHz, n_fft 1024, hop 256, HTK mels up to 12 kHz by default), normalised to zero mean
/// and unit variance over the set — the data of the conditional DiT experiment (seed 003).

#include "chord/audio/io.hpp"
#include "chord/audio/mel.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/core/error.hpp"
#include "chord/data/manifest.hpp"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace chord::data {

/// Log-mel tiles, normalised to zero mean and unit variance over the set.
struct TileSet {
  torch::Tensor tiles;  ///< `[M, 1, mel_bins, frames]`
  double mean = 0.0, std = 1.0;
  int64_t size() const { return tiles.size(0); }
};

/// How tiles are cut: mel bins and frames per tile, frames between tile starts, the rate audio is resampled to.
struct TileOptions {
  int64_t mel_bins = 64;
  int64_t frames = 64;
  int64_t hop_frames = 32;  ///< tiles overlap by half
  int64_t sample_rate = 24000;
};

/// Cuts every utterance of `manifest` into log-mel tiles (24 kHz, n_fft 1024, hop 256, `mel_bins`
/// HTK mels up to 12 kHz). `stats` normalises with given statistics (a validation set uses the
/// training set's); otherwise the set's own. `progress(done, total)` is called per utterance.
inline TileSet make_mel_tiles(const data::Manifest& manifest, const TileOptions& options = {},
                              const TileSet* stats = nullptr,
                              const std::function<void(size_t, size_t)>& progress = {}) {
  audio::MelSpectrogramOptions mel_options;
  mel_options.sample_rate = options.sample_rate;
  mel_options.n_mels = options.mel_bins;
  audio::MelSpectrogram mel(mel_options);
  std::vector<torch::Tensor> tiles;
  const auto& items = manifest.items();
  for (size_t i = 0; i < items.size(); ++i) {
    auto clip = audio::read_audio(items[i].audio);
    auto wave = audio::to_mono(clip.samples);
    if (clip.sample_rate != options.sample_rate) wave = audio::resample(wave, clip.sample_rate, options.sample_rate);
    auto spectrogram = mel(wave)[0];  // [mel_bins, T]
    for (int64_t start = 0; start + options.frames <= spectrogram.size(1); start += options.hop_frames) {
      tiles.push_back(spectrogram.narrow(1, start, options.frames).unsqueeze(0));
    }
    if (progress) progress(i + 1, items.size());
  }
  CHORD_CHECK(!tiles.empty(), "make_mel_tiles: no utterance is ", options.frames, " frames long (",
              options.frames * 256.0 / options.sample_rate, " s)");
  TileSet set;
  set.tiles = torch::stack(tiles);
  set.mean = stats ? stats->mean : set.tiles.mean().item<double>();
  set.std = stats ? stats->std : set.tiles.std().item<double>();
  set.tiles = (set.tiles - set.mean) / set.std;
  return set;
}

}  // namespace chord::data
