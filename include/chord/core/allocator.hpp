#pragma once
/// @file
/// Process-wide malloc tuning for tensor workloads on the CPU.

#include <malloc.h>

#include <cstddef>

namespace chord {

/// Keeps large freed blocks in the heap instead of returning them to the OS.
///
/// glibc serves every allocation above its mmap threshold (128 KiB at start, adapting up to 32 MiB)
/// with a fresh mmap and unmaps it on free, so a loop over multi-megabyte tensors (STFTs, activations)
/// pays first-touch page faults on every iteration: a 10 s log-mel took 6.7 ms instead of 2.5 ms in
/// chord's benchmark. Raising the mmap and trim thresholds lets freed memory be reused. The price is a
/// resident size that stays at its high-water mark. A process-wide setting: chord's programs call it at
/// start; library code never does. Returns false if glibc refused a setting.
inline bool keep_freed_tensor_memory(size_t mmap_threshold = size_t{256} << 20,
                                     size_t trim_threshold = size_t{1} << 30) {
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) == 1;
  return mmap_ok && trim_ok;
}

}  // namespace chord
