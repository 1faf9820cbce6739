#pragma once
/// @file
/// F5-TTS: flow-matching TTS on the DiT backbone with random-span infilling and joint CFG dropout.
/// The spec, the published presets, checkpoint loading, and the reference's inference helpers
/// (text front end, duration rule, chunking, cross-fade). Page: docs/systems/f5tts.md.

#include "chord/audio/mel.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/f5_dit.hpp"
#include "chord/policies/conditioning/f5_text_audio.hpp"
#include "chord/policies/guidance/joint_dropout.hpp"
#include "chord/policies/masking/random_span.hpp"
#include "chord/policies/objective/cond_flow_matching.hpp"
#include "chord/policies/sequence/native.hpp"
#include "chord/text/tokenizer.hpp"
#include "chord/text/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace chord::systems {

/// The F5-TTS system as the reference trains and samples it.
struct F5TTS {
  using backbone = nn::F5DiT;
  using conditioning = cond::F5TextAudio;
  using masking = mask::RandomSpan;
  using guidance = guide::JointDropout;
  using sequence = seq::Native;
  using objective = obj::CondFlowMatching<ode::Euler, grid::Sway<grid::Epss>>;
};

using F5TTSModel = FlowModel<F5TTS>;

namespace f5tts {

/// Named backbone sizes. The published ones match SWivid/F5-TTS `configs/*.yaml`.
enum class Preset { v1_base, base, v1_small, tiny };

inline const std::map<std::string, Preset>& preset_names() {
  static const std::map<std::string, Preset> names{{"F5TTS_v1_Base", Preset::v1_base},
                                                   {"F5TTS_Base", Preset::base},
                                                   {"F5TTS_v1_Small", Preset::v1_small},
                                                   {"tiny", Preset::tiny}};
  return names;
}

inline Preset parse_preset(const std::string& name) {
  auto found = preset_names().find(name);
  if (found != preset_names().end()) return found->second;
  std::string known;
  for (const auto& [n, p] : preset_names()) known += (known.empty() ? "" : ", ") + n;
  CHORD_FAIL("unknown F5-TTS preset '", name, "' (known: ", known, ")");
}

/// Backbone options of a preset for a vocabulary of `vocab_size` tokens (2545 for the released
/// Emilia pinyin models).
inline nn::F5DiTOptions preset_options(Preset preset, int64_t vocab_size) {
  switch (preset) {
    case Preset::v1_base:  // dim 1024, depth 22, heads 16, ff 2, text 512, conv 4; 337 M parameters
      return nn::F5DiTOptions(1024, 22, 16).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size);
    case Preset::base:  // v0: no text-padding mask, RoPE on the first head only
      return nn::F5DiTOptions(1024, 22, 16).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size)
          .text_mask_padding(false).pe_attn_head(1);
    case Preset::v1_small:  // dim 768, depth 18, heads 12; 159 M parameters
      return nn::F5DiTOptions(768, 18, 12).ff_mult(2).text_dim(512).conv_layers(4).text_num_embeds(vocab_size);
    case Preset::tiny:  // for tests and the CPU demo: ~2 M parameters
      return nn::F5DiTOptions(128, 4, 2).ff_mult(2).text_dim(64).conv_layers(2).text_num_embeds(vocab_size);
  }
  CHORD_FAIL("unhandled preset");
}

/// Model options for a preset with the reference's policy defaults.
inline FlowModelOptions<F5TTS> model_options(Preset preset, int64_t vocab_size) {
  return FlowModelOptions<F5TTS>(preset_options(preset, vocab_size));
}

/// The backbone hyperparameters a state dict implies (keys `transformer.*`). The head width shows in
/// the RoPE buffer `rotary_embed.inv_freq` (dim_head / 2 entries) or in the q/k RMSNorm weights; a
/// state dict with neither shows only heads × dim_head, so `configured`'s dim_head is taken (64 without
/// one) and the heads follow. Flags the weights never show — `text_mask_padding`, `pe_attn_head` (v0
/// vs v1), `attn_mask_enabled`, `text_embedding_average_upsampling` — are `configured`'s (v1 defaults
/// without one).
inline nn::F5DiTOptions infer_options(const io::TensorMap& sd, const std::optional<nn::F5DiTOptions>& configured = std::nullopt) {
  auto need = [&](const std::string& key) -> const torch::Tensor& {
    auto found = sd.find(key);
    CHORD_CHECK(found != sd.end(), "not an F5-TTS DiT state dict: no '", key, "'");
    return found->second;
  };
  const int64_t dim = need("transformer.time_embed.time_mlp.2.weight").size(0);
  int64_t depth = 0, conv_layers = 0;
  while (sd.count("transformer.transformer_blocks." + std::to_string(depth) + ".attn.to_q.weight")) ++depth;
  while (sd.count("transformer.text_embed.text_blocks." + std::to_string(conv_layers) + ".dwconv.weight")) ++conv_layers;
  const auto& embedding = need("transformer.text_embed.text_embed.weight");
  const int64_t inner = need("transformer.transformer_blocks.0.attn.to_q.weight").size(0);
  const bool qk_norm = sd.count("transformer.transformer_blocks.0.attn.q_norm.weight") > 0;
  int64_t dim_head = configured ? configured->dim_head() : 64;
  if (auto rotary = sd.find("transformer.rotary_embed.inv_freq"); rotary != sd.end()) {
    dim_head = 2 * rotary->second.size(0);
  } else if (qk_norm) {
    dim_head = sd.at("transformer.transformer_blocks.0.attn.q_norm.weight").size(0);
  }
  CHORD_CHECK(dim_head > 0 && inner % dim_head == 0, "F5-TTS state dict: attention width ", inner, " is not a multiple of the head width ",
              dim_head, configured ? " (the configured dim_head; the weights do not show it)" : "");
  const int64_t ff_inner = need("transformer.transformer_blocks.0.ff.ff.0.0.weight").size(0);
  auto options = configured.value_or(nn::F5DiTOptions(dim, depth, inner / dim_head));
  return options.dim(dim)
      .depth(depth)
      .heads(inner / dim_head)
      .dim_head(dim_head)
      .ff_mult(ff_inner / dim)
      .text_dim(embedding.size(1))
      .text_num_embeds(embedding.size(0) - 1)
      .conv_layers(conv_layers)
      .mel_dim(need("transformer.proj_out.weight").size(0))
      .qk_norm(qk_norm)
      .long_skip_connection(sd.count("transformer.long_skip_connection.weight") > 0);
}

/// Whether a state dict shows the head width (see infer_options).
inline bool shows_head_width(const io::TensorMap& sd) {
  return sd.count("transformer.rotary_embed.inv_freq") > 0 || sd.count("transformer.transformer_blocks.0.attn.q_norm.weight") > 0;
}

/// Human-readable differences between two backbone configurations (empty when they agree on
/// everything a state dict can show).
inline std::string describe_mismatch(const nn::F5DiTOptions& configured, const nn::F5DiTOptions& found) {
  std::ostringstream out;
  auto compare = [&](const char* what, int64_t a, int64_t b) {
    if (a != b) out << (out.tellp() > 0 ? ", " : "") << what << " " << a << " vs checkpoint " << b;
  };
  compare("dim", configured.dim(), found.dim());
  compare("depth", configured.depth(), found.depth());
  compare("heads", configured.heads(), found.heads());
  compare("dim_head", configured.dim_head(), found.dim_head());
  compare("ff_mult", configured.ff_mult(), found.ff_mult());
  compare("text_dim", configured.resolved_text_dim(), found.resolved_text_dim());
  compare("vocab", configured.text_num_embeds(), found.text_num_embeds());
  compare("conv_layers", configured.conv_layers(), found.conv_layers());
  compare("mel_dim", configured.mel_dim(), found.mel_dim());
  compare("qk_norm", configured.qk_norm(), found.qk_norm());
  compare("long_skip_connection", configured.long_skip_connection(), found.long_skip_connection());
  return out.str();
}

/// Where a model's weights come from: a `.safetensors` file (a published checkpoint or a trainer's
/// `model_ema.safetensors`), a chord trainer checkpoint (`checkpoints/checkpoint_<step>.pt`, its EMA
/// weights), or a run folder (its `model_ema.safetensors`, else its newest complete checkpoint).
/// Returns the file to read.
inline std::filesystem::path resolve_checkpoint(const std::filesystem::path& path) {
  CHORD_CHECK(std::filesystem::exists(path), "F5-TTS checkpoint '", path.string(),
              "' not found. The published weights are hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors "
              "(with vocab.txt from the same repository); pass the downloaded file, a trainer checkpoint or a run folder.");
  if (!std::filesystem::is_directory(path)) return path;
  if (std::filesystem::exists(path / "model_ema.safetensors")) return path / "model_ema.safetensors";
  io::CheckpointManager checkpoints(path / "checkpoints");
  auto entries = checkpoints.list();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (io::CheckpointManager::is_complete(it->path)) return it->path;
  }
  CHORD_FAIL("'", path.string(), "' is a folder with neither model_ema.safetensors nor a complete checkpoint in checkpoints/");
}

/// The vocabulary file that belongs with a checkpoint: `vocab.txt` in its run folder (the folder
/// itself, or the one holding `checkpoints/`), if there is one.
inline std::optional<std::filesystem::path> vocab_beside(const std::filesystem::path& checkpoint) {
  const auto folder = std::filesystem::is_directory(checkpoint) ? checkpoint : checkpoint.parent_path();
  for (const auto& candidate : {folder / "vocab.txt", folder.parent_path() / "vocab.txt"}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return std::nullopt;
}

namespace detail {
/// The `transformer.*` tensors of a checkpoint (EMA prefix and legacy buffers removed); see
/// resolve_checkpoint() for what `path` may be.
inline io::TensorMap checkpoint_tensors(const std::filesystem::path& given) {
  const auto path = resolve_checkpoint(given);
  if (path.extension() == ".pt") {
    // A chord trainer checkpoint: the weights of the module "model", with the EMA's averages.
    return io::read_trainer_weights(path, "model").tensors;
  }
  CHORD_CHECK(path.extension() == ".safetensors", "F5-TTS checkpoint '", path.string(),
              "': give a .safetensors file, a chord trainer checkpoint (.pt) or a run folder; a .pt from the reference's "
              "own training converts with scripts/convert_f5tts_checkpoint.py");
  auto tensors = io::SafetensorsReader(path).tensors(/*copy=*/false);
  io::TensorMap renamed;
  const bool ema = tensors.count("ema_model.transformer.proj_out.weight") > 0;
  for (auto& [key, tensor] : tensors) {
    std::string name = key;
    if (ema) {
      if (name.rfind("ema_model.", 0) != 0) continue;  // "initted", "step"
      name = name.substr(10);
    }
    if (name.rfind("mel_spec.", 0) == 0) continue;  // legacy filterbank / window buffers
    renamed.emplace(std::move(name), tensor);
  }
  return renamed;
}
}  // namespace detail

/// The backbone options a checkpoint file implies (see infer_options), without loading it.
inline nn::F5DiTOptions read_checkpoint_options(const std::filesystem::path& path) {
  return infer_options(detail::checkpoint_tensors(path));
}

/// Everything a checkpoint file implies about the model: the backbone (see infer_options) and, for an
/// objective with a head of its own (DTM), the head's width and depth. Flags the weights cannot show
/// (v0's text padding, the DTM transitions of training) keep their defaults.
/// The backbone flags the weights cannot show, as chord's trainer writes them into the metadata of its
/// exported weights (so inference needs no flag for them).
inline std::map<std::string, std::string> invisible_flags_metadata(const nn::F5DiTOptions& o) {
  return {{"text_mask_padding", o.text_mask_padding() ? "1" : "0"},
          {"pe_attn_head", o.pe_attn_head() ? std::to_string(*o.pe_attn_head()) : "all"},
          {"attn_mask_enabled", o.attn_mask_enabled() ? "1" : "0"},
          {"text_embedding_average_upsampling", o.text_embedding_average_upsampling() ? "1" : "0"}};
}

/// Applies invisible_flags_metadata() read back from a checkpoint's metadata (keys absent: left as they are).
inline void apply_invisible_flags(nn::F5DiTOptions& o, const std::map<std::string, std::string>& metadata) {
  auto flag = [&](const char* key) -> std::optional<bool> {
    auto found = metadata.find(key);
    if (found == metadata.end()) return std::nullopt;
    return found->second == "1";
  };
  if (auto v = flag("text_mask_padding")) o.text_mask_padding(*v);
  if (auto v = flag("attn_mask_enabled")) o.attn_mask_enabled(*v);
  if (auto v = flag("text_embedding_average_upsampling")) o.text_embedding_average_upsampling(*v);
  if (auto found = metadata.find("pe_attn_head"); found != metadata.end()) {
    o.pe_attn_head(found->second == "all" ? std::nullopt : std::optional<int64_t>(std::stoll(found->second)));
  }
}

template <class Spec>
FlowModelOptions<Spec> read_model_options(const std::filesystem::path& path) {
  const auto tensors = detail::checkpoint_tensors(path);
  FlowModelOptions<Spec> options(infer_options(tensors));
  if (const auto file = resolve_checkpoint(path); file.extension() == ".safetensors") {
    apply_invisible_flags(options.backbone, io::SafetensorsReader(file).metadata());
  }
  if constexpr (requires { options.objective.head_width; options.objective.head_depth; }) {
    const auto input = tensors.find("head.input_proj.weight");
    if (input != tensors.end()) {
      options.objective.head_width = input->second.size(0);
      int64_t depth = 0;
      while (tensors.count("head.res_blocks." + std::to_string(depth) + ".mlp_in.weight")) ++depth;
      options.objective.head_depth = depth;
    }
  }
  return options;
}

/// What load_checkpoint() fills: the whole model, or only the backbone (`transformer.*`), e.g. to start
/// a DTM model — whose head a published F5-TTS checkpoint does not have — from published weights.
enum class CheckpointScope { model, backbone };

/// Loads an F5-TTS checkpoint (`.safetensors`: the released EMA dict with `ema_model.` keys, or a
/// plain `transformer.*` state dict) into `model`, strictly. A checkpoint for another size, vocabulary
/// or mel configuration is refused with the differences spelled out; nothing is loaded then.
template <class Spec>
io::LoadReport load_checkpoint(FlowModel<Spec>& model, const std::filesystem::path& path,
                               CheckpointScope scope = CheckpointScope::model) {
  auto renamed = detail::checkpoint_tensors(path);
  const auto found = infer_options(renamed, model->options.backbone);
  const auto differences = describe_mismatch(model->options.backbone, found);
  CHORD_CHECK(differences.empty(), "F5-TTS checkpoint '", path.string(), "' does not fit the configured model: ",
              differences, shows_head_width(renamed) ? "" : " (the checkpoint does not show dim_head: the configured one was assumed)",
              ". Pick the matching preset (F5TTS_v1_Base, F5TTS_Base, F5TTS_v1_Small) and the vocab file the checkpoint was trained with.");
  io::LoadOptions options;
  options.source_name = "F5-TTS checkpoint '" + path.string() + "'";
  if (scope == CheckpointScope::backbone) {
    io::TensorMap backbone;
    for (auto& [key, tensor] : renamed) {
      if (key.rfind("transformer.", 0) == 0) backbone.emplace(key.substr(12), tensor);
    }
    return io::load_state_dict(*model->backbone, backbone, options);
  }
  const bool has_head = std::any_of(renamed.begin(), renamed.end(), [](const auto& kv) { return kv.first.rfind("head.", 0) == 0; });
  CHORD_CHECK(!model->head || has_head, "F5-TTS checkpoint '", path.string(), "' has no weights for the ",
              Spec::objective::name, " head: load it with CheckpointScope::backbone (the trainer's --init-backbone) "
              "and train the head");
  return io::load_state_dict(*model, renamed, options);
}

/// The reference's text front end for alphabetic scripts (`convert_char_to_pinyin` without the
/// Chinese branch): `;` → `,`, curly quotes → straight, and a space inserted before a multi-character
/// word that directly follows punctuation. Chinese needs pinyin tokens, which chord does not produce:
/// convert with the Python front end and pass the tokens to VocabTokenizer::encode_tokens.
inline std::vector<std::string> text_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::vector<std::string> chars;
  for (auto& c : text::utf8_characters(text)) {
    if (c == ";") c = ",";
    else if (c == "\xE2\x80\x9C" || c == "\xE2\x80\x9D") c = "\"";
    else if (c == "\xE2\x80\x98" || c == "\xE2\x80\x99") c = "'";
    chars.push_back(std::move(c));
  }
  auto is_word_char = [](const std::string& c) {
    return c.size() == 1 && (std::isalnum(static_cast<unsigned char>(c[0])) != 0);
  };
  for (size_t i = 0; i < chars.size();) {
    if (is_word_char(chars[i])) {
      size_t j = i;
      while (j < chars.size() && is_word_char(chars[j])) ++j;
      if (j - i > 1 && !out.empty() && std::string(" :'\"").find(out.back()) == std::string::npos) out.push_back(" ");
      for (size_t k = i; k < j; ++k) out.push_back(chars[k]);
      i = j;
    } else {
      out.push_back(chars[i++]);
    }
  }
  return out;
}

/// Token ids `[B, max_len]` (padded with -1) of texts through the F5-TTS front end.
inline torch::Tensor text_ids(const text::VocabTokenizer& vocab, const std::vector<std::string>& texts) {
  std::vector<std::vector<int64_t>> ids;
  ids.reserve(texts.size());
  for (const auto& t : texts) ids.push_back(vocab.encode_tokens(text_tokens(t)));
  return text::pad_ids(ids);
}

/// The characters of `texts` the vocabulary lacks, spaces aside: the model reads each as a space.
inline std::vector<std::string> unknown_characters(const text::VocabTokenizer& vocab, const std::vector<std::string>& texts) {
  std::vector<std::string> tokens;
  for (const auto& t : texts) {
    for (auto& token : text_tokens(t)) tokens.push_back(std::move(token));
  }
  return vocab.unknown(tokens);
}

/// Makes a reference transcript end like the reference's preprocessing does: with ". " (or "。").
/// A blank transcript is refused: the reference would turn it into ". " and the duration rule would
/// then read the whole prompt as one character (25 s of output for "Hello there.").
inline std::string normalize_reference_text(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
  CHORD_CHECK(!text.empty(), "the reference text is empty: F5-TTS needs the transcript of the reference audio "
              "(the reference implementation would transcribe it with Whisper; chord does not)");
  const bool cjk_stop = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xE3\x80\x82") == 0;
  if (cjk_stop) return text;
  if (!text.empty() && text.back() == '.') return text + " ";
  return text + ". ";
}

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

/// Splits long text into chunks of at most `max_bytes` UTF-8 bytes at sentence punctuation
/// (`;:,.!?` followed by whitespace, or the full-width `；：，。！？`), as the reference's `chunk_text`.
inline std::vector<std::string> chunk_text(const std::string& text, size_t max_bytes = 135) {
  std::vector<std::string> sentences;
  std::string current;
  const auto chars = text::utf8_characters(text);
  const std::vector<std::string> wide{"\xEF\xBC\x9B", "\xEF\xBC\x9A", "\xEF\xBC\x8C", "\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"};
  for (size_t i = 0; i < chars.size(); ++i) {
    current += chars[i];
    const bool ascii_stop = chars[i].size() == 1 && std::string(";:,.!?").find(chars[i][0]) != std::string::npos;
    const bool next_space = i + 1 < chars.size() && chars[i + 1].size() == 1 && std::isspace(static_cast<unsigned char>(chars[i + 1][0]));
    if (ascii_stop && next_space) {
      sentences.push_back(current);
      current.clear();
      while (i + 1 < chars.size() && chars[i + 1].size() == 1 && std::isspace(static_cast<unsigned char>(chars[i + 1][0]))) ++i;
    } else if (std::find(wide.begin(), wide.end(), chars[i]) != wide.end()) {
      sentences.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) sentences.push_back(current);

  std::vector<std::string> chunks;
  std::string chunk;
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t\n");
    const auto e = s.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  for (const auto& sentence : sentences) {
    if (sentence.empty()) continue;
    const bool single_byte_end = static_cast<unsigned char>(sentence.back()) < 0x80;
    const std::string piece = single_byte_end ? sentence + " " : sentence;
    if (chunk.size() + sentence.size() <= max_bytes) {
      chunk += piece;
    } else {
      if (!chunk.empty()) chunks.push_back(trim(chunk));
      chunk = piece;
    }
  }
  if (!chunk.empty()) chunks.push_back(trim(chunk));
  return chunks;
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

}  // namespace f5tts
}  // namespace chord::systems
