#pragma once
/// @file
/// F5-TTS inference as the reference's `infer_process` runs it, as library calls: the prompt
/// (mono, clipped like `preprocess_ref_audio_text`, loudness-normalised, resampled, 50 ms of silence
/// appended), long text split into chunks that are generated separately and cross-faded, and speech
/// editing. Any FlowModel spec with F5-style conditioning (F5-TTS, DTM-F5TTS, your variants) works.
/// Programs parse arguments and print; the work is here.

#include "chord/audio/io.hpp"
#include "chord/audio/mel.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/systems/f5tts.hpp"
#include "chord/text/tokenizer.hpp"

#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace chord::systems::f5tts {

/// A model for inference from a checkpoint (see resolve_checkpoint() for what it may be): options
/// read from the weights, checked against `preset` when one is named ("F5TTS_Base" and `v0` select
/// the v0 flags the weights cannot show) and against the vocabulary, dropout off, eval mode, on `device`.
template <class Spec>
FlowModel<Spec> load_for_inference(const std::filesystem::path& checkpoint, const text::VocabTokenizer& vocab,
                                   const std::string& preset = "", bool v0 = false, c10::Device device = c10::kCPU) {
  auto model_options = read_model_options<Spec>(checkpoint);
  auto& backbone = model_options.backbone;
  if (!preset.empty()) {
    const auto differences = describe_mismatch(preset_options(parse_preset(preset), vocab.size()), backbone);
    CHORD_CHECK(differences.empty(), "checkpoint '", checkpoint.string(), "' does not match preset ", preset, ": ", differences);
    v0 = v0 || preset == "F5TTS_Base";
  }
  if (v0) backbone.text_mask_padding(false).pe_attn_head(1);
  CHORD_CHECK(backbone.text_num_embeds() == vocab.size(), "the checkpoint was trained with a vocabulary of ",
              backbone.text_num_embeds(), " tokens but the vocab file has ", vocab.size(),
              ": pass the vocab file of the checkpoint");
  backbone.dropout(0.0);
  FlowModel<Spec> model{model_options};
  load_checkpoint(model, checkpoint);
  model->to(device);
  model->eval();
  return model;
}

struct PromptOptions {
  double target_rms = 0.1;   ///< quieter prompts are raised to this RMS (the output is lowered back)
  double max_seconds = 12.0; ///< longer prompts are clipped at a pause (clip_prompt); 0 keeps everything
  double min_seconds = 0.3;  ///< shorter recordings are refused (F5-TTS trains on 0.3–30 s clips)
};

/// A reference recording ready to condition on.
struct Prompt {
  torch::Tensor wave;              ///< `[N]`, mono, at the model's rate, normalised; 50 ms of silence appended
  std::string text;                ///< the transcript, normalised (ends with ". ")
  double recorded_seconds = 0.0;   ///< the recording's length before clipping
  double kept_seconds = 0.0;       ///< after clipping, before the appended silence
  double rms = 0.0;                ///< of the kept recording
  PromptClip clip = PromptClip::none;
  int64_t sample_rate = 0;

  double seconds() const { return static_cast<double>(wave.size(0)) / static_cast<double>(sample_rate); }
};

/// Prepares a recording and its transcript. `append_silence` is false for speech editing, where the
/// prompt is the utterance being edited.
inline Prompt prepare_prompt(const audio::Audio& recording, const std::string& transcript, int64_t model_rate,
                             const PromptOptions& options = {}, bool append_silence = true) {
  Prompt prompt;
  prompt.sample_rate = model_rate;
  prompt.text = normalize_reference_text(transcript);
  auto wave = audio::to_mono(recording.samples.dim() == 1 ? recording.samples.unsqueeze(0) : recording.samples).squeeze(0);
  prompt.recorded_seconds = static_cast<double>(wave.size(0)) / static_cast<double>(recording.sample_rate);
  CHORD_CHECK(prompt.recorded_seconds >= options.min_seconds, "the reference audio lasts ", prompt.recorded_seconds,
              " s; F5-TTS needs at least ", options.min_seconds, " s of the voice to imitate (3-12 s work best)");
  auto [clipped, clip] = clip_prompt(wave, recording.sample_rate, append_silence ? options.max_seconds : 0.0);
  prompt.clip = clip;
  prompt.kept_seconds = static_cast<double>(clipped.size(0)) / static_cast<double>(recording.sample_rate);
  prompt.rms = audio::rms(clipped);
  wave = audio::normalize_rms(clipped, options.target_rms, /*only_if_quieter=*/true).first;
  wave = audio::resample(wave, recording.sample_rate, model_rate);
  if (append_silence) wave = torch::cat({wave, torch::zeros({model_rate / 20}, wave.options())});
  prompt.wave = wave;
  return prompt;
}

struct SynthesisOptions {
  int64_t nfe = 32;                    ///< sampling steps (DTM: transitions)
  int64_t head_steps = 4;              ///< DTM only: head steps per transition
  double cfg = 2.0;                    ///< guidance strength
  std::optional<double> sway = -1.0;   ///< sway sampling coefficient; nullopt: a uniform grid
  double speed = 1.0;                  ///< speaking-rate factor of the duration rule
  double total_seconds = 0.0;          ///< fix the total duration (prompt included); 0: the duration rule
  double cross_fade_seconds = 0.15;    ///< between chunks of long text
  double target_rms = 0.1;             ///< as PromptOptions: a quiet prompt's output is scaled back
  uint64_t seed = 0;
};

/// One chunk of the plan: its text and the frames sampled for it (prompt included).
struct ChunkPlan {
  std::string text;
  int64_t frames = 0;
};

/// What synthesize() will do: the reference's chunking (`max_chars = ref_bytes / ref_seconds ·
/// (22 − ref_seconds) · speed`) and each chunk's frame count — for stating the cost up front.
inline std::vector<ChunkPlan> plan_synthesis(const Prompt& prompt, const std::string& text, const SynthesisOptions& o,
                                             int64_t hop_length) {
  CHORD_CHECK(text.find_first_not_of(" \t\r\n") != std::string::npos, "the text to speak is empty");
  const double seconds = prompt.seconds();
  const auto max_bytes = static_cast<size_t>(
      std::max(1.0, static_cast<double>(prompt.text.size()) / seconds * std::max(22.0 - seconds, 1.0) * o.speed));
  const int64_t prompt_frames = prompt.wave.size(0) / hop_length;
  CHORD_CHECK(o.total_seconds <= 0.0 || o.total_seconds > seconds, "the total duration (", o.total_seconds,
              " s) must be longer than the prompt (", seconds, " s): it includes the prompt");
  std::vector<ChunkPlan> plan;
  for (auto& chunk : chunk_text(text, max_bytes)) {
    const int64_t frames = o.total_seconds > 0 ? static_cast<int64_t>(o.total_seconds * static_cast<double>(prompt.sample_rate) /
                                                                      static_cast<double>(hop_length))
                                               : estimate_duration(prompt_frames, prompt.text, chunk, o.speed);
    plan.push_back({std::move(chunk), std::max(frames, prompt_frames + 1)});
  }
  CHORD_CHECK(!plan.empty(), "nothing to say after splitting the text");
  return plan;
}

/// The result: the waveform (at the model's rate) and the generated log-mels for pictures.
struct Synthesis {
  torch::Tensor wave;               ///< `[N]`
  std::vector<torch::Tensor> mels;  ///< per chunk, `[n_mels, T]`
  std::vector<ChunkPlan> plan;
};

/// Mel `[1, n_mels, T]` (on the model's device) → waveform `[1, N]` on the CPU.
using Vocoder = std::function<torch::Tensor(const torch::Tensor& mel)>;
/// (chunk index, chunks, backbone passes done, passes in all).
using SynthesisProgress = std::function<void(size_t chunk, size_t chunks, int64_t done, int64_t total)>;

/// The model's sampling options for these synthesis options (one seed: every chunk's noise is the
/// same function of it).
template <class Spec>
SampleOptionsOf<Spec> sample_options(const SynthesisOptions& o) {
  SampleOptionsOf<Spec> options;
  options.sampler.steps = o.nfe;
  if constexpr (requires { options.sampler.grid.coefficient; }) options.sampler.grid.coefficient = o.sway;
  if constexpr (requires { options.sampler.head_steps; }) options.sampler.head_steps = o.head_steps;
  options.guidance_strength = o.cfg;
  options.seeds = {o.seed};
  return options;
}

namespace detail {
inline torch::Tensor restore_level(const torch::Tensor& wave, const Prompt& prompt, double target_rms) {
  return prompt.rms < target_rms ? wave * (prompt.rms / target_rms) : wave;
}
}  // namespace detail

/// Speaks `text` in the prompt's voice: one sample() per chunk, each vocoded and cross-faded.
template <class Spec>
Synthesis synthesize(FlowModel<Spec>& model, const text::VocabTokenizer& vocab, const audio::MelSpectrogram& mel,
                     const Prompt& prompt, const std::string& text, const SynthesisOptions& o, const Vocoder& vocode,
                     const SynthesisProgress& progress = {}) {
  const int64_t hop = mel.options().stft.hop_length;
  Synthesis result;
  result.plan = plan_synthesis(prompt, text, o, hop);
  const auto features = prompt_features(prompt.wave, prompt.sample_rate, mel);
  const int64_t prompt_frames = prompt.wave.size(0) / hop;
  auto options = sample_options<Spec>(o);
  std::vector<torch::Tensor> pieces;
  for (size_t i = 0; i < result.plan.size(); ++i) {
    if (progress) options.progress = [&, i](int64_t done, int64_t total) { progress(i, result.plan.size(), done, total); };
    RequestOf<Spec> request;
    request.prompt = features;
    request.text = text_ids(vocab, {prompt.text + result.plan[i].text});
    request.duration = torch::tensor({result.plan[i].frames});
    auto gen = make_generator(o.seed);
    auto sampled = model->sample(request, options, gen);
    const int64_t end = sampled.durations[0].template item<int64_t>();
    auto generated = sampled.output.narrow(1, prompt_frames, std::max<int64_t>(1, end - prompt_frames)).transpose(1, 2);
    result.mels.push_back(generated[0].cpu());
    pieces.push_back(detail::restore_level(vocode(generated)[0], prompt, o.target_rms));
  }
  result.wave = audio::cross_fade(pieces, static_cast<int64_t>(o.cross_fade_seconds * static_cast<double>(prompt.sample_rate)));
  return result;
}

/// A span of the prompt audio to regenerate, in seconds.
struct EditSpan {
  double start = 0.0, end = 0.0;
};

/// Speech editing (the reference's `speech_edit.py`): each span of the prompt audio is replaced by
/// silence and regenerated to say `full_text` (the whole transcript after the edit); the rest of the
/// audio is kept as the edit mask says. The prompt is prepared with `append_silence = false`.
template <class Spec>
Synthesis edit_speech(FlowModel<Spec>& model, const text::VocabTokenizer& vocab, const audio::MelSpectrogram& mel,
                      const Prompt& prompt, const std::string& full_text, const std::vector<EditSpan>& spans,
                      const SynthesisOptions& o, const Vocoder& vocode, const SynthesisProgress& progress = {}) {
  CHORD_CHECK(!spans.empty(), "edit_speech: no spans to regenerate");
  CHORD_CHECK(full_text.find_first_not_of(" \t\r\n") != std::string::npos, "the text after editing is empty");
  const int64_t rate = prompt.sample_rate, hop = mel.options().stft.hop_length;
  const double seconds = prompt.seconds();
  std::vector<torch::Tensor> audio_parts, keep_parts;
  double offset = 0.0;
  for (const auto& [start, end] : spans) {
    CHORD_CHECK(offset <= start && start < end, "edit spans must be in order and not overlap, with start < end; got ",
                start, ":", end, " after ", offset, " s");
    CHORD_CHECK(end <= seconds + 1e-6, "edit span ends at ", end, " s, after the reference audio (", seconds, " s)");
    audio_parts.push_back(prompt.wave.slice(0, std::lround(offset * rate), std::lround(start * rate)));
    audio_parts.push_back(torch::zeros({std::lround((end - start) * rate)}));
    keep_parts.push_back(torch::ones({std::lround((start - offset) * rate / hop)}, torch::kBool));
    keep_parts.push_back(torch::zeros({std::lround((end - start) * rate / hop)}, torch::kBool));
    offset = end;
  }
  audio_parts.push_back(prompt.wave.slice(0, std::lround(offset * rate)));
  auto features = prompt_features(torch::cat(audio_parts), rate, mel);
  auto keep = torch::cat(keep_parts);
  keep = torch::constant_pad_nd(keep, {0, std::max<int64_t>(0, features.size(1) - keep.size(0))}, 1).narrow(0, 0, features.size(1));
  RequestOf<Spec> request;
  request.prompt = features;
  request.text = text_ids(vocab, {full_text});
  request.duration = torch::tensor({features.size(1)});
  request.edit_mask = keep.unsqueeze(0);
  auto options = sample_options<Spec>(o);
  if (progress) options.progress = [&](int64_t done, int64_t total) { progress(0, 1, done, total); };
  auto gen = make_generator(o.seed);
  auto sampled = model->sample(request, options, gen);
  auto generated = sampled.output.narrow(1, 0, sampled.durations[0].template item<int64_t>()).transpose(1, 2);
  Synthesis result;
  result.plan = {{full_text, features.size(1)}};
  result.mels.push_back(generated[0].cpu());
  result.wave = detail::restore_level(vocode(generated)[0], prompt, o.target_rms);
  return result;
}

}  // namespace chord::systems::f5tts
