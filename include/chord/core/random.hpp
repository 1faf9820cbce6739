#pragma once
/// @file
/// Explicit randomness. Every random draw in chord takes a `torch::Generator`, never the hidden global
/// one, so a seed reproduces a training step or a sample exactly.
///
/// Where draws happen (docs/architecture.md, "Devices and randomness"):
///  - a draw for data on a device uses a generator on that device (`options_on(gen)`): on the CPU
///    the streams are those of the references' `torch.manual_seed`, bit for bit; on CUDA a per-device
///    generator seeded from the run seed (reproducible on that device, not across device types);
///  - per-item sampling noise (`seeded_noise`) is drawn on the CPU and moved, so an item's noise is the
///    same on every device, and equals the reference's.

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <c10/util/ArrayRef.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace chord {

/// A generator for `device` seeded like `torch.Generator(device).manual_seed(seed)`.
inline torch::Generator make_generator(uint64_t seed, c10::Device device = c10::kCPU) {
  if (device.is_cpu()) {
    return at::detail::createCPUGenerator(seed);
  }
  auto generator = at::globalContext()
                       .getAcceleratorHooksInterface(device.type())
                       .getNewGenerator(device.has_index() ? device.index() : -1);
  generator.set_current_seed(seed);
  return generator;
}

/// Tensor options on the generator's device: draws from `gen` must produce tensors there.
inline torch::TensorOptions options_on(const torch::Generator& gen, c10::ScalarType dtype = torch::kFloat32) {
  return torch::TensorOptions().dtype(dtype).device(gen.device());
}

/// One draw from U[0, 1) as a double (Python's `random.random()`, but reproducible through `gen`).
inline double uniform_scalar(torch::Generator& gen) {
  return torch::rand({1}, gen, torch::TensorOptions().dtype(torch::kFloat64).device(gen.device()))
      .item<double>();
}

/// `true` with probability `p`, drawn from `gen`.
inline bool bernoulli_scalar(torch::Generator& gen, double p) { return uniform_scalar(gen) < p; }

/// The generator's state as a uint8 tensor (what `torch.Generator.get_state()` returns).
inline torch::Tensor generator_state(const torch::Generator& gen) {
  std::lock_guard<std::mutex> lock(const_cast<torch::Generator&>(gen).mutex());
  return gen.get_state();
}

/// Restores a state taken with generator_state().
inline void set_generator_state(torch::Generator& gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

/// Standard-normal noise `[B, max(lengths), dim]` where item `i` is `randn(lengths[i], dim)` from a
/// CPU generator seeded with `seeds[i]`, zero-padded, then moved to `options`' device. An item's noise
/// depends only on its own seed and length — never on the rest of the batch or the device (F5-TTS
/// `CFM.sample` re-seeds per item the same way, on the CPU).
inline torch::Tensor seeded_noise(c10::ArrayRef<int64_t> lengths, int64_t dim,
                                  c10::ArrayRef<uint64_t> seeds,
                                  const torch::TensorOptions& options = {}) {
  TORCH_CHECK(lengths.size() == seeds.size(), "seeded_noise: ", lengths.size(), " lengths but ",
              seeds.size(), " seeds");
  TORCH_CHECK(dim > 0, "seeded_noise: dim must be > 0, got ", dim);
  int64_t max_length = 0;
  for (int64_t length : lengths) {
    TORCH_CHECK(length >= 0, "seeded_noise: negative length ", length);
    max_length = std::max(max_length, length);
  }
  const auto cpu = options.device(c10::kCPU);
  auto noise = torch::zeros({static_cast<int64_t>(lengths.size()), max_length, dim}, cpu);
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto gen = make_generator(seeds[i]);
    noise[static_cast<int64_t>(i)].narrow(0, 0, lengths[i]).copy_(torch::randn({lengths[i], dim}, gen, cpu));
  }
  return noise.to(options.device());
}

}  // namespace chord
