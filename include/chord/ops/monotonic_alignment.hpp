#pragma once
/// @file
/// Monotonic alignment search (VITS / Bert-VITS2 `monotonic_align.maximum_path`, reference/vits2.md §6):
/// the monotonic, surjective path through a `[B, T_frames, T_tokens]` score matrix with the largest sum,
/// as a 0/1 matrix. Bit-identical to the reference kernel — float32 cumulative values, the band limits,
/// `max_neg` = −1e9 and the strict `<` tie rule of the backtrack — on the CPU (parallel over the batch),
/// and through the CUDA kernel of `chord::cuda_ops` when that library is loaded and the scores are on a
/// CUDA device (found through the dispatcher as `chord::maximum_path`; without it CUDA scores are
/// aligned on the CPU and the path is copied back).
///
/// Also the noise of Bert-VITS2's noise-scaled MAS (`use_noise_scaled_mas`) and its schedule.

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/ops/cuda_ops.hpp"
#include "chord/ops/detail/monotonic_alignment_cell.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace chord::ops {

/// The reference's `max_neg_val`. super-monotonic-align uses −1e32: with cells below about −1e8 the
/// two choose different paths; −1e9 keeps parity with Bert-VITS2.
inline constexpr float kMasMaxNeg = -1e9f;

namespace detail {

/// Valid frames and tokens per item from `mask [B, T_frames, T_tokens]`, as the reference reads them
/// (`mask.sum(1)[:, 0]`, `mask.sum(2)[:, 0]`), summing only the first token's column and the first
/// frame's row.
inline std::pair<torch::Tensor, torch::Tensor> mas_lengths(const torch::Tensor& mask) {
  const auto m = mask.to(torch::kCPU);
  return {m.select(2, 0).to(torch::kInt64).sum(1).contiguous(), m.select(1, 0).to(torch::kInt64).sum(1).contiguous()};
}

/// One item, in place on `value [T_y_padded, T_x_padded]` (row-major float32); writes 1s into `path`.
/// The band's first and last cells take the special cases of mas::forward_cell; the cells between
/// read both neighbours of the previous frame and vectorise.
template <class PathValue>
void maximum_path_item(float* value, PathValue* path, int64_t rows, int64_t columns, int64_t t_y, int64_t t_x, float max_neg) {
  for (int64_t y = 0; y < t_y; ++y) {
    const int64_t first = mas::band_first(y, t_x, t_y), last = mas::band_last(y, t_x);
    float* __restrict current = value + y * columns;
    const float* __restrict previous = y > 0 ? value + (y - 1) * columns : nullptr;
    auto cell = [&](int64_t x) {
      const float stay = y > 0 ? previous[x] : 0.0f;
      const float advance = y > 0 && x > 0 ? previous[x - 1] : 0.0f;
      current[x] = mas::forward_cell(current[x], stay, advance, x, y, max_neg);
    };
    // Cells with 0 < x < y read both neighbours: own + max(advance, stay), as forward_cell computes it.
    const int64_t inner_first = std::max<int64_t>(first, 1), inner_last = std::min<int64_t>(last, y);
    if (first < inner_first && first < last) cell(first);  // x = 0
    for (int64_t x = inner_first; x < inner_last; ++x) {
      const float stay = previous[x], advance = previous[x - 1];
      current[x] += advance < stay ? stay : advance;
    }
    if (last > inner_last && last - 1 >= inner_first) cell(last - 1);  // x = y
  }
  int64_t index = t_x - 1;
  for (int64_t y = t_y - 1; y >= 0; --y) {
    path[y * columns + (index >= 0 ? index : columns + index)] = PathValue(1);  // t_x = 0: numpy's path[y, -1]
    // The reference indexes row y − 1 with numpy semantics: for y = 0 (reached only when t_x > t_y,
    // an alignment that cannot exist) that is the last row of the padded item.
    const int64_t previous = y > 0 ? y - 1 : rows - 1;
    if (index > 0) {
      const float* row = value + previous * columns;
      if (mas::backtrack_moves(index, y, row[index], row[index - 1])) --index;
    }
  }
}

}  // namespace detail

/// The most likely monotonic alignment on the CPU: `neg_cent [B, T_frames, T_tokens]` (any float dtype,
/// cast to float32 as the reference does), `mask` of the same shape (1 = valid). Returns 0/1 in
/// `neg_cent`'s dtype and device.
inline torch::Tensor maximum_path_cpu(const torch::Tensor& neg_cent, const torch::Tensor& mask, float max_neg = kMasMaxNeg) {
  TORCH_CHECK(neg_cent.dim() == 3, "maximum_path: neg_cent [B, T_frames, T_tokens] expected, got ", neg_cent.sizes());
  TORCH_CHECK(mask.sizes() == neg_cent.sizes(), "maximum_path: mask ", mask.sizes(), " must match neg_cent ", neg_cent.sizes());
  const int64_t batch = neg_cent.size(0), rows = neg_cent.size(1), columns = neg_cent.size(2);
  const auto value = neg_cent.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto [frames, tokens] = detail::mas_lengths(mask);
  const auto* t_y = frames.data_ptr<int64_t>();
  const auto* t_x = tokens.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    CHORD_CHECK(t_y[b] <= rows && t_x[b] <= columns && t_y[b] >= 0 && t_x[b] >= 0, "maximum_path: item ", b, " has ", t_y[b],
                " frames and ", t_x[b], " tokens in a [", rows, ", ", columns, "] matrix");
  }
  // Each item is copied into a per-thread buffer and searched there: the forward pass and the backtrack
  // then stay in cache, and the scores are read once instead of cloned whole. The path is written in
  // float32 (0/1 are exact in every float dtype), zeroed item by item by the thread that fills it, and
  // converted once if needed.
  auto path = torch::empty({batch, rows, columns}, torch::kFloat32);
  const float* scores = value.data_ptr<float>();
  float* paths = path.data_ptr<float>();
  const int64_t item_size = rows * columns;
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> item(static_cast<size_t>(item_size));
    for (int64_t b = begin; b < end; ++b) {
      std::copy(scores + b * item_size, scores + (b + 1) * item_size, item.begin());
      std::fill(paths + b * item_size, paths + (b + 1) * item_size, 0.0f);
      detail::maximum_path_item(item.data(), paths + b * item_size, rows, columns, t_y[b], t_x[b], max_neg);
    }
  });
  return path.to(neg_cent.device(), neg_cent.scalar_type());
}

/// Whether `chord::cuda_ops` is loaded with its CUDA MAS kernel.
inline bool has_cuda_maximum_path() {
  const auto op = c10::Dispatcher::singleton().findOp(c10::OperatorName("chord::maximum_path", ""));
  return op.has_value() && op->hasKernelForDispatchKey(c10::DispatchKey::CUDA);
}

/// The most likely monotonic alignment (see the file comment): on the device of `neg_cent`.
inline torch::Tensor maximum_path(const torch::Tensor& neg_cent, const torch::Tensor& mask, float max_neg = kMasMaxNeg) {
  if (neg_cent.is_cuda() && has_cuda_maximum_path()) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("chord::maximum_path", "")
                               .typed<torch::Tensor(const torch::Tensor&, const torch::Tensor&, double)>();
    return op.call(neg_cent, mask, static_cast<double>(max_neg));
  }
  return maximum_path_cpu(neg_cent, mask, max_neg);
}

/// Bert-VITS2's noise-scaled MAS: `neg_cent + std(neg_cent)·ε·scale`, ε ~ N(0, I) from `gen`, the
/// unbiased std over the whole tensor (padding included, as the reference).
inline torch::Tensor add_mas_noise(const torch::Tensor& neg_cent, double scale, torch::Generator& gen) {
  auto noise = torch::randn(neg_cent.sizes(), gen, options_on(gen, neg_cent.scalar_type()));
  return neg_cent + neg_cent.std() * noise * scale;
}

/// The noise scale at `step`: `max(initial − delta·step, 0)` (Bert-VITS2: 0.01 and 2e-6, gone at step 5000).
inline double mas_noise_scale(int64_t step, double initial = 0.01, double delta = 2e-6) {
  return std::max(initial - delta * static_cast<double>(step), 0.0);
}

}  // namespace chord::ops
