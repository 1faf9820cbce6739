#pragma once
/// @file
/// Utterances from a manifest as log-mel features plus text, with an optional feature cache, and
/// batches of them padded for training.

#include "chord/audio/io.hpp"
#include "chord/audio/mel.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/core/device.hpp"
#include "chord/data/collate.hpp"
#include "chord/data/feature_cache.hpp"
#include "chord/data/manifest.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace chord::data {

struct SpeechSample {
  torch::Tensor mel;  ///< `[T, n_mels]`
  std::string text;
  std::string speaker;
  int64_t index = 0;  ///< position in the manifest
};

struct SpeechBatch {
  torch::Tensor mel;          ///< `[B, T_max, n_mels]`, zero-padded
  torch::Tensor mel_lengths;  ///< `[B]` int64
  std::vector<std::string> text;
  std::vector<std::string> speaker;
  std::vector<int64_t> indices;

  int64_t size() const { return mel.size(0); }
  SpeechBatch to(c10::Device device, bool non_blocking = false) const {
    return {moved(mel, device, non_blocking), moved(mel_lengths, device, non_blocking), text, speaker, indices};
  }
  SpeechBatch pin_memory() const { return {pinned(mel), pinned(mel_lengths), text, speaker, indices}; }
};

/// Pads samples into a batch (F5-TTS `collate_fn`: zero padding, lengths kept).
inline SpeechBatch collate_speech(const std::vector<SpeechSample>& samples) {
  std::vector<torch::Tensor> mels;
  SpeechBatch batch;
  for (const auto& s : samples) {
    mels.push_back(s.mel);
    batch.text.push_back(s.text);
    batch.speaker.push_back(s.speaker);
    batch.indices.push_back(s.index);
  }
  auto padded = pad_sequences(mels);
  batch.mel = padded.values;
  batch.mel_lengths = padded.lengths;
  return batch;
}

/// Reads manifest audio, mixes to mono, resamples to the feature rate and computes log-mels.
class SpeechDataset {
 public:
  SpeechDataset(Manifest manifest, audio::MelSpectrogramOptions mel_options,
                std::optional<std::filesystem::path> cache_directory = std::nullopt)
      : manifest_(std::move(manifest)), mel_(mel_options) {
    CHORD_CHECK(!manifest_.empty(), "SpeechDataset: the manifest has no utterances");
    if (cache_directory) cache_.emplace(*cache_directory, feature_key());
  }

  size_t size() const noexcept { return manifest_.size(); }
  const Manifest& manifest() const noexcept { return manifest_; }
  const audio::MelSpectrogram& mel() const noexcept { return mel_; }

  /// Log-mel `[T, n_mels]` of item `i` (from the cache when present).
  SpeechSample get(size_t i) const {
    const auto& item = manifest_[i];
    auto compute = [&] { return features_of(item.audio); };
    auto mel = cache_ ? cache_->get(item.audio, compute) : compute();
    return {mel, item.text, item.speaker, static_cast<int64_t>(i)};
  }

  /// Frames per item from the manifest durations (`duration · sample_rate / hop`, as F5-TTS's
  /// `get_frame_len`), reading the audio header where a duration is missing. For batch samplers.
  std::vector<double> frame_lengths() const {
    std::vector<double> frames;
    frames.reserve(size());
    const auto& o = mel_.options();
    for (const auto& item : manifest_.items()) {
      const double seconds = item.duration > 0.0 ? item.duration : audio::audio_info(item.audio).seconds();
      frames.push_back(seconds * static_cast<double>(o.sample_rate) / static_cast<double>(o.stft.hop_length));
    }
    return frames;
  }

  SpeechBatch batch(const std::vector<int64_t>& indices) const {
    std::vector<SpeechSample> samples;
    samples.reserve(indices.size());
    for (auto i : indices) samples.push_back(get(static_cast<size_t>(i)));
    return collate_speech(samples);
  }

 private:
  torch::Tensor features_of(const std::filesystem::path& path) const {
    auto decoded = audio::read_audio(path);
    CHORD_CHECK(decoded.samples.size(1) > 0, "audio '", path.string(), "' has no samples");
    auto mono = audio::to_mono(decoded.samples).squeeze(0);
    auto wave = audio::resample(mono, decoded.sample_rate, mel_.options().sample_rate);
    return mel_(wave).transpose(0, 1).contiguous();  // [n_mels, T] → [T, n_mels]
  }

  std::string feature_key() const {
    const auto& o = mel_.options();
    std::ostringstream key;
    key << "logmel v1 sr=" << o.sample_rate << " n_fft=" << o.stft.n_fft << " hop=" << o.stft.hop_length
        << " win=" << o.stft.win_length << " center=" << o.stft.center << " padhalf=" << o.stft.pad_half_window
        << " mels=" << o.n_mels << " fmin=" << o.f_min << " fmax=" << o.max_frequency()
        << " scale=" << static_cast<int>(o.scale) << " norm=" << static_cast<int>(o.norm)
        << " eps=" << o.magnitude_eps << " log=" << o.log << " floor=" << o.log_floor;
    return key.str();
  }

  Manifest manifest_;
  audio::MelSpectrogram mel_;
  std::optional<FeatureCache> cache_;
};

}  // namespace chord::data
