#pragma once
/// @file
/// Devices: the `--device` names programs accept, and moving the tensors of a batch or request.
/// Batches and requests of chord's policies have `to(device, non_blocking)` (and batches
/// `pin_memory()`), so the trainer and the models can place whatever they are given.

#include "chord/core/error.hpp"

#include <torch/cuda.h>
#include <torch/types.h>

#include <concepts>
#include <string>

namespace chord {

/// `tensor` on `device` (undefined stays undefined). `non_blocking` overlaps a copy from pinned memory.
inline torch::Tensor moved(const torch::Tensor& tensor, c10::Device device, bool non_blocking = false) {
  return tensor.defined() ? tensor.to(device, non_blocking) : tensor;
}

/// `tensor` in page-locked memory when it is a CPU tensor and CUDA is available (else unchanged).
inline torch::Tensor pinned(const torch::Tensor& tensor) {
  return tensor.defined() && tensor.is_cpu() && torch::cuda::is_available() ? tensor.pin_memory() : tensor;
}

/// A batch or request that can move itself.
template <class T>
concept DeviceMovable = requires(const T& t, c10::Device device) {
  { t.to(device, true) } -> std::same_as<T>;
};

/// The device a `--device` value names: `cpu`, `cuda`, `cuda:N`, or `auto` (CUDA when available, else
/// the CPU). A CUDA device that is not there is refused with what is.
inline c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    CHORD_FAIL("--device '", name, "' is not cpu, cuda, cuda:N or auto");
  }
  CHORD_CHECK(device.is_cpu() || device.is_cuda(), "--device '", name, "': only cpu and cuda are supported");
  if (device.is_cuda()) {
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    CHORD_CHECK(count > 0, "--device ", name, ": no CUDA device is available (torch::cuda::is_available() is false)");
    if (!device.has_index()) device = c10::Device(c10::kCUDA, 0);
    CHORD_CHECK(device.index() < count, "--device ", name, ": only ", count, " CUDA device(s)");
  }
  return device;
}

}  // namespace chord
