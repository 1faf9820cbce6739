#pragma once
/// @file
/// `chord-vits-infer`: Bert-VITS2 inference (fishaudio/Bert-VITS2 8f7fbd8 `infer.py`): English text
/// (`--text`, through chord's espeak-ng front end, as the demo's filelists are made), or cleaned input —
/// phones, tones and a language (a filelist line, or `--phones`/`--tones`/`--language`) —, a speaker and
/// the four controls in; a WAV and PNGs of its mel spectrogram and of the alignment out. BERT features
/// are zeros unless `--bert` gives a file (`.bert.safetensors` or the reference's `.bert.pt`); the two
/// inactive language streams are zeros, as infer.py makes them. The model comes from a run folder of
/// chord-vits-train, one of its checkpoints, or a generator `.safetensors` (a converted `G_<step>.pth`)
/// with its config.json.

#include "chord/apps/cli.hpp"
#include "chord/systems/bert_vits2/run_config.hpp"
#include "chord/apps/vits_pictures.hpp"
#include "chord/audio/io.hpp"
#include "chord/core/allocator.hpp"
#include "chord/core/random.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/systems/bert_vits2/item.hpp"
#include "chord/systems/bert_vits2/synthesizer.hpp"
#include "chord/text/arpabet.hpp"
#include "chord/text/phonemizer.hpp"
#include "chord/viz/plots.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace chord::apps {

struct VitsInferConfig {
  std::string checkpoint, config, text, line, phones, tones, language = "EN", speaker, bert, out = "out/vits.wav", png, device = "auto";
  double sdp_ratio = 0.0, noise_scale = 0.667, noise_scale_w = 0.8, length_scale = 1.0;  ///< SynthesizerTrn.infer's defaults
  int64_t seed = 0;
};

inline void add_vits_infer_options(CLI::App& app, VitsInferConfig& c) {
  take_last_of_repeated_options(app);
  app.add_option("--checkpoint", c.checkpoint,
                 "The model: a chord-vits-train run folder, one of its checkpoints (.pt), or a generator .safetensors "
                 "(G_<step> keys: enc_p.*, dec.*, ...)")->required();
  app.add_option("--config", c.config, "Bert-VITS2 config.json (default: the run folder's, or config.json beside --checkpoint)");
  app.add_option("--text", c.text, "English text to say: phonemized by espeak-ng (en-us) and mapped to Bert-VITS2's phones and tones "
                 "as chord-vits-make-filelist does");
  app.add_option("--line", c.line, "A cleaned filelist line: wav|speaker|language|text|phones|tones|word2ph (only the speaker and "
                 "the last four fields are used)");
  app.add_option("--phones", c.phones, "Space-separated phones of the symbol table (e.g. \"_ hh ah l ow _\")");
  app.add_option("--tones", c.tones, "One tone per phone, the language's raw tones (e.g. \"0 0 1 0 2 0\")");
  app.add_option("--language", c.language, "Language of --phones: ZH, JP or EN")->check(CLI::IsMember({"ZH", "JP", "EN"}))->capture_default_str();
  app.add_option("--speaker", c.speaker, "Speaker name (data.spk2id) or id (default: the --line's speaker, else id 0)");
  app.add_option("--bert", c.bert, "BERT features [1024, phones after blanks] (.bert.safetensors with tensor 'bert', or .bert.pt); "
                 "default: zeros");
  app.add_option("--sdp-ratio", c.sdp_ratio, "Share of the stochastic duration predictor (0: the deterministic one)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--noise-scale", c.noise_scale, "Scale of the prior's noise")->check(CLI::Range(0.0, 10.0))->capture_default_str();
  app.add_option("--noise-scale-w", c.noise_scale_w, "Scale of the stochastic duration predictor's noise")
      ->check(CLI::Range(0.0, 10.0))->capture_default_str();
  app.add_option("--length-scale", c.length_scale, "Duration factor (> 1: slower speech)")->check(CLI::Range(0.01, 100.0))->capture_default_str();
  add_seed_option(app, c.seed, /*allow_random=*/true);
  app.add_option("--out", c.out, "Output WAV")->capture_default_str();
  app.add_option("--png", c.png, "Mel spectrogram PNG (default: next to --out); the alignment goes to <png stem>_alignment.png");
  add_device_option(app, c.device);
}

/// A generator ready for inference and the configuration it was trained with.
struct LoadedVitsGenerator {
  systems::bert_vits2::Synthesizer model{nullptr};
  systems::bert_vits2::VitsRunConfig config;
  std::filesystem::path weights;
  std::string step;  ///< as far as known
};

namespace detail {
/// The newest `checkpoint_<step>.pt` of a run folder's checkpoints/, if any.
inline std::optional<std::filesystem::path> newest_vits_checkpoint(const std::filesystem::path& run) {
  std::optional<std::filesystem::path> newest;
  if (!std::filesystem::is_directory(run / "checkpoints")) return newest;
  for (const auto& file : std::filesystem::directory_iterator(run / "checkpoints")) {
    const auto name = file.path().filename().string();
    if (name.rfind("checkpoint_", 0) != 0 || file.path().extension() != ".pt") continue;
    if (!newest || name > newest->filename().string()) newest = file.path();  // zero-padded steps sort by name
  }
  return newest;
}
}  // namespace detail

/// Loads the generator of `checkpoint` (run folder, trainer checkpoint or safetensors) with `config_path`
/// (or the config.json that belongs to it).
inline LoadedVitsGenerator load_vits_generator(const std::filesystem::path& checkpoint, std::filesystem::path config_path, c10::Device device) {
  CHORD_CHECK(std::filesystem::exists(checkpoint), "--checkpoint '", checkpoint.string(), "' does not exist");
  std::filesystem::path weights = checkpoint;
  if (std::filesystem::is_directory(checkpoint)) {
    if (config_path.empty()) config_path = checkpoint / "config.json";
    if (auto newest = detail::newest_vits_checkpoint(checkpoint)) weights = *newest;
    else weights = checkpoint / "generator.safetensors";
    CHORD_CHECK(std::filesystem::exists(weights), "--checkpoint '", checkpoint.string(),
                "' is a folder without checkpoints/checkpoint_<step>.pt or generator.safetensors (not a chord-vits-train run?)");
  } else if (config_path.empty()) {
    const auto parent = checkpoint.parent_path();
    config_path = parent / "config.json";
    if (!std::filesystem::exists(config_path) && parent.filename() == "checkpoints") config_path = parent.parent_path() / "config.json";
  }
  CHORD_CHECK(std::filesystem::exists(config_path), "no config for --checkpoint '", checkpoint.string(), "': give --config <config.json> (looked for '",
              config_path.string(), "')");
  LoadedVitsGenerator loaded;
  loaded.config = systems::bert_vits2::read_vits_config(config_path);
  loaded.weights = weights;
  io::TensorMap tensors;
  if (weights.extension() == ".safetensors") {
    tensors = io::load_safetensors(weights);
  } else {
    auto trainer = io::read_trainer_weights(weights, "model");
    loaded.step = std::to_string(trainer.step);
    for (auto& [key, tensor] : trainer.tensors) {
      if (key.rfind("net_g.", 0) == 0) tensors.emplace(key, tensor);  // the discriminators stay behind
    }
  }
  io::LoadOptions options;
  options.source_name = weights.string();
  if (!tensors.empty() && tensors.begin()->first.rfind("net_g.", 0) == 0) options.strip_prefix = "net_g.";
  loaded.model = systems::bert_vits2::Synthesizer(loaded.config.synthesizer);
  io::load_state_dict(*loaded.model, tensors, options);
  loaded.model->to(device);
  loaded.model->eval();
  return loaded;
}

namespace detail {
/// Parses one line; a problem is reported against `flag` rather than as a filelist's line.
inline systems::bert_vits2::FilelistEntry parse_vits_input(const std::string& line, const std::string& flag) {
  try {
    return systems::bert_vits2::parse_filelist_line(line, flag, 1);
  } catch (const Error& error) {
    std::string message = error_message(error);
    const std::string where = "filelist '" + flag + "' line 1: ";
    if (const auto at = message.find(where); at != std::string::npos) message.erase(0, at + where.size());
    CHORD_FAIL(flag, ": ", message);
  }
}

/// "a b c" from {a, b, c}.
template <class T>
std::string joined_with_spaces(const std::vector<T>& items) {
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i) out << (i ? " " : "") << items[i];
  return out.str();
}

/// The utterance to say: English text, a filelist line or --phones/--tones/--language (word2ph is not
/// needed here).
inline systems::bert_vits2::FilelistEntry vits_input(const VitsInferConfig& c) {
  if (!c.text.empty()) {
    CHORD_CHECK(c.line.empty() && c.phones.empty() && c.tones.empty(), "give one of --text, --line or --phones/--tones");
    CHORD_CHECK(c.language == "EN", "--text goes through the English front end (espeak-ng en-us); for --language ", c.language,
                " give --phones/--tones or a --line cleaned by the reference's text/cleaner.py");
    const text::EspeakPhonemizer phonemizer("en-us");
    const auto cleaned = text::english_g2p(c.text, phonemizer);
    return parse_vits_input("-|-|EN|-|" + joined_with_spaces(cleaned.phones) + "|" + joined_with_spaces(cleaned.tones) + "|" +
                                joined_with_spaces(cleaned.word2ph),
                            "--text");
  }
  if (!c.line.empty()) {
    CHORD_CHECK(c.phones.empty() && c.tones.empty(), "give either --line or --phones/--tones, not both");
    return parse_vits_input(c.line, "--line");
  }
  CHORD_CHECK(!c.phones.empty(), "nothing to say: give --text, --line or --phones with --tones");
  CHORD_CHECK(!c.tones.empty(), "--phones needs --tones (one tone per phone)");
  std::istringstream in(c.phones);
  std::string phone, word2ph;
  while (in >> phone) word2ph += word2ph.empty() ? "1" : " 1";
  std::string phones = c.phones, tones = c.tones;
  for (auto* s : {&phones, &tones}) {  // single spaces, as the filelist format has them
    std::istringstream words(*s);
    std::string word, joined;
    while (words >> word) joined += (joined.empty() ? "" : " ") + word;
    *s = joined;
  }
  return parse_vits_input("-|-|" + c.language + "|-|" + phones + "|" + tones + "|" + word2ph, "--phones/--tones");
}
}  // namespace detail

namespace detail {

/// The model's text inputs for `entry`: ids, tones, languages and the BERT features (from `bert_file`,
/// else zeros, as the reference's inference does for languages without a BERT model).
inline systems::bert_vits2::TextFeatures vits_text_inputs(const systems::bert_vits2::FilelistEntry& entry, bool add_blank,
                                                          const std::string& bert_file) {
  namespace bv2 = systems::bert_vits2;
  const int64_t n = add_blank ? 2 * static_cast<int64_t>(entry.phones.size()) + 1 : static_cast<int64_t>(entry.phones.size());
  const auto zeros = torch::zeros({bv2::bert_feature_dim, n});
  const auto bert = bert_file.empty() ? zeros : *bv2::load_bert(bert_file, n);
  return bv2::get_text(entry.phones, entry.tones, entry.word2ph, entry.language, bert, add_blank, zeros, zeros);
}

/// Checks the files before the model is loaded: inputs readable, outputs writable (the mel PNG beside
/// the WAV unless --png says otherwise); returns where the alignment PNG goes.
inline std::filesystem::path check_vits_infer_files(VitsInferConfig& c) {
  if (!c.bert.empty()) require_input_file(c.bert, "--bert");
  if (!c.config.empty()) require_input_file(c.config, "--config");
  if (c.png.empty()) c.png = std::filesystem::path(c.out).replace_extension(".png").string();
  auto alignment_png = std::filesystem::path(c.png);
  alignment_png.replace_filename(alignment_png.stem().string() + "_alignment.png");
  require_output_file(c.out, "--out");
  require_output_file(c.png, "--png");
  return alignment_png;
}

/// The mel spectrogram of `audio` and the predicted alignment, as PNGs.
inline void save_vits_pictures(const std::filesystem::path& mel_png, const std::filesystem::path& alignment_png, const torch::Tensor& audio,
                               const torch::Tensor& attention, const systems::bert_vits2::VitsRunConfig& config) {
  const systems::bert_vits2::MelProcessing mel(config.synthesizer.spectrogram());
  viz::save_spectrogram_png(mel_png, mel.mel_spectrogram(audio.unsqueeze(0))[0], "generated", {});
  viz::save_spectrogram_png(alignment_png, attention.t().cpu(), "alignment", alignment_picture_options());
}

}  // namespace detail

/// `main` of chord-vits-infer.
inline int run_vits_infer(int argc, char** argv, const std::string& program) {
  namespace bv2 = systems::bert_vits2;
  VitsInferConfig c;
  CLI::App app{"Speak cleaned phones with a trained Bert-VITS2 model (" + program + ")."};
  add_vits_infer_options(app, c);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    const auto entry = detail::vits_input(c);
    const auto alignment_png = detail::check_vits_infer_files(c);
    const auto device = announce_device(c.device, program);

    auto loaded = load_vits_generator(c.checkpoint, c.config, device);
    const auto& config = loaded.config;
    const auto speaker_name = !c.speaker.empty() ? c.speaker : (!c.line.empty() ? entry.speaker : std::string("0"));
    const int64_t speaker = systems::bert_vits2::resolve_speaker(speaker_name, config.speakers, config.synthesizer.n_speakers());
    const auto text = detail::vits_text_inputs(entry, config.add_blank, c.bert);
    const int64_t n = text.phones.size(0);

    const uint64_t seed = c.seed >= 0 ? static_cast<uint64_t>(c.seed) : std::random_device{}();
    auto gen = make_generator(seed, device);
    const auto controls = bv2::InferOptions().sdp_ratio(c.sdp_ratio).noise_scale(c.noise_scale).noise_scale_w(c.noise_scale_w).length_scale(c.length_scale);
    auto one = [&](const torch::Tensor& t) { return t.unsqueeze(0).to(device); };
    if (!c.text.empty()) std::cerr << "[" << program << "] --text phones: " << detail::joined_with_spaces(entry.phones) << "\n";
    std::cerr << "[" << program << "] " << entry.phones.size() << " phones (" << n << " with blanks), speaker " << speaker_name << " (id "
              << speaker << "), " << loaded.weights.string() << "\n";
    const auto start = std::chrono::steady_clock::now();
    bv2::InferOutput result;
    {
      torch::NoGradGuard no_grad;
      result = loaded.model->infer(one(text.phones), torch::tensor({n}, torch::kLong).to(device), torch::tensor({speaker}, torch::kLong).to(device),
                                   one(text.tones), one(text.languages), one(text.bert), one(text.ja_bert), one(text.en_bert), controls, gen);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto audio = result.audio[0][0].to(torch::kCPU, torch::kFloat32);
    const int64_t rate = config.sampling_rate(), hop = config.hop_length();
    const int64_t frames = result.y_mask.sum().item<int64_t>();
    audio::write_audio(c.out, audio.clamp(-1.0, 1.0), rate);
    detail::save_vits_pictures(c.png, alignment_png, audio, result.attn[0][0], config);
    const double audio_seconds = static_cast<double>(audio.size(0)) / static_cast<double>(rate);
    std::cout << "[" << program << "] " << frames << " frames x hop " << hop << " = " << audio.size(0) << " samples (" << audio_seconds
              << " s at " << rate << " Hz) in " << seconds << " s (RTF " << seconds / std::max(audio_seconds, 1e-9) << "), seed " << seed
              << ", sdp_ratio " << c.sdp_ratio << ", noise_scale " << c.noise_scale << ", noise_scale_w " << c.noise_scale_w
              << ", length_scale " << c.length_scale << "\n"
              << "[" << program << "] audio:      " << c.out << "\n"
              << "[" << program << "] mel:        " << c.png << "\n"
              << "[" << program << "] alignment:  " << alignment_png.string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
