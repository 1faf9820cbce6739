#pragma once
/// @file
/// RAII mixed precision over `at::autocast` (LibTorch has no public C++ guard).

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace chord {

/// Enables autocast for one device type with one low-precision dtype for the guard's lifetime, then
/// restores the previous state. Wrap forward and loss only; run backward outside the guard.
///
/// @code
/// { chord::AutocastGuard bf16(torch::kCPU, torch::kBFloat16); loss = model->loss(batch, gen); }
/// loss.backward();
/// @endcode
class AutocastGuard {
 public:
  /// @param device_type the device whose autocast state changes (kCPU, kCUDA).
  /// @param dtype the lower-precision type, kBFloat16 or kHalf.
  /// @param enabled false makes a guard that *disables* autocast for its scope.
  explicit AutocastGuard(c10::DeviceType device_type, c10::ScalarType dtype = c10::kBFloat16,
                         bool enabled = true)
      : device_type_(device_type),
        previous_enabled_(at::autocast::is_autocast_enabled(device_type)),
        previous_dtype_(at::autocast::get_autocast_dtype(device_type)) {
    at::autocast::set_autocast_enabled(device_type_, enabled);
    at::autocast::set_autocast_dtype(device_type_, dtype);
    at::autocast::increment_nesting();
  }

  ~AutocastGuard() {
    // The cast cache belongs to the outermost autocast region; clear it when that region ends.
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(device_type_, previous_enabled_);
    at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
  }

  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_type_;
  bool previous_enabled_;
  c10::ScalarType previous_dtype_;
};

}  // namespace chord
