#pragma once
/// @file
/// The T5 encoder (Raffel et al. 2020) as Hugging Face `T5EncoderModel` computes it, with its key
/// names, so a `t5-base` `model.safetensors` loads as published: RMS layer norms without bias, no
/// 1/√d attention scaling, bucketed relative-position biases learned in the first block and shared by
/// all, ReLU (T5 1.0) or gated-GELU (T5 1.1, ByT5) feed-forward, no biases anywhere.
///
/// The text conditioner of Stable Audio and SAGA-SR is `t5-base` (768 channels, 128 tokens, frozen);
/// `T5EncoderOptions::byte_level_tiny()` is chord's offline default: the same architecture over
/// ByT5-style byte ids, small enough to train with the diffusion model.

#include "chord/core/error.hpp"
#include "chord/io/json_checks.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace chord::nn {

struct T5EncoderOptions {
  TORCH_ARG(int64_t, vocab_size) = 32128;
  TORCH_ARG(int64_t, d_model) = 768;
  TORCH_ARG(int64_t, d_kv) = 64;
  TORCH_ARG(int64_t, d_ff) = 3072;
  TORCH_ARG(int64_t, num_layers) = 12;
  TORCH_ARG(int64_t, num_heads) = 12;
  TORCH_ARG(int64_t, relative_attention_num_buckets) = 32;
  TORCH_ARG(int64_t, relative_attention_max_distance) = 128;
  TORCH_ARG(bool, gated_gelu) = false;  ///< `feed_forward_proj`: "relu" (false) or "gated-gelu" (true)
  TORCH_ARG(double, layer_norm_epsilon) = 1e-6;
  TORCH_ARG(double, dropout) = 0.0;

 public:
  /// `t5-base`: the text encoder of Stable Audio Open and SAGA-SR.
  static T5EncoderOptions t5_base() { return {}; }
  /// chord's offline text encoder: gated-GELU T5 over byte ids (ByT5's vocabulary of 3 specials + 256
  /// bytes, padded to 384), 4 layers of width `width`. Trained with the model; nothing to download.
  static T5EncoderOptions byte_level_tiny(int64_t width = 128) {
    return T5EncoderOptions().vocab_size(384).d_model(width).d_kv(width / 4).d_ff(2 * width).num_layers(4).num_heads(4)
        .gated_gelu(true).dropout(0.1);
  }
  /// From a Hugging Face `config.json` (T5Config keys).
  static T5EncoderOptions from_config(const nlohmann::json& c, const std::string& source = "config.json") {
    T5EncoderOptions o;
    std::string projection;
    try {
      auto integer = [&](const char* key) { return io::json_checked<int64_t>(c, key, source); };
      o.vocab_size(integer("vocab_size")).d_model(integer("d_model")).d_kv(integer("d_kv")).d_ff(integer("d_ff"))
          .num_layers(integer("num_layers")).num_heads(integer("num_heads"))
          .relative_attention_num_buckets(io::json_checked_or<int64_t>(c, "relative_attention_num_buckets", 32, source))
          .relative_attention_max_distance(io::json_checked_or<int64_t>(c, "relative_attention_max_distance", 128, source))
          .layer_norm_epsilon(io::json_checked_or<double>(c, "layer_norm_epsilon", 1e-6, source));
      projection = c.value("feed_forward_proj", std::string("relu"));
    } catch (const nlohmann::json::exception& error) {
      CHORD_FAIL(source, ": not a T5 config (", error.what(), ")");
    }
    CHORD_CHECK(projection == "relu" || projection == "gated-gelu", source, ": feed_forward_proj '", projection,
                "' is not supported (relu, gated-gelu)");
    o.gated_gelu(projection == "gated-gelu");
    return o;
  }
};

/// Bidirectional relative-position bucket of `relative_position = key − query` (Mesh TensorFlow / HF):
/// half the buckets per direction; within one, exact buckets below `num_buckets/4`, then logarithmic up
/// to `max_distance`, clamped to the last.
inline torch::Tensor t5_relative_position_bucket(const torch::Tensor& relative_position, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2;
  auto buckets = (relative_position > 0).to(torch::kLong) * half;
  auto distance = relative_position.abs();
  const int64_t max_exact = half / 2;
  auto large = max_exact + ((distance.to(torch::kFloat32) / static_cast<double>(max_exact)).log() /
                            std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                            static_cast<double>(half - max_exact))
                               .to(torch::kLong);
  large = large.clamp_max(half - 1);
  return buckets + torch::where(distance < max_exact, distance, large);
}

/// RMS norm with a learned scale and no bias, the variance in float32 (HF `T5LayerNorm`).
class T5LayerNormImpl : public torch::nn::Module {
 public:
  T5LayerNormImpl(int64_t width, double eps) : eps(eps) { weight = register_parameter("weight", torch::ones({width})); }
  torch::Tensor forward(const torch::Tensor& x) {
    auto variance = x.to(torch::kFloat32).square().mean(-1, true);
    return weight * (x * (variance + eps).rsqrt()).to(weight.scalar_type());
  }
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(T5LayerNorm);

class T5SelfAttentionImpl : public torch::nn::Module {
 public:
  T5SelfAttentionImpl(const T5EncoderOptions& o, bool has_relative_bias) : heads(o.num_heads()), d_kv(o.d_kv()) {
    auto linear = [&](const char* name, int64_t in, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    const auto inner = o.num_heads() * o.d_kv();
    q = linear("q", o.d_model(), inner);
    k = linear("k", o.d_model(), inner);
    v = linear("v", o.d_model(), inner);
    this->o = linear("o", inner, o.d_model());
    if (has_relative_bias) {
      relative_attention_bias = register_module("relative_attention_bias",
                                                torch::nn::Embedding(o.relative_attention_num_buckets(), o.num_heads()));
    }
  }
  /// `x [B, L, D]`, `bias [1 or B, H, L, L]` (relative positions plus the padding mask).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) {
    const auto b = x.size(0), l = x.size(1);
    auto split = [&](const torch::Tensor& t) { return t.view({b, l, heads, d_kv}).transpose(1, 2); };
    auto scores = torch::matmul(split(q(x)), split(k(x)).transpose(-1, -2)) + bias;
    auto weights = scores.to(torch::kFloat32).softmax(-1).to(scores.scalar_type());
    weights = torch::dropout(weights, dropout_p, is_training());
    auto context = torch::matmul(weights, split(v(x))).transpose(1, 2).reshape({b, l, heads * d_kv});
    return o(context);
  }
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::nn::Embedding relative_attention_bias{nullptr};
  int64_t heads, d_kv;
  double dropout_p = 0.0;
};
TORCH_MODULE(T5SelfAttention);

class T5FeedForwardImpl : public torch::nn::Module {
 public:
  explicit T5FeedForwardImpl(const T5EncoderOptions& o) : gated(o.gated_gelu()) {
    auto linear = [&](const char* name, int64_t in, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    if (gated) {
      wi_0 = linear("wi_0", o.d_model(), o.d_ff());
      wi_1 = linear("wi_1", o.d_model(), o.d_ff());
    } else {
      wi = linear("wi", o.d_model(), o.d_ff());
    }
    wo = linear("wo", o.d_ff(), o.d_model());
  }
  torch::Tensor forward(const torch::Tensor& x) {
    // gated-gelu is HF's "gelu_new", the tanh approximation.
    auto h = gated ? torch::gelu(wi_0(x), "tanh") * wi_1(x) : torch::relu(wi(x));
    return wo(torch::dropout(h, dropout_p, is_training()));
  }
  torch::nn::Linear wi{nullptr}, wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};
  bool gated;
  double dropout_p = 0.0;
};
TORCH_MODULE(T5FeedForward);

/// One encoder block, keyed as HF: `layer.0.{SelfAttention,layer_norm}`, `layer.1.{DenseReluDense,layer_norm}`.
class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5EncoderOptions& o, bool first) {
    auto attention_layer = std::make_shared<torch::nn::Module>();
    attention = attention_layer->register_module("SelfAttention", T5SelfAttention(o, first));
    attention_norm = attention_layer->register_module("layer_norm", T5LayerNorm(o.d_model(), o.layer_norm_epsilon()));
    auto ff_layer = std::make_shared<torch::nn::Module>();
    feed_forward = ff_layer->register_module("DenseReluDense", T5FeedForward(o));
    ff_norm = ff_layer->register_module("layer_norm", T5LayerNorm(o.d_model(), o.layer_norm_epsilon()));
    auto layers = torch::nn::ModuleList();
    layers->push_back(attention_layer);
    layers->push_back(ff_layer);
    register_module("layer", layers);
    attention->dropout_p = feed_forward->dropout_p = dropout_p = o.dropout();
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& bias) {
    x = x + torch::dropout(attention(attention_norm(x), bias), dropout_p, is_training());
    return x + torch::dropout(feed_forward(ff_norm(x)), dropout_p, is_training());
  }
  T5SelfAttention attention{nullptr};
  T5FeedForward feed_forward{nullptr};
  T5LayerNorm attention_norm{nullptr}, ff_norm{nullptr};
  double dropout_p = 0.0;
};
TORCH_MODULE(T5Block);

/// `T5EncoderModel`: token ids `[B, L]` (+ mask, 1 = token) → `last_hidden_state [B, L, d_model]`.
/// State dict: `shared.weight`, `encoder.block.<i>.layer.<j>.*`, `encoder.final_layer_norm.weight`
/// (HF's tied `encoder.embed_tokens.weight` is accepted on load and not stored twice).
class T5EncoderImpl : public torch::nn::Module {
 public:
  explicit T5EncoderImpl(T5EncoderOptions options_ = {}) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.num_layers() > 0 && o.num_heads() > 0 && o.relative_attention_num_buckets() >= 4,
                "T5EncoderOptions: layers, heads > 0 and at least 4 relative-position buckets expected");
    shared = register_module("shared", torch::nn::Embedding(o.vocab_size(), o.d_model()));
    auto encoder = std::make_shared<torch::nn::Module>();
    blocks = torch::nn::ModuleList();
    for (int64_t i = 0; i < o.num_layers(); ++i) blocks->push_back(T5Block(o, i == 0));
    encoder->register_module("block", blocks);
    final_layer_norm = encoder->register_module("final_layer_norm", T5LayerNorm(o.d_model(), o.layer_norm_epsilon()));
    register_module("encoder", encoder);
  }

  torch::Tensor forward(const torch::Tensor& ids, torch::Tensor mask = {}) {
    CHORD_CHECK(ids.dim() == 2 && !ids.is_floating_point(), "T5Encoder: integer token ids [B, L] expected, got ", ids.sizes(),
                " ", ids.scalar_type());
    CHORD_CHECK(ids.numel() == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < options.vocab_size()),
                "T5Encoder: token ids outside the vocabulary of ", options.vocab_size());
    if (!mask.defined()) mask = torch::ones_like(ids);
    CHORD_CHECK(mask.sizes() == ids.sizes(), "T5Encoder: mask ", mask.sizes(), " does not match the ids ", ids.sizes());
    const auto l = ids.size(1);
    auto x = torch::dropout(shared(ids), options.dropout(), is_training());
    auto positions = torch::arange(l, ids.options().dtype(torch::kLong));
    auto buckets = t5_relative_position_bucket(positions.unsqueeze(0) - positions.unsqueeze(1),
                                               options.relative_attention_num_buckets(), options.relative_attention_max_distance());
    auto first = blocks->ptr<T5BlockImpl>(0);
    auto bias = first->attention->relative_attention_bias(buckets).permute({2, 0, 1}).unsqueeze(0);  // [1, H, L, L]
    const double lowest = std::numeric_limits<float>::lowest();
    bias = bias + ((1 - mask.to(bias.scalar_type())) * lowest).view({ids.size(0), 1, 1, l});
    for (size_t i = 0; i < blocks->size(); ++i) x = blocks->ptr<T5BlockImpl>(i)->forward(x, bias);
    return torch::dropout(final_layer_norm(x), options.dropout(), is_training());
  }

  /// Loads a Hugging Face T5 checkpoint (`model.safetensors` of `t5-base`, `T5EncoderModel` or the
  /// full encoder–decoder; decoder keys are ignored). Strict for everything the encoder has.
  io::LoadReport load(const std::filesystem::path& path) {
    auto tensors = io::load_safetensors(path);
    io::TensorMap encoder;
    for (auto& [key, value] : tensors) {
      if (key == "shared.weight" || (key.rfind("encoder.", 0) == 0 && key != "encoder.embed_tokens.weight")) encoder.emplace(key, value);
    }
    if (!encoder.count("shared.weight") && tensors.count("encoder.embed_tokens.weight")) {
      encoder.emplace("shared.weight", tensors.at("encoder.embed_tokens.weight"));
    }
    io::LoadOptions load_options;
    load_options.source_name = path.string();
    return io::load_state_dict(*this, encoder, load_options);
  }

  T5EncoderOptions options;
  torch::nn::Embedding shared{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  T5LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(T5Encoder);

}  // namespace chord::nn
