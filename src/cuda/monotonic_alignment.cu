// Monotonic alignment search on a CUDA device, registered with the dispatcher as
// `chord::maximum_path(Tensor neg_cent, Tensor mask, float max_neg) -> Tensor` (CUDA kernel), which
// include/chord/ops/monotonic_alignment.hpp finds at run time. Same cells and decisions as the CPU loop
// (ops/detail/monotonic_alignment_cell.hpp), so the paths are identical.
//
// One block per batch item; its threads stride over the tokens of a frame (the VITS layout keeps a
// frame's tokens contiguous, so the loads coalesce). Two shared rows hold the previous and the current
// frame's cumulative values; one barrier per frame. Thread 0 backtracks serially from global memory.
#include "chord/ops/detail/monotonic_alignment_cell.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

namespace {

__global__ void maximum_path_kernel(float* values, int32_t* paths, const int64_t* frames, const int64_t* tokens, int64_t rows,
                                    int64_t columns, float max_neg) {
  namespace mas = chord::ops::mas;
  const int64_t item = blockIdx.x;
  float* value = values + item * rows * columns;
  int32_t* path = paths + item * rows * columns;
  const int64_t t_y = frames[item], t_x = tokens[item];
  extern __shared__ float shared[];
  float* previous = shared;
  float* current = shared + columns;
  for (int64_t y = 0; y < t_y; ++y) {
    const int64_t first = mas::band_first(y, t_x, t_y), last = mas::band_last(y, t_x);
    for (int64_t x = threadIdx.x; x < t_x; x += blockDim.x) {
      if (x >= first && x < last) {
        const float stay = y > 0 ? previous[x] : 0.0f;
        const float advance = y > 0 && x > 0 ? previous[x - 1] : 0.0f;
        const float cell = mas::forward_cell(value[y * columns + x], stay, advance, x, y, max_neg);
        value[y * columns + x] = cell;
        current[x] = cell;
      } else {
        current[x] = max_neg;  // never read by an in-band cell of the next frame
      }
    }
    __syncthreads();
    float* swap = previous;
    previous = current;
    current = swap;
  }
  if (threadIdx.x != 0) return;
  int64_t index = t_x - 1;
  for (int64_t y = t_y - 1; y >= 0; --y) {
    path[y * columns + (index >= 0 ? index : columns + index)] = 1;
    const int64_t before = y > 0 ? y - 1 : rows - 1;  // the reference's numpy wrap-around (t_x > t_y only)
    if (index > 0 && mas::backtrack_moves(index, y, value[before * columns + index], value[before * columns + index - 1])) --index;
  }
}

at::Tensor maximum_path_cuda(const at::Tensor& neg_cent, const at::Tensor& mask, double max_neg) {
  TORCH_CHECK(neg_cent.is_cuda() && neg_cent.dim() == 3, "chord::maximum_path: neg_cent [B, T_frames, T_tokens] on a CUDA device expected, got ",
              neg_cent.sizes(), " on ", neg_cent.device());
  TORCH_CHECK(mask.sizes() == neg_cent.sizes(), "chord::maximum_path: mask ", mask.sizes(), " must match neg_cent ", neg_cent.sizes());
  const c10::cuda::CUDAGuard guard(neg_cent.device());
  const int64_t batch = neg_cent.size(0), rows = neg_cent.size(1), columns = neg_cent.size(2);
  auto value = neg_cent.detach().to(at::kFloat).contiguous().clone();
  auto path = at::zeros({batch, rows, columns}, neg_cent.options().dtype(at::kInt));
  const auto wide = mask.to(neg_cent.device(), at::kLong);
  const auto frames = wide.sum(1).select(1, 0).contiguous();
  const auto tokens = wide.sum(2).select(1, 0).contiguous();
  if (batch == 0 || rows == 0 || columns == 0) return path.to(neg_cent.scalar_type());
  const int threads = static_cast<int>(std::min<int64_t>(1024, (columns + 31) / 32 * 32));
  const size_t shared_bytes = 2 * static_cast<size_t>(columns) * sizeof(float);
  if (shared_bytes > 48 * 1024) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(maximum_path_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
  }
  maximum_path_kernel<<<static_cast<unsigned>(batch), threads, shared_bytes, at::cuda::getCurrentCUDAStream()>>>(
      value.data_ptr<float>(), path.data_ptr<int32_t>(), frames.data_ptr<int64_t>(), tokens.data_ptr<int64_t>(), rows, columns,
      static_cast<float>(max_neg));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return path.to(neg_cent.scalar_type());
}

}  // namespace

/// Referenced by include/chord/ops/cuda_ops.hpp so that linking chord::cuda_ops keeps this library
/// (and its registrations) in a program even under --as-needed.
extern "C" int chord_cuda_ops_version() { return 1; }

TORCH_LIBRARY(chord, m) { m.def("maximum_path(Tensor neg_cent, Tensor mask, float max_neg) -> Tensor"); }

TORCH_LIBRARY_IMPL(chord, CUDA, m) { m.impl("maximum_path", &maximum_path_cuda); }
