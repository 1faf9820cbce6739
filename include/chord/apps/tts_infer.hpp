#pragma once
/// @file
/// A ready-made inference program for FlowModel specs with F5-style conditioning: reference audio +
/// its transcript + text → WAV (and a spectrogram PNG), following F5-TTS's `infer_process`: prompt
/// loudness normalisation, the duration rule, long text split into chunks generated separately and
/// cross-faded, and a speech-editing mode.

#include "chord/apps/tts_trainer.hpp"
#include "chord/audio/griffin_lim.hpp"
#include "chord/audio/io.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/audio/vocos.hpp"
#include "chord/viz/plots.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>

namespace chord::apps {

struct TtsInferConfig {
  std::string checkpoint, vocab, preset, ref_audio, ref_text, text, text_file, out = "out/speech.wav", png;
  std::string vocoder = "griffinlim", vocos;
  std::string edit;  ///< "start:end[,start:end]" seconds of the reference audio to regenerate
  std::string sway = "-1";
  bool v0 = false;
  int64_t nfe = 32;
  double cfg = 2.0, speed = 1.0, duration = 0.0, cross_fade = 0.15, target_rms = 0.1;
  int64_t seed = -1;
  int64_t griffin_lim_iterations = 64;
  int64_t head_steps = 4;
};

namespace detail {
inline std::vector<std::pair<double, double>> parse_spans(const std::string& text) {
  std::vector<std::pair<double, double>> spans;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto colon = part.find(':');
    CHORD_CHECK(colon != std::string::npos, "--edit expects start:end[,start:end] in seconds, got '", text, "'");
    const double start = std::stod(part.substr(0, colon)), end = std::stod(part.substr(colon + 1));
    CHORD_CHECK(0 <= start && start < end, "--edit span ", part, ": need 0 <= start < end");
    spans.emplace_back(start, end);
  }
  return spans;
}
}  // namespace detail

template <class Spec>
int run_tts_infer(int argc, char** argv, const std::string& program) {
  using Model = FlowModel<Spec>;
  TtsInferConfig c;
  CLI::App app{"Speak text in the voice of a reference recording with a trained " + std::string(Spec::objective::name) +
               " TTS model (" + program + ")."};
  app.add_option("--checkpoint", c.checkpoint, "Model weights (.safetensors; a trainer's model_ema.safetensors or a published F5-TTS file)")->required();
  app.add_option("--vocab", c.vocab, "Vocab file the model was trained with")->required();
  app.add_option("--preset", c.preset, "Check the checkpoint against this preset (tiny, F5TTS_v1_Small, F5TTS_v1_Base, F5TTS_Base)");
  app.add_flag("--v0", c.v0, "The checkpoint is a v0 model (F5TTS_Base): no text-padding mask, RoPE on one head");
  app.add_option("--ref-audio", c.ref_audio, "Reference recording (any rate, mono or stereo)")->required();
  app.add_option("--ref-text", c.ref_text, "Transcript of the reference recording")->required();
  app.add_option("--text", c.text, "Text to speak (with --edit: the full transcript after editing)");
  app.add_option("--text-file", c.text_file, "Read the text from this file");
  app.add_option("--out", c.out, "Output WAV")->capture_default_str();
  app.add_option("--png", c.png, "Spectrogram PNG (default: next to --out)");
  app.add_option("--nfe", c.nfe, "ODE steps (DTM: transitions T, one backbone pass each)")->capture_default_str();
  app.add_option("--head-steps", c.head_steps, "DTM only: inner head steps K per transition")->capture_default_str();
  app.add_option("--cfg", c.cfg, "Classifier-free guidance strength")->capture_default_str();
  app.add_option("--sway", c.sway, "Sway sampling coefficient, or 'none'")->capture_default_str();
  app.add_option("--seed", c.seed, "Noise seed (-1: random, printed)")->capture_default_str();
  app.add_option("--speed", c.speed, "Speaking rate factor for the duration estimate")->capture_default_str();
  app.add_option("--duration", c.duration, "Fix the total duration in seconds (prompt included) instead of estimating it");
  app.add_option("--cross-fade", c.cross_fade, "Seconds of cross-fade between chunks of long text")->capture_default_str();
  app.add_option("--edit", c.edit, "Regenerate these spans of the reference audio: start:end[,start:end] in seconds");
  app.add_option("--vocoder", c.vocoder, "griffinlim (no weights) or vocos")->check(CLI::IsMember({"griffinlim", "vocos"}))->capture_default_str();
  app.add_option("--vocos", c.vocos, "Vocos weights (.safetensors from scripts/convert_vocos.py)");
  app.add_option("--griffin-lim-iterations", c.griffin_lim_iterations, "Iterations of the Griffin-Lim vocoder")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    namespace f5 = systems::f5tts;
    if (!c.text_file.empty()) {
      std::ifstream in(c.text_file);
      CHORD_CHECK(in, "cannot read --text-file '", c.text_file, "'");
      c.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    CHORD_CHECK(!c.text.empty(), "nothing to say: give --text or --text-file");
    const auto vocab = text::VocabTokenizer::from_file(c.vocab);
    auto model_options = f5::read_model_options<Spec>(c.checkpoint);
    auto& backbone = model_options.backbone;
    if (c.v0) backbone.text_mask_padding(false).pe_attn_head(1);
    if (!c.preset.empty()) {
      auto expected = f5::preset_options(f5::parse_preset(c.preset), vocab.size());
      const auto differences = f5::describe_mismatch(expected, backbone);
      CHORD_CHECK(differences.empty(), "checkpoint does not match preset ", c.preset, ": ", differences);
      if (c.preset == "F5TTS_Base") backbone.text_mask_padding(false).pe_attn_head(1);
    }
    CHORD_CHECK(backbone.text_num_embeds() == vocab.size(), "the checkpoint was trained with a vocabulary of ",
                backbone.text_num_embeds(), " tokens but '", c.vocab, "' has ", vocab.size(), ": pass the vocab file of the checkpoint");
    backbone.dropout(0.0);
    Model model{model_options};
    f5::load_checkpoint(model, c.checkpoint);
    model->eval();

    const auto mel_options = audio::MelSpectrogramOptions::vocos_24k();
    const int64_t rate = mel_options.sample_rate, hop = mel_options.stft.hop_length;
    audio::MelSpectrogram mel(mel_options);

    // The prompt: mono, loudness-normalised if quiet, at the model's rate, with 50 ms of silence appended.
    auto reference = audio::read_audio(c.ref_audio);
    auto wave = audio::to_mono(reference.samples).squeeze(0);
    const double reference_rms = audio::rms(wave);
    wave = audio::normalize_rms(wave, c.target_rms, /*only_if_quieter=*/true).first;
    wave = audio::resample(wave, reference.sample_rate, rate);
    if (c.edit.empty()) wave = torch::cat({wave, torch::zeros({rate / 20})});
    const double reference_seconds = static_cast<double>(wave.size(0)) / static_cast<double>(rate);
    if (reference_seconds > 12.0) {
      std::cerr << "[" << program << "] warning: the reference is " << reference_seconds
                << " s; F5-TTS works best with prompts under 12 s (the reference implementation clips them)\n";
    }
    const std::string reference_text = f5::normalize_reference_text(c.ref_text);

    uint64_t seed = c.seed >= 0 ? static_cast<uint64_t>(c.seed) : std::random_device{}();
    typename Model::Impl::SampleOptions options;
    options.sampler.steps = c.nfe;
    if constexpr (requires { options.sampler.grid.coefficient; }) {
      options.sampler.grid.coefficient = c.sway == "none" ? std::nullopt : std::optional<double>(std::stod(c.sway));
    }
    if constexpr (requires { options.sampler.head_steps; }) options.sampler.head_steps = c.head_steps;
    options.guidance_strength = c.cfg;
    options.seeds = {seed};
    auto gen = make_generator(seed);

    std::function<torch::Tensor(const torch::Tensor&)> vocode;
    audio::Vocos vocos{nullptr};
    audio::GriffinLimVocoder griffin_lim(mel_options, {c.griffin_lim_iterations, 0.99, true});
    if (c.vocoder == "vocos") {
      CHORD_CHECK(!c.vocos.empty(), "--vocoder vocos needs --vocos <weights.safetensors> (scripts/convert_vocos.py makes it)");
      vocos = audio::Vocos();
      audio::load_vocos(vocos, c.vocos);
      vocos->eval();
      vocode = [&](const torch::Tensor& m) { return vocos->decode(m); };
    } else {
      vocode = [&](const torch::Tensor& m) { return griffin_lim.decode(m, gen); };
    }
    auto restore_level = [&](torch::Tensor w) { return reference_rms < c.target_rms ? w * (reference_rms / c.target_rms) : w; };

    const auto start_time = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> pieces, mels;
    if (!c.edit.empty()) {
      // Speech editing (F5-TTS speech_edit.py): zeros replace each span, the edit mask keeps the rest.
      std::vector<torch::Tensor> audio_parts, keep_parts;
      double offset = 0.0;
      for (const auto& [s, e] : detail::parse_spans(c.edit)) {
        CHORD_CHECK(e <= reference_seconds + 1e-6, "--edit span ends at ", e, " s, after the reference audio (", reference_seconds, " s)");
        audio_parts.push_back(wave.slice(0, std::lround(offset * rate), std::lround(s * rate)));
        audio_parts.push_back(torch::zeros({std::lround((e - s) * rate)}));
        keep_parts.push_back(torch::ones({std::lround((s - offset) * rate / hop)}, torch::kBool));
        keep_parts.push_back(torch::zeros({std::lround((e - s) * rate / hop)}, torch::kBool));
        offset = e;
      }
      audio_parts.push_back(wave.slice(0, std::lround(offset * rate)));
      auto edited = torch::cat(audio_parts);
      auto prompt = f5::prompt_features(edited, rate, mel);
      auto keep = torch::cat(keep_parts);
      keep = torch::constant_pad_nd(keep, {0, std::max<int64_t>(0, prompt.size(1) - keep.size(0))}, 1).narrow(0, 0, prompt.size(1));
      typename Model::Impl::Request request;
      request.prompt = prompt;
      request.text = f5_text_ids(vocab, {c.text});
      request.duration = torch::tensor({prompt.size(1)});
      request.edit_mask = keep.unsqueeze(0);
      auto result = model->sample(request, options, gen);
      auto generated = result.output.narrow(1, 0, result.durations[0].template item<int64_t>()).transpose(1, 2);
      mels.push_back(generated[0]);
      pieces.push_back(restore_level(vocode(generated)[0]));
    } else {
      auto prompt = f5::prompt_features(wave, rate, mel);
      const int64_t reference_frames = wave.size(0) / hop;
      const auto max_bytes = static_cast<size_t>(std::max(
          1.0, static_cast<double>(reference_text.size()) / reference_seconds * (22.0 - reference_seconds) * c.speed));
      const auto chunks = f5::chunk_text(c.text, max_bytes);
      CHORD_CHECK(!chunks.empty(), "nothing to say after splitting the text");
      for (size_t i = 0; i < chunks.size(); ++i) {
        std::cerr << "[" << program << "] chunk " << (i + 1) << "/" << chunks.size() << ": " << chunks[i] << "\n";
        typename Model::Impl::Request request;
        request.prompt = prompt;
        request.text = f5_text_ids(vocab, {reference_text + chunks[i]});
        const int64_t total = c.duration > 0 ? static_cast<int64_t>(c.duration * rate / hop)
                                             : f5::estimate_duration(reference_frames, reference_text, chunks[i], c.speed);
        request.duration = torch::tensor({total});
        auto result = model->sample(request, options, gen);
        const int64_t end = result.durations[0].template item<int64_t>();
        auto generated = result.output.narrow(1, reference_frames, std::max<int64_t>(1, end - reference_frames)).transpose(1, 2);
        mels.push_back(generated[0]);
        pieces.push_back(restore_level(vocode(generated)[0]));
      }
    }
    auto speech = f5::cross_fade(pieces, static_cast<int64_t>(c.cross_fade * rate));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    const std::filesystem::path out = c.out;
    audio::write_audio(out, speech, rate);
    const std::filesystem::path png = c.png.empty() ? std::filesystem::path(out).replace_extension(".png") : std::filesystem::path(c.png);
    viz::save_spectrograms_png(png, {{"generated: \"" + c.text.substr(0, 60) + "\"", torch::cat(mels, 1)},
                                     {"reference prompt", f5::prompt_features(wave, rate, mel)[0].t()}});
    const double audio_seconds = static_cast<double>(speech.size(0)) / static_cast<double>(rate);
    std::cout << "[" << program << "] " << audio_seconds << " s of speech in " << seconds << " s (RTF "
              << seconds / audio_seconds << "), seed " << seed << ", NFE " << c.nfe << ", CFG " << c.cfg << "\n"
              << "[" << program << "] audio:        " << out.string() << "\n"
              << "[" << program << "] spectrogram:  " << png.string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace chord::apps
