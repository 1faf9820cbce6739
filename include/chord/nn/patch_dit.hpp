#pragma once
/// @file
/// A DiT over 2-D patches with optional prepended condition tokens (seed 003): the target tile
/// (e.g. a 64×64 log-mel tile, patch 4 → 256 tokens) and a condition tile (e.g. its 32×32 downsampled
/// version → 64 tokens) are embedded by separate linear patch embeddings, each with its own 2-D
/// position table, concatenated as `[condition | target]` and run through AdaLN-Zero blocks; the
/// output is the target tokens only. One set of weights serves unconditional (256-token) and
/// conditional (320-token) inputs.
///
/// Positions are either learned absolute tables (initialised with 2-D sin-cos, the seed's
/// `pos_embed` / `cond_pos_embed`) or 2-D rotary embeddings on the attention (no tables; a condition
/// token sits at the centre of the target area it summarises), chosen by `positions`.

#include "chord/core/error.hpp"
#include "chord/nn/dit_blocks.hpp"
#include "chord/nn/rotary.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <vector>

namespace chord::nn {

enum class PositionEncoding { absolute, rotary };

struct PatchDiTOptions {
  PatchDiTOptions(int64_t dim, int64_t depth, int64_t heads) : dim_(dim), depth_(depth), heads_(heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, depth);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, mlp_ratio) = 4;
  TORCH_ARG(int64_t, patch) = 4;
  TORCH_ARG(int64_t, channels) = 1;           ///< image channels (a log-mel tile: 1)
  TORCH_ARG(int64_t, target_height) = 64;     ///< target tile (mel bins × frames)
  TORCH_ARG(int64_t, target_width) = 64;
  TORCH_ARG(int64_t, condition_height) = 32;  ///< condition tile; its table holds this many tokens
  TORCH_ARG(int64_t, condition_width) = 32;
  TORCH_ARG(PositionEncoding, positions) = PositionEncoding::absolute;
  TORCH_ARG(double, rope_theta) = 100.0;      ///< 2-D rotary base (grids are small: 16 positions per axis)

 public:  // TORCH_ARG leaves the access private
  int64_t patch_dim() const { return patch_ * patch_ * channels_; }
  int64_t target_rows() const { return target_height_ / patch_; }
  int64_t target_cols() const { return target_width_ / patch_; }
  int64_t condition_rows() const { return condition_height_ / patch_; }
  int64_t condition_cols() const { return condition_width_ / patch_; }
  int64_t target_tokens() const { return target_rows() * target_cols(); }
  int64_t condition_tokens() const { return condition_rows() * condition_cols(); }
};

/// `images [B, C, H, W]` → tokens `[B, (H/p)·(W/p), p·p·C]`, row-major over patches.
inline torch::Tensor patchify(const torch::Tensor& images, int64_t patch) {
  TORCH_CHECK(images.dim() == 4 && images.size(2) % patch == 0 && images.size(3) % patch == 0,
              "patchify: images [B, C, H, W] with H, W divisible by the patch ", patch, " expected, got ", images.sizes());
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2) / patch, w = images.size(3) / patch;
  return images.view({b, c, h, patch, w, patch}).permute({0, 2, 4, 3, 5, 1}).reshape({b, h * w, patch * patch * c});
}

/// The inverse of patchify for a grid of `rows × cols` patches.
inline torch::Tensor unpatchify(const torch::Tensor& tokens, int64_t rows, int64_t cols, int64_t patch, int64_t channels) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) == rows * cols && tokens.size(2) == patch * patch * channels,
              "unpatchify: tokens [B, ", rows * cols, ", ", patch * patch * channels, "] expected, got ", tokens.sizes());
  const int64_t b = tokens.size(0);
  return tokens.reshape({b, rows, cols, patch, patch, channels}).permute({0, 5, 1, 3, 2, 4}).reshape({b, channels, rows * patch, cols * patch});
}

/// Token coordinates `[rows·cols, 2]` (row, col) of a grid scaled to span `scale` target cells per
/// token, with each token at the centre of its cells: scale 1 gives 0, 1, 2 ...; scale 2 gives 0.5,
/// 2.5, ... (a 2× coarser condition grid aligned with the target grid).
inline torch::Tensor grid_coordinates(int64_t rows, int64_t cols, double scale) {
  auto r = (torch::arange(rows, torch::kDouble) + 0.5) * scale - 0.5;
  auto c = (torch::arange(cols, torch::kDouble) + 0.5) * scale - 0.5;
  auto grid = torch::meshgrid({r, c}, "ij");
  return torch::stack({grid[0].reshape(-1), grid[1].reshape(-1)}, 1).to(torch::kFloat);
}

/// MAE-style 2-D sin-cos table `[N, dim]` for coordinates `[N, 2]`: half the channels for rows,
/// half for columns, each `[sin(p·ω), cos(p·ω)]` with `ω_i = 10000^(−i/(dim/4))`.
inline torch::Tensor sincos_table(const torch::Tensor& coordinates, int64_t dim) {
  TORCH_CHECK(dim % 4 == 0, "sincos_table: dim must be divisible by 4, got ", dim);
  const int64_t quarter = dim / 4;
  auto omega = torch::pow(10000.0, -torch::arange(quarter, torch::kDouble) / static_cast<double>(quarter));
  auto axis = [&](int64_t k) {
    auto angles = coordinates.select(1, k).to(torch::kDouble).unsqueeze(1) * omega.unsqueeze(0);
    return torch::cat({angles.sin(), angles.cos()}, 1);
  };
  return torch::cat({axis(0), axis(1)}, 1).to(torch::kFloat);
}

/// 2-D axial rotary frequencies `[1, N, head_dim]`: the first half of each head rotates by the row,
/// the second by the column, in interleaved pairs (`apply_rotary_interleaved`).
inline torch::Tensor rotary_2d_frequencies(const torch::Tensor& coordinates, int64_t head_dim, double theta) {
  TORCH_CHECK(head_dim % 4 == 0, "2-D rotary positions need head_dim divisible by 4, got ", head_dim);
  const int64_t half = head_dim / 2;
  auto inv_freq = torch::pow(theta, -torch::arange(0, half, 2, torch::kFloat) / static_cast<double>(half));
  auto axis = [&](int64_t k) {
    auto f = coordinates.select(1, k).unsqueeze(1) * inv_freq.unsqueeze(0);  // [N, half/2]
    return f.repeat_interleave(2, 1);                                        // (f0, f0, f1, f1, ...)
  };
  return torch::cat({axis(0), axis(1)}, 1).unsqueeze(0);
}

/// DiT block with AdaLN-Zero: `x += gate·Attn(mod(LN(x)))`, `x += gate·MLP(mod(LN(x)))`; the
/// modulation is zero-initialised, so a fresh block is the identity.
class PatchDiTBlockImpl : public torch::nn::Module {
 public:
  PatchDiTBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio) : heads_(heads) {
    qkv = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
    fc1 = register_module("fc1", torch::nn::Linear(dim, dim * mlp_ratio));
    fc2 = register_module("fc2", torch::nn::Linear(dim * mlp_ratio, dim));
    modulation = register_module("adaLN_modulation", torch::nn::Linear(dim, 6 * dim));
  }

  /// `x [B, L, D]`, `c [B, D]`, `key_mask [B, L]` (true = attend; undefined = all), `rotary` the
  /// 2-D table or null.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& key_mask,
                        const RotaryTable* rotary) {
    auto m = modulation(torch::silu(c)).chunk(6, -1);
    auto h = x + m[2].unsqueeze(1) * attention(modulated_layer_norm(x, m[0], m[1]), key_mask, rotary);
    auto mlp = fc2(torch::gelu(fc1(modulated_layer_norm(h, m[3], m[4])), "tanh"));
    return h + m[5].unsqueeze(1) * mlp;
  }

  /// Attention logits `[B, H, L, L]` (before masking) of inputs `x [B, L, D]`, for diagnostics.
  torch::Tensor scores(const torch::Tensor& x, const RotaryTable* rotary) {
    auto [q, k, v] = split_heads(x, rotary);
    return torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  }

  torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr}, modulation{nullptr};

 private:
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> split_heads(const torch::Tensor& x, const RotaryTable* rotary) {
    const int64_t b = x.size(0), l = x.size(1);
    auto parts = qkv(x).view({b, l, 3, heads_, -1}).permute({2, 0, 3, 1, 4});  // [3, B, H, L, Dh]
    auto q = parts[0], k = parts[1], v = parts[2];
    if (rotary != nullptr) {
      q = apply_rotary_interleaved(q, *rotary);
      k = apply_rotary_interleaved(k, *rotary);
    }
    return {q, k, v};
  }

  torch::Tensor attention(const torch::Tensor& x, const torch::Tensor& key_mask, const RotaryTable* rotary) {
    auto [q, k, v] = split_heads(x, rotary);
    std::optional<torch::Tensor> mask;
    if (key_mask.defined()) mask = key_mask.view({key_mask.size(0), 1, 1, key_mask.size(1)});
    auto out = at::scaled_dot_product_attention(q, k, v, mask);
    return proj(out.transpose(1, 2).reshape({x.size(0), x.size(1), -1}));
  }

  int64_t heads_;
};
TORCH_MODULE(PatchDiTBlock);

class PatchDiTImpl : public torch::nn::Module {
 public:
  explicit PatchDiTImpl(PatchDiTOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(o.target_height() % o.patch() == 0 && o.target_width() % o.patch() == 0 &&
                    o.condition_height() % o.patch() == 0 && o.condition_width() % o.patch() == 0,
                "PatchDiT: tile sizes (", o.target_height(), "x", o.target_width(), ", ", o.condition_height(), "x",
                o.condition_width(), ") must be multiples of the patch ", o.patch());
    CHORD_CHECK(o.dim() % o.heads() == 0 && o.dim() % 4 == 0, "PatchDiT: dim ", o.dim(),
                " must be divisible by heads (", o.heads(), ") and by 4");
    x_embedder = register_module("x_embedder", torch::nn::Linear(o.patch_dim(), o.dim()));
    cond_embedder = register_module("cond_embedder", torch::nn::Linear(o.patch_dim(), o.dim()));
    t_embedder = register_module("t_embedder", TimestepEmbedding(o.dim()));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.depth(); ++i) {
      block_list_.push_back(PatchDiTBlock(o.dim(), o.heads(), o.mlp_ratio()));
      blocks->push_back(block_list_.back());
    }
    final_modulation = register_module("final_adaLN_modulation", torch::nn::Linear(o.dim(), 2 * o.dim()));
    final_linear = register_module("final_linear", torch::nn::Linear(o.dim(), o.patch_dim()));
    const double scale = static_cast<double>(o.target_rows()) / static_cast<double>(o.condition_rows());
    target_coordinates_ = grid_coordinates(o.target_rows(), o.target_cols(), 1.0);
    condition_coordinates_ = grid_coordinates(o.condition_rows(), o.condition_cols(), scale);
    if (o.positions() == PositionEncoding::absolute) {
      pos_embed = register_parameter("pos_embed", sincos_table(target_coordinates_, o.dim()).unsqueeze(0));
      cond_pos_embed = register_parameter("cond_pos_embed", sincos_table(condition_coordinates_, o.dim()).unsqueeze(0));
    }
    reset_parameters();
  }

  /// DiT's initialisation: Xavier-uniform linears with zero bias, N(0, 0.02) time MLP, zero AdaLN
  /// modulations and a zero output layer.
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* linear = module->as<torch::nn::Linear>()) {
        torch::nn::init::xavier_uniform_(linear->weight);
        linear->bias.zero_();
      }
    }
    for (auto& p : t_embedder->parameters()) {
      if (p.dim() == 2) p.normal_(0.0, 0.02);
    }
    for (auto& block : block_list_) {
      block->modulation->weight.zero_();
      block->modulation->bias.zero_();
    }
    for (auto& linear : {final_modulation, final_linear}) {
      linear->weight.zero_();
      linear->bias.zero_();
    }
  }

  /// Condition tokens `[B, Lc, patch_dim]` → embedded `[B, Lc, dim]` (with the condition table when
  /// positions are absolute). Lc may be below the table size (the first Lc positions are used).
  torch::Tensor embed_condition(const torch::Tensor& tokens) {
    check_tokens(tokens, "condition");
    auto h = cond_embedder(tokens);
    if (options.positions() == PositionEncoding::absolute) {
      CHORD_CHECK(tokens.size(1) <= options.condition_tokens(), "PatchDiT: ", tokens.size(1),
                  " condition tokens but the condition position table has ", options.condition_tokens(),
                  " (a ", options.condition_height(), "x", options.condition_width(),
                  " tile): pad/truncate them (seq::FixedConditionLength) or use rotary positions (seq::RelativePositions)");
      h = h + cond_pos_embed.narrow(1, 0, tokens.size(1));
    }
    return h;
  }

  /// The denoiser: target tokens `x [B, N, patch_dim]` at time `t` (`[B]` or a scalar), optionally
  /// after embedded condition tokens `[B, Lc, dim]` whose `condition_mask [B, Lc]` (true = real)
  /// hides padding from every query. Returns `[B, N, patch_dim]`, or with `features` the final
  /// normalised hidden states `[B, N, dim]`.
  torch::Tensor run(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& condition,
                    const torch::Tensor& condition_mask, bool features = false) {
    check_tokens(x, "target");
    CHORD_CHECK(x.size(1) == options.target_tokens(), "PatchDiT: ", x.size(1), " target tokens, expected ",
                options.target_tokens(), " (a ", options.target_height(), "x", options.target_width(), " tile, patch ",
                options.patch(), ")");
    const int64_t b = x.size(0), n = x.size(1);
    auto h = x_embedder(x);
    if (options.positions() == PositionEncoding::absolute) h = h + pos_embed;
    const int64_t lc = condition.defined() ? condition.size(1) : 0;
    torch::Tensor key_mask;
    if (lc > 0) {
      CHORD_CHECK(condition.dim() == 3 && condition.size(0) == b && condition.size(2) == options.dim(),
                  "PatchDiT: embedded condition [", b, ", Lc, ", options.dim(), "] expected, got ", condition.sizes());
      h = torch::cat({condition, h}, 1);
      if (condition_mask.defined()) {
        CHORD_CHECK(condition_mask.sizes() == torch::IntArrayRef({b, lc}), "PatchDiT: condition_mask [", b, ", ", lc,
                    "] expected, got ", condition_mask.sizes());
        key_mask = torch::cat({condition_mask.to(torch::kBool), torch::ones({b, n}, condition_mask.options().dtype(torch::kBool))}, 1);
      }
    }
    std::optional<RotaryTable> rotary;
    if (options.positions() == PositionEncoding::rotary) rotary = rotary_table(coordinates(lc).to(x.device()));
    auto time = t.dim() == 0 ? t.expand({b}) : t;
    auto c = t_embedder(time);
    for (auto& block : block_list_) h = block(h, c, key_mask, rotary ? &*rotary : nullptr);
    h = h.narrow(1, lc, n);
    auto m = final_modulation(torch::silu(c)).chunk(2, -1);
    h = modulated_layer_norm(h, m[0], m[1]);
    return features ? h : final_linear(h);
  }

  /// Convenience: embeds raw condition tokens (or none) and runs.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& condition_tokens,
                        const torch::Tensor& condition_mask) {
    return run(x, t, condition_tokens.defined() ? embed_condition(condition_tokens) : torch::Tensor(), condition_mask);
  }

  /// Rotary frequencies `[1, Lc + N, head_dim]` for Lc condition tokens before the target tokens.
  /// Condition tokens beyond the condition grid continue below it (any length is accepted).
  torch::Tensor coordinates(int64_t condition_tokens) const {
    const int64_t head_dim = options.dim() / options.heads();
    auto cond = condition_coordinates_;
    if (condition_tokens > cond.size(0)) {
      const double scale = static_cast<double>(options.target_rows()) / static_cast<double>(options.condition_rows());
      const int64_t rows = (condition_tokens + options.condition_cols() - 1) / options.condition_cols();
      cond = grid_coordinates(rows, options.condition_cols(), scale);
    }
    auto all = torch::cat({cond.narrow(0, 0, condition_tokens), target_coordinates_}, 0);
    return rotary_2d_frequencies(all, head_dim, options.rope_theta());
  }

  const std::vector<PatchDiTBlock>& block_list() const { return block_list_; }

  PatchDiTOptions options;
  torch::nn::Linear x_embedder{nullptr}, cond_embedder{nullptr}, final_modulation{nullptr}, final_linear{nullptr};
  TimestepEmbedding t_embedder{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::Tensor pos_embed, cond_pos_embed;  ///< `[1, N, dim]`, `[1, Lc, dim]` (absolute positions only)

 private:
  void check_tokens(const torch::Tensor& tokens, const char* what) const {
    CHORD_CHECK(tokens.dim() == 3 && tokens.size(2) == options.patch_dim(), "PatchDiT: ", what, " tokens [B, L, ",
                options.patch_dim(), "] (patch ", options.patch(), "x", options.patch(), "x", options.channels(),
                ") expected, got ", tokens.sizes());
  }

  std::vector<PatchDiTBlock> block_list_;
  torch::Tensor target_coordinates_, condition_coordinates_;
};
TORCH_MODULE(PatchDiT);

}  // namespace chord::nn
