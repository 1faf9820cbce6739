#pragma once
// Where the system benchmarks run: CHORD_BENCH_DEVICE (cpu, cuda, cuda:N; default cpu) and
// CHORD_BENCH_AUTOCAST (bf16 or fp32; default fp32). scripts/gpu_check.sh sets them on a GPU machine.
#include <chord/core/autocast.hpp>
#include <chord/core/device.hpp>

#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace chord::bench {

inline c10::Device device() {
  const char* name = std::getenv("CHORD_BENCH_DEVICE");
  return chord::resolve_device(name ? name : "cpu");
}

inline bool bf16() {
  const char* name = std::getenv("CHORD_BENCH_AUTOCAST");
  return name && std::string(name) == "bf16";
}

/// Moves a model to the benchmark device.
template <class Holder>
void place(Holder& model) {
  model->to(device());
}

/// One timed region: autocast when asked for, and a device synchronisation at the end so the time
/// covers the GPU's work.
class Region {
 public:
  Region() {
    if (bf16()) autocast_.emplace(device().type(), c10::kBFloat16);
  }
  ~Region() {
    if (device().is_cuda()) torch::cuda::synchronize();
  }

 private:
  std::optional<chord::AutocastGuard> autocast_;
};

/// Labels a benchmark with its device and precision.
inline void label(benchmark::State& state) { state.SetLabel(device().str() + (bf16() ? " bf16" : " fp32")); }

}  // namespace chord::bench
