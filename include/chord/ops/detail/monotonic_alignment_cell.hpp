#pragma once
/// @file
/// The arithmetic of one cell of monotonic alignment search, shared by the CPU loop
/// (ops/monotonic_alignment.hpp) and the CUDA kernel (src/cuda/monotonic_alignment.cu) so that both
/// compute the same float32 values and take the same backtrack decisions as the reference
/// (VITS / Bert-VITS2 `monotonic_align`, reference/vits2.md §6).
///
/// Layout: `value[y, x]`, y over frames (t_y), x over tokens (t_x).

#include <cstdint>

#if defined(__CUDACC__)
#define CHORD_HOST_DEVICE __host__ __device__
#else
#define CHORD_HOST_DEVICE
#endif

namespace chord::ops::mas {

/// The tokens frame y can be on and still reach (0, 0) and (t_y − 1, t_x − 1): `[first, last)`.
CHORD_HOST_DEVICE inline int64_t band_first(int64_t y, int64_t t_x, int64_t t_y) {
  const int64_t first = t_x + y - t_y;
  return first > 0 ? first : 0;
}
CHORD_HOST_DEVICE inline int64_t band_last(int64_t y, int64_t t_x) { return t_x < y + 1 ? t_x : y + 1; }

/// The cumulative value of cell (y, x): its own value plus the better of staying on token x
/// (`stay = value[y − 1, x]`) and advancing from token x − 1 (`advance = value[y − 1, x − 1]`). Staying is
/// impossible on the diagonal, advancing before the first token (except into the first cell).
CHORD_HOST_DEVICE inline float forward_cell(float own, float stay, float advance, int64_t x, int64_t y, float max_neg) {
  const float v_cur = x == y ? max_neg : stay;
  const float v_prev = x == 0 ? (y == 0 ? 0.0f : max_neg) : advance;
  return own + (v_prev < v_cur ? v_cur : v_prev);  // Python's max(v_prev, v_cur)
}

/// Whether the path moves back one token from frame y to frame y − 1: forced on the band's upper edge,
/// else when advancing was strictly better (a tie stays on the token, the reference's `<`).
CHORD_HOST_DEVICE inline bool backtrack_moves(int64_t index, int64_t y, float stay, float advance) {
  return index != 0 && (index == y || stay < advance);
}

}  // namespace chord::ops::mas
