#pragma once
/// @file
/// The relative-position transformer of VITS / Bert-VITS2 (`attentions.py`, fishaudio/Bert-VITS2
/// 8f7fbd8; reference/vits2.md §1.3): multi-head self-attention with windowed relative key/value
/// embeddings (`emb_rel_k`, `emb_rel_v`; Shaw et al.), the convolutional feed-forward block and the
/// post-LN `Encoder` that adds a speaker projection (`spk_emb_linear`) before layer `cond_layer_idx`
/// (VITS2's speaker-conditioned text encoder). Used by the text encoder and the transformer flow.
/// Layout `[B, C, T]`; every parameter carries the reference's name, so its state dict loads key for key.
///
/// The relative/absolute index shuffles follow the reference's pad-and-reshape steps exactly, so the
/// fp32 results match. Not carried over (Bert-VITS2 never uses them): `block_length`, `proximal_bias`,
/// `proximal_init`, the causal FFN and its "gelu" activation, and the `Decoder`.

#include "chord/core/error.hpp"
#include "chord/nn/vits/commons.hpp"

#include <torch/arg.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace chord::nn::vits {

namespace attention_detail {

/// The `2·length − 1` relative embeddings a sequence of `length` uses, from a table of `2w + 1`
/// (`_get_relative_embeddings`): zero-padded on both sides when the sequence reaches past the window.
inline torch::Tensor relative_embeddings(const torch::Tensor& table, int64_t window, int64_t length) {
  const int64_t pad = std::max<int64_t>(length - (window + 1), 0);
  const int64_t start = std::max<int64_t>((window + 1) - length, 0);
  const auto padded = pad > 0 ? torch::constant_pad_nd(table, {0, 0, pad, pad}) : table;
  return padded.narrow(1, start, 2 * length - 1);
}

/// `x [B, H, L, 2L − 1]` indexed by relative distance → `[B, H, L, L]` indexed by key position
/// (`_relative_position_to_absolute_position`): out[i, j] = x[i, j − i + L − 1].
inline torch::Tensor relative_to_absolute(const torch::Tensor& x) {
  const int64_t b = x.size(0), h = x.size(1), l = x.size(2);
  auto flat = torch::constant_pad_nd(x, {0, 1}).view({b, h, l * 2 * l});
  flat = torch::constant_pad_nd(flat, {0, l - 1});
  return flat.view({b, h, l + 1, 2 * l - 1}).narrow(2, 0, l).narrow(3, l - 1, l);
}

/// The inverse shuffle (`_absolute_position_to_relative_position`): `x [B, H, L, L]` →
/// `[B, H, L, 2L − 1]` with out[i, r] = x[i, i + r − (L − 1)], zero where that key is outside.
inline torch::Tensor absolute_to_relative(const torch::Tensor& x) {
  const int64_t b = x.size(0), h = x.size(1), l = x.size(2);
  auto flat = torch::constant_pad_nd(x, {0, l - 1}).view({b, h, l * l + l * (l - 1)});
  flat = torch::constant_pad_nd(flat, {l, 0});
  return flat.view({b, h, l, 2 * l}).narrow(3, 1, 2 * l - 1);
}

}  // namespace attention_detail

struct MultiHeadAttentionOptions {
  MultiHeadAttentionOptions(int64_t channels, int64_t out_channels, int64_t n_heads)
      : channels_(channels), out_channels_(out_channels), n_heads_(n_heads) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(double, p_dropout) = 0.0;
  /// Relative positions within ±window get learned embeddings; nullopt = plain attention.
  TORCH_ARG(std::optional<int64_t>, window_size) = std::nullopt;
  /// One relative table for all heads (`[1, 2w + 1, d_k]`) instead of one per head.
  TORCH_ARG(bool, heads_share) = true;
};

/// `attentions.MultiHeadAttention`: 1×1 convolutions for q, k, v and the output, scaled dot-product
/// attention per head, plus the windowed relative terms on logits and values.
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadAttentionImpl(MultiHeadAttentionOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.n_heads() > 0 && o.channels() % o.n_heads() == 0, "MultiHeadAttention: channels ", o.channels(),
                " are not divisible by n_heads ", o.n_heads());
    CHORD_CHECK(!o.window_size() || *o.window_size() >= 0, "MultiHeadAttention: window_size ", o.window_size().value_or(0),
                " is negative");
    k_channels_ = o.channels() / o.n_heads();
    conv_q = register_module("conv_q", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.channels(), o.channels(), 1)));
    conv_k = register_module("conv_k", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.channels(), o.channels(), 1)));
    conv_v = register_module("conv_v", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.channels(), o.channels(), 1)));
    conv_o = register_module("conv_o", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.channels(), o.out_channels(), 1)));
    drop = register_module("drop", torch::nn::Dropout(o.p_dropout()));
    if (o.window_size()) {
      const int64_t heads_rel = o.heads_share() ? 1 : o.n_heads();
      const double stddev = 1.0 / std::sqrt(static_cast<double>(k_channels_));
      const int64_t span = 2 * *o.window_size() + 1;
      emb_rel_k = register_parameter("emb_rel_k", torch::randn({heads_rel, span, k_channels_}) * stddev);
      emb_rel_v = register_parameter("emb_rel_v", torch::randn({heads_rel, span, k_channels_}) * stddev);
    }
    torch::NoGradGuard no_grad;
    torch::nn::init::xavier_uniform_(conv_q->weight);
    torch::nn::init::xavier_uniform_(conv_k->weight);
    torch::nn::init::xavier_uniform_(conv_v->weight);
  }

  /// `x [B, C, T_t]` attends to `c [B, C, T_s]`; `attn_mask` broadcastable to `[B, H, T_t, T_s]`
  /// (0 = hidden, filled with −1e4 as the reference), or undefined. Returns `[B, out_channels, T_t]`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& attn_mask = {}) {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == options.channels(), "MultiHeadAttention: x [B, ", options.channels(),
                ", T] expected, got ", x.sizes());
    TORCH_CHECK(c.dim() == 3 && c.size(0) == x.size(0) && c.size(1) == options.channels(), "MultiHeadAttention: c [",
                x.size(0), ", ", options.channels(), ", T] expected, got ", c.sizes());
    return conv_o(attention(conv_q(x), conv_k(c), conv_v(c), attn_mask));
  }

  /// The attention on projected `query [B, C, T_t]`, `key`/`value [B, C, T_s]` → `[B, C, T_t]`.
  torch::Tensor attention(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value, const torch::Tensor& mask) {
    namespace ad = attention_detail;
    const int64_t b = key.size(0), d = key.size(1), t_s = key.size(2), t_t = query.size(2);
    const int64_t h = options.n_heads();
    const auto q = query.view({b, h, k_channels_, t_t}).transpose(2, 3);
    const auto k = key.view({b, h, k_channels_, t_s}).transpose(2, 3);
    const auto v = value.view({b, h, k_channels_, t_s}).transpose(2, 3);
    const double scale = std::sqrt(static_cast<double>(k_channels_));

    auto scores = torch::matmul(q / scale, k.transpose(-2, -1));
    if (options.window_size()) {
      TORCH_CHECK(t_s == t_t, "MultiHeadAttention: relative attention needs self-attention, got T_s ", t_s, " and T_t ", t_t);
      const auto rel_k = ad::relative_embeddings(emb_rel_k, *options.window_size(), t_s);
      const auto rel_logits = torch::matmul(q / scale, rel_k.unsqueeze(0).transpose(-2, -1));
      scores = scores + ad::relative_to_absolute(rel_logits);
    }
    if (mask.defined()) scores = scores.masked_fill(mask == 0, -1e4);
    auto p_attn = drop(torch::softmax(scores, -1));
    auto output = torch::matmul(p_attn, v);
    if (options.window_size()) {
      const auto rel_v = ad::relative_embeddings(emb_rel_v, *options.window_size(), t_s);
      output = output + torch::matmul(ad::absolute_to_relative(p_attn), rel_v.unsqueeze(0));
    }
    return output.transpose(2, 3).contiguous().view({b, d, t_t});
  }

  MultiHeadAttentionOptions options;
  torch::nn::Conv1d conv_q{nullptr}, conv_k{nullptr}, conv_v{nullptr}, conv_o{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::Tensor emb_rel_k, emb_rel_v;

 private:
  int64_t k_channels_ = 0;
};
TORCH_MODULE(MultiHeadAttention);

/// `attentions.FFN` (non-causal, ReLU): two convolutions of width `kernel_size` with "same" padding
/// (left (k−1)/2, right k/2) applied by hand to the masked input, output masked.
class FFNImpl : public torch::nn::Module {
 public:
  FFNImpl(int64_t in_channels, int64_t out_channels, int64_t filter_channels, int64_t kernel_size, double p_dropout = 0.0)
      : kernel_size_(kernel_size) {
    CHORD_CHECK(kernel_size >= 1, "FFN: kernel_size ", kernel_size, " is not positive");
    conv_1 = register_module("conv_1", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, filter_channels, kernel_size)));
    conv_2 = register_module("conv_2", torch::nn::Conv1d(torch::nn::Conv1dOptions(filter_channels, out_channels, kernel_size)));
    drop = register_module("drop", torch::nn::Dropout(p_dropout));
  }

  /// `x [B, C_in, T]`, `x_mask [B, 1, T]` → `[B, C_out, T]`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_mask) {
    auto h = torch::relu(conv_1(same_padding(x * x_mask)));
    h = drop(h);
    h = conv_2(same_padding(h * x_mask));
    return h * x_mask;
  }

  torch::nn::Conv1d conv_1{nullptr}, conv_2{nullptr};
  torch::nn::Dropout drop{nullptr};

 private:
  int64_t kernel_size_;
  torch::Tensor same_padding(const torch::Tensor& x) const {
    if (kernel_size_ == 1) return x;
    return torch::constant_pad_nd(x, {(kernel_size_ - 1) / 2, kernel_size_ / 2});
  }
};
TORCH_MODULE(FFN);

struct AttentionEncoderOptions {
  AttentionEncoderOptions(int64_t hidden_channels, int64_t filter_channels, int64_t n_heads, int64_t n_layers)
      : hidden_channels_(hidden_channels), filter_channels_(filter_channels), n_heads_(n_heads), n_layers_(n_layers) {}
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, kernel_size) = 1;
  TORCH_ARG(double, p_dropout) = 0.0;
  /// The reference's Encoder always uses relative attention with window 4.
  TORCH_ARG(int64_t, window_size) = 4;
  /// Speaker embedding width; 0 = no speaker conditioning (no `spk_emb_linear`).
  TORCH_ARG(int64_t, gin_channels) = 0;
  /// The layer before which the projected speaker embedding is added (VITS2: the 3rd block).
  TORCH_ARG(int64_t, cond_layer_idx) = 2;
};

/// `attentions.Encoder`: n post-LN blocks of relative self-attention and FFN; with `gin_channels`,
/// `spk_emb_linear(g)` is added to the (masked) input of layer `cond_layer_idx`. Output masked.
class AttentionEncoderImpl : public torch::nn::Module {
 public:
  explicit AttentionEncoderImpl(AttentionEncoderOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.n_layers() >= 1, "AttentionEncoder: n_layers ", o.n_layers(), " is not positive");
    if (o.gin_channels() != 0) {
      CHORD_CHECK(o.cond_layer_idx() >= 0 && o.cond_layer_idx() < o.n_layers(), "AttentionEncoder: cond_layer_idx ",
                  o.cond_layer_idx(), " must be below n_layers ", o.n_layers());
      spk_emb_linear = register_module("spk_emb_linear", torch::nn::Linear(o.gin_channels(), o.hidden_channels()));
    }
    drop = register_module("drop", torch::nn::Dropout(o.p_dropout()));
    attn_layers = register_module("attn_layers", torch::nn::ModuleList());
    norm_layers_1 = register_module("norm_layers_1", torch::nn::ModuleList());
    ffn_layers = register_module("ffn_layers", torch::nn::ModuleList());
    norm_layers_2 = register_module("norm_layers_2", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.n_layers(); ++i) {
      attns_.push_back(MultiHeadAttention(MultiHeadAttentionOptions(o.hidden_channels(), o.hidden_channels(), o.n_heads())
                                              .p_dropout(o.p_dropout())
                                              .window_size(o.window_size())));
      norms_1_.push_back(ChannelLayerNorm(o.hidden_channels()));
      ffns_.push_back(FFN(o.hidden_channels(), o.hidden_channels(), o.filter_channels(), o.kernel_size(), o.p_dropout()));
      norms_2_.push_back(ChannelLayerNorm(o.hidden_channels()));
      attn_layers->push_back(attns_.back());
      norm_layers_1->push_back(norms_1_.back());
      ffn_layers->push_back(ffns_.back());
      norm_layers_2->push_back(norms_2_.back());
    }
  }

  /// `x [B, hidden, T]`, `x_mask [B, 1, T]`, `g [B, gin, 1]` (a speaker; `[B, gin, T]` also broadcasts,
  /// as in the reference) or undefined → `[B, hidden, T]`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    const auto& o = options;
    TORCH_CHECK(x.dim() == 3 && x.size(1) == o.hidden_channels(), "AttentionEncoder: x [B, ", o.hidden_channels(),
                ", T] expected, got ", x.sizes());
    TORCH_CHECK(x_mask.dim() == 3 && x_mask.size(0) == x.size(0) && x_mask.size(1) == 1 && x_mask.size(2) == x.size(2),
                "AttentionEncoder: x_mask [", x.size(0), ", 1, ", x.size(2), "] expected, got ", x_mask.sizes());
    if (g.defined()) {
      TORCH_CHECK(o.gin_channels() != 0, "AttentionEncoder: g given, but the encoder has no speaker conditioning (gin_channels 0)");
      TORCH_CHECK(g.dim() == 3 && g.size(0) == x.size(0) && g.size(1) == o.gin_channels() && (g.size(2) == 1 || g.size(2) == x.size(2)),
                  "AttentionEncoder: g [", x.size(0), ", ", o.gin_channels(), ", 1] or [", x.size(0), ", ", o.gin_channels(), ", ", x.size(2),
                  "] expected, got ", g.sizes());
    }
    const auto attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1);
    x = x * x_mask;
    for (int64_t i = 0; i < o.n_layers(); ++i) {
      const auto layer = static_cast<size_t>(i);
      if (g.defined() && i == o.cond_layer_idx()) {
        x = (x + spk_emb_linear(g.transpose(1, 2)).transpose(1, 2)) * x_mask;
      }
      auto y = drop(attns_[layer](x, x, attn_mask));
      x = norms_1_[layer](x + y);
      y = drop(ffns_[layer](x, x_mask));
      x = norms_2_[layer](x + y);
    }
    return x * x_mask;
  }

  AttentionEncoderOptions options;
  torch::nn::Linear spk_emb_linear{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList attn_layers{nullptr}, norm_layers_1{nullptr}, ffn_layers{nullptr}, norm_layers_2{nullptr};

 private:
  std::vector<MultiHeadAttention> attns_;
  std::vector<ChannelLayerNorm> norms_1_, norms_2_;
  std::vector<FFN> ffns_;
};
TORCH_MODULE(AttentionEncoder);

}  // namespace chord::nn::vits
