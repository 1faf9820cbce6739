// SAGA-SR benchmarks: one training step (loss, backward, AdamW) and sampling (100 Euler steps on the
// log-SNR schedule, stable-audio CFG: conditional and null-token branches in one batched pass) at the
// tiny and small presets, random weights. The spec has text (128 tokens of 768 channels) and the
// roll-offs as stable-audio NumberConditioners (cross tokens + global vector), stable-audio CFG, no
// seconds — what stable-audio-tools can express — so the DiT sees the same inputs as the Python peer
// (benchmarks/peers/saga_sr_peer.py): 128 latent frames (5.94 s at 44.1 kHz, the official segment).
//
//   build/benchmarks/chord_bench_systems --benchmark_filter=SagaSR
#include <chord/core/allocator.hpp>
#include <chord/systems/saga_sr.hpp>
#include <torch/optim/adamw.h>

#include <benchmark/benchmark.h>

namespace {

namespace saga = chord::systems::saga_sr;

struct BenchSpec : chord::systems::SagaStep2 {
  using conditioning = chord::cond::LatentSuperResolution<chord::sr::text | chord::sr::rolloff, 0>;
  using guidance = chord::guide::CrossAttentionDropout;
};
using Model = chord::FlowModel<BenchSpec>;

constexpr int64_t kFrames = 128;
constexpr int64_t kTextTokens = 128;

Model make_model(saga::Preset preset) {
  chord::keep_freed_tensor_memory();
  torch::manual_seed(0);
  Model model(saga::model_options<BenchSpec>(preset));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  return model;
}

Model::Batch make_batch(const Model& model, int64_t batch, torch::Generator& gen) {
  const int64_t channels = model->options.conditioning.latent_channels;
  Model::Batch b;
  b.target = torch::randn({batch, kFrames, channels}, gen);
  b.low_resolution = torch::randn({batch, kFrames, channels}, gen);
  b.inputs.text = torch::randn({batch, kTextTokens, 768}, gen);
  b.inputs.input_rolloff = torch::full({batch}, 0.3);
  b.inputs.output_rolloff = torch::ones({batch});
  return b;
}

void BM_SagaSR_TrainStep(benchmark::State& state, saga::Preset preset) {
  auto model = make_model(preset);
  model->train();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4));
  auto gen = chord::make_generator(1);
  auto data = make_batch(model, state.range(0), gen);
  auto step = [&] {
    optimizer.zero_grad();
    auto loss = model->loss(data, gen).loss;
    loss.backward();
    optimizer.step();
    return loss;
  };
  step();  // untimed warm-up: AdamW's moments and the first gradients are allocated here
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
}

void BM_SagaSR_Sample(benchmark::State& state, saga::Preset preset) {
  auto model = make_model(preset);
  auto gen = chord::make_generator(1);
  auto data = make_batch(model, state.range(0), gen);
  Model::Request request;
  request.low_resolution = data.low_resolution;
  request.inputs = data.inputs;
  Model::SampleOptions options;
  options.sampler.steps = 100;
  options.guidance_strength = 3.0;
  model->sample(request, options, gen);  // untimed warm-up
  for (auto _ : state) benchmark::DoNotOptimize(model->sample(request, options, gen).output.data_ptr());
  const double seconds = static_cast<double>(state.range(0)) * kFrames * 2048 / 44100.0;
  state.counters["rtf"] = benchmark::Counter(seconds * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK_CAPTURE(BM_SagaSR_TrainStep, tiny, saga::Preset::tiny)->ArgNames({"batch"})->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SagaSR_Sample, tiny, saga::Preset::tiny)->ArgNames({"batch"})->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SagaSR_TrainStep, small, saga::Preset::small)->ArgNames({"batch"})->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SagaSR_Sample, small, saga::Preset::small)->ArgNames({"batch"})->Arg(1)->Unit(benchmark::kMillisecond);
