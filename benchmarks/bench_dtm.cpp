// DTM sampling against CFM sampling on the same backbone: DTM at (T, K) = (8, 4), (16, 4), (32, 4)
// and CFM at NFE 16 and 32, batch 1, CFG 2, random weights. Counters: backbone passes, and for DTM
// the head evaluations (each over both guidance branches).
//
//   build/benchmarks/chord_bench_systems --benchmark_filter=Transition
#include "bench_device.hpp"

#include <chord/systems/dtm_f5tts.hpp>

#include <benchmark/benchmark.h>

namespace {

namespace f5 = chord::systems::f5tts;

constexpr int64_t kVocab = 2545, kPromptFrames = 94, kTotalFrames = 188, kTextTokens = 40;

template <class Spec>
chord::FlowModel<Spec> make(f5::Preset preset, int64_t head_width) {
  torch::manual_seed(0);
  chord::FlowModelOptions<Spec> options(f5::preset_options(preset, kVocab));
  if constexpr (requires { options.objective.head_width; }) options.objective.head_width = head_width;
  chord::FlowModel<Spec> model(options);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  chord::bench::place(model);
  return model;
}

template <class Spec>
void run(benchmark::State& state, chord::FlowModel<Spec>& model, chord::SampleOptionsOf<Spec> options) {
  auto data_gen = chord::make_generator(1);
  auto gen = chord::make_generator(1, chord::bench::device());
  chord::RequestOf<Spec> request;
  request.prompt = torch::randn({1, kPromptFrames, 100}, data_gen);
  request.text = torch::randint(0, kVocab, {1, kTextTokens}, data_gen);
  request.duration = torch::full({1}, kTotalFrames, torch::kLong);
  options.guidance_strength = 2.0;
  options.seeds = {7};
  chord::bench::label(state);
  for (auto _ : state) {
    chord::bench::Region region;
    auto result = model->sample(request, options, gen);
    benchmark::DoNotOptimize(result.output.data_ptr());
  }
}

/// Arguments: T (transitions), K (head steps), head width.
void BM_DifferenceTransitionMatching_Sample(benchmark::State& state, f5::Preset preset) {
  auto model = make<chord::systems::DTMF5TTS>(preset, state.range(2));
  chord::systems::DTMF5TTSModel::SampleOptions options;
  options.sampler.steps = state.range(0);
  options.sampler.head_steps = state.range(1);
  run(state, model, options);
  state.counters["backbone_passes"] = static_cast<double>(state.range(0));
  state.counters["head_evaluations"] = static_cast<double>(state.range(0) * state.range(1));
}

/// Argument: NFE.
void BM_CondFlowMatching_Sample(benchmark::State& state, f5::Preset preset) {
  auto model = make<chord::systems::F5TTS>(preset, 0);
  chord::systems::F5TTSModel::SampleOptions options;
  options.sampler.steps = state.range(0);
  run(state, model, options);
  state.counters["backbone_passes"] = static_cast<double>(state.range(0));
}

BENCHMARK_CAPTURE(BM_DifferenceTransitionMatching_Sample, tiny, f5::Preset::tiny)
    ->ArgNames({"T", "K", "head_width"})->Args({8, 4, 64})->Args({16, 4, 64})->Args({32, 4, 64})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CondFlowMatching_Sample, tiny, f5::Preset::tiny)
    ->ArgNames({"nfe"})->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DifferenceTransitionMatching_Sample, v1_small, f5::Preset::v1_small)
    ->ArgNames({"T", "K", "head_width"})->Args({8, 4, 256})->Args({16, 4, 256})->Args({32, 4, 256})->Args({16, 4, 512})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CondFlowMatching_Sample, v1_small, f5::Preset::v1_small)
    ->ArgNames({"nfe"})->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond);

}  // namespace
