#pragma once
/// @file
/// Explicit randomness. Every random draw in chord takes a `torch::Generator`, never the hidden global
/// one, so a seed reproduces a training step or a sample exactly.

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
/// generator seeded with `seeds[i]`, zero-padded. An item's noise depends only on its own seed and
/// length, never on the rest of the batch (F5-TTS `CFM.sample` re-seeds per item the same way).
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
  auto noise = torch::zeros({static_cast<int64_t>(lengths.size()), max_length, dim}, options);
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto gen = make_generator(seeds[i], noise.device());
    noise[static_cast<int64_t>(i)].narrow(0, 0, lengths[i]).copy_(
        torch::randn({lengths[i], dim}, gen, options));
  }
  return noise;
}

}  // namespace chord
