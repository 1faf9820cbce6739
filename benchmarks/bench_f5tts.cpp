// F5-TTS benchmarks: one training step (forward, backward, AdamW: the loop, and `<preset>_fused` with
// the fused kernel) and sampling (NFE 32, CFG on/off, batch 1 and 4) at the tiny, F5TTS_v1_Small and
// F5TTS_v1_Base presets, random weights.
// The same configurations run through the Python package in benchmarks/peers/f5tts_peer.py.
//
//   build/benchmarks/chord_bench_systems --benchmark_filter=tiny
#include "bench_device.hpp"

#include <chord/core/allocator.hpp>
#include <chord/systems/f5tts.hpp>
#include <chord/train/fused_adamw.hpp>
#include <torch/optim/adamw.h>

#include <benchmark/benchmark.h>

namespace {

namespace f5 = chord::systems::f5tts;
using Model = chord::systems::F5TTSModel;

constexpr int64_t kVocab = 2545;
constexpr int64_t kPromptFrames = 94;   // 1 s of prompt at 24 kHz / hop 256
constexpr int64_t kTotalFrames = 188;   // 1 s of new speech
constexpr int64_t kTextTokens = 40;
constexpr int64_t kTrainFrames = 256;

Model make_model(f5::Preset preset) {
  torch::manual_seed(0);
  Model model(f5::model_options(preset, kVocab));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  chord::bench::place(model);
  return model;
}

/// AdamW at lr 1e-4 as the peer builds it: ATen's per-parameter loop, or its fused kernel.
std::shared_ptr<torch::optim::Optimizer> make_adamw(std::vector<torch::Tensor> parameters, bool fused) {
  const torch::optim::AdamWOptions options(1e-4);
  if (fused) return std::make_shared<chord::train::FusedAdamW>(std::move(parameters), options);
  return std::make_shared<torch::optim::AdamW>(std::move(parameters), options);
}

void BM_F5TTS_TrainStep(benchmark::State& state, f5::Preset preset, bool fused_adamw) {
  const int64_t batch = state.range(0);
  auto model = make_model(preset);
  model->train();
  auto optimizer = make_adamw(model->parameters(), fused_adamw);
  auto data_gen = chord::make_generator(1);
  auto gen = chord::make_generator(1, chord::bench::device());
  Model::Batch data{torch::randn({batch, kTrainFrames, 100}, data_gen), torch::full({batch}, kTrainFrames, torch::kLong),
                    torch::randint(0, kVocab, {batch, kTextTokens}, data_gen)};
  chord::bench::label(state);
  auto step = [&] {
    chord::bench::Region region;
    optimizer->zero_grad();
    auto loss = model->loss(data, gen).loss;
    loss.backward();
    optimizer->step();
    return loss;
  };
  // Untimed warm-up, as the Python peer does: the first step allocates AdamW's moments and touches
  // the gradient pages for the first time (at Base that step takes twice as long as the others, and
  // with a single timed iteration it would be the whole measurement).
  step();
  for (auto _ : state) {
    auto loss = step();
    benchmark::DoNotOptimize(loss.data_ptr());
  }
  state.counters["frames_per_second"] =
      benchmark::Counter(static_cast<double>(batch * kTrainFrames) * state.iterations(), benchmark::Counter::kIsRate);
}

/// The optimiser step alone (gradients already in place): AdamW's loop against the fused kernel.
void BM_F5TTS_AdamWStep(benchmark::State& state, f5::Preset preset, bool fused_adamw) {
  auto model = make_model(preset);
  auto optimizer = make_adamw(model->parameters(), fused_adamw);
  auto gen = chord::make_generator(1, chord::bench::device());
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn(p.sizes(), gen, p.options()) * 1e-3;
  chord::bench::label(state);
  optimizer->step();  // untimed: allocates the moments
  for (auto _ : state) {
    chord::bench::Region region;
    optimizer->step();
  }
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  state.counters["parameters"] = static_cast<double>(parameters);
}

void BM_F5TTS_Sample(benchmark::State& state, f5::Preset preset) {
  const int64_t batch = state.range(0);
  const bool cfg = state.range(1) != 0;
  auto model = make_model(preset);
  auto data_gen = chord::make_generator(1);
  auto gen = chord::make_generator(1, chord::bench::device());
  Model::Request request;
  request.prompt = torch::randn({batch, kPromptFrames, 100}, data_gen);
  request.text = torch::randint(0, kVocab, {batch, kTextTokens}, data_gen);
  request.duration = torch::full({batch}, kTotalFrames, torch::kLong);
  Model::SampleOptions options;
  options.sampler.steps = 32;
  options.guidance_strength = cfg ? 2.0 : 0.0;
  options.seeds.assign(static_cast<size_t>(batch), 7);
  chord::bench::label(state);
  {
    chord::bench::Region region;
    model->sample(request, options, gen);  // untimed warm-up, as in the Python peer
  }
  for (auto _ : state) {
    chord::bench::Region region;
    auto result = model->sample(request, options, gen);
    benchmark::DoNotOptimize(result.output.data_ptr());
  }
  const double generated_seconds = static_cast<double>(batch * (kTotalFrames - kPromptFrames) * 256) / 24000.0;
  state.counters["rtf"] = benchmark::Counter(generated_seconds * state.iterations(),
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

#define CHORD_F5_BENCH(label, preset)                                                                         \
  BENCHMARK_CAPTURE(BM_F5TTS_TrainStep, label, preset, false)->ArgNames({"batch"})->Arg(4)->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(BM_F5TTS_TrainStep, label##_fused, preset, true)->ArgNames({"batch"})->Arg(4)->Unit(benchmark::kMillisecond); \
  BENCHMARK_CAPTURE(BM_F5TTS_Sample, label, preset)                                                           \
      ->ArgNames({"batch", "cfg"})->Args({1, 0})->Args({1, 1})->Args({4, 0})->Args({4, 1})->Unit(benchmark::kMillisecond)

CHORD_F5_BENCH(tiny, f5::Preset::tiny);
CHORD_F5_BENCH(v1_small, f5::Preset::v1_small);
BENCHMARK_CAPTURE(BM_F5TTS_TrainStep, v1_base, f5::Preset::v1_base, false)->ArgNames({"batch"})->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_F5TTS_TrainStep, v1_base_fused, f5::Preset::v1_base, true)->ArgNames({"batch"})->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_F5TTS_AdamWStep, v1_small, f5::Preset::v1_small, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_F5TTS_AdamWStep, v1_small_fused, f5::Preset::v1_small, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_F5TTS_Sample, v1_base, f5::Preset::v1_base)->ArgNames({"batch", "cfg"})->Args({1, 1})->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  chord::keep_freed_tensor_memory();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
