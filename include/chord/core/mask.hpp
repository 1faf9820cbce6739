#pragma once
/// @file
/// Sequence masks with F5-TTS `model/utils.py` semantics. Masks are bool, `[B, N]`, True = selected.

#include <torch/types.h>

#include <optional>

namespace chord {

/// `lens [B]` → `[B, length]`, True where `position < lens[b]`. `length` defaults to `max(lens)`.
inline torch::Tensor lens_to_mask(const torch::Tensor& lens, std::optional<int64_t> length = {}) {
  TORCH_CHECK(lens.dim() == 1, "lens_to_mask: lens [B] expected, got ", lens.sizes());
  const int64_t n = length ? *length : (lens.numel() > 0 ? lens.max().item<int64_t>() : 0);
  TORCH_CHECK(n >= 0, "lens_to_mask: negative length ", n);
  auto positions = torch::arange(n, lens.options().dtype(torch::kLong));
  return positions.unsqueeze(0) < lens.to(torch::kLong).unsqueeze(1);
}

/// True on `[start[b], end[b])` of each row; rows are `length` long (default `max(seq_len)`).
inline torch::Tensor mask_from_start_end_indices(const torch::Tensor& seq_len,
                                                 const torch::Tensor& start,
                                                 const torch::Tensor& end,
                                                 std::optional<int64_t> length = {}) {
  TORCH_CHECK(seq_len.dim() == 1 && start.sizes() == seq_len.sizes() && end.sizes() == seq_len.sizes(),
              "mask_from_start_end_indices: seq_len, start, end must all be [B]; got ",
              seq_len.sizes(), ", ", start.sizes(), ", ", end.sizes());
  const int64_t n = length ? *length : (seq_len.numel() > 0 ? seq_len.max().item<int64_t>() : 0);
  auto positions = torch::arange(n, seq_len.options().dtype(torch::kLong)).unsqueeze(0);
  return (positions >= start.to(torch::kLong).unsqueeze(1)) &
         (positions < end.to(torch::kLong).unsqueeze(1));
}

/// One contiguous span per row of length `trunc(frac[b] * seq_len[b])`, starting uniformly at random
/// inside the valid region: `start = trunc((seq_len - span) * U[0,1))`. This is F5-TTS
/// `mask_from_frac_lengths`; with `frac ~ U[0.7, 1.0]` it is the random-span infilling mask.
/// The uniform draw consumes `gen` exactly like `torch.rand_like(frac)`.
inline torch::Tensor mask_from_frac_lengths(const torch::Tensor& seq_len, const torch::Tensor& frac,
                                            torch::Generator& gen,
                                            std::optional<int64_t> length = {}) {
  TORCH_CHECK(seq_len.dim() == 1 && frac.sizes() == seq_len.sizes(),
              "mask_from_frac_lengths: seq_len [B] and frac [B] expected, got ", seq_len.sizes(),
              " and ", frac.sizes());
  auto lengths = (frac * seq_len).to(torch::kLong);  // .long() truncates toward zero
  auto max_start = seq_len - lengths;
  auto uniform = torch::rand(frac.sizes(), gen, frac.options());
  auto start = (max_start * uniform).to(torch::kLong).clamp_min(0);
  return mask_from_start_end_indices(seq_len, start, start + lengths, length);
}

}  // namespace chord
