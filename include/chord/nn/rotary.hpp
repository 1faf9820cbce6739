#pragma once
/// @file
/// Rotary position embeddings. `RotaryEmbedding` follows x-transformers (the F5-TTS DiT): `inv_freq`
/// is a persistent buffer, frequencies are *interleaved* `(f0, f0, f1, f1, ...)` and rotate GPT-J
/// style pairs `(x0, x1) → (−x1, x0)`, computed in float32 with autocast off.

#include "chord/core/autocast.hpp"

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace chord::nn {

/// `(x0, x1, x2, x3, ...) → (−x1, x0, −x3, x2, ...)` over the last axis.
inline torch::Tensor rotate_half_interleaved(const torch::Tensor& x) {
  auto pairs = x.unflatten(-1, {-1, 2});
  return torch::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(-2);
}

/// `cos` and `sin` of rotary frequencies, `[1, 1, N, Dr]`, computed once per forward pass and shared
/// by every layer's queries and keys.
struct RotaryTable {
  torch::Tensor cos, sin;
  explicit operator bool() const { return cos.defined(); }
};

/// The table for frequencies `freqs [1, N, Dr]`.
inline RotaryTable rotary_table(const torch::Tensor& freqs) {
  auto f = freqs.unsqueeze(1);
  return {f.cos(), f.sin()};
}

/// Rotates the first `Dr` features of `x [B, H, N, Dh]` with a RotaryTable; the rest pass through.
/// Computed in float32 and cast back to `x`'s dtype, like the reference.
inline torch::Tensor apply_rotary_interleaved(const torch::Tensor& x, const RotaryTable& table) {
  AutocastGuard no_autocast(x.device().type(), c10::kBFloat16, /*enabled=*/false);
  const int64_t rot = table.cos.size(-1);
  const int64_t n = x.size(-2);
  auto cos = table.cos.narrow(-2, table.cos.size(-2) - n, n);
  auto sin = table.sin.narrow(-2, table.sin.size(-2) - n, n);
  auto rotated = x.narrow(-1, 0, rot);
  auto out = rotated * cos + rotate_half_interleaved(rotated) * sin;
  if (rot < x.size(-1)) out = torch::cat({out, x.narrow(-1, rot, x.size(-1) - rot)}, -1);
  return out.to(x.scalar_type());
}

/// Convenience: rotate by frequencies `[1, N, Dr]` directly.
inline torch::Tensor apply_rotary_interleaved(const torch::Tensor& x, const torch::Tensor& freqs) {
  return apply_rotary_interleaved(x, rotary_table(freqs));
}

class RotaryEmbeddingImpl : public torch::nn::Cloneable<RotaryEmbeddingImpl> {
 public:
  explicit RotaryEmbeddingImpl(int64_t dim, double base = 10000.0) : dim_(dim), base_(base) { reset(); }

  void reset() override {
    TORCH_CHECK(dim_ > 0 && dim_ % 2 == 0, "RotaryEmbedding: dim must be even and > 0, got ", dim_);
    inv_freq = register_buffer(
        "inv_freq", 1.0 / torch::pow(base_, torch::arange(0, dim_, 2, torch::kFloat32) / static_cast<double>(dim_)));
  }

  /// Frequencies `[1, n, dim]` for positions `0..n-1` (x-transformers `forward_from_seq_len`).
  torch::Tensor forward(int64_t n) {
    AutocastGuard no_autocast(inv_freq.device().type(), c10::kBFloat16, /*enabled=*/false);
    auto positions = torch::arange(n, inv_freq.options());
    auto freqs = torch::outer(positions, inv_freq);                 // [n, dim/2]
    return torch::stack({freqs, freqs}, -1).flatten(-2).unsqueeze(0);  // [1, n, dim], interleaved
  }

  torch::Tensor inv_freq;

 private:
  int64_t dim_;
  double base_;
};
TORCH_MODULE(RotaryEmbedding);

}  // namespace chord::nn
