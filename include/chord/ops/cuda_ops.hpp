#pragma once
/// @file
/// The optional compiled companion `chord::cuda_ops` (src/cuda/): CUDA kernels registered with
/// LibTorch's dispatcher under the `chord::` namespace. Header-only code looks them up at run time
/// (`c10::Dispatcher::singleton().findOp`) and falls back to its own CPU code when the library is not
/// linked or no CUDA device is present, so nothing here is needed to build or run chord.
///
/// Linking `chord::cuda_ops` defines `CHORD_WITH_CUDA_OPS`; this header then references the library so
/// the linker keeps it (and its registrations) even under `--as-needed`.

#if defined(CHORD_WITH_CUDA_OPS)
extern "C" int chord_cuda_ops_version();
namespace chord::ops::detail {
inline const int cuda_ops_linked = chord_cuda_ops_version();
}  // namespace chord::ops::detail
#endif

namespace chord::ops {

/// Whether this program was linked with chord::cuda_ops.
constexpr bool linked_with_cuda_ops() {
#if defined(CHORD_WITH_CUDA_OPS)
  return true;
#else
  return false;
#endif
}

}  // namespace chord::ops
