#pragma once
/// @file
/// Stable Audio DiT options from a stable-audio-tools model config, and the checks a checkpoint's keys
/// allow. Every option chord implements is read; every other one — a value chord would silently
/// compute differently — is refused by name, from the config or from the state dict.
///
/// stable_audio_dit_options reads the `"config"` object of a `"diffusion"` model in stable-audio-tools'
/// `model_config.json` (e.g. Stable Audio Open's): `DiffusionTransformer` arguments plus the
/// `ContinuousTransformer` / `TransformerBlock` keyword arguments it forwards. Give a whole
/// `model_config.json` to stable_audio_model_dit_options, which also checks the diffusion objective.

#include "chord/core/error.hpp"
#include "chord/io/tensor_map.hpp"
#include "chord/nn/stable_audio_dit.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace chord::nn {

namespace detail {
/// `value` must equal `expected` (the reference's default, which chord implements); otherwise the
/// option is named in the refusal.
inline void require_reference_default(const nlohmann::json& config, const std::string& key, const nlohmann::json& expected,
                                      const std::string& why) {
  if (!config.contains(key) || config.at(key).is_null() || config.at(key) == expected) return;
  CHORD_FAIL("stable-audio config: ", key, " = ", config.at(key).dump(), " is not supported (", why, ")");
}
}  // namespace detail

namespace detail {
/// Every option chord reads, and the refusals of those it does not implement (at any value but the
/// reference's default).
inline void refuse_unsupported_dit_options(const nlohmann::json& config) {
  static const std::set<std::string> known{
      "io_channels", "patch_size", "embed_dim", "cond_token_dim", "project_cond_tokens", "global_cond_dim", "project_global_cond",
      "input_concat_dim", "prepend_cond_dim", "depth", "num_heads", "transformer_type", "global_cond_type", "timestep_cond_type",
      "timestep_embed_dim", "diffusion_objective", "attn_kwargs", "ff_kwargs", "norm_kwargs", "num_memory_tokens",
      "rotary_pos_emb", "conformer", "layer_scale", "use_sinusoidal_emb", "use_abs_pos_emb", "abs_pos_emb_max_length",
      "remove_norms", "add_rope", "final_cross_attn_ix", "causal", "sliding_window", "zero_init_branch_outputs", "dim_heads"};
  for (const auto& [key, value] : config.items()) {
    CHORD_CHECK(known.count(key), "stable-audio config: unknown option '", key, "' (chord reads the DiffusionTransformer and "
                "ContinuousTransformer arguments of stable-audio-tools 0.0.19)");
  }
  require_reference_default(config, "transformer_type", "continuous_transformer", "only the continuous transformer is implemented");
  require_reference_default(config, "rotary_pos_emb", true, "chord always uses the rotary position embedding");
  require_reference_default(config, "conformer", false, "no conformer blocks");
  require_reference_default(config, "layer_scale", false, "no layer scale");
  require_reference_default(config, "use_sinusoidal_emb", false, "no sinusoidal position embedding");
  require_reference_default(config, "use_abs_pos_emb", false, "no absolute position embedding");
  require_reference_default(config, "remove_norms", false, "the DynamicTanh block norms are not implemented");
  require_reference_default(config, "add_rope", false, "no per-block rotary embedding");
  require_reference_default(config, "final_cross_attn_ix", -1, "every block cross-attends");
  require_reference_default(config, "causal", false, "the DiT is not causal");
  require_reference_default(config, "zero_init_branch_outputs", true, "only the zero-initialised branch outputs are built");
  // The DiT reads the objective only for its guidance interval (sigma = sin(t pi/2) under "v"), but a
  // checkpoint that states one was trained for it: chord samples these DiTs by rectified flow.
  require_reference_default(config, "diffusion_objective", "rectified_flow",
                            "chord samples the Stable Audio DiT by rectified flow; a \"v\" or \"rf_denoiser\" model "
                            "would be sampled with the wrong parameterisation");
  if (config.contains("sliding_window") && !config.at("sliding_window").is_null()) {
    CHORD_FAIL("stable-audio config: sliding_window = ", config.at("sliding_window").dump(), " is not supported (full attention only)");
  }
  if (config.contains("norm_kwargs") && !config.at("norm_kwargs").is_null() && !config.at("norm_kwargs").empty()) {
    CHORD_FAIL("stable-audio config: norm_kwargs = ", config.at("norm_kwargs").dump(), " is not supported (the reference's LayerNorm only)");
  }
}

/// `attn_kwargs` (the q/k normalisation; the switches chord implements only off) and `ff_kwargs` (the
/// SwiGLU width) into `o`.
inline void read_block_kwargs(const nlohmann::json& config, StableAudioDiTOptions& o) {
  if (config.contains("attn_kwargs") && !config.at("attn_kwargs").is_null()) {
    for (const auto& [key, value] : config.at("attn_kwargs").items()) {
      if (key == "qk_norm") {
        const auto kind = value.is_string() ? value.get<std::string>() : value.dump();
        if (kind == "none") o.qk_norm(QkNorm::none);
        else if (kind == "l2") o.qk_norm(QkNorm::l2);
        else if (kind == "ln") o.qk_norm(QkNorm::layer_norm);
        else if (kind == "dyt") o.qk_norm(QkNorm::dynamic_tanh);
        else CHORD_FAIL("stable-audio config: attn_kwargs.qk_norm = ", value.dump(), " is not one of none, l2, ln, dyt");
      } else if ((key == "differential" || key == "feat_scale" || key == "causal") && value == false) {
        continue;
      } else {
        CHORD_FAIL("stable-audio config: attn_kwargs.", key, " = ", value.dump(), " is not supported");
      }
    }
  }
  if (config.contains("ff_kwargs") && !config.at("ff_kwargs").is_null()) {
    for (const auto& [key, value] : config.at("ff_kwargs").items()) {
      if (key == "mult") {
        CHORD_CHECK(value.is_number(), "stable-audio config: ff_kwargs.mult must be a number");
        o.ff_mult(value.get<double>());
      } else if ((key == "glu" && value == true) || ((key == "no_bias" || key == "use_conv") && value == false) || key == "conv_kernel_size") {
        continue;
      } else {
        CHORD_FAIL("stable-audio config: ff_kwargs.", key, " = ", value.dump(), " is not supported (SwiGLU with biases only)");
      }
    }
  }
}
}  // namespace detail

/// The DiT options of a stable-audio-tools diffusion config; unsupported options are refused by name.
inline StableAudioDiTOptions stable_audio_dit_options(const nlohmann::json& config) {
  CHORD_CHECK(config.is_object(), "stable-audio config: an object of DiffusionTransformer arguments expected");
  auto integer = [&](const char* key, int64_t fallback) {
    if (!config.contains(key) || config.at(key).is_null()) return fallback;
    CHORD_CHECK(config.at(key).is_number_integer(), "stable-audio config: ", key, " must be an integer, got ", config.at(key).dump());
    return config.at(key).get<int64_t>();
  };
  auto boolean = [&](const char* key, bool fallback) {
    if (!config.contains(key) || config.at(key).is_null()) return fallback;
    CHORD_CHECK(config.at(key).is_boolean(), "stable-audio config: ", key, " must be true or false, got ", config.at(key).dump());
    return config.at(key).get<bool>();
  };
  auto text = [&](const char* key, const std::string& fallback) {
    if (!config.contains(key) || config.at(key).is_null()) return fallback;
    CHORD_CHECK(config.at(key).is_string(), "stable-audio config: ", key, " must be a string, got ", config.at(key).dump());
    return config.at(key).get<std::string>();
  };
  detail::refuse_unsupported_dit_options(config);

  StableAudioDiTOptions o(integer("embed_dim", 768), integer("depth", 12), integer("num_heads", 8));
  o.io_channels(integer("io_channels", 32))
      .patch_size(integer("patch_size", 1))
      .cond_token_dim(integer("cond_token_dim", 0))
      .project_cond_tokens(boolean("project_cond_tokens", true))
      .global_cond_dim(integer("global_cond_dim", 0))
      .project_global_cond(boolean("project_global_cond", true))
      .input_concat_dim(integer("input_concat_dim", 0))
      .prepend_cond_dim(integer("prepend_cond_dim", 0))
      .num_memory_tokens(integer("num_memory_tokens", 0));
  if (config.contains("dim_heads")) {
    CHORD_CHECK(integer("dim_heads", 0) == o.embed_dim() / o.num_heads(), "stable-audio config: dim_heads = ", config.at("dim_heads").dump(),
                " differs from embed_dim / num_heads = ", o.embed_dim() / o.num_heads(), ", which the DiT passes");
  }
  const auto global_type = text("global_cond_type", "prepend");
  CHORD_CHECK(global_type == "prepend" || global_type == "adaLN", "stable-audio config: global_cond_type = \"", global_type,
              "\" is not one of \"prepend\", \"adaLN\"");
  o.global_cond_type(global_type == "adaLN" ? GlobalCondition::adaptive_layer_norm : GlobalCondition::prepend);
  const auto timestep_type = text("timestep_cond_type", "global");
  CHORD_CHECK(timestep_type == "global" || timestep_type == "input_concat", "stable-audio config: timestep_cond_type = \"",
              timestep_type, "\" is not one of \"global\", \"input_concat\"");
  o.timestep_cond_type(timestep_type == "input_concat" ? TimestepCondition::input_concat : TimestepCondition::global);
  o.timestep_embed_dim(integer("timestep_embed_dim", 0));

  detail::read_block_kwargs(config, o);
  o.validate();
  return o;
}

/// The DiT options of a whole stable-audio-tools `model_config.json` (`"model_type": "diffusion_cond"`,
/// the DiT under `model.diffusion`). The objective is read where stable-audio-tools reads it, from
/// `model.diffusion.diffusion_objective`, whose default is "v" (Stable Audio Open 1.0 states none):
/// such a model is refused, since chord would sample it by rectified flow.
inline StableAudioDiTOptions stable_audio_model_dit_options(const nlohmann::json& model_config) {
  CHORD_CHECK(model_config.is_object(), "stable-audio model config: a JSON object expected");
  const auto model_type = model_config.value("model_type", std::string{});
  CHORD_CHECK(model_type == "diffusion_cond", "stable-audio model config: model_type = \"", model_type,
              "\" is not supported (chord reads \"diffusion_cond\" models)");
  CHORD_CHECK(model_config.contains("model") && model_config.at("model").is_object() && model_config.at("model").contains("diffusion") &&
                  model_config.at("model").at("diffusion").is_object(),
              "stable-audio model config: no model.diffusion object");
  const auto& diffusion = model_config.at("model").at("diffusion");
  const auto type = diffusion.value("type", std::string{});
  CHORD_CHECK(type == "dit", "stable-audio model config: model.diffusion.type = \"", type, "\" is not supported (the DiT only)");
  const auto& objective = diffusion.contains("diffusion_objective") ? diffusion.at("diffusion_objective") : nlohmann::json("v");
  CHORD_CHECK(objective == "rectified_flow", "stable-audio model config: model.diffusion.diffusion_objective = ", objective.dump(),
              diffusion.contains("diffusion_objective") ? "" : " (stable-audio-tools' default when absent)",
              " is not supported: chord samples the Stable Audio DiT by rectified flow, and a \"v\" or \"rf_denoiser\" model would be "
              "sampled with the wrong parameterisation");
  CHORD_CHECK(diffusion.contains("config") && diffusion.at("config").is_object(), "stable-audio model config: no model.diffusion.config object");
  return stable_audio_dit_options(diffusion.at("config"));
}

/// Refuses a state dict (keys under `prefix`, e.g. "model.model." in Stable Audio Open's checkpoint)
/// that carries options chord does not implement, naming each, and checks what the keys show against
/// `o`: the patch size, the memory tokens and the q/k normalisation.
inline void check_stable_audio_state_dict(const io::TensorMap& tensors, const std::string& prefix, const StableAudioDiTOptions& o) {
  auto has = [&](const std::string& key) { return tensors.count(prefix + key) > 0; };
  auto any_with = [&](const std::string& fragment) {
    for (const auto& [key, tensor] : tensors) {
      if (key.rfind(prefix, 0) == 0 && key.find(fragment) != std::string::npos) return true;
    }
    return false;
  };
  static const std::vector<std::pair<std::string, std::string>> refused{
      {".conformer.", "conformer blocks"},           {"_scale.scale", "layer_scale"},
      {"pre_norm.alpha", "remove_norms (DynamicTanh block norms)"}, {".rope.inv_freq", "add_rope (per-block rotary embedding)"},
      {"transformer.pos_emb.", "an absolute or sinusoidal position embedding"}, {".lambda_dc", "attention feat_scale"},
      {"ff.ff.0.1.weight", "a feed-forward without GLU"}};
  for (const auto& [fragment, option] : refused) {
    CHORD_CHECK(!any_with(fragment), "stable-audio checkpoint: it has ", option, " (keys with '", fragment, "'), which chord does not implement");
  }
  CHORD_CHECK(has("transformer.rotary_pos_emb.inv_freq"), "stable-audio checkpoint: no transformer.rotary_pos_emb.inv_freq under '", prefix,
              "': a transformer without the rotary embedding is not supported (or the prefix is wrong)");
  const auto& project_in = tensors.at(prefix + "transformer.project_in.weight");
  CHORD_CHECK(project_in.size(1) == o.input_channels() * o.patch_size(), "stable-audio checkpoint: project_in takes ", project_in.size(1),
              " inputs, the options give ", o.input_channels(), " channels × patch_size ", o.patch_size());
  const bool memory = has("transformer.memory_tokens");
  CHORD_CHECK(memory == (o.num_memory_tokens() > 0) &&
                  (!memory || tensors.at(prefix + "transformer.memory_tokens").size(0) == o.num_memory_tokens()),
              "stable-audio checkpoint: memory tokens ", memory ? tensors.at(prefix + "transformer.memory_tokens").size(0) : 0,
              " vs num_memory_tokens ", o.num_memory_tokens());
  const bool layer_norm = has("transformer.layers.0.self_attn.q_norm.weight"), dyt = has("transformer.layers.0.self_attn.q_norm.alpha");
  CHORD_CHECK(layer_norm == (o.qk_norm() == QkNorm::layer_norm) && dyt == (o.qk_norm() == QkNorm::dynamic_tanh),
              "stable-audio checkpoint: its q/k normalisation (", layer_norm ? "ln" : dyt ? "dyt" : "none or l2",
              ") differs from the options' qk_norm");
}

}  // namespace chord::nn
