// The trainer's data path across threads: the next batch loads on a second thread while the step runs
// (BatchCursor), the epoch order is computed once under a lock (sampled_batches) and shared with the
// loader thread. Built into chord_tests and, compiled with ThreadSanitizer, into chord_tsan_tests.
#include "support.hpp"

#include <chord/train/samplers.hpp>
#include <chord/train/trainer.hpp>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

struct Loaded {
  torch::Tensor x;
  int64_t epoch = 0;
  size_t index = 0;
};

}  // namespace

TEST_CASE("prefetching loads each batch once, in order, on another thread, across epochs and accumulation", "[train][prefetch]") {
  // A sampler-backed source (the shared epoch order) whose loads take a varying time, so the step and
  // the load overlap in every order.
  const std::vector<double> frames{3, 5, 2, 8, 1, 9, 4, 6, 7, 2, 3, 5};
  auto sampler = std::make_shared<const chord::train::DynamicBatchSampler>(frames, 10.0, 0, 7);
  std::atomic<int> loads{0}, concurrent{0}, max_concurrent{0};
  const auto main_thread = std::this_thread::get_id();
  std::atomic<bool> loaded_elsewhere{false};
  auto source = chord::train::sampled_batches(sampler, [&](const std::vector<int64_t>& indices) {
    const int now = ++concurrent;
    int seen = max_concurrent.load();
    while (now > seen && !max_concurrent.compare_exchange_weak(seen, now)) {
    }
    if (std::this_thread::get_id() != main_thread) loaded_elsewhere = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (indices.front() % 4)));
    ++loads;
    --concurrent;
    auto x = torch::tensor(std::vector<double>(indices.begin(), indices.end()), torch::kFloat32).sum().reshape({1, 1});
    return x;
  });

  auto model = torch::nn::Linear(1, 1);
  chord::train::TrainerOptions options;
  options.max_steps = 3 * static_cast<int64_t>(sampler->size());  // several epochs
  options.grad_accumulation = 2;
  options.handle_signals = false;
  options.prefetch = true;
  chord::train::Trainer trainer(options);
  trainer.add_module("model", model.ptr());
  trainer.add_optimizer("model", std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(1e-3)));
  std::vector<double> seen;
  trainer.fit<torch::Tensor>(source, [&](const torch::Tensor& x, chord::train::StepContext& context) {
    seen.push_back(x.item<double>());
    auto loss = model(x).pow(2).mean();
    context.backward("model", loss);
    return chord::train::Trainer::Scalars{{"loss", loss}};
  });

  // Every micro-batch came from one load, and the loads ran on the prefetch thread, one at a time.
  REQUIRE(static_cast<int64_t>(seen.size()) == options.max_steps * options.grad_accumulation);
  REQUIRE(loads.load() == static_cast<int>(seen.size()));
  REQUIRE(loaded_elsewhere.load());
  REQUIRE(max_concurrent.load() == 1);
  // The order is the epochs' orders back to back (no batch skipped or repeated by the overlap).
  std::vector<double> expected;
  for (int64_t epoch = 0; static_cast<int64_t>(expected.size()) < options.max_steps * options.grad_accumulation; ++epoch) {
    for (const auto& batch : sampler->batches(epoch)) {
      double sum = 0;
      for (auto i : batch) sum += static_cast<double>(i);
      expected.push_back(sum);
    }
  }
  expected.resize(seen.size());
  REQUIRE(seen == expected);
}
