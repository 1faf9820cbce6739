#pragma once
/// @file
/// A ready-made inference program for FlowModel specs with F5-style conditioning: reference audio +
/// its transcript + text → WAV (and a spectrogram PNG). The work is the library's
/// (`systems/f5tts_synthesis.hpp`: F5-TTS's `infer_process` with prompt clipping, chunking and
/// cross-fades, and speech editing); this file parses arguments, checks them before the long work,
/// states the cost, shows progress and prints where the results are.

#include "chord/apps/cli.hpp"
#include "chord/apps/published_models.hpp"
#include "chord/audio/griffin_lim.hpp"
#include "chord/audio/io.hpp"
#include "chord/audio/vocos.hpp"
#include "chord/core/allocator.hpp"
#include "chord/systems/f5tts_synthesis.hpp"
#include "chord/viz/plots.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace chord::apps {

struct TtsInferConfig {
  std::string checkpoint, vocab, preset, ref_audio, ref_text, text, text_file, out = "out/speech.wav", png;
  std::string vocoder = "griffinlim", vocos, device = "auto";
  std::string edit;  ///< "start:end[,start:end]" seconds of the reference audio to regenerate
  std::string sway = "-1";
  bool v0 = false;
  int64_t nfe = 32;
  double cfg = 2.0, speed = 1.0, duration = 0.0, cross_fade = 0.15, max_prompt_seconds = 12.0;
  int64_t seed = 0;
  int64_t griffin_lim_iterations = 64;
  int64_t head_steps = 4;
  ModelChoice model;  ///< --model: a published checkpoint + vocab by name, instead of --checkpoint/--vocab
};

namespace detail {
inline std::vector<systems::f5tts::EditSpan> parse_spans(const std::string& text) {
  std::vector<systems::f5tts::EditSpan> spans;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto colon = part.find(':');
    CHORD_CHECK(colon != std::string::npos, "--edit expects start:end[,start:end] in seconds, got '", text, "'");
    try {
      spans.push_back({std::stod(part.substr(0, colon)), std::stod(part.substr(colon + 1))});
    } catch (const std::exception&) {
      CHORD_FAIL("--edit span '", part, "' is not start:end in seconds");
    }
    CHORD_CHECK(0 <= spans.back().start && spans.back().start < spans.back().end, "--edit span ", part, ": need 0 <= start < end");
  }
  return spans;
}

/// `'a', 'b'` for messages.
inline std::string quoted(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "'" : ", '") + item + "'";
  return out;
}

inline std::optional<double> parse_sway(const std::string& text) {
  if (text == "none") return std::nullopt;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    CHORD_FAIL("--sway must be a number or 'none', got '", text, "'");
  }
}

/// Everything checked before the model is loaded: the text, the inputs, the output paths.
inline void check_tts_infer_arguments(TtsInferConfig& c) {
  CHORD_CHECK(!c.checkpoint.empty(), "give --checkpoint (or --model with a published model's name: chord-fetch --list)");
  if (!c.text_file.empty()) {
    require_input_file(c.text_file, "--text-file");
    std::ifstream in(c.text_file);
    c.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  CHORD_CHECK(c.text.find_first_not_of(" \t\r\n") != std::string::npos, "nothing to say: give --text or --text-file");
  CHORD_CHECK(c.ref_text.find_first_not_of(" \t\r\n") != std::string::npos,
              "--ref-text is empty: give the transcript of --ref-audio (the duration of the new speech is "
              "estimated from it; without it the reference implementation would run Whisper, chord does not)");
  require_input_file(c.ref_audio, "--ref-audio");
  CHORD_CHECK(c.vocoder != "vocos" || !c.vocos.empty(), "--vocoder vocos needs --vocos <weights.safetensors> (scripts/convert_vocos.py makes it)");
  if (!c.vocos.empty()) require_input_file(c.vocos, "--vocos");
  if (c.vocab.empty()) {
    const auto beside = systems::f5tts::vocab_beside(c.checkpoint);
    CHORD_CHECK(beside, "give --vocab: no vocab.txt beside --checkpoint '", c.checkpoint, "'");
    c.vocab = beside->string();
  }
  require_input_file(c.vocab, "--vocab");
  if (c.png.empty()) c.png = std::filesystem::path(c.out).replace_extension(".png").string();
  require_output_file(c.out, "--out");
  require_output_file(c.png, "--png");
}

/// `--model <name>`: the published checkpoint and vocab, downloaded or found in the Hugging Face
/// cache, exactly as if given with --checkpoint and --vocab (and --preset, which checks the weights).
inline void use_published_model(TtsInferConfig& c, const std::string& program) {
  CHORD_CHECK(c.checkpoint.empty(), "give --model or --checkpoint, not both");
  const auto& entry = hub::find_published_model(c.model.name);
  CHORD_CHECK(entry.file_with_role("checkpoint") != nullptr && entry.file_with_role("vocab") != nullptr, "--model ", entry.name,
              " is not an F5-TTS checkpoint (it is for ", entry.system, "); F5-TTS models: F5TTS_v1_Base, F5TTS_Base");
  const auto resolved = resolve_published_model(c.model, program);
  c.checkpoint = resolved.file("checkpoint").string();
  if (c.vocab.empty()) c.vocab = resolved.file("vocab").string();
  if (c.preset.empty()) c.preset = entry.preset;
  std::cerr << "[" << program << "] model " << entry.name << ": " << c.checkpoint << "\n";
}

/// The inference program's command line.
inline void add_tts_infer_options(CLI::App& app, TtsInferConfig& c) {
  take_last_of_repeated_options(app);
  app.add_option("--checkpoint", c.checkpoint,
                 "Model weights: a .safetensors file (published F5-TTS, or a run's model_ema.safetensors), a trainer "
                 "checkpoint (.pt), or a run folder");
  add_model_options(app, c.model, "F5-TTS checkpoint and vocab (F5TTS_v1_Base, F5TTS_Base), instead of --checkpoint");
  app.add_option("--vocab", c.vocab, "Vocab file the model was trained with (default: vocab.txt of the run folder)");
  app.add_option("--preset", c.preset, "Check the checkpoint against this preset (tiny, F5TTS_v1_Small, F5TTS_v1_Base, F5TTS_Base)");
  app.add_flag("--v0", c.v0, "The checkpoint is a v0 model (F5TTS_Base): no text-padding mask, RoPE on one head");
  app.add_option("--ref-audio", c.ref_audio, "Reference recording (any rate, mono or stereo)")->required();
  app.add_option("--ref-text", c.ref_text, "Transcript of the reference recording")->required();
  app.add_option("--text", c.text, "Text to speak (with --edit: the full transcript after editing)");
  app.add_option("--text-file", c.text_file, "Read the text from this file");
  app.add_option("--out", c.out, "Output WAV")->capture_default_str();
  app.add_option("--png", c.png, "Spectrogram PNG (default: next to --out)");
  add_nfe_option(app, c.nfe, "Sampling steps (DTM: transitions T, one backbone pass each)");
  app.add_option("--head-steps", c.head_steps, "DTM only: inner head steps K per transition")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  add_cfg_option(app, c.cfg);
  app.add_option("--sway", c.sway, "Sway sampling coefficient, or 'none'")->capture_default_str();
  add_seed_option(app, c.seed, /*allow_random=*/true);
  app.add_option("--speed", c.speed, "Speaking rate factor for the duration estimate")->check(CLI::Range(0.05, 20.0))->capture_default_str();
  app.add_option("--duration", c.duration, "Fix the total duration in seconds (prompt included) instead of estimating it")->check(CLI::NonNegativeNumber);
  app.add_option("--cross-fade", c.cross_fade, "Seconds of cross-fade between chunks of long text")->check(CLI::Range(0.0, 10.0))->capture_default_str();
  app.add_option("--max-prompt-seconds", c.max_prompt_seconds,
                 "Clip longer reference audio at a pause, as F5-TTS does (then --ref-text must transcribe the kept part); 0 keeps it whole")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--edit", c.edit, "Regenerate these spans of the reference audio: start:end[,start:end] in seconds");
  app.add_option("--vocoder", c.vocoder, "griffinlim (no weights) or vocos")->check(CLI::IsMember({"griffinlim", "vocos"}))->capture_default_str();
  app.add_option("--vocos", c.vocos, "Vocos weights (.safetensors from scripts/convert_vocos.py; the name vocos-mel-24khz says how to make it)");
  app.add_option("--griffin-lim-iterations", c.griffin_lim_iterations, "Iterations of the Griffin-Lim vocoder")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  add_device_option(app, c.device);
}

/// The prompt of --ref-audio and --ref-text as the model reads it; warns when it was clipped, and
/// when the vocabulary lacks characters of the prompt's or the new text.
inline systems::f5tts::Prompt read_prompt(const TtsInferConfig& c, int64_t rate, bool editing, const text::VocabTokenizer& vocab,
                                          const std::string& program) {
  namespace f5 = systems::f5tts;
  f5::PromptOptions prompt_options;
  prompt_options.max_seconds = c.max_prompt_seconds;
  auto prompt = f5::prepare_prompt(audio::read_audio(c.ref_audio), c.ref_text, rate, prompt_options, !editing);
  if (prompt.clip != f5::PromptClip::none) {
    std::cerr << "[" << program << "] warning: the reference audio lasts " << prompt.recorded_seconds << " s; clipped to "
              << prompt.kept_seconds << " s " << (prompt.clip == f5::PromptClip::hard ? "(no pause found)" : "at a pause")
              << " as F5-TTS does. --ref-text must transcribe only the kept part; --max-prompt-seconds 0 keeps it whole.\n";
  }
  const auto unknown = f5::unknown_characters(vocab, {prompt.text, c.text});
  if (!unknown.empty()) {
    std::cerr << "[" << program << "] warning: the vocabulary '" << c.vocab << "' lacks " << quoted(unknown)
              << "; the model reads each as a space. Spell numbers and symbols out, or use a vocabulary that covers "
                 "them (Chinese needs pinyin tokens: docs/systems/f5tts.md).\n";
  }
  return prompt;
}

inline systems::f5tts::SynthesisOptions synthesis_options(const TtsInferConfig& c, uint64_t seed) {
  systems::f5tts::SynthesisOptions options;
  options.nfe = c.nfe;
  options.head_steps = c.head_steps;
  options.cfg = c.cfg;
  options.sway = parse_sway(c.sway);
  options.speed = c.speed;
  options.total_seconds = c.duration;
  options.cross_fade_seconds = c.cross_fade;
  options.seed = seed;
  return options;
}

/// The vocoder of --vocoder: Griffin-Lim (no weights; its random phases drawn from `seed`) or Vocos
/// (its weights from --vocos, on `device`).
inline systems::f5tts::Vocoder make_vocoder(const TtsInferConfig& c, const audio::MelSpectrogramOptions& mel_options, c10::Device device,
                                            uint64_t seed) {
  auto griffin_lim = std::make_shared<audio::GriffinLimVocoder>(mel_options, audio::GriffinLimOptions{c.griffin_lim_iterations, 0.99, true});
  auto generator = std::make_shared<torch::Generator>(make_generator(seed));
  if (c.vocoder != "vocos") return [griffin_lim, generator](const torch::Tensor& m) { return griffin_lim->decode(m.cpu(), *generator); };
  audio::Vocos vocos;
  audio::load_vocos(vocos, c.vocos);
  vocos->to(device);
  vocos->eval();
  return [vocos, device](const torch::Tensor& m) mutable { return vocos->decode(m.to(device)).cpu(); };
}

/// The cost, up front: every chunk is one sample() over its frames (prompt included). Returns the plan.
template <class Spec>
std::vector<systems::f5tts::ChunkPlan> announce_cost(const TtsInferConfig& c, const systems::f5tts::Prompt& prompt,
                                                     const systems::f5tts::SynthesisOptions& options, bool editing, int64_t hop,
                                                     int64_t rate, const std::string& program) {
  namespace f5 = systems::f5tts;
  const auto plan = !editing ? f5::plan_synthesis(prompt, c.text, options, hop)
                             : std::vector<f5::ChunkPlan>{{c.text, prompt.wave.size(0) / hop}};
  int64_t frames = 0;
  for (const auto& chunk : plan) frames += chunk.frames;
  std::cerr << "[" << program << "] " << (!editing ? "" : "editing: ") << plan.size() << " chunk(s), "
            << frames << " frames in all (" << static_cast<double>(frames * hop) / static_cast<double>(rate)
            << " s, prompt included), " << FlowModel<Spec>::Impl::backbone_passes(f5::sample_options<Spec>(options).sampler)
            << " backbone passes per chunk\n";
  return plan;
}

/// A progress line per chunk of `plan`, labelled with the start of its text.
inline systems::f5tts::SynthesisProgress chunk_progress(std::vector<systems::f5tts::ChunkPlan> plan, const std::string& program) {
  return [line = std::make_shared<ProgressLine>(program), plan = std::move(plan), current = std::function<void(int64_t, int64_t)>(),
          current_chunk = SIZE_MAX](size_t chunk, size_t chunks, int64_t done, int64_t total) mutable {
    if (chunk != current_chunk) {
      current_chunk = chunk;
      current = line->task("chunk " + std::to_string(chunk + 1) + "/" + std::to_string(chunks) + " (\"" +
                           plan[chunk].text.substr(0, 40) + "\")");
    }
    current(done, total);
  };
}

/// Writes the WAV and the spectrograms (generated, prompt) and says where they are and how fast it went.
inline void write_tts_outputs(const TtsInferConfig& c, const systems::f5tts::Synthesis& result, const systems::f5tts::Prompt& prompt,
                              const audio::MelSpectrogram& mel, int64_t rate, uint64_t seed, double seconds, const std::string& program) {
  audio::write_audio(c.out, result.wave, rate);
  viz::save_spectrograms_png(c.png, {{"generated: \"" + c.text.substr(0, 60) + "\"", torch::cat(result.mels, 1)},
                                     {"reference prompt", systems::f5tts::prompt_features(prompt.wave, rate, mel)[0].t()}});
  const double audio_seconds = static_cast<double>(result.wave.size(0)) / static_cast<double>(rate);
  std::cout << "[" << program << "] " << audio_seconds << " s of speech in " << seconds << " s (RTF "
            << seconds / audio_seconds << "), seed " << seed << ", NFE " << c.nfe << ", CFG " << c.cfg << "\n"
            << "[" << program << "] audio:        " << c.out << "\n"
            << "[" << program << "] spectrogram:  " << c.png << "\n";
}
}  // namespace detail

template <class Spec>
int run_tts_infer(int argc, char** argv, const std::string& program) {
  namespace f5 = systems::f5tts;
  TtsInferConfig c;
  CLI::App app{"Speak text in the voice of a reference recording with a trained " + std::string(Spec::objective::name) +
               " TTS model (" + program + ")."};
  detail::add_tts_infer_options(app, c);
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    if (!c.model.name.empty()) detail::use_published_model(c, program);
    c.vocos = published_path_or_value(c.vocos, "--vocos", "weights", program);
    detail::check_tts_infer_arguments(c);
    const auto edit_spans = c.edit.empty() ? std::vector<f5::EditSpan>{} : detail::parse_spans(c.edit);
    const bool editing = !edit_spans.empty();
    const auto device = announce_device(c.device, program);
    const auto vocab = text::VocabTokenizer::from_file(c.vocab);
    auto model = f5::load_for_inference<Spec>(c.checkpoint, vocab, c.preset, c.v0, device);
    const auto mel_options = audio::MelSpectrogramOptions::vocos_24k();
    const int64_t rate = mel_options.sample_rate, hop = mel_options.stft.hop_length;
    audio::MelSpectrogram mel(mel_options);
    const auto prompt = detail::read_prompt(c, rate, editing, vocab, program);
    const uint64_t seed = c.seed >= 0 ? static_cast<uint64_t>(c.seed) : std::random_device{}();
    const auto options = detail::synthesis_options(c, seed);
    const auto vocode = detail::make_vocoder(c, mel_options, device, seed);
    const auto progress = detail::chunk_progress(detail::announce_cost<Spec>(c, prompt, options, editing, hop, rate, program), program);
    const auto start_time = std::chrono::steady_clock::now();
    const auto result = !editing ? f5::synthesize(model, vocab, mel, prompt, c.text, options, vocode, progress)
                                 : f5::edit_speech(model, vocab, mel, prompt, c.text, edit_spans, options, vocode, progress);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    detail::write_tts_outputs(c, result, prompt, mel, rate, seed, seconds, program);
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
