#pragma once
/// @file
/// WavLM (Chen et al. 2022) as Hugging Face transformers 5.x `WavLMModel` computes it in eval mode, with
/// its key names, so the published `microsoft/wavlm-base-plus` checkpoint loads key for key: a conv
/// feature encoder over raw 16 kHz audio (first conv with a per-channel GroupNorm — `feat_extract_norm
/// "group"` — then GELU convs, no padding), a feature projection (LayerNorm, Linear), a weight-normed
/// grouped positional convolution, then post-LN transformer layers whose attention adds a bucketed
/// relative-position bias (learned in layer 0, `rel_attn_embed`, and reused by every layer) scaled per
/// head and frame by a gate computed from the layer's input (`gru_rel_pos_linear`, `gru_rel_pos_const`).
///
/// Bert-VITS2's WavLMLoss (losses.py) runs it frozen with `output_hidden_states=True`: `forward()` returns
/// those `num_hidden_layers + 1` hidden states (the encoder input after pos-conv and LayerNorm, then each
/// layer's output), `[B, T', hidden]` each.
///
/// Scope: `feat_extract_norm "group"` with `do_stable_layer_norm false` (wavlm-base / base-plus; the
/// "layer" / stable variant of wavlm-large is refused), GELU activations, no adapter, no attention mask.
/// Training-mode behaviour (dropout, LayerDrop, SpecAugment masking) is not implemented: `forward`
/// computes eval mode whatever the module's mode (Bert-VITS2 only ever runs WavLM in eval mode).
///
/// Key layout of the positional convolution's weight norm (dim 2): the published checkpoint stores
/// `encoder.pos_conv_embed.conv.weight_g [1, 1, K]` / `weight_v [H, H/groups, K]`, which is what this
/// module registers; transformers ≥ 4.4x writes `...conv.parametrizations.weight.original0/original1`
/// (same tensors): `wavlm_state_dict_from_transformers()` renames those.

#include "chord/core/error.hpp"
#include "chord/io/json_checks.hpp"
#include "chord/io/tensor_map.hpp"

#include <ATen/ops/_weight_norm.h>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace chord::nn {

struct WavLMOptions {
  TORCH_ARG(int64_t, hidden_size) = 768;
  TORCH_ARG(int64_t, num_hidden_layers) = 12;
  TORCH_ARG(int64_t, num_attention_heads) = 12;
  TORCH_ARG(int64_t, intermediate_size) = 3072;
  TORCH_ARG(std::vector<int64_t>, conv_dim) = std::vector<int64_t>(7, 512);
  TORCH_ARG(std::vector<int64_t>, conv_kernel) = std::vector<int64_t>{10, 3, 3, 3, 3, 2, 2};
  TORCH_ARG(std::vector<int64_t>, conv_stride) = std::vector<int64_t>{5, 2, 2, 2, 2, 2, 2};
  TORCH_ARG(bool, conv_bias) = false;
  TORCH_ARG(int64_t, num_conv_pos_embeddings) = 128;
  TORCH_ARG(int64_t, num_conv_pos_embedding_groups) = 16;
  TORCH_ARG(int64_t, num_buckets) = 320;
  TORCH_ARG(int64_t, max_bucket_distance) = 800;
  TORCH_ARG(double, layer_norm_eps) = 1e-5;
  /// Registers `masked_spec_embed [hidden]`, as transformers does when `mask_time_prob` or
  /// `mask_feature_prob` > 0 (wavlm-base-plus: 0.05), so its checkpoint loads strictly. Never used here.
  TORCH_ARG(bool, masked_spec_embed) = true;

 public:
  /// microsoft/wavlm-base-plus (Bert-VITS2's `slm/wavlm-base-plus`).
  static WavLMOptions base_plus() { return {}; }

  /// From a Hugging Face `config.json` (WavLMConfig keys; absent keys take transformers' defaults).
  /// Refuses the variants this module does not compute.
  static WavLMOptions from_config(const nlohmann::json& c, const std::string& source = "config.json") {
    WavLMOptions o;
    try {
      const auto norm = c.value("feat_extract_norm", std::string("group"));
      CHORD_CHECK(norm == "group", source, ": feat_extract_norm \"", norm, "\" is not supported (only \"group\")");
      CHORD_CHECK(!c.value("do_stable_layer_norm", false), source, ": do_stable_layer_norm true is not supported");
      CHORD_CHECK(!c.value("add_adapter", false), source, ": add_adapter true is not supported");
      for (const char* key : {"hidden_act", "feat_extract_activation"}) {
        const auto act = c.value(key, std::string("gelu"));
        CHORD_CHECK(act == "gelu", source, ": ", key, " \"", act, "\" is not supported (only \"gelu\")");
      }
      auto integer = [&](const char* key, int64_t fallback) { return io::json_checked_or<int64_t>(c, key, fallback, source); };
      auto number = [&](const char* key, double fallback) { return io::json_checked_or<double>(c, key, fallback, source); };
      o.hidden_size(integer("hidden_size", 768))
          .num_hidden_layers(integer("num_hidden_layers", 12))
          .num_attention_heads(integer("num_attention_heads", 12))
          .intermediate_size(integer("intermediate_size", 3072))
          .conv_dim(io::json_checked_or(c, "conv_dim", o.conv_dim(), source))
          .conv_kernel(io::json_checked_or(c, "conv_kernel", o.conv_kernel(), source))
          .conv_stride(io::json_checked_or(c, "conv_stride", o.conv_stride(), source))
          .conv_bias(io::json_checked_or(c, "conv_bias", false, source))
          .num_conv_pos_embeddings(integer("num_conv_pos_embeddings", 128))
          .num_conv_pos_embedding_groups(integer("num_conv_pos_embedding_groups", 16))
          .num_buckets(integer("num_buckets", 320))
          .max_bucket_distance(integer("max_bucket_distance", 800))
          .layer_norm_eps(number("layer_norm_eps", 1e-5))
          .masked_spec_embed(number("mask_time_prob", 0.05) > 0.0 || number("mask_feature_prob", 0.0) > 0.0);
      if (c.contains("num_feat_extract_layers")) {
        const auto n = io::json_checked<int64_t>(c, "num_feat_extract_layers", source);
        CHORD_CHECK(n == static_cast<int64_t>(o.conv_dim().size()), source, ": num_feat_extract_layers ", n,
                    " but conv_dim has ", o.conv_dim().size(), " entries");
      }
    } catch (const nlohmann::json::exception& e) {
      CHORD_CHECK(false, source, ": not a WavLM config (", e.what(), ")");
    }
    o.validate(source);
    return o;
  }

  void validate(const std::string& source = "WavLMOptions") const {
    CHORD_CHECK(!conv_dim_.empty() && conv_dim_.size() == conv_kernel_.size() && conv_dim_.size() == conv_stride_.size(),
                source, ": conv_dim, conv_kernel and conv_stride need the same, non-zero length (", conv_dim_.size(), ", ",
                conv_kernel_.size(), ", ", conv_stride_.size(), ")");
    CHORD_CHECK(hidden_size_ > 0 && num_attention_heads_ > 0 && hidden_size_ % num_attention_heads_ == 0, source,
                ": hidden_size ", hidden_size_, " is not a multiple of num_attention_heads ", num_attention_heads_);
    CHORD_CHECK(num_conv_pos_embedding_groups_ > 0 && hidden_size_ % num_conv_pos_embedding_groups_ == 0, source,
                ": hidden_size ", hidden_size_, " is not a multiple of num_conv_pos_embedding_groups ",
                num_conv_pos_embedding_groups_);
    // The bucket formula needs an exact range (num_buckets / 4 > 0) below max_bucket_distance.
    CHORD_CHECK(num_buckets_ >= 4 && max_bucket_distance_ > num_buckets_ / 4, source, ": num_buckets ", num_buckets_,
                " / max_bucket_distance ", max_bucket_distance_, " give no logarithmic bucket range");
  }
};

/// transformers' `WavLMAttention._relative_positions_bucket`: `relative_positions` (key − query, int64)
/// → bucket ids in [0, num_buckets). Half the buckets per direction (positive distances from
/// num_buckets/2); distances below num_buckets/4 exact, then logarithmic up to `max_distance`, then
/// the last bucket.
inline torch::Tensor wavlm_relative_position_bucket(const torch::Tensor& relative_positions, int64_t num_buckets,
                                                    int64_t max_distance) {
  const int64_t half = num_buckets / 2;
  const int64_t max_exact = half / 2;
  auto buckets = (relative_positions > 0).to(torch::kLong) * half;
  const auto distance = relative_positions.abs();
  const auto is_small = distance < max_exact;
  // Float32 like the reference: log(d / max_exact) / log(max_distance / max_exact) · (half − max_exact).
  auto large = torch::log(distance.to(torch::kFloat32) / max_exact);
  large = large / std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact));
  large = large * (half - max_exact);
  const auto large_bucket = (large + max_exact).to(torch::kLong).clamp_max(half - 1);
  return buckets + torch::where(is_small, distance, large_bucket);
}

/// One conv of the feature encoder: Conv1d (no padding), GroupNorm with one group per channel on the
/// first layer only (`layer_norm`), GELU.
class WavLMFeatureConvLayerImpl : public torch::nn::Module {
 public:
  WavLMFeatureConvLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool bias, bool group_norm) {
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, kernel).stride(stride).bias(bias)));
    if (group_norm) layer_norm = register_module("layer_norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(out, out)));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv(x);
    if (!layer_norm.is_empty()) h = layer_norm(h);
    return torch::gelu(h);
  }

  torch::nn::Conv1d conv{nullptr};
  torch::nn::GroupNorm layer_norm{nullptr};
};
TORCH_MODULE(WavLMFeatureConvLayer);

/// `feature_extractor`: raw audio `[B, N]` → features `[B, conv_dim[-1], T']`.
class WavLMFeatureEncoderImpl : public torch::nn::Module {
 public:
  explicit WavLMFeatureEncoderImpl(const WavLMOptions& o) {
    conv_layers = register_module("conv_layers", torch::nn::ModuleList());
    int64_t in = 1;
    for (size_t i = 0; i < o.conv_dim().size(); ++i) {
      conv_layers->push_back(WavLMFeatureConvLayer(in, o.conv_dim()[i], o.conv_kernel()[i], o.conv_stride()[i], o.conv_bias(), i == 0));
      in = o.conv_dim()[i];
    }
  }

  torch::Tensor forward(const torch::Tensor& input_values) {
    auto h = input_values.unsqueeze(1);
    for (const auto& layer : *conv_layers) h = layer->as<WavLMFeatureConvLayerImpl>()->forward(h);
    return h;
  }

  torch::nn::ModuleList conv_layers{nullptr};
};
TORCH_MODULE(WavLMFeatureEncoder);

/// `feature_projection`: LayerNorm over the conv channels, then Linear to the hidden size.
class WavLMFeatureProjectionImpl : public torch::nn::Module {
 public:
  explicit WavLMFeatureProjectionImpl(const WavLMOptions& o) {
    const int64_t c = o.conv_dim().back();
    layer_norm = register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c}).eps(o.layer_norm_eps())));
    projection = register_module("projection", torch::nn::Linear(c, o.hidden_size()));
  }

  /// `[B, T', C]` → (projected `[B, T', hidden]`, normalised features `[B, T', C]`).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto normed = layer_norm(x);
    return {projection(normed), normed};
  }

  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Linear projection{nullptr};
};
TORCH_MODULE(WavLMFeatureProjection);

/// The positional convolution itself (`pos_conv_embed.conv`): a grouped Conv1d whose weight is
/// weight-normed over dim 2 (`weight_g [1, 1, K]`, `weight_v [H, H/groups, K]`), padding K/2.
class WavLMPositionalConvImpl : public torch::nn::Module {
 public:
  WavLMPositionalConvImpl(int64_t hidden, int64_t kernel, int64_t groups) : kernel_size(kernel), groups(groups) {
    torch::nn::Conv1d conv(torch::nn::Conv1dOptions(hidden, hidden, kernel).groups(groups));
    const auto v = conv->weight.detach();
    weight_g = register_parameter("weight_g", v.norm(2, torch::IntArrayRef{0, 1}, /*keepdim=*/true));
    weight_v = register_parameter("weight_v", v.clone());
    bias = register_parameter("bias", conv->bias.detach().clone());
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const auto w = at::_weight_norm(weight_v, weight_g, 2);
    namespace F = torch::nn::functional;
    return F::conv1d(x, w, F::Conv1dFuncOptions().bias(bias).padding(kernel_size / 2).groups(groups));
  }

  int64_t kernel_size;
  int64_t groups;
  torch::Tensor weight_g, weight_v, bias;
};
TORCH_MODULE(WavLMPositionalConv);

/// `encoder.pos_conv_embed`: `[B, T, H]` → conv (one trailing frame dropped for an even kernel) → GELU.
class WavLMPositionalConvEmbeddingImpl : public torch::nn::Module {
 public:
  explicit WavLMPositionalConvEmbeddingImpl(const WavLMOptions& o) {
    conv = register_module("conv", WavLMPositionalConv(o.hidden_size(), o.num_conv_pos_embeddings(), o.num_conv_pos_embedding_groups()));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv(x.transpose(1, 2));
    if (conv->kernel_size % 2 == 0) h = h.narrow(2, 0, h.size(2) - 1);
    return torch::gelu(h).transpose(1, 2);
  }

  WavLMPositionalConv conv{nullptr};
};
TORCH_MODULE(WavLMPositionalConvEmbedding);

/// `attention`: multi-head self-attention (separate q/k/v projections with biases, scores scaled by
/// 1/√head_dim) whose scores get the gated relative-position bias added before the softmax.
class WavLMAttentionImpl : public torch::nn::Module {
 public:
  WavLMAttentionImpl(const WavLMOptions& o, bool has_relative_position_bias)
      : embed_dim(o.hidden_size()), num_heads(o.num_attention_heads()), head_dim(o.hidden_size() / o.num_attention_heads()),
        num_buckets(o.num_buckets()), max_distance(o.max_bucket_distance()) {
    k_proj = register_module("k_proj", torch::nn::Linear(embed_dim, embed_dim));
    v_proj = register_module("v_proj", torch::nn::Linear(embed_dim, embed_dim));
    q_proj = register_module("q_proj", torch::nn::Linear(embed_dim, embed_dim));
    out_proj = register_module("out_proj", torch::nn::Linear(embed_dim, embed_dim));
    gru_rel_pos_const = register_parameter("gru_rel_pos_const", torch::ones({1, num_heads, 1, 1}));
    gru_rel_pos_linear = register_module("gru_rel_pos_linear", torch::nn::Linear(head_dim, 8));
    if (has_relative_position_bias) rel_attn_embed = register_module("rel_attn_embed", torch::nn::Embedding(num_buckets, num_heads));
  }

  /// The ungated bias `[heads, q, k]` from `rel_attn_embed`.
  torch::Tensor compute_bias(int64_t query_length, int64_t key_length) {
    CHORD_CHECK(!rel_attn_embed.is_empty(), "WavLMAttention: only the first layer holds rel_attn_embed");
    const auto device = rel_attn_embed->weight.device();
    const auto context = torch::arange(query_length, torch::TensorOptions(torch::kLong).device(device)).unsqueeze(1);
    const auto memory = torch::arange(key_length, torch::TensorOptions(torch::kLong).device(device)).unsqueeze(0);
    const auto buckets = wavlm_relative_position_bucket(memory - context, num_buckets, max_distance);
    return rel_attn_embed(buckets).permute({2, 0, 1});
  }

  /// `x [B, T, H]`, `position_bias` `[B·heads, T, T]` from the first layer (undefined there: computed)
  /// → (output `[B, T, H]`, the ungated position bias for the next layers).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, torch::Tensor position_bias = {}) {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == embed_dim, "WavLMAttention: x [B, T, ", embed_dim, "] expected, got ", x.sizes());
    const int64_t b = x.size(0), t = x.size(1);
    if (!position_bias.defined()) {
      position_bias = compute_bias(t, t).unsqueeze(0).repeat({b, 1, 1, 1}).view({b * num_heads, t, t});
    }
    TORCH_CHECK(position_bias.dim() == 3 && position_bias.size(0) == b * num_heads && position_bias.size(1) == t &&
                    position_bias.size(2) == t,
                "WavLMAttention: position_bias [B·heads, T, T] = [", b * num_heads, ", ", t, ", ", t, "] expected, got ",
                position_bias.sizes());

    // Gate per head and frame from the layer input: two sigmoids of 4-sums of an 8-wide projection.
    const auto heads = x.view({b, t, num_heads, head_dim}).permute({0, 2, 1, 3});
    const auto proj = gru_rel_pos_linear(heads).view({b, num_heads, t, 2, 4}).sum(-1);
    const auto gates = torch::sigmoid(proj).chunk(2, -1);
    const auto gate = gates[0] * (gates[1] * gru_rel_pos_const - 1.0) + 2.0;
    const auto gated_bias = (gate.view({b * num_heads, -1, 1}) * position_bias).view({-1, t, t});

    // torch's multi_head_attention_forward (need_weights path): q scaled first, bias added via baddbmm.
    auto split = [&](const torch::Tensor& y) { return y.view({b, t, num_heads, head_dim}).permute({0, 2, 1, 3}).reshape({b * num_heads, t, head_dim}); };
    const auto q = split(q_proj(x)) * std::sqrt(1.0 / static_cast<double>(head_dim));
    const auto k = split(k_proj(x));
    const auto v = split(v_proj(x));
    const auto weights = torch::baddbmm(gated_bias, q, k.transpose(-2, -1)).softmax(-1);
    auto out = torch::bmm(weights, v).view({b, num_heads, t, head_dim}).permute({0, 2, 1, 3}).reshape({b, t, embed_dim});
    return {out_proj(out), position_bias};
  }

  int64_t embed_dim, num_heads, head_dim, num_buckets, max_distance;
  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
  torch::Tensor gru_rel_pos_const;
  torch::nn::Linear gru_rel_pos_linear{nullptr};
  torch::nn::Embedding rel_attn_embed{nullptr};
};
TORCH_MODULE(WavLMAttention);

/// `feed_forward`: Linear → GELU → Linear.
class WavLMFeedForwardImpl : public torch::nn::Module {
 public:
  explicit WavLMFeedForwardImpl(const WavLMOptions& o) {
    intermediate_dense = register_module("intermediate_dense", torch::nn::Linear(o.hidden_size(), o.intermediate_size()));
    output_dense = register_module("output_dense", torch::nn::Linear(o.intermediate_size(), o.hidden_size()));
  }

  torch::Tensor forward(const torch::Tensor& x) { return output_dense(torch::gelu(intermediate_dense(x))); }

  torch::nn::Linear intermediate_dense{nullptr}, output_dense{nullptr};
};
TORCH_MODULE(WavLMFeedForward);

/// One post-LN layer: `x = LN(x + attn(x)); x = LN(x + ff(x))`.
class WavLMEncoderLayerImpl : public torch::nn::Module {
 public:
  WavLMEncoderLayerImpl(const WavLMOptions& o, bool has_relative_position_bias) {
    attention = register_module("attention", WavLMAttention(o, has_relative_position_bias));
    const auto ln = torch::nn::LayerNormOptions({o.hidden_size()}).eps(o.layer_norm_eps());
    layer_norm = register_module("layer_norm", torch::nn::LayerNorm(ln));
    feed_forward = register_module("feed_forward", WavLMFeedForward(o));
    final_layer_norm = register_module("final_layer_norm", torch::nn::LayerNorm(ln));
  }

  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& position_bias = {}) {
    auto [a, bias] = attention(x, position_bias);
    auto h = layer_norm(x + a);
    h = final_layer_norm(h + feed_forward(h));
    return {h, bias};
  }

  WavLMAttention attention{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  WavLMFeedForward feed_forward{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(WavLMEncoderLayer);

/// `encoder`: `[B, T', H]` → the hidden states (the input after pos-conv and LayerNorm, then each
/// layer's output): `num_hidden_layers + 1` tensors `[B, T', H]`.
class WavLMEncoderImpl : public torch::nn::Module {
 public:
  explicit WavLMEncoderImpl(const WavLMOptions& o) {
    pos_conv_embed = register_module("pos_conv_embed", WavLMPositionalConvEmbedding(o));
    layer_norm = register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.hidden_size()}).eps(o.layer_norm_eps())));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_hidden_layers(); ++i) layers->push_back(WavLMEncoderLayer(o, i == 0));
  }

  std::vector<torch::Tensor> forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> hidden_states;
    hidden_states.reserve(layers->size() + 1);
    auto h = layer_norm(x + pos_conv_embed(x));
    hidden_states.push_back(h);
    torch::Tensor position_bias;
    for (const auto& layer : *layers) {
      std::tie(h, position_bias) = layer->as<WavLMEncoderLayerImpl>()->forward(h, position_bias);
      hidden_states.push_back(h);
    }
    return hidden_states;
  }

  WavLMPositionalConvEmbedding pos_conv_embed{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(WavLMEncoder);

struct WavLMOutput {
  std::vector<torch::Tensor> hidden_states;  ///< `num_hidden_layers + 1` × `[B, T', hidden]`
  torch::Tensor last_hidden_state;           ///< `hidden_states.back()`
  torch::Tensor extract_features;            ///< normalised conv features `[B, T', conv_dim[-1]]`
};

/// `WavLMModel` (eval mode, no attention mask): `forward(input_values [B, N])` at 16 kHz.
class WavLMModelImpl : public torch::nn::Module {
 public:
  explicit WavLMModelImpl(WavLMOptions options_ = {}) : options(std::move(options_)) {
    options.validate();
    feature_extractor = register_module("feature_extractor", WavLMFeatureEncoder(options));
    feature_projection = register_module("feature_projection", WavLMFeatureProjection(options));
    // Zeros, not transformers' uniform draw: the vector is only ever loaded, never used.
    if (options.masked_spec_embed()) masked_spec_embed = register_parameter("masked_spec_embed", torch::zeros({options.hidden_size()}));
    encoder = register_module("encoder", WavLMEncoder(options));
  }

  WavLMOutput forward(const torch::Tensor& input_values) {
    TORCH_CHECK(input_values.dim() == 2, "WavLMModel: input_values [B, N] expected, got ", input_values.sizes());
    TORCH_CHECK(input_values.size(1) >= options.conv_kernel()[0], "WavLMModel: input_values [B, N] needs N >= ",
                options.conv_kernel()[0], ", got ", input_values.sizes());
    auto features = feature_extractor(input_values).transpose(1, 2);
    auto [h, normed] = feature_projection(features);
    WavLMOutput out;
    out.hidden_states = encoder(h);
    out.last_hidden_state = out.hidden_states.back();
    out.extract_features = normed;
    return out;
  }

  /// Frames T' for `n` input samples (transformers' `_get_feat_extract_output_lengths`).
  int64_t output_frames(int64_t n) const {
    for (size_t i = 0; i < options.conv_kernel().size(); ++i) n = (n - options.conv_kernel()[i]) / options.conv_stride()[i] + 1;
    return n;
  }

  WavLMOptions options;
  WavLMFeatureEncoder feature_extractor{nullptr};
  WavLMFeatureProjection feature_projection{nullptr};
  torch::Tensor masked_spec_embed;
  WavLMEncoder encoder{nullptr};
};
TORCH_MODULE(WavLMModel);

/// A transformers-written WavLM state dict in the published checkpoint's layout: the positional
/// conv's `parametrizations.weight.original0` / `original1` become `weight_g` / `weight_v`; every
/// other key passes through unchanged (prefixes included).
inline io::TensorMap wavlm_state_dict_from_transformers(const io::TensorMap& source) {
  static const std::string g = "pos_conv_embed.conv.parametrizations.weight.original0";
  static const std::string v = "pos_conv_embed.conv.parametrizations.weight.original1";
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  io::TensorMap out;
  for (const auto& [key, value] : source) {
    std::string name = key;
    if (ends_with(key, g)) name = key.substr(0, key.size() - g.size()) + "pos_conv_embed.conv.weight_g";
    else if (ends_with(key, v)) name = key.substr(0, key.size() - v.size()) + "pos_conv_embed.conv.weight_v";
    out[name] = value;
  }
  return out;
}

}  // namespace chord::nn
