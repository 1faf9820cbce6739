#pragma once
/// Checks shared by the device tests ([device] on the CPU, [.cuda] on a GPU).

#include <catch2/catch.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

namespace chord::test {

/// Every parameter and buffer of `module` on `device` (the first that is not is named).
inline void require_on(const torch::nn::Module& module, c10::Device device) {
  for (const auto& p : module.named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().device() == device);
  }
  for (const auto& b : module.named_buffers()) {
    INFO(b.key());
    REQUIRE(b.value().device() == device);
  }
}

/// A CUDA device's fp32 convolutions and matrix products without TF32 for the guard's lifetime: parity
/// checks against float32 references then hold to the CPU's tolerance.
class NoTF32 {
 public:
  NoTF32() : cudnn_(at::globalContext().allowTF32CuDNN()), cublas_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~NoTF32() {
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  NoTF32(const NoTF32&) = delete;
  NoTF32& operator=(const NoTF32&) = delete;

 private:
  bool cudnn_, cublas_;
};

}  // namespace chord::test
