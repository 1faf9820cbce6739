// The conditional DiT (seed 003): forward + backward of one training step at 256 target tokens
// (unconditional) and 256 + 64 (conditional), and each sequence-length policy's cost per step on
// the same conditional batch. Preset small (dim 128, depth 4), batch 16, CPU.
//
//   build/benchmarks/chord_bench_systems --benchmark_filter=CondDiT
#include "bench_device.hpp"

#include <chord/systems/cond_dit.hpp>

#include <benchmark/benchmark.h>

namespace {

namespace cd = chord::systems::cond_dit;
using Batch = chord::cond::PrependedTokens::Batch;

template <class Spec>
void BM_CondDiT_TrainStep(benchmark::State& state) {
  const bool conditional = state.range(0) != 0;
  torch::manual_seed(0);
  chord::FlowModelOptions<Spec> options(cd::preset_options(cd::Preset::small));
  if constexpr (requires { options.sequence.switch_step; }) options.sequence.switch_step = 0;  // conditional stage
  chord::FlowModel<Spec> model(options);
  chord::bench::place(model);
  auto data_gen = chord::make_generator(1);
  auto gen = chord::make_generator(1, chord::bench::device());
  Batch batch;
  batch.target = torch::randn({16, 256, 16}, data_gen);
  if (conditional) batch.condition = torch::randn({16, 64, 16}, data_gen);
  chord::bench::label(state);
  for (auto _ : state) {
    chord::bench::Region region;
    model->zero_grad();
    auto losses = model->loss(batch, gen, 1000);
    losses.loss.backward();
    benchmark::DoNotOptimize(losses.loss.data_ptr());
  }
  state.counters["tokens"] = conditional ? 320 : 256;
  state.SetItemsProcessed(state.iterations() * 16);
}

using namespace chord::systems;
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiT)->ArgName("conditional")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiTDummyCondition)->ArgName("conditional")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiTFixedLength)->ArgName("conditional")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiTTwoStage)->ArgName("conditional")->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiTRelative)->ArgName("conditional")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CondDiT_TrainStep, CondDiTRecommended)->ArgName("conditional")->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
