#pragma once
/// @file
/// The stable-audio-tools DiT (`DiffusionTransformer` over a `ContinuousTransformer`), the backbone of
/// Stable Audio Open and SAGA-SR, with its four condition channels:
///  - input concat: a latent `[B, T', Cic]` concatenated to the noisy input on channels (nearest-
///    resampled to T when the lengths differ);
///  - cross-attention tokens `[B, S, Ctok]` (→ `to_cond_embed`, no biases, so null tokens stay 0);
///  - a global vector `[B, G]` (→ `to_global_embed`) added to the timestep embedding, then either
///    prepended as one token after any prepend tokens (`GlobalCondition::prepend`, the default) or
///    used for AdaLN in every block (`GlobalCondition::adaptive_layer_norm`);
///  - prepended tokens `[B, P, Cp]` (→ `to_prepend_embed`).
/// Blocks: pre-norm with bias-less LayerNorm, self-attention with partial GPT-NeoX rotary embeddings
/// (the first `max(d_head/2, 32)` channels of each head), cross-attention with grouped KV heads,
/// SwiGLU feed-forward; every branch output, the feed-forward's last layer and the two 1×1 residual
/// convs start at zero. Parameter names follow the reference's state dict.
///
/// Tensors are time-major here (`[B, T, C]`, chord's convention); `forward()` also takes the
/// reference's channel-first layout for parity. What does not change between solver steps (the
/// context's keys and values in every layer, the global and prepended embeddings, the input-concat
/// share of the input projection) is computed once by `embed()` and reused by `run()`.

#include "chord/core/error.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

namespace chord::nn {

/// Where the global vector (timestep embedding + global condition) enters the transformer.
enum class GlobalCondition { prepend, adaptive_layer_norm };

/// Where the timestep embedding enters: added to the global vector (the reference's default), or as
/// extra input-concat channels (`timestep_cond_type="input_concat"`; the reference runs it only with
/// a one-channel embedding, `timestep_embed_dim=1`).
enum class TimestepCondition { global, input_concat };

/// Normalisation of queries and keys per head before the rotary embedding (the transformer's
/// `qk_norm`): none, `l2` (unit length, no parameters), `ln` (LayerNorm eps 1e-6 with weight and bias),
/// `dyt` (DynamicTanh: `gamma·tanh(alpha·x) + beta`).
enum class QkNorm { none, l2, layer_norm, dynamic_tanh };

struct StableAudioDiTOptions {
  StableAudioDiTOptions(int64_t embed_dim, int64_t depth, int64_t num_heads)
      : embed_dim_(embed_dim), depth_(depth), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, depth);
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(int64_t, io_channels) = 64;        ///< latent channels of the noisy input and the output
  TORCH_ARG(int64_t, input_concat_dim) = 0;    ///< channels of the input-concat condition (0 = none)
  TORCH_ARG(int64_t, cond_token_dim) = 0;      ///< width of cross-attention tokens (0 = no cross-attention)
  TORCH_ARG(bool, project_cond_tokens) = true; ///< project tokens to embed_dim (else keep cond_token_dim)
  TORCH_ARG(int64_t, global_cond_dim) = 0;     ///< width of the global vector (0 = timestep only)
  TORCH_ARG(bool, project_global_cond) = true;
  TORCH_ARG(int64_t, prepend_cond_dim) = 0;    ///< width of prepended tokens (0 = none)
  /// The seed's `_build_rolloff_prepend`: the timestep embedding is added to the prepended tokens
  /// (then `to_prepend_embed`) at every step; needs prepend_cond_dim == embed_dim. Not in the reference.
  TORCH_ARG(bool, prepend_adds_timestep) = false;
  TORCH_ARG(GlobalCondition, global_cond_type) = GlobalCondition::prepend;
  TORCH_ARG(double, ff_mult) = 4.0;
  /// Frames per transformer token: `patch_size` consecutive frames are packed channel-major
  /// (`b (t p) c -> b t (c p)`) before `project_in` and unpacked after `project_out`.
  TORCH_ARG(int64_t, patch_size) = 1;
  /// Learned tokens `transformer.memory_tokens [M, embed_dim]` in front of every sequence.
  TORCH_ARG(int64_t, num_memory_tokens) = 0;
  TORCH_ARG(QkNorm, qk_norm) = QkNorm::none;
  TORCH_ARG(TimestepCondition, timestep_cond_type) = TimestepCondition::global;
  /// Width of the timestep embedding; 0 = embed_dim (the only width the global route accepts).
  TORCH_ARG(int64_t, timestep_embed_dim) = 0;

 public:  // TORCH_ARG leaves the access private
  int64_t dim() const { return embed_dim_; }
  int64_t dim_heads() const { return embed_dim_ / num_heads_; }
  /// Width of the context the cross-attention sees.
  int64_t context_dim() const { return project_cond_tokens_ ? embed_dim_ : cond_token_dim_; }
  int64_t rotary_dim() const { return std::max<int64_t>(dim_heads() / 2, 32); }
  int64_t resolved_timestep_embed_dim() const { return timestep_embed_dim_ > 0 ? timestep_embed_dim_ : embed_dim_; }
  /// Channels entering `preprocess_conv`: the noisy latent, the input-concat condition and, with the
  /// input-concat timestep route, the timestep embedding.
  int64_t input_channels() const {
    return io_channels_ + input_concat_dim_ + (timestep_cond_type_ == TimestepCondition::input_concat ? resolved_timestep_embed_dim() : 0);
  }

  /// Throws chord::Error naming the bad value; in particular a context too wide for the query heads
  /// (the reference would divide by zero inside repeat_interleave).
  void validate() const {
    CHORD_CHECK(embed_dim_ > 0 && depth_ > 0 && num_heads_ > 0, "StableAudioDiT: embed_dim, depth and num_heads must be > 0");
    CHORD_CHECK(embed_dim_ % num_heads_ == 0, "StableAudioDiT: embed_dim ", embed_dim_, " is not divisible by num_heads ", num_heads_);
    CHORD_CHECK(rotary_dim() <= dim_heads(), "StableAudioDiT: heads of ", dim_heads(),
                " channels are narrower than the rotary width ", rotary_dim(), " (use fewer heads)");
    CHORD_CHECK(io_channels_ > 0, "StableAudioDiT: io_channels must be > 0");
    CHORD_CHECK(patch_size_ >= 1, "StableAudioDiT: patch_size must be >= 1, got ", patch_size_);
    CHORD_CHECK(num_memory_tokens_ >= 0, "StableAudioDiT: num_memory_tokens must be >= 0");
    CHORD_CHECK(timestep_cond_type_ == TimestepCondition::input_concat || resolved_timestep_embed_dim() == embed_dim_,
                "StableAudioDiT: a timestep embedding of ", timestep_embed_dim_, " channels cannot be added to the global vector of ",
                embed_dim_, " (timestep_cond_type global)");
    CHORD_CHECK(timestep_cond_type_ != TimestepCondition::input_concat || timestep_embed_dim_ == 1,
                "StableAudioDiT: timestep_cond_type input_concat needs timestep_embed_dim 1 (stable-audio-tools expands a [B, 1, E] "
                "embedding over time, which fails for any other width), got ", timestep_embed_dim_);
    CHORD_CHECK(!(prepend_adds_timestep_ && timestep_cond_type_ == TimestepCondition::input_concat),
                "StableAudioDiT: prepend_adds_timestep needs the timestep on the global route");
    CHORD_CHECK(!prepend_adds_timestep_ || prepend_cond_dim_ == embed_dim_, "StableAudioDiT: prepend_adds_timestep needs prepended "
                "tokens as wide as the timestep embedding (prepend_cond_dim ", prepend_cond_dim_, ", embed_dim ", embed_dim_, ")");
    if (cond_token_dim_ > 0) {
      const int64_t ctx = context_dim();
      CHORD_CHECK(ctx % dim_heads() == 0, "StableAudioDiT: the cross-attention context (", ctx,
                  " channels) does not split into heads of ", dim_heads());
      const int64_t kv_heads = ctx / dim_heads();
      CHORD_CHECK(kv_heads <= num_heads_ && num_heads_ % kv_heads == 0, "StableAudioDiT: cross-attention tokens of ", ctx,
                  " channels give ", kv_heads, " key/value heads for ", num_heads_,
                  " query heads; grouped attention needs a divisor of the query heads. Set project_cond_tokens(true) "
                  "(tokens projected to embed_dim ", embed_dim_, ") or use cond_token_dim ≤ embed_dim.");
    }
  }
};

/// A module holding one tensor under the name `weight` (the reference's `FourierFeatures` and
/// bias-less 1×1 `Conv1d`s, whose only state is `<name>.weight`).
class WeightImpl : public torch::nn::Module {
 public:
  explicit WeightImpl(torch::Tensor initial) { weight = register_parameter("weight", std::move(initial)); }
  torch::Tensor weight;
};
TORCH_MODULE(Weight);

/// The reference's `RotaryEmbedding(dim)` state: `inv_freq = 1 / 10000^(2i/dim)` (a saved buffer).
class RotaryFrequenciesImpl : public torch::nn::Module {
 public:
  explicit RotaryFrequenciesImpl(int64_t dim) {
    inv_freq = register_buffer("inv_freq", 1.0 / torch::pow(10000.0, torch::arange(0, dim, 2, torch::kFloat32) / static_cast<double>(dim)));
  }
  torch::Tensor inv_freq;
};
TORCH_MODULE(RotaryFrequencies);

/// stable-audio-tools `LayerNorm`: learnable gain `gamma`, a zero bias kept as buffer `beta`, eps 1e-5.
class BiasFreeLayerNormImpl : public torch::nn::Module {
 public:
  explicit BiasFreeLayerNormImpl(int64_t dim) {
    gamma = register_parameter("gamma", torch::ones({dim}));
    beta = register_buffer("beta", torch::zeros({dim}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return at::layer_norm(x, {x.size(-1)}, gamma, beta, 1e-5, /*cudnn_enable=*/true);
  }
  torch::Tensor gamma, beta;
};
TORCH_MODULE(BiasFreeLayerNorm);

/// `cos` and `sin` `[N, rotary_dim]` of the NeoX-style table `cat(pos·f, pos·f)`.
struct HalfSplitRotary {
  torch::Tensor cos, sin;
};

/// Partial NeoX rotary on `x [B, N, H, Dh]`: the first `rot` channels become
/// `x·cos + rotate_half(x)·sin` with `rotate_half([a, b]) = [−b, a]` over halves; the rest pass.
inline torch::Tensor apply_half_split_rotary(const torch::Tensor& x, const HalfSplitRotary& table) {
  const int64_t rot = table.cos.size(-1), half = rot / 2;
  auto cos = table.cos.view({1, -1, 1, rot});
  auto sin = table.sin.view({1, -1, 1, rot});
  auto head = x.narrow(-1, 0, rot);
  auto rotated = torch::cat({-head.narrow(-1, half, half), head.narrow(-1, 0, half)}, -1);
  auto out = head * cos + rotated * sin;
  if (rot == x.size(-1)) return out;
  return torch::cat({out, x.narrow(-1, rot, x.size(-1) - rot)}, -1);
}

/// The per-head query/key normalisation (see QkNorm), registered as `q_norm` / `k_norm`.
class QkNormalizationImpl : public torch::nn::Module {
 public:
  QkNormalizationImpl(QkNorm kind, int64_t dim_heads) : kind_(kind), dim_heads_(dim_heads) {
    if (kind == QkNorm::layer_norm) {
      weight = register_parameter("weight", torch::ones({dim_heads}));
      bias = register_parameter("bias", torch::zeros({dim_heads}));
    } else if (kind == QkNorm::dynamic_tanh) {
      alpha = register_parameter("alpha", torch::full({1}, 10.0));
      gamma = register_parameter("gamma", torch::ones({dim_heads}));
      beta = register_parameter("beta", torch::zeros({dim_heads}));
    }
  }
  /// `x [..., Dh]`.
  torch::Tensor forward(const torch::Tensor& x) {
    switch (kind_) {
      case QkNorm::l2: return x / x.norm(2, -1, true).clamp_min(1e-12);
      case QkNorm::layer_norm: return at::layer_norm(x, {dim_heads_}, weight, bias, 1e-6, /*cudnn_enable=*/true);
      case QkNorm::dynamic_tanh: return gamma * torch::tanh(alpha * x) + beta;
      case QkNorm::none: break;
    }
    return x;
  }
  torch::Tensor weight, bias, alpha, gamma, beta;

 private:
  QkNorm kind_;
  int64_t dim_heads_;
};
TORCH_MODULE(QkNormalization);

/// Self- or cross-attention (`to_qkv` or `to_q` + `to_kv`, `to_out`; no biases; `to_out` zero-init).
/// Cross-attention with fewer key/value heads than query heads groups `heads / kv_heads` consecutive
/// query heads per key/value head (the reference's repeat_interleave), without copying keys.
class StableAttentionImpl : public torch::nn::Module {
 public:
  StableAttentionImpl(int64_t dim, int64_t dim_heads, std::optional<int64_t> context_dim, QkNorm qk_norm = QkNorm::none)
      : heads_(dim / dim_heads), dim_heads_(dim_heads) {
    if (context_dim) {
      kv_heads_ = *context_dim / dim_heads;
      to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(dim, dim).bias(false)));
      to_kv = register_module("to_kv", torch::nn::Linear(torch::nn::LinearOptions(*context_dim, 2 * *context_dim).bias(false)));
    } else {
      kv_heads_ = heads_;
      to_qkv = register_module("to_qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(false)));
    }
    to_out = register_module("to_out", torch::nn::Linear(torch::nn::LinearOptions(dim, dim).bias(false)));
    if (qk_norm != QkNorm::none) {
      q_norm = register_module("q_norm", QkNormalization(qk_norm, dim_heads));
      k_norm = register_module("k_norm", QkNormalization(qk_norm, dim_heads));
    }
    torch::NoGradGuard no_grad;
    to_out->weight.zero_();
  }

  /// Keys and values of a context `[B, S, Cctx]`, each `[B, Hkv, S, Dh]`.
  std::pair<torch::Tensor, torch::Tensor> context_keys_values(const torch::Tensor& context) {
    auto kv = to_kv(context).view({context.size(0), context.size(1), 2, kv_heads_, dim_heads_});
    auto keys = kv.select(2, 0);
    if (k_norm) keys = k_norm(keys);
    return {keys.transpose(1, 2), kv.select(2, 1).transpose(1, 2)};
  }

  /// Self-attention over `x [B, N, D]` with the rotary table over all N positions.
  torch::Tensor self_attention(const torch::Tensor& x, const HalfSplitRotary& rotary) {
    const int64_t b = x.size(0), n = x.size(1);
    auto qkv = to_qkv(x).view({b, n, 3, heads_, dim_heads_});
    auto q = qkv.select(2, 0), k = qkv.select(2, 1);
    if (q_norm) {
      q = q_norm(q);
      k = k_norm(k);
    }
    q = apply_half_split_rotary(q, rotary).transpose(1, 2);
    k = apply_half_split_rotary(k, rotary).transpose(1, 2);
    auto v = qkv.select(2, 2).transpose(1, 2);
    return to_out(at::scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape({b, n, heads_ * dim_heads_}));
  }

  /// Cross-attention of `x [B, N, D]` to precomputed keys and values.
  torch::Tensor cross_attention(const torch::Tensor& x, const torch::Tensor& keys, const torch::Tensor& values) {
    const int64_t b = x.size(0), n = x.size(1), group = heads_ / kv_heads_;
    // [B, N, H, Dh] → [B, Hkv, group·N, Dh]: query head h = g·group + r reads key/value head g.
    auto q = to_q(x).view({b, n, kv_heads_, group, dim_heads_});
    if (q_norm) q = q_norm(q);
    q = q.permute({0, 2, 3, 1, 4}).reshape({b, kv_heads_, group * n, dim_heads_});
    auto out = at::scaled_dot_product_attention(q, keys, values);  // [B, Hkv, group·N, Dh]
    return to_out(out.view({b, kv_heads_, group, n, dim_heads_}).permute({0, 3, 1, 2, 4}).reshape({b, n, heads_ * dim_heads_}));
  }

  torch::nn::Linear to_qkv{nullptr}, to_q{nullptr}, to_kv{nullptr}, to_out{nullptr};
  QkNormalization q_norm{nullptr}, k_norm{nullptr};

 private:
  int64_t heads_, dim_heads_, kv_heads_;
};
TORCH_MODULE(StableAttention);

/// The value/gate projection of SwiGLU: `proj = Linear(dim, 2·inner)`, `value · SiLU(gate)`.
class SwiGLUImpl : public torch::nn::Module {
 public:
  SwiGLUImpl(int64_t dim, int64_t inner) { proj = register_module("proj", torch::nn::Linear(dim, 2 * inner)); }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = proj(x).chunk(2, -1);
    return h[0] * torch::silu(h[1]);
  }
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(SwiGLU);

/// The feed-forward `ff = Sequential(SwiGLU, Identity, Linear, Identity)` (reference key layout
/// `ff.ff.0.proj.*`, `ff.ff.2.*`), the last layer zero-initialised.
class StableFeedForwardImpl : public torch::nn::Module {
 public:
  StableFeedForwardImpl(int64_t dim, double mult) {
    const auto inner = static_cast<int64_t>(static_cast<double>(dim) * mult);
    glu_ = SwiGLU(dim, inner);
    out_ = torch::nn::Linear(inner, dim);
    ff = register_module("ff", torch::nn::Sequential(glu_, torch::nn::Identity(), out_, torch::nn::Identity()));
    torch::NoGradGuard no_grad;
    out_->weight.zero_();
    out_->bias.zero_();
  }
  torch::Tensor forward(const torch::Tensor& x) { return out_(glu_(x)); }
  torch::nn::Sequential ff{nullptr};

 private:
  SwiGLU glu_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(StableFeedForward);

class StableTransformerBlockImpl : public torch::nn::Module {
 public:
  StableTransformerBlockImpl(const StableAudioDiTOptions& o, bool adaptive) {
    const int64_t dim = o.embed_dim();
    pre_norm = register_module("pre_norm", BiasFreeLayerNorm(dim));
    self_attn = register_module("self_attn", StableAttention(dim, o.dim_heads(), std::nullopt, o.qk_norm()));
    if (o.cond_token_dim() > 0) {
      cross_attend_norm = register_module("cross_attend_norm", BiasFreeLayerNorm(dim));
      cross_attn = register_module("cross_attn", StableAttention(dim, o.dim_heads(), o.context_dim(), o.qk_norm()));
    }
    ff_norm = register_module("ff_norm", BiasFreeLayerNorm(dim));
    ff = register_module("ff", StableFeedForward(dim, o.ff_mult()));
    if (adaptive) {
      to_scale_shift_gate = register_parameter("to_scale_shift_gate", torch::randn({6 * dim}) / std::sqrt(static_cast<double>(dim)));
    }
  }

  /// `x [B, N, D]`; `keys/values` the context's (undefined = no cross-attention); `global [B, 6D]`
  /// the embedded AdaLN vector or undefined.
  torch::Tensor forward(torch::Tensor x, const HalfSplitRotary& rotary, const torch::Tensor& keys,
                        const torch::Tensor& values, const torch::Tensor& global) {
    if (to_scale_shift_gate.defined() && global.defined()) {
      auto m = (to_scale_shift_gate + global).unsqueeze(1).chunk(6, -1);  // scale, shift, gate × (attn, ff)
      auto h = pre_norm(x) * (1 + m[0]) + m[1];
      x = x + self_attn->self_attention(h, rotary) * torch::sigmoid(1 - m[2]);
      if (keys.defined() && cross_attn) x = x + cross_attn->cross_attention(cross_attend_norm(x), keys, values);
      h = ff_norm(x) * (1 + m[3]) + m[4];
      return x + ff(h) * torch::sigmoid(1 - m[5]);
    }
    x = x + self_attn->self_attention(pre_norm(x), rotary);
    if (keys.defined() && cross_attn) x = x + cross_attn->cross_attention(cross_attend_norm(x), keys, values);
    return x + ff(ff_norm(x));
  }

  BiasFreeLayerNorm pre_norm{nullptr}, cross_attend_norm{nullptr}, ff_norm{nullptr};
  StableAttention self_attn{nullptr}, cross_attn{nullptr};
  StableFeedForward ff{nullptr};
  torch::Tensor to_scale_shift_gate;
};
TORCH_MODULE(StableTransformerBlock);

/// `ContinuousTransformer`: `project_in` → `[prepend | x]` → blocks → `project_out` (no biases).
class ContinuousTransformerImpl : public torch::nn::Module {
 public:
  ContinuousTransformerImpl(const StableAudioDiTOptions& o, int64_t dim_in) {
    const int64_t dim = o.embed_dim();
    const bool adaptive = o.global_cond_type() == GlobalCondition::adaptive_layer_norm;
    const int64_t p = o.patch_size();
    project_in = register_module("project_in", torch::nn::Linear(torch::nn::LinearOptions(dim_in * p, dim).bias(false)));
    project_out = register_module("project_out", torch::nn::Linear(torch::nn::LinearOptions(dim, o.io_channels() * p).bias(false)));
    rotary_pos_emb = register_module("rotary_pos_emb", RotaryFrequencies(o.rotary_dim()));
    if (o.num_memory_tokens() > 0) memory_tokens = register_parameter("memory_tokens", torch::randn({o.num_memory_tokens(), dim}));
    if (adaptive) {
      global_cond_embedder = register_module(
          "global_cond_embedder", torch::nn::Sequential(torch::nn::Linear(dim, dim), torch::nn::SiLU(), torch::nn::Linear(dim, 6 * dim)));
    }
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.depth(); ++i) {
      blocks.push_back(StableTransformerBlock(o, adaptive));
      layers->push_back(blocks.back());
    }
  }

  /// The NeoX table for positions `0..n-1` (float32, like the reference).
  HalfSplitRotary rotary(int64_t n) const {
    const auto& inv_freq = rotary_pos_emb->inv_freq;
    auto positions = torch::arange(n, inv_freq.options());
    auto freqs = torch::outer(positions, inv_freq);
    freqs = torch::cat({freqs, freqs}, -1);
    return {freqs.cos(), freqs.sin()};
  }

  torch::nn::Linear project_in{nullptr}, project_out{nullptr};
  RotaryFrequencies rotary_pos_emb{nullptr};
  torch::Tensor memory_tokens;  ///< `[M, E]` or undefined
  torch::nn::Sequential global_cond_embedder{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<StableTransformerBlock> blocks;
};
TORCH_MODULE(ContinuousTransformer);

/// The raw condition inputs (time-major; undefined = channel unused).
struct StableAudioConditions {
  torch::Tensor cross_attention;  ///< `[B, S, cond_token_dim]`
  torch::Tensor global;           ///< `[B, global_cond_dim]`
  torch::Tensor input_concat;     ///< `[B, T', input_concat_dim]`
  torch::Tensor prepend;          ///< `[B, P, prepend_cond_dim]`
  torch::Tensor prepend_dropped;  ///< bool `[B]`: rows whose prepended tokens are zeros (after the timestep is added)
};

/// The conditions embedded once for any number of `run()` calls.
struct StableAudioEmbedded {
  std::vector<torch::Tensor> keys, values;  ///< per layer `[B, Hkv, S, Dh]` (empty = no cross-attention)
  torch::Tensor global;                     ///< `to_global_embed(global)` `[B, E]` or undefined
  torch::Tensor prepend;                    ///< `to_prepend_embed(prepend)` `[B, P, E]` or undefined
  torch::Tensor prepend_condition;          ///< with prepend_adds_timestep: the raw tokens, embedded per step
  torch::Tensor prepend_kept;               ///< with prepend_adds_timestep: `[B, 1, 1]` 0 on dropped rows, else 1
  /// `project_in ∘ (1 + preprocess_conv)` restricted to x's channels, `[E, p·Cio]` over a token's frames
  /// (frame-major: column j·Cio + c is channel c of the token's frame j).
  torch::Tensor input_weight;
  /// patch_size 1: the input-concat channels' share of the projection `[B, T', E]` (resampled per run);
  /// larger patches: the raw condition `[B, T', Cic]` and its weight `[E, p·Cic]` (resampled, then projected).
  torch::Tensor concat_projection, concat_condition, concat_weight;
  torch::Tensor timestep_weight;            ///< input-concat timestep route: `[E]`, the timestep channel's weight over a token
};

class StableAudioDiTImpl : public torch::nn::Module {
 public:
  explicit StableAudioDiTImpl(StableAudioDiTOptions options_) : options(std::move(options_)) {
    options.validate();
    const auto& o = options;
    const int64_t dim = o.embed_dim();
    const int64_t dim_in = o.input_channels();
    timestep_features = register_module("timestep_features", Weight(torch::randn({128, 1})));
    to_timestep_embed = register_module("to_timestep_embed", mlp(256, o.resolved_timestep_embed_dim(), /*bias=*/true));
    if (o.cond_token_dim() > 0) to_cond_embed = register_module("to_cond_embed", mlp(o.cond_token_dim(), o.context_dim(), false));
    if (o.global_cond_dim() > 0) {
      to_global_embed = register_module("to_global_embed",
                                        mlp(o.global_cond_dim(), o.project_global_cond() ? dim : o.global_cond_dim(), false));
      CHORD_CHECK(o.project_global_cond() || o.global_cond_dim() == dim, "StableAudioDiT: an unprojected global vector (",
                  o.global_cond_dim(), ") must have embed_dim ", dim, " channels to add to the timestep embedding");
    }
    if (o.prepend_cond_dim() > 0) to_prepend_embed = register_module("to_prepend_embed", mlp(o.prepend_cond_dim(), dim, false));
    transformer = register_module("transformer", ContinuousTransformer(o, dim_in));
    preprocess_conv = register_module("preprocess_conv", Weight(torch::zeros({dim_in, dim_in, 1})));
    postprocess_conv = register_module("postprocess_conv", Weight(torch::zeros({o.io_channels(), o.io_channels(), 1})));
  }

  /// Embeds what stays fixed across solver steps. Shapes are checked against the options.
  StableAudioEmbedded embed(const StableAudioConditions& c) {
    const auto& o = options;
    StableAudioEmbedded e;
    auto check = [](const torch::Tensor& t, int64_t dims, int64_t width, int64_t expected, const char* what) {
      TORCH_CHECK(t.dim() == dims && t.size(-1) == expected, "StableAudioDiT: ", what, " with ", expected,
                  " channels expected (", dims, " dims), got ", t.sizes(), width == 0 ? " but the model has no such channel" : "");
    };
    if (c.cross_attention.defined()) {
      check(c.cross_attention, 3, o.cond_token_dim(), o.cond_token_dim(), "cross-attention tokens [B, S, C]");
      auto context = to_cond_embed->forward(c.cross_attention);
      for (auto& block : transformer->blocks) {
        auto [k, v] = block->cross_attn->context_keys_values(context);
        e.keys.push_back(k);
        e.values.push_back(v);
      }
    }
    if (c.global.defined()) {
      check(c.global, 2, o.global_cond_dim(), o.global_cond_dim(), "global vector [B, G]");
      e.global = to_global_embed->forward(c.global);
    }
    if (c.prepend.defined()) {
      check(c.prepend, 3, o.prepend_cond_dim(), o.prepend_cond_dim(), "prepended tokens [B, P, C]");
      torch::Tensor kept;
      if (c.prepend_dropped.defined()) {
        TORCH_CHECK(c.prepend_dropped.dim() == 1 && c.prepend_dropped.size(0) == c.prepend.size(0), "StableAudioDiT: prepend_dropped [",
                    c.prepend.size(0), "] expected, got ", c.prepend_dropped.sizes());
        kept = c.prepend_dropped.logical_not().to(c.prepend.options()).view({-1, 1, 1});
      }
      if (o.prepend_adds_timestep()) {
        e.prepend_condition = c.prepend;
        e.prepend_kept = kept;
      } else {
        e.prepend = to_prepend_embed->forward(kept.defined() ? c.prepend * kept : c.prepend);
      }
    } else {
      TORCH_CHECK(!o.prepend_adds_timestep(), "StableAudioDiT: the model adds the timestep to prepended tokens; pass prepend [B, P, ",
                  o.prepend_cond_dim(), "]");
    }
    // project_in(patch(x_cat + conv(x_cat))): with W_j the columns of project_in for a token's frame j
    // (the reference packs channel-major, column c·p + j), a token is Σ_j W_j·(I + W_pre)·x_cat[frame j].
    // The folded weight [E, p, dim_in] is split over x's, the condition's and the timestep's channels.
    const int64_t dim = o.embed_dim(), dim_in = o.input_channels(), p = o.patch_size(), io = o.io_channels(), concat = o.input_concat_dim();
    const auto lift = preprocess_conv->weight.squeeze(-1) + torch::eye(dim_in, preprocess_conv->weight.options());
    const auto columns = transformer->project_in->weight.view({dim, dim_in, p});
    std::vector<torch::Tensor> per_frame;
    for (int64_t j = 0; j < p; ++j) per_frame.push_back(torch::matmul(columns.select(2, j), lift));
    const auto folded = torch::stack(per_frame, 1);  // [E, p, dim_in]
    auto share = [&](int64_t first, int64_t count) { return folded.narrow(2, first, count).reshape({dim, p * count}); };
    e.input_weight = share(0, io);
    if (concat > 0) {
      TORCH_CHECK(c.input_concat.defined(), "StableAudioDiT: the model has an input-concat channel (", concat,
                  " channels); pass input_concat [B, T, ", concat, "]");
      check(c.input_concat, 3, concat, concat, "input-concat condition [B, T, C]");
      if (p == 1) {
        e.concat_projection = torch::matmul(c.input_concat, share(io, concat).t());
      } else {
        e.concat_condition = c.input_concat;
        e.concat_weight = share(io, concat);
      }
    } else {
      TORCH_CHECK(!c.input_concat.defined(), "StableAudioDiT: input_concat given but input_concat_dim is 0");
    }
    if (o.timestep_cond_type() == TimestepCondition::input_concat) e.timestep_weight = share(io + concat, 1).sum(1);
    return e;
  }

  /// The velocity (or hidden features before `project_out`, `features = true`) for `x [B, T, Cio]`
  /// at times `t [B]` (or one scalar time), target frames only.
  torch::Tensor run(const torch::Tensor& x, const torch::Tensor& time, const StableAudioEmbedded& e, bool features = false) {
    const auto& o = options;
    TORCH_CHECK(x.dim() == 3 && x.size(2) == o.io_channels(), "StableAudioDiT: x [B, T, ", o.io_channels(), "] expected, got ", x.sizes());
    const auto t = time.dim() == 0 ? time.expand({x.size(0)}) : time;  // a solver's scalar time
    TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "StableAudioDiT: t [", x.size(0), "] or a scalar expected, got ", t.sizes());
    const int64_t frames = x.size(1), p = o.patch_size();
    TORCH_CHECK(frames % p == 0, "StableAudioDiT: ", frames, " frames do not split into patches of ", p);
    TORCH_CHECK(!features || p == 1, "StableAudioDiT: features are per token, not per frame, with patch_size ", p);
    const int64_t tokens = frames / p;
    auto h = torch::matmul(p == 1 ? x : x.reshape({x.size(0), tokens, p * o.io_channels()}), e.input_weight.t());
    if (e.concat_projection.defined()) h = h + resample_nearest(e.concat_projection, frames);
    if (e.concat_condition.defined()) {
      h = h + torch::matmul(resample_nearest(e.concat_condition, frames).reshape({x.size(0), tokens, -1}), e.concat_weight.t());
    }

    const auto timestep = to_timestep_embed->forward(timestep_fourier_features(t.to(x.scalar_type())));
    torch::Tensor global = e.global;
    if (o.timestep_cond_type() == TimestepCondition::global) {
      global = global.defined() ? global + timestep : timestep;
    } else {
      h = h + timestep.unsqueeze(1) * e.timestep_weight;  // a [B, 1] channel constant over time
    }

    std::vector<torch::Tensor> prefix;
    if (transformer->memory_tokens.defined()) prefix.push_back(transformer->memory_tokens.unsqueeze(0).expand({x.size(0), -1, -1}));
    if (e.prepend.defined()) prefix.push_back(e.prepend);
    if (e.prepend_condition.defined()) {
      auto tokens = e.prepend_condition + timestep.unsqueeze(1);
      prefix.push_back(to_prepend_embed->forward(e.prepend_kept.defined() ? tokens * e.prepend_kept : tokens));
    }
    torch::Tensor adaptive;
    if (global.defined()) {
      if (o.global_cond_type() == GlobalCondition::prepend) prefix.push_back(global.unsqueeze(1));
      else adaptive = transformer->global_cond_embedder->forward(global);
    }
    int64_t prefix_length = 0;
    for (const auto& part : prefix) prefix_length += part.size(1);
    if (!prefix.empty()) {
      prefix.push_back(h);
      h = torch::cat(prefix, 1);
    }

    const auto rotary = transformer->rotary(h.size(1));
    const bool cross = !e.keys.empty();
    for (size_t i = 0; i < transformer->blocks.size(); ++i) {
      h = transformer->blocks[i]->forward(h, rotary, cross ? e.keys[i] : torch::Tensor(), cross ? e.values[i] : torch::Tensor(), adaptive);
    }
    if (prefix_length > 0) h = h.narrow(1, prefix_length, tokens);
    if (features) return h;
    auto out = transformer->project_out(h);
    // Unpatch (`b (c p) t -> b c (t p)`: channel c of a token's frame j is output column c·p + j).
    if (p > 1) out = out.view({x.size(0), tokens, o.io_channels(), p}).transpose(2, 3).reshape({x.size(0), frames, o.io_channels()});
    // postprocess_conv(out) + out over channels.
    return out + torch::matmul(out, postprocess_conv->weight.squeeze(-1).t());
  }

  /// `F.interpolate(mode="nearest")` along time of `source [B, T', C]` to `frames`: the reference's own
  /// kernel (frame i reads ⌊i·s⌋ with the scale s = T'/frames in float32; a double-precision rule
  /// disagrees on hundreds of length pairs).
  static torch::Tensor resample_nearest(const torch::Tensor& source, int64_t frames) {
    if (source.size(1) == frames) return source;
    return at::upsample_nearest1d(source.transpose(1, 2), {frames}).transpose(1, 2);
  }

  /// `FourierFeatures(1, 256)` of `t [B]`: `[cos 2π·t·w, sin 2π·t·w]` (cos first) `[B, 256]`.
  torch::Tensor timestep_fourier_features(const torch::Tensor& t) const {
    auto phase = t.unsqueeze(1) * timestep_features->weight.t() * (2.0 * M_PI);
    return torch::cat({phase.cos(), phase.sin()}, -1);
  }

  /// The reference's call: `x [B, Cio, T]`, `t [B]`, channel-first `input_concat [B, Cic, T']`;
  /// returns `[B, Cio, T]`. One pass, no guidance.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cross_attention = {},
                        const torch::Tensor& global = {}, const torch::Tensor& input_concat = {}, const torch::Tensor& prepend = {}) {
    StableAudioConditions c{cross_attention, global, input_concat.defined() ? input_concat.transpose(1, 2) : torch::Tensor(), prepend};
    return run(x.transpose(1, 2), t, embed(c)).transpose(1, 2);
  }

  StableAudioDiTOptions options;
  Weight timestep_features{nullptr}, preprocess_conv{nullptr}, postprocess_conv{nullptr};
  torch::nn::Sequential to_timestep_embed{nullptr}, to_cond_embed{nullptr}, to_global_embed{nullptr}, to_prepend_embed{nullptr};
  ContinuousTransformer transformer{nullptr};

 private:
  static torch::nn::Sequential mlp(int64_t in, int64_t out, bool bias) {
    return torch::nn::Sequential(torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)), torch::nn::SiLU(),
                                 torch::nn::Linear(torch::nn::LinearOptions(out, out).bias(bias)));
  }

};
TORCH_MODULE(StableAudioDiT);

}  // namespace chord::nn
