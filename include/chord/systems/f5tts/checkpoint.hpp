#pragma once
/// @file
/// F5-TTS checkpoints: the backbone options a state dict implies, where a model's weights come from
/// (a `.safetensors` file, a trainer checkpoint or a run folder), the flags the weights cannot show
/// carried in metadata, and loading into a model with every difference spelled out.

#include "chord/core/error.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/io/tensor_map.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/f5_dit.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace chord::systems::f5tts {

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

/// The backbone flags the weights cannot show, as chord's trainer writes them into the metadata of its
/// exported weights (so inference needs no flag for them).
inline std::map<std::string, std::string> invisible_flags_metadata(const nn::F5DiTOptions& o) {
  return {{"text_mask_padding", o.text_mask_padding() ? "1" : "0"},
          {"pe_attn_head", o.pe_attn_head() ? std::to_string(*o.pe_attn_head()) : "all"},
          {"attn_mask_enabled", o.attn_mask_enabled() ? "1" : "0"},
          {"text_embedding_average_upsampling", o.text_embedding_average_upsampling() ? "1" : "0"}};
}

/// Applies invisible_flags_metadata() read back from a checkpoint's metadata (keys absent: left as they are).
/// A value other than the ones chord writes is refused by name (a metadata typo must not silently turn
/// a flag off).
inline void apply_invisible_flags(nn::F5DiTOptions& o, const std::map<std::string, std::string>& metadata) {
  auto flag = [&](const char* key) -> std::optional<bool> {
    auto found = metadata.find(key);
    if (found == metadata.end()) return std::nullopt;
    CHORD_CHECK(found->second == "0" || found->second == "1", "checkpoint metadata ", key, " = '", found->second,
                "' is not 0 or 1");
    return found->second == "1";
  };
  if (auto v = flag("text_mask_padding")) o.text_mask_padding(*v);
  if (auto v = flag("attn_mask_enabled")) o.attn_mask_enabled(*v);
  if (auto v = flag("text_embedding_average_upsampling")) o.text_embedding_average_upsampling(*v);
  if (auto found = metadata.find("pe_attn_head"); found != metadata.end()) {
    const std::string& text = found->second;
    if (text == "all") {
      o.pe_attn_head(std::nullopt);
    } else {
      int64_t heads = -1;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), heads);
      CHORD_CHECK(error == std::errc() && end == text.data() + text.size() && heads >= 0, "checkpoint metadata pe_attn_head = '",
                  text, "' is not 'all' or a number of heads");
      o.pe_attn_head(heads);
    }
  }
}

/// Everything a checkpoint file implies about the model: the backbone (see infer_options) and, for an
/// objective with a head of its own (DTM), the head's width and depth. Flags the weights cannot show
/// come from a `.safetensors` file's metadata where chord's trainer wrote them (see
/// invisible_flags_metadata), else keep their defaults; the DTM transitions of training always do.
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
  const bool file_has_head = std::any_of(renamed.begin(), renamed.end(), [](const auto& kv) { return kv.first.rfind("head.", 0) == 0; });
  CHORD_CHECK(!FlowModel<Spec>::Impl::has_head || file_has_head, "F5-TTS checkpoint '", path.string(), "' has no weights for the ",
              Spec::objective::name, " head: load it with CheckpointScope::backbone (the trainer's --init-backbone) "
              "and train the head");
  return io::load_state_dict(*model, renamed, options);
}

}  // namespace chord::systems::f5tts
