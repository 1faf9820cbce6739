#pragma once
/// @file
/// The F5-TTS DiT backbone (SWivid/F5-TTS `model/backbones/dit.py`, `model/modules.py`, tag 1.1.20):
/// text embedding with ConvNeXt-V2 blocks, input embedding with a convolutional position embedding,
/// interleaved RoPE, AdaLN-Zero DiT blocks and a final AdaLN. Every submodule, parameter and buffer is
/// registered under the reference's name, so a published checkpoint loads key for key.
///
/// Condition dropout is per row (`drop_audio`, `drop_text`: bool `[B]`), which generalises the
/// reference's per-batch flags and lets classifier-free guidance pack its branches into one batch.

#include <torch/arg.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "chord/core/error.hpp"
#include "chord/nn/dit_blocks.hpp"
#include "chord/nn/rotary.hpp"

#include <cmath>
#include <optional>
#include <vector>

namespace chord::nn {

/// Hyperparameters of the F5-TTS DiT (field names follow the Python constructor).
struct F5DiTOptions {
  F5DiTOptions(int64_t dim, int64_t depth, int64_t heads) : dim_(dim), depth_(depth), heads_(heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, depth);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, dim_head) = 64;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(int64_t, ff_mult) = 4;
  TORCH_ARG(int64_t, mel_dim) = 100;
  /// Vocabulary size; the embedding has one more row (id 0 is the filler token).
  TORCH_ARG(int64_t, text_num_embeds) = 256;
  /// 0 means `mel_dim`, as the reference's `text_dim=None`.
  TORCH_ARG(int64_t, text_dim) = 0;
  /// v1 models mask filler/padding tokens in the ConvNeXt stack; v0 (F5TTS_Base) does not.
  TORCH_ARG(bool, text_mask_padding) = true;
  TORCH_ARG(int64_t, conv_layers) = 0;
  /// Apply RoPE to the first n heads only (v0: 1); nullopt = all heads (v1).
  TORCH_ARG(std::optional<int64_t>, pe_attn_head) = std::nullopt;
  /// RMSNorm on queries and keys (`qk_norm="rms_norm"`).
  TORCH_ARG(bool, qk_norm) = false;
  TORCH_ARG(bool, long_skip_connection) = false;
  /// Padded frames are hidden from attention as keys (a key-padding mask; the reference's default
  /// off lets padding reach valid frames). Changes results only for batches of unequal lengths.
  TORCH_ARG(bool, attn_mask_enabled) = false;
  /// Each text token is repeated over its share of the frames (the last `frames mod tokens` tokens one
  /// frame more) instead of the text being padded with filler to the mel length; needs text_mask_padding.
  TORCH_ARG(bool, text_embedding_average_upsampling) = false;

 public:
  int64_t resolved_text_dim() const { return text_dim_ > 0 ? text_dim_ : mel_dim_; }
};

namespace detail {
/// `masked_fill(~mask[..., None], 0)` for `x [B, N, D]`, `mask [B, N]` (no-op for an undefined mask).
inline torch::Tensor zero_invalid_rows(const torch::Tensor& x, const torch::Tensor& mask) {
  return mask.defined() ? x.masked_fill(~mask.unsqueeze(-1), 0.0) : x;
}
/// A per-row flag `[B]` as `[B, 1, ...]` for broadcasting against a tensor of `rank` dimensions.
inline torch::Tensor row_flag(const torch::Tensor& rows, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[0] = rows.size(0);
  return rows.view(shape);
}
}  // namespace detail

/// Global response normalisation over the *time* axis (dim 1), as the reference implements it.
class GRNImpl : public torch::nn::Module {
 public:
  explicit GRNImpl(int64_t dim) {
    gamma = register_parameter("gamma", torch::zeros({1, 1, dim}));
    beta = register_parameter("beta", torch::zeros({1, 1, dim}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto gx = torch::norm(x, 2, {1}, /*keepdim=*/true);
    auto nx = gx / (gx.mean(-1, /*keepdim=*/true) + 1e-6);
    return gamma * (x * nx) + beta + x;
  }
  torch::Tensor gamma, beta;
};
TORCH_MODULE(GRN);

class ConvNeXtV2BlockImpl : public torch::nn::Module {
 public:
  ConvNeXtV2BlockImpl(int64_t dim, int64_t intermediate_dim) {
    dwconv = register_module("dwconv", torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, 7).padding(3).groups(dim)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
    pwconv1 = register_module("pwconv1", torch::nn::Linear(dim, intermediate_dim));
    grn = register_module("grn", GRN(intermediate_dim));
    pwconv2 = register_module("pwconv2", torch::nn::Linear(intermediate_dim, dim));
  }
  /// `x [B, N, D]`.
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = dwconv(x.transpose(1, 2)).transpose(1, 2);
    h = pwconv2(grn(torch::gelu(pwconv1(norm(h)))));
    return x + h;
  }
  torch::nn::Conv1d dwconv{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear pwconv1{nullptr}, pwconv2{nullptr};
  GRN grn{nullptr};
};
TORCH_MODULE(ConvNeXtV2Block);

/// Character / token embedding stretched to the mel length with filler tokens, plus sinusoidal
/// positions and ConvNeXt-V2 blocks when `conv_layers > 0`.
class TextEmbeddingImpl : public torch::nn::Module {
 public:
  TextEmbeddingImpl(int64_t text_num_embeds, int64_t text_dim, bool mask_padding, int64_t conv_layers,
                    bool average_upsampling = false)
      : text_dim_(text_dim), mask_padding_(mask_padding), average_upsampling_(average_upsampling) {
    TORCH_CHECK(!average_upsampling || mask_padding, "F5DiT: text_embedding_average_upsampling needs text_mask_padding");
    text_embed = register_module("text_embed", torch::nn::Embedding(text_num_embeds + 1, text_dim));
    if (conv_layers > 0) {
      text_blocks = register_module("text_blocks", torch::nn::ModuleList());
      for (int64_t i = 0; i < conv_layers; ++i) {
        blocks_.push_back(ConvNeXtV2Block(text_dim, text_dim * 2));
        text_blocks->push_back(blocks_.back());
      }
    }
  }

  /// `text [B, Nt]` ids (−1 padding) → `[B, n, text_dim]`. With `lengths [B]` (per-sample valid mel
  /// lengths, batch > 1) positions past each sample's length are filler and zero; `n = max(lengths)`.
  /// `drop_text [B]` (optional) replaces a row's tokens by filler (classifier-free guidance).
  torch::Tensor forward(const torch::Tensor& text, int64_t n, const torch::Tensor& lengths,
                        const torch::Tensor& drop_text) {
    TORCH_CHECK(text.dim() == 2, "TextEmbedding: text [B, Nt] expected, got ", text.sizes());
    auto ids = text.to(torch::kLong) + 1;  // −1 padding → 0 filler
    torch::Tensor valid;
    if (lengths.defined()) {
      n = lengths.max().item<int64_t>();
      valid = torch::arange(n, ids.options()).unsqueeze(0) < lengths.to(torch::kLong).unsqueeze(1);
    }
    ids = ids.narrow(1, 0, std::min(n, ids.size(1)));
    if (ids.size(1) < n) ids = torch::constant_pad_nd(ids, {0, n - ids.size(1)}, 0);
    if (valid.defined()) ids = ids.masked_fill(~valid, 0);
    torch::Tensor filler;
    if (mask_padding_) filler = ids == 0;  // computed before the drop, as the reference does
    if (drop_text.defined()) ids = ids.masked_fill(detail::row_flag(drop_text, 2), 0);

    auto h = text_embed(ids);
    if (valid.defined()) h = h.masked_fill(~valid.unsqueeze(-1), 0.0);
    if (!blocks_.empty()) {
      auto positions = sinusoid_positions(n, h.options());
      if (valid.defined()) positions = positions.unsqueeze(0) * valid.unsqueeze(-1).to(positions.scalar_type());
      h = h + positions;
      if (mask_padding_) h = h.masked_fill(filler.unsqueeze(-1), 0.0);
      for (auto& block : blocks_) {
        h = block(h);
        if (mask_padding_) h = h.masked_fill(filler.unsqueeze(-1), 0.0);
      }
    }
    return average_upsampling_ ? average_upsample(h, filler, lengths, n) : h;
  }

  /// The reference's average upsampling: row i's real tokens (not filler, as marked before any drop)
  /// are spread over its `lengths[i]` frames (all n without lengths), token j repeated
  /// `frames / tokens` times and the last `frames mod tokens` tokens once more; the rest is zero.
  static torch::Tensor average_upsample(const torch::Tensor& h, const torch::Tensor& filler, const torch::Tensor& lengths, int64_t n) {
    auto out = torch::zeros_like(h);
    for (int64_t i = 0; i < h.size(0); ++i) {
      const auto tokens = (~filler[i]).nonzero().squeeze(1);
      const int64_t count = tokens.size(0);
      const int64_t frames = lengths.defined() ? lengths[i].item<int64_t>() : n;
      if (count == 0 || frames <= 0) continue;
      const int64_t base = frames / count, extra = frames % count;
      auto repeats = torch::full({count}, base, torch::kLong);
      if (extra > 0) repeats.narrow(0, count - extra, extra).add_(1);
      const auto index = tokens.repeat_interleave(repeats.to(tokens.device()));
      out[i].narrow(0, 0, frames).copy_(h[i].index_select(0, index));
    }
    return out;
  }

  torch::nn::Embedding text_embed{nullptr};
  torch::nn::ModuleList text_blocks{nullptr};

 private:
  /// The reference's non-persistent `freqs_cis`: `cat(cos, sin)` of `pos ⊗ 10000^(−2j/dim)`.
  torch::Tensor sinusoid_positions(int64_t n, const torch::TensorOptions& options) const {
    auto inv = 1.0 / torch::pow(10000.0, torch::arange(0, text_dim_, 2, torch::kFloat32).narrow(0, 0, text_dim_ / 2) /
                                             static_cast<double>(text_dim_));
    auto freqs = torch::outer(torch::arange(n, torch::kLong), inv).to(torch::kFloat32);
    return torch::cat({freqs.cos(), freqs.sin()}, -1).to(options);
  }

  int64_t text_dim_;
  bool mask_padding_, average_upsampling_;
  std::vector<ConvNeXtV2Block> blocks_;
};
TORCH_MODULE(TextEmbedding);

/// Two grouped convolutions with Mish (kernel 31, 16 groups); padded frames are zeroed around each.
class ConvPositionEmbeddingImpl : public torch::nn::Module {
 public:
  explicit ConvPositionEmbeddingImpl(int64_t dim, int64_t kernel_size = 31, int64_t groups = 16) {
    auto conv = [&] {
      return torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, kernel_size).groups(groups).padding(kernel_size / 2));
    };
    first_ = conv();
    second_ = conv();
    conv1d = register_module("conv1d", torch::nn::Sequential(first_, torch::nn::Mish(), second_, torch::nn::Mish()));
  }
  /// `x [B, N, D]`, `mask [B, N]` or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask) {
    auto h = x.transpose(1, 2);
    torch::Tensor keep;
    if (mask.defined()) {
      keep = mask.unsqueeze(1);
      h = h.masked_fill(~keep, 0.0);
    }
    h = torch::mish(first_(h));
    if (keep.defined()) h = h.masked_fill(~keep, 0.0);
    h = torch::mish(second_(h));
    if (keep.defined()) h = h.masked_fill(~keep, 0.0);
    return h.transpose(1, 2);
  }
  torch::nn::Sequential conv1d{nullptr};

 private:
  torch::nn::Conv1d first_{nullptr}, second_{nullptr};
};
TORCH_MODULE(ConvPositionEmbedding);

/// `Linear(cat(x, cond, text))` + convolutional positions. `drop_audio [B]` zeroes a row's condition.
class InputEmbeddingImpl : public torch::nn::Module {
 public:
  InputEmbeddingImpl(int64_t mel_dim, int64_t text_dim, int64_t out_dim) {
    proj = register_module("proj", torch::nn::Linear(mel_dim * 2 + text_dim, out_dim));
    conv_pos_embed = register_module("conv_pos_embed", ConvPositionEmbedding(out_dim));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond, const torch::Tensor& text_embed,
                        const torch::Tensor& drop_audio, const torch::Tensor& mask) {
    return embed_noisy(x, condition_projection(cond, text_embed, drop_audio), mask);
  }

  /// The part of `proj` that depends on the conditions only, `W[:, mel:]·cat(cond, text) + b`: constant
  /// across the ODE steps of one sampling call, so it is computed once there.
  torch::Tensor condition_projection(torch::Tensor cond, const torch::Tensor& text_embed, const torch::Tensor& drop_audio) {
    if (drop_audio.defined()) cond = cond.masked_fill(detail::row_flag(drop_audio, 3), 0.0);
    const int64_t mel_dim = cond.size(-1);
    return torch::nn::functional::linear(torch::cat({cond, text_embed}, -1),
                                         proj->weight.narrow(1, mel_dim, proj->weight.size(1) - mel_dim), proj->bias);
  }

  /// The noisy input's share of `proj` plus the condition projection, then the convolutional positions.
  torch::Tensor embed_noisy(const torch::Tensor& x, const torch::Tensor& condition_projection, const torch::Tensor& mask) {
    auto h = torch::matmul(x, proj->weight.narrow(1, 0, x.size(-1)).t()) + condition_projection;
    return conv_pos_embed(h, mask) + h;
  }
  torch::nn::Linear proj{nullptr};
  ConvPositionEmbedding conv_pos_embed{nullptr};
};
TORCH_MODULE(InputEmbedding);

/// Multi-head self-attention with RoPE (diffusers-style `to_q/to_k/to_v/to_out`). Keys are masked
/// only with `mask_keys` (the reference's `attn_mask_enabled`, default off); padded output rows are
/// zeroed either way.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t heads, int64_t dim_head, double dropout, bool qk_norm,
                std::optional<int64_t> pe_attn_head, bool mask_keys = false)
      : heads_(heads), dim_head_(dim_head), pe_attn_head_(pe_attn_head), mask_keys_(mask_keys) {
    const int64_t inner = heads * dim_head;
    to_q = register_module("to_q", torch::nn::Linear(dim, inner));
    to_k = register_module("to_k", torch::nn::Linear(dim, inner));
    to_v = register_module("to_v", torch::nn::Linear(dim, inner));
    if (qk_norm) {
      q_norm = register_module("q_norm", RMSNorm(dim_head, 1e-6));
      k_norm = register_module("k_norm", RMSNorm(dim_head, 1e-6));
    }
    out_proj_ = torch::nn::Linear(inner, dim);
    out_dropout_ = torch::nn::Dropout(dropout);
    to_out = register_module("to_out", torch::nn::ModuleList(out_proj_, out_dropout_));
  }

  /// `x [B, N, D]`, `rope` the rotary table of `[1, N, dim_head]` frequencies, `mask [B, N]` or undefined.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTable& rope, const torch::Tensor& mask) {
    const int64_t batch = x.size(0);
    auto split = [&](const torch::Tensor& t) { return t.view({batch, -1, heads_, dim_head_}).transpose(1, 2); };
    auto q = split(to_q(x)), k = split(to_k(x)), v = split(to_v(x));
    if (q_norm) {
      q = q_norm(q);
      k = k_norm(k);
    }
    if (rope) {
      if (pe_attn_head_) {
        const int64_t n = *pe_attn_head_;
        q = torch::cat({apply_rotary_interleaved(q.narrow(1, 0, n), rope), q.narrow(1, n, heads_ - n)}, 1);
        k = torch::cat({apply_rotary_interleaved(k.narrow(1, 0, n), rope), k.narrow(1, n, heads_ - n)}, 1);
      } else {
        q = apply_rotary_interleaved(q, rope);
        k = apply_rotary_interleaved(k, rope);
      }
    }
    std::optional<torch::Tensor> key_mask;  // [B, 1, 1, N], true = attend
    if (mask_keys_ && mask.defined()) key_mask = mask.to(torch::kBool).view({batch, 1, 1, -1});
    auto h = at::scaled_dot_product_attention(q, k, v, key_mask).transpose(1, 2).reshape({batch, -1, heads_ * dim_head_});
    h = out_dropout_(out_proj_(h.to(q.scalar_type())));
    return detail::zero_invalid_rows(h, mask);
  }

  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  torch::nn::ModuleList to_out{nullptr};

 private:
  int64_t heads_, dim_head_;
  std::optional<int64_t> pe_attn_head_;
  bool mask_keys_;
  torch::nn::Linear out_proj_{nullptr};
  torch::nn::Dropout out_dropout_{nullptr};
};
TORCH_MODULE(Attention);

/// The modulation of a DiT block: `(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp)`.
class AdaLayerNormImpl : public torch::nn::Module {
 public:
  explicit AdaLayerNormImpl(int64_t dim) { linear = register_module("linear", torch::nn::Linear(dim, dim * 6)); }
  /// The six modulation vectors `[B, D]` each.
  std::vector<torch::Tensor> forward(const torch::Tensor& t) { return linear(torch::silu(t)).chunk(6, 1); }
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(AdaLayerNorm);

/// The final modulation: `(scale, shift)` — scale first.
class AdaLayerNormFinalImpl : public torch::nn::Module {
 public:
  explicit AdaLayerNormFinalImpl(int64_t dim) { linear = register_module("linear", torch::nn::Linear(dim, dim * 2)); }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t) {
    auto emb = linear(torch::silu(t)).chunk(2, 1);
    return modulated_layer_norm(x, emb[1], emb[0]);
  }
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(AdaLayerNormFinal);

/// AdaLN-Zero DiT block: modulated attention and tanh-GELU feed-forward, each gated.
class DiTBlockImpl : public torch::nn::Module {
 public:
  DiTBlockImpl(const F5DiTOptions& o) {
    attn_norm = register_module("attn_norm", AdaLayerNorm(o.dim()));
    attn = register_module("attn", Attention(o.dim(), o.heads(), o.dim_head(), o.dropout(), o.qk_norm(), o.pe_attn_head(),
                                             o.attn_mask_enabled()));
    const int64_t inner = o.dim() * o.ff_mult();
    ff_in_ = torch::nn::Linear(o.dim(), inner);
    ff_dropout_ = torch::nn::Dropout(o.dropout());
    ff_out_ = torch::nn::Linear(inner, o.dim());
    // Registered as the reference's FeedForward: ff.ff = [[Linear, GELU], Dropout, Linear].
    auto ff_container = std::make_shared<torch::nn::Module>();
    ff_container->register_module(
        "ff", torch::nn::ModuleList(torch::nn::Sequential(ff_in_, torch::nn::GELU(torch::nn::GELUOptions().approximate("tanh"))),
                                    ff_dropout_, ff_out_));
    ff = register_module("ff", ff_container);
  }

  torch::Tensor forward(torch::Tensor x, const torch::Tensor& t, const RotaryTable& rope, const torch::Tensor& mask) {
    auto m = attn_norm(t);  // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
    auto h = modulated_layer_norm(x, m[0], m[1]);
    x = x + m[2].unsqueeze(1) * attn(h, rope, mask);
    h = modulated_layer_norm(x, m[3], m[4]);
    h = ff_out_(ff_dropout_(torch::gelu(ff_in_(h), "tanh")));
    return x + m[5].unsqueeze(1) * h;
  }

  AdaLayerNorm attn_norm{nullptr};
  Attention attn{nullptr};
  std::shared_ptr<torch::nn::Module> ff;

 private:
  torch::nn::Linear ff_in_{nullptr}, ff_out_{nullptr};
  torch::nn::Dropout ff_dropout_{nullptr};
};
TORCH_MODULE(DiTBlock);

/// The F5-TTS DiT. `forward` matches the reference's `DiT.forward` (with per-row drops); the named
/// stages let the conditioning policy cache the text embedding across ODE steps and let objectives
/// such as DTM read the features before `proj_out`.
class F5DiTImpl : public torch::nn::Module {
 public:
  explicit F5DiTImpl(F5DiTOptions options) : options(std::move(options)) {
    const auto& o = this->options;
    TORCH_CHECK(o.dim() > 0 && o.depth() > 0 && o.heads() > 0 && o.dim_head() > 0, "F5DiTOptions: dim (", o.dim(),
                "), depth (", o.depth(), "), heads (", o.heads(), ") and dim_head must be > 0");
    TORCH_CHECK(!o.pe_attn_head() || (*o.pe_attn_head() >= 0 && *o.pe_attn_head() <= o.heads()),
                "F5DiTOptions.pe_attn_head must be in [0, heads]");
    const int64_t text_dim = o.resolved_text_dim();
    time_embed = register_module("time_embed", TimestepEmbedding(o.dim()));
    text_embed = register_module("text_embed", TextEmbedding(o.text_num_embeds(), text_dim, o.text_mask_padding(), o.conv_layers(),
                                                             o.text_embedding_average_upsampling()));
    input_embed = register_module("input_embed", InputEmbedding(o.mel_dim(), text_dim, o.dim()));
    rotary_embed = register_module("rotary_embed", RotaryEmbedding(o.dim_head()));
    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.depth(); ++i) {
      blocks_.push_back(DiTBlock(o));
      transformer_blocks->push_back(blocks_.back());
    }
    if (o.long_skip_connection()) {
      long_skip_connection = register_module("long_skip_connection",
                                             torch::nn::Linear(torch::nn::LinearOptions(o.dim() * 2, o.dim()).bias(false)));
    }
    norm_out = register_module("norm_out", AdaLayerNormFinal(o.dim()));
    proj_out = register_module("proj_out", torch::nn::Linear(o.dim(), o.mel_dim()));
    zero_init();
  }

  /// The reference's initialisation: AdaLN-Zero modulations and the output projection start at zero.
  void zero_init() {
    torch::NoGradGuard no_grad;
    for (auto& block : blocks_) {
      block->attn_norm->linear->weight.zero_();
      block->attn_norm->linear->bias.zero_();
    }
    norm_out->linear->weight.zero_();
    norm_out->linear->bias.zero_();
    proj_out->weight.zero_();
    proj_out->bias.zero_();
  }

  /// `x, cond [B, N, mel_dim]`, `text [B, Nt]` ids, `time [B]` (or a scalar), `mask [B, N]` or
  /// undefined, `drop_audio`/`drop_text [B]` bool or undefined → velocity `[B, N, mel_dim]`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond, const torch::Tensor& text,
                        const torch::Tensor& time, const torch::Tensor& mask = {}, const torch::Tensor& drop_audio = {},
                        const torch::Tensor& drop_text = {}) {
    auto text_hidden = embed_text(text, x.size(1), mask, drop_text);
    return project(transform(embed_input(x, cond, text_hidden, drop_audio, mask), embed_time(time, x.size(0)), mask));
  }

  /// Text embedding `[B, N, text_dim]` for a mel length `n` (per-sample lengths from `mask`).
  torch::Tensor embed_text(const torch::Tensor& text, int64_t n, const torch::Tensor& mask, const torch::Tensor& drop_text) {
    return text_embed(text, n, mask.defined() ? mask.sum(1) : torch::Tensor(), drop_text);
  }

  torch::Tensor embed_input(const torch::Tensor& x, const torch::Tensor& cond, const torch::Tensor& text_hidden,
                            const torch::Tensor& drop_audio, const torch::Tensor& mask) {
    return embed_noisy(x, embed_condition(cond, text_hidden, drop_audio), mask);
  }

  /// The conditions' share of the input projection `[B, N, dim]` (cacheable across ODE steps).
  torch::Tensor embed_condition(const torch::Tensor& cond, const torch::Tensor& text_hidden, const torch::Tensor& drop_audio) {
    TORCH_CHECK(cond.dim() == 3 && cond.size(2) == options.mel_dim(), "F5DiT: cond [B, N, ", options.mel_dim(),
                "] expected, got ", cond.sizes());
    TORCH_CHECK(text_hidden.size(0) == cond.size(0) && text_hidden.size(1) == cond.size(1), "F5DiT: text embedding ",
                text_hidden.sizes(), " does not cover cond [B, N] = [", cond.size(0), ", ", cond.size(1), "]");
    return input_embed->condition_projection(cond, text_hidden, drop_audio);
  }

  /// The noisy input `x [B, N, mel_dim]` embedded with a condition projection from embed_condition().
  torch::Tensor embed_noisy(const torch::Tensor& x, const torch::Tensor& condition, const torch::Tensor& mask) {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == options.mel_dim(), "F5DiT: x [B, N, ", options.mel_dim(), "] expected, got ",
                x.sizes());
    TORCH_CHECK(condition.size(0) == x.size(0) && condition.size(1) == x.size(1), "F5DiT: condition ", condition.sizes(),
                " does not match x ", x.sizes());
    return input_embed->embed_noisy(x, condition, mask);
  }

  /// `time [B]` or a 0-d tensor → `[B, dim]`.
  torch::Tensor embed_time(const torch::Tensor& time, int64_t batch) {
    return time_embed(time.dim() == 0 ? time.expand({batch}) : time);
  }

  /// The DiT blocks and the final AdaLN: features `[B, N, dim]` (what DTM's head reads).
  torch::Tensor transform(torch::Tensor h, const torch::Tensor& t, const torch::Tensor& mask) {
    const auto rope = rotary_table(rotary_embed(h.size(1)));
    const auto residual = h;
    for (auto& block : blocks_) h = block(h, t, rope, mask);
    if (long_skip_connection) h = long_skip_connection(torch::cat({h, residual}, -1));
    return norm_out(h, t);
  }

  torch::Tensor project(const torch::Tensor& features) { return proj_out(features); }

  F5DiTOptions options;
  TimestepEmbedding time_embed{nullptr};
  TextEmbedding text_embed{nullptr};
  InputEmbedding input_embed{nullptr};
  RotaryEmbedding rotary_embed{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};
  torch::nn::Linear long_skip_connection{nullptr};
  AdaLayerNormFinal norm_out{nullptr};
  torch::nn::Linear proj_out{nullptr};

 private:
  std::vector<DiTBlock> blocks_;
};
TORCH_MODULE(F5DiT);

}  // namespace chord::nn
