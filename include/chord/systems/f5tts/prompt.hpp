#pragma once
/// @file
/// F5-TTS's audio prompt as the reference's inference helpers treat it: its log-mel features, the
/// duration rule (the new text at the prompt's speaking rate), and long prompts clipped at a pause.

#include "chord/audio/mel.hpp"
#include "chord/core/error.hpp"

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace chord::systems::f5tts {

/// The log-mel prompt `[1, T, n_mels]` of a mono waveform `[N]` that is already at the model's rate.
inline torch::Tensor prompt_features(const torch::Tensor& wave, int64_t sample_rate, const audio::MelSpectrogram& mel) {
  CHORD_CHECK(sample_rate == mel.options().sample_rate, "the reference audio is ", sample_rate, " Hz but the model expects ",
              mel.options().sample_rate, " Hz: resample it first (chord::audio::resample; chord-f5tts-infer does this "
              "for you)");
  TORCH_CHECK(wave.dim() == 1, "prompt_features: a mono waveform [N] expected, got ", wave.sizes());
  return mel(wave.unsqueeze(0)).transpose(1, 2);
}

/// Frames to generate in total: the prompt plus the new text at the prompt's speaking rate
/// (`ref + ref/ref_bytes · gen_bytes / speed`; speed 0.3 for texts under 10 bytes), as the reference.
inline int64_t estimate_duration(int64_t prompt_frames, const std::string& reference_text, const std::string& text,
                                 double speed = 1.0) {
  CHORD_CHECK(!reference_text.empty(), "the reference text is empty: F5-TTS needs the transcript of the prompt audio");
  CHORD_CHECK(!text.empty(), "the text to synthesise is empty");
  CHORD_CHECK(speed > 0.0, "speed must be > 0, got ", speed);
  const double local_speed = text.size() < 10 ? 0.3 : speed;
  return prompt_frames + static_cast<int64_t>(static_cast<double>(prompt_frames) / static_cast<double>(reference_text.size()) *
                                              static_cast<double>(text.size()) / local_speed);
}

/// How clip_prompt() shortened a prompt.
enum class PromptClip { none, long_pause, short_pause, hard };

/// A prompt no longer than `max_seconds`, cut the way the reference's `preprocess_ref_audio_text`
/// does for prompts over 12 s: at a pause of at least 1 s below -50 dBFS, else of 100 ms below
/// -40 dBFS, keeping at least 6 s; else a hard cut. Pauses are found on 10 ms frames; the cut falls
/// in the middle of the last pause whose middle lies in [6 s, max_seconds]. `wave [N]`;
/// max_seconds <= 0 keeps everything. (The reference cuts with pydub's silence splitter, which also
/// drops long pauses inside the kept part; chord keeps the audio as recorded up to the cut.)
inline std::pair<torch::Tensor, PromptClip> clip_prompt(const torch::Tensor& wave, int64_t sample_rate, double max_seconds = 12.0) {
  TORCH_CHECK(wave.dim() == 1, "clip_prompt: a mono waveform [N] expected, got ", wave.sizes());
  const auto limit = static_cast<int64_t>(max_seconds * static_cast<double>(sample_rate));
  if (max_seconds <= 0.0 || wave.size(0) <= limit) return {wave, PromptClip::none};
  const int64_t frame = sample_rate / 100;
  const int64_t frames = wave.size(0) / frame;
  const auto level = 20.0 * (wave.narrow(0, 0, frames * frame).reshape({frames, frame}).to(torch::kFloat64).square().mean(1).sqrt() +
                             1e-10).log10();  // dBFS per 10 ms
  const auto db = level.accessor<double, 1>();
  const int64_t min_keep = 6 * 100;  // frames
  auto cut_at_pause = [&](double threshold_db, int64_t min_pause_frames) -> std::optional<int64_t> {
    std::optional<int64_t> cut;
    for (int64_t f = 0; f < frames;) {
      if (db[f] >= threshold_db) {
        ++f;
        continue;
      }
      int64_t end = f;
      while (end < frames && db[end] < threshold_db) ++end;
      const int64_t middle = (f + end) / 2;
      if (end - f >= min_pause_frames && middle >= min_keep && middle * frame <= limit) cut = middle * frame;
      f = end;
    }
    return cut;
  };
  if (auto cut = cut_at_pause(-50.0, 100)) return {wave.narrow(0, 0, *cut), PromptClip::long_pause};
  if (auto cut = cut_at_pause(-40.0, 10)) return {wave.narrow(0, 0, *cut), PromptClip::short_pause};
  return {wave.narrow(0, 0, limit), PromptClip::hard};
}

}  // namespace chord::systems::f5tts
