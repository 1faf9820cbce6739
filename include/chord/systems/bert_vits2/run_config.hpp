#pragma once
/// @file
/// Bert-VITS2's `config.json` (fishaudio/Bert-VITS2 8f7fbd8 `configs/config.json`: the `train`, `data`
/// and `model` sections) as chord's Bert-VITS2 programs read and write it: the generator's options, the
/// spectrogram, the speaker map, the training settings and the discriminators' sizes. Architecture
/// options chord does not implement (a mel posterior encoder, spectral norm, shared flow parameters, ...)
/// and unknown `model` keys are refused by name instead of being ignored, since they would change the
/// model. A run folder's config.json is this format plus a `chord` object (`{"preset": "tiny"}`) for
/// the sizes the reference's format cannot express.

#include "chord/core/error.hpp"
#include "chord/io/json_checks.hpp"
#include "chord/systems/bert_vits2/filelist.hpp"
#include "chord/systems/bert_vits2/synthesizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace chord::systems::bert_vits2 {

/// Everything a Bert-VITS2 run is configured with.
struct VitsRunConfig {
  std::string preset = "v2.3";  ///< the base the config's keys override: "v2.3" or "tiny"
  SynthesizerOptions synthesizer = SynthesizerOptions::v2_3();
  SpeakerMap speakers;  ///< data.spk2id (empty: taken from the filelists)
  bool add_blank = true;
  int64_t min_text_len = 1, max_text_len = 384;
  bool use_duration_discriminator = true;
  std::string training_files, validation_files;
  // train
  int64_t log_interval = 200, eval_interval = 1000, seed = 42, batch_size = 16;
  double learning_rate = 2e-4, lr_decay = 0.99995, eps = 1e-9;
  std::vector<double> betas{0.8, 0.99};
  bool bf16_run = false;
  /// Generator parameters that do not train, by name prefix: the reference's train.freeze_ZH_bert /
  /// freeze_JP_bert / freeze_EN_bert (enc_p.bert_proj., enc_p.ja_bert_proj., enc_p.en_bert_proj.) and
  /// chord's train.freeze (a list of any prefixes; the seed asks for config-driven freezing).
  std::vector<std::string> freeze;
  // model.slm: the WavLM discriminator
  int64_t slm_hidden = 768, slm_layers = 13, slm_initial_channel = 64, slm_sample_rate = 16000;
  /// Keys read but without effect in chord (printed by the trainer so nobody expects them to work).
  std::vector<std::string> ignored;

  /// Bert-VITS2 2.3 (configs/config.json) or the two-core `tiny` size (SynthesizerOptions::tiny).
  static VitsRunConfig from_preset(const std::string& name) {
    VitsRunConfig c;
    c.preset = name;
    if (name == "v2.3") return c;
    CHORD_CHECK(name == "tiny", "--preset '", name, "' is not tiny or v2.3");
    c.synthesizer = SynthesizerOptions::tiny();
    c.log_interval = 10;
    c.eval_interval = 100;
    c.batch_size = 2;
    c.slm_initial_channel = 16;
    return c;
  }

  int64_t sampling_rate() const { return synthesizer.spectrogram().sampling_rate; }
  int64_t hop_length() const { return synthesizer.spectrogram().hop_length; }
};

namespace detail {
/// The architecture keys of `model` chord reads, and those it accepts only at one value.
inline const std::set<std::string>& known_model_keys() {
  static const std::set<std::string> keys{
      "use_spk_conditioned_encoder", "use_noise_scaled_mas", "use_mel_posterior_encoder", "use_duration_discriminator",
      "inter_channels", "hidden_channels", "filter_channels", "n_heads", "n_layers", "kernel_size", "p_dropout", "resblock",
      "resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates", "upsample_initial_channel", "upsample_kernel_sizes",
      "n_layers_q", "use_spectral_norm", "gin_channels", "slm", "n_flow_layer", "n_layers_trans_flow", "use_transformer_flow",
      "flow_share_parameter", "use_sdp", "mas_noise_scale_initial", "noise_scale_delta"};
  return keys;
}

template <class T>
T json_value(const nlohmann::json& section, const char* section_name, const char* key, T fallback) {
  if (!section.contains(key)) return fallback;
  CHORD_CHECK(io::json_holds<T>(section.at(key)), "config ", section_name, ".", key, " has the wrong type or is out of range (",
              section.at(key).dump(), ")");
  try {
    return section.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    CHORD_FAIL("config ", section_name, ".", key, " has the wrong type (", section.at(key).dump(), ")");
  }
}

/// A flag the reference reads that chord implements at one value only.
inline void require_flag(const nlohmann::json& model, const char* key, bool supported, const std::string& why) {
  if (!model.contains(key)) return;
  CHORD_CHECK(model.at(key).is_boolean(), "config model.", key, " must be true or false");
  CHORD_CHECK(model.at(key).get<bool>() == supported, "config model.", key, " = ", model.at(key).dump(),
              " is not supported by chord: ", why);
}
}  // namespace detail

namespace detail {

/// The spectrogram of the `data` section (the preset's where a key is absent).
inline SpectrogramConfig read_spectrogram(const nlohmann::json& data, SpectrogramConfig spectrogram,
                                                               const std::string& name) {
  if (data.empty()) return spectrogram;
  try {
    auto merged = nlohmann::json::object();
    merged["sampling_rate"] = spectrogram.sampling_rate;
    merged["filter_length"] = spectrogram.filter_length;
    merged["hop_length"] = spectrogram.hop_length;
    merged["win_length"] = spectrogram.win_length;
    merged["n_mel_channels"] = spectrogram.n_mel_channels;
    merged["mel_fmin"] = spectrogram.mel_fmin;
    merged.update(data);
    return SpectrogramConfig::from_json(merged);
  } catch (const Error& error) {
    CHORD_FAIL(name, ": ", error.what());
  }
}

/// `data`: the text filter, the filelists and the speakers; returns the speaker count the model needs.
inline int64_t read_data_section(VitsRunConfig& c, const nlohmann::json& config, const nlohmann::json& data, const std::string& name) {
  c.add_blank = json_value(data, "data", "add_blank", c.add_blank);
  CHORD_CHECK(json_value(data, "data", "cleaned_text", true), name, ": data.cleaned_text = false is not supported (chord reads "
              "cleaned filelists: wav|speaker|language|text|phones|tones|word2ph)");
  c.min_text_len = json_value(data, "data", "min_text_len", c.min_text_len);
  c.max_text_len = json_value(data, "data", "max_text_len", c.max_text_len);
  c.training_files = json_value(data, "data", "training_files", std::string());
  c.validation_files = json_value(data, "data", "validation_files", std::string());
  if (data.contains("spk2id")) c.speakers = speaker_map_from_config(config, name);
  int64_t n_speakers = json_value(data, "data", "n_speakers", c.synthesizer.n_speakers());
  for (const auto& [speaker, id] : c.speakers) n_speakers = std::max(n_speakers, id + 1);
  return n_speakers;
}

/// `train`: the loop's settings, loss weights and frozen parameters; returns the segment in samples.
inline int64_t read_train_section(VitsRunConfig& c, SynthesizerOptions& s, const nlohmann::json& train,
                                  int64_t hop_length, const std::string& name) {
  c.log_interval = json_value(train, "train", "log_interval", c.log_interval);
  c.eval_interval = json_value(train, "train", "eval_interval", c.eval_interval);
  c.seed = json_value(train, "train", "seed", c.seed);
  c.batch_size = json_value(train, "train", "batch_size", c.batch_size);
  c.learning_rate = json_value(train, "train", "learning_rate", c.learning_rate);
  c.lr_decay = json_value(train, "train", "lr_decay", c.lr_decay);
  c.betas = json_value(train, "train", "betas", c.betas);
  c.eps = json_value(train, "train", "eps", c.eps);
  c.bf16_run = json_value(train, "train", "bf16_run", c.bf16_run);
  CHORD_CHECK(c.betas.size() == 2, name, ": train.betas must hold two numbers");
  const int64_t segment_samples = json_value(train, "train", "segment_size", s.segment_samples());
  CHORD_CHECK(segment_samples > 0 && segment_samples % hop_length == 0, name, ": train.segment_size ", segment_samples,
              " must be a positive multiple of data.hop_length ", hop_length);
  s.c_mel(json_value(train, "train", "c_mel", s.c_mel())).c_kl(json_value(train, "train", "c_kl", s.c_kl()));
  for (const char* key : {"epochs", "init_lr_ratio", "warmup_epochs", "c_commit", "skip_optimizer"}) {
    if (train.contains(key)) c.ignored.push_back(std::string("train.") + key);
  }
  if (json_value(train, "train", "freeze_emo", false)) c.ignored.push_back("train.freeze_emo (2.3's generator has no emotion module)");
  for (const auto& [key, prefix] : {std::pair{"freeze_ZH_bert", "enc_p.bert_proj."}, std::pair{"freeze_JP_bert", "enc_p.ja_bert_proj."},
                                    std::pair{"freeze_EN_bert", "enc_p.en_bert_proj."}}) {
    if (json_value(train, "train", key, false)) c.freeze.emplace_back(prefix);
  }
  for (const auto& prefix : json_value(train, "train", "freeze", std::vector<std::string>{})) c.freeze.push_back(prefix);
  return segment_samples;
}

/// Refuses `model` options chord does not build: they would change the architecture.
inline void refuse_unbuilt_model_options(const nlohmann::json& model, const std::string& name) {
  std::string unknown;
  for (const auto& [key, value] : model.items()) {
    if (!known_model_keys().count(key)) unknown += (unknown.empty() ? "" : ", ") + key;
  }
  CHORD_CHECK(unknown.empty(), name, ": model option(s) chord does not know: ", unknown, ". They would change the architecture; remove them or "
              "implement them (chord's Bert-VITS2 is config 2.3's SynthesizerTrn)");
  require_flag(model, "use_spk_conditioned_encoder", true, "the text encoder always takes the speaker embedding");
  require_flag(model, "use_mel_posterior_encoder", false, "the posterior encoder reads linear spectrograms");
  require_flag(model, "use_spectral_norm", false, "the multi-period discriminator uses weight norm");
  require_flag(model, "flow_share_parameter", false, "each coupling layer has its own transformer");
  require_flag(model, "use_sdp", true, "Bert-VITS2 2.3 always has the stochastic duration predictor");
}

/// `model`: the generator's sizes and its HiFi-GAN decoder, and the WavLM discriminator's `slm` part.
inline void read_model_section(VitsRunConfig& c, SynthesizerOptions& s, const nlohmann::json& model) {
  c.use_duration_discriminator = json_value(model, "model", "use_duration_discriminator", c.use_duration_discriminator);
  s.use_noise_scaled_mas(json_value(model, "model", "use_noise_scaled_mas", s.use_noise_scaled_mas()))
      .mas_noise_scale_initial(json_value(model, "model", "mas_noise_scale_initial", s.mas_noise_scale_initial()))
      .noise_scale_delta(json_value(model, "model", "noise_scale_delta", s.noise_scale_delta()))
      .inter_channels(json_value(model, "model", "inter_channels", s.inter_channels()))
      .hidden_channels(json_value(model, "model", "hidden_channels", s.hidden_channels()))
      .filter_channels(json_value(model, "model", "filter_channels", s.filter_channels()))
      .n_heads(json_value(model, "model", "n_heads", s.n_heads()))
      .n_layers(json_value(model, "model", "n_layers", s.n_layers()))
      .kernel_size(json_value(model, "model", "kernel_size", s.kernel_size()))
      .p_dropout(json_value(model, "model", "p_dropout", s.p_dropout()))
      .gin_channels(json_value(model, "model", "gin_channels", s.gin_channels()))
      .n_flow_layer(json_value(model, "model", "n_flow_layer", s.n_flow_layer()))
      .n_layers_trans_flow(json_value(model, "model", "n_layers_trans_flow", s.n_layers_trans_flow()))
      .use_transformer_flow(json_value(model, "model", "use_transformer_flow", s.use_transformer_flow()));
  if (model.contains("n_layers_q")) c.ignored.push_back("model.n_layers_q (SynthesizerTrn 2.3 does not read it)");
  auto decoder = s.decoder();
  decoder.initial_channel(s.inter_channels())
      .gin_channels(s.gin_channels())
      .resblock(json_value(model, "model", "resblock", decoder.resblock()))
      .resblock_kernel_sizes(json_value(model, "model", "resblock_kernel_sizes", decoder.resblock_kernel_sizes()))
      .resblock_dilation_sizes(json_value(model, "model", "resblock_dilation_sizes", decoder.resblock_dilation_sizes()))
      .upsample_rates(json_value(model, "model", "upsample_rates", decoder.upsample_rates()))
      .upsample_initial_channel(json_value(model, "model", "upsample_initial_channel", decoder.upsample_initial_channel()))
      .upsample_kernel_sizes(json_value(model, "model", "upsample_kernel_sizes", decoder.upsample_kernel_sizes()));
  s.decoder(decoder);
  if (model.contains("slm")) {
    const auto& slm = model["slm"];
    c.slm_hidden = json_value(slm, "model.slm", "hidden", c.slm_hidden);
    c.slm_layers = json_value(slm, "model.slm", "nlayers", c.slm_layers);
    c.slm_initial_channel = json_value(slm, "model.slm", "initial_channel", c.slm_initial_channel);
    c.slm_sample_rate = json_value(slm, "model.slm", "sr", c.slm_sample_rate);
    if (slm.contains("model")) c.ignored.push_back("model.slm.model (give the WavLM weights with --wavlm-weights)");
  }
}

}  // namespace detail

/// Reads a Bert-VITS2 config (already parsed; `name` goes into messages). The base is the `chord.preset`
/// the config names, else `preset` (v2.3); every key present overrides it.
inline VitsRunConfig vits_config_from_json(const nlohmann::json& config, const std::string& name, const std::string& preset = "v2.3") {
  CHORD_CHECK(config.is_object(), name, ": a JSON object with train, data and model sections expected");
  std::string base = preset;
  if (config.contains("chord") && config["chord"].contains("preset")) base = config["chord"]["preset"].get<std::string>();
  auto c = VitsRunConfig::from_preset(base);
  const auto empty = nlohmann::json::object();
  const auto& train = config.contains("train") ? config["train"] : empty;
  const auto& data = config.contains("data") ? config["data"] : empty;
  const auto& model = config.contains("model") ? config["model"] : empty;

  auto s = c.synthesizer;
  const auto spectrogram = detail::read_spectrogram(data, s.spectrogram(), name);
  const int64_t n_speakers = detail::read_data_section(c, config, data, name);
  const int64_t segment_samples = detail::read_train_section(c, s, train, spectrogram.hop_length, name);
  detail::refuse_unbuilt_model_options(model, name);
  detail::read_model_section(c, s, model);
  s.n_speakers(n_speakers).spectrogram(spectrogram).spec_channels(spectrogram.n_freqs()).segment_frames(segment_samples / spectrogram.hop_length);
  try {
    s.validate();
  } catch (const Error& error) {
    CHORD_FAIL(name, ": ", error.what());
  }
  c.synthesizer = s;
  return c;
}

/// Reads a config.json file.
inline VitsRunConfig read_vits_config(const std::filesystem::path& path, const std::string& preset = "v2.3") {
  std::ifstream in(path);
  CHORD_CHECK(in, "cannot open config '", path.string(), "'");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    CHORD_FAIL("config '", path.string(), "': ", error.what());
  }
  return vits_config_from_json(config, "config '" + path.string() + "'", preset);
}

/// The config in the reference's format (plus `chord.preset`), as a run folder keeps it.
inline nlohmann::json vits_config_to_json(const VitsRunConfig& c) {
  const auto& s = c.synthesizer;
  const auto& sp = s.spectrogram();
  const auto& d = s.decoder();
  nlohmann::json spk2id = nlohmann::json::object();
  for (const auto& [speaker, id] : c.speakers) spk2id[speaker] = id;
  nlohmann::json j;
  j["train"] = {{"log_interval", c.log_interval}, {"eval_interval", c.eval_interval}, {"seed", c.seed},
                {"learning_rate", c.learning_rate}, {"betas", c.betas}, {"eps", c.eps}, {"batch_size", c.batch_size},
                {"bf16_run", c.bf16_run}, {"lr_decay", c.lr_decay}, {"segment_size", s.segment_samples()}, {"c_mel", s.c_mel()},
                {"c_kl", s.c_kl()}, {"freeze", c.freeze}};
  j["data"] = {{"training_files", c.training_files}, {"validation_files", c.validation_files}, {"max_wav_value", 32768.0},
               {"sampling_rate", sp.sampling_rate}, {"filter_length", sp.filter_length}, {"hop_length", sp.hop_length},
               {"win_length", sp.win_length}, {"n_mel_channels", sp.n_mel_channels}, {"mel_fmin", sp.mel_fmin},
               {"mel_fmax", sp.mel_fmax ? nlohmann::json(*sp.mel_fmax) : nlohmann::json(nullptr)}, {"add_blank", c.add_blank},
               {"n_speakers", s.n_speakers()}, {"cleaned_text", true}, {"min_text_len", c.min_text_len},
               {"max_text_len", c.max_text_len}, {"spk2id", spk2id}};
  j["model"] = {{"use_spk_conditioned_encoder", true}, {"use_noise_scaled_mas", s.use_noise_scaled_mas()},
                {"mas_noise_scale_initial", s.mas_noise_scale_initial()}, {"noise_scale_delta", s.noise_scale_delta()},
                {"use_mel_posterior_encoder", false}, {"use_duration_discriminator", c.use_duration_discriminator},
                {"inter_channels", s.inter_channels()}, {"hidden_channels", s.hidden_channels()},
                {"filter_channels", s.filter_channels()}, {"n_heads", s.n_heads()}, {"n_layers", s.n_layers()},
                {"kernel_size", s.kernel_size()}, {"p_dropout", s.p_dropout()}, {"resblock", d.resblock()},
                {"resblock_kernel_sizes", d.resblock_kernel_sizes()}, {"resblock_dilation_sizes", d.resblock_dilation_sizes()},
                {"upsample_rates", d.upsample_rates()}, {"upsample_initial_channel", d.upsample_initial_channel()},
                {"upsample_kernel_sizes", d.upsample_kernel_sizes()}, {"use_spectral_norm", false},
                {"gin_channels", s.gin_channels()}, {"n_flow_layer", s.n_flow_layer()},
                {"n_layers_trans_flow", s.n_layers_trans_flow()}, {"use_transformer_flow", s.use_transformer_flow()},
                {"slm", {{"sr", c.slm_sample_rate}, {"hidden", c.slm_hidden}, {"nlayers", c.slm_layers},
                         {"initial_channel", c.slm_initial_channel}}}};
  j["chord"] = {{"preset", c.preset}};
  j["version"] = "2.3";
  return j;
}

/// Speaker name or id → embedding row: a name of the map, or a number below n_speakers.
inline int64_t resolve_speaker(const std::string& speaker, const SpeakerMap& speakers, int64_t n_speakers) {
  if (auto it = speakers.find(speaker); it != speakers.end()) return it->second;
  int64_t id = -1;
  const auto [end, error] = std::from_chars(speaker.data(), speaker.data() + speaker.size(), id);
  std::string names;
  for (const auto& [name, value] : speakers) names += (names.empty() ? "" : ", ") + name;
  CHORD_CHECK(error == std::errc() && end == speaker.data() + speaker.size(), "--speaker '", speaker,
              "' is neither a speaker of the config (", names.empty() ? std::string("none") : names, ") nor an id");
  CHORD_CHECK(id >= 0 && id < n_speakers, "--speaker ", id, " is outside [0, ", n_speakers, ")");
  return id;
}

}  // namespace chord::systems::bert_vits2
