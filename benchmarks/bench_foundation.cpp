// Foundation benchmarks: log-mel throughput, monotonic alignment search, and safetensors loading
// against a plain file read.
//
//   build/benchmarks/chord_bench_foundation --benchmark_filter=LogMel
//   build/benchmarks/chord_bench_foundation --benchmark_filter=MaximumPath   (peer: benchmarks/peers/mas_bert_vits2.py)
//   CHORD_BENCH_SAFETENSORS_MB=1024 build/benchmarks/chord_bench_foundation --benchmark_filter=Load
#include "bench_device.hpp"

#include <chord/audio/mel.hpp>
#include <chord/core/allocator.hpp>
#include <chord/io/safetensors.hpp>
#include <chord/ops/monotonic_alignment.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace {

void BM_LogMel(benchmark::State& state, chord::audio::MelSpectrogramOptions options) {
  torch::InferenceMode inference;
  const int64_t seconds = state.range(0);
  const int64_t batch = state.range(1);
  auto wave = torch::randn({batch, options.sample_rate * seconds}) * 0.1;
  chord::audio::MelSpectrogram mel(options);
  int64_t frames = 0;
  for (auto _ : state) {
    auto out = mel(wave);
    benchmark::DoNotOptimize(out.data_ptr());
    frames += out.size(0) * out.size(2);
  }
  state.counters["frames_per_second"] = benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_LogMel, vocos_24k, chord::audio::MelSpectrogramOptions::vocos_24k())
    ->ArgNames({"seconds", "batch"})->Args({10, 1})->Args({10, 8})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LogMel, vits_44k, chord::audio::MelSpectrogramOptions::vits())
    ->ArgNames({"seconds", "batch"})->Args({10, 1})->Unit(benchmark::kMillisecond);

/// Bert-VITS2's training-time alignment: B = 16 items of T_text tokens and 4·T_text frames, scores
/// standard normal, every cell valid (the numba peer times the same, with its float32 copy).
void BM_MaximumPath(benchmark::State& state) {
  const int64_t batch = 16, tokens = state.range(0), frames = 4 * tokens;
  auto gen = chord::make_generator(0);
  const auto scores = torch::randn({batch, frames, tokens}, gen).to(chord::bench::device());
  const auto mask = torch::ones({batch, frames, tokens}).to(chord::bench::device());
  for (auto _ : state) {
    chord::bench::Region region;
    auto path = chord::ops::maximum_path(scores, mask);
    benchmark::DoNotOptimize(path.data_ptr());
  }
  state.SetLabel(chord::bench::device().str() + ", " + std::to_string(at::get_num_threads()) + " CPU threads");
}
BENCHMARK(BM_MaximumPath)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

/// A checkpoint-like file: many tensors of mixed sizes totalling CHORD_BENCH_SAFETENSORS_MB (1024 MB).
std::filesystem::path big_file() {
  const char* env = std::getenv("CHORD_BENCH_SAFETENSORS_MB");
  const int64_t megabytes = env ? std::atoll(env) : 1024;
  const auto path = std::filesystem::path(CHORD_BENCH_DATA) / ("bench_" + std::to_string(megabytes) + "mb.safetensors");
  if (!std::filesystem::exists(path)) {
    chord::io::TensorMap tensors;
    const int64_t per_tensor = 4 * 1024 * 1024;  // 4M floats = 16 MB, like a large linear layer
    int64_t remaining = megabytes * 1024 * 1024 / 4;
    for (int i = 0; remaining > 0; ++i) {
      const int64_t n = std::min(per_tensor, remaining);
      tensors.emplace("blocks." + std::to_string(i) + ".weight", torch::randn({n}));
      tensors.emplace("blocks." + std::to_string(i) + ".bias", torch::randn({1024}));
      remaining -= n;
    }
    chord::io::save_safetensors(path, tensors);
  }
  return path;
}

void BM_SafetensorsLoadCopy(benchmark::State& state) {
  const auto path = big_file();
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  for (auto _ : state) {
    auto tensors = chord::io::load_safetensors(path);
    benchmark::DoNotOptimize(tensors.size());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_SafetensorsLoadCopy)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SafetensorsLoadView(benchmark::State& state) {
  const auto path = big_file();
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  for (auto _ : state) {
    auto tensors = chord::io::SafetensorsReader(path).tensors(/*copy=*/false);
    double checksum = 0;  // touch every page so the view is really read
    for (auto& [name, t] : tensors) checksum += t.sum().item<double>();
    benchmark::DoNotOptimize(checksum);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_SafetensorsLoadView)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Reading the same bytes into freshly allocated memory, as any loader that returns owned tensors
/// must: the first-touch page faults of the destination dominate.
void BM_PlainReadFresh(benchmark::State& state) {
  const auto path = big_file();
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  for (auto _ : state) {
    std::unique_ptr<char[]> buffer(new char[static_cast<size_t>(bytes)]);
    std::ifstream in(path, std::ios::binary);
    in.read(buffer.get(), bytes);
    benchmark::DoNotOptimize(buffer.get());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_PlainReadFresh)->Unit(benchmark::kMillisecond)->UseRealTime();

/// The floor: read the same bytes into one reused buffer with std::ifstream.
void BM_PlainRead(benchmark::State& state) {
  const auto path = big_file();
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  std::vector<char> buffer(static_cast<size_t>(bytes));
  for (auto _ : state) {
    std::ifstream in(path, std::ios::binary);
    in.read(buffer.data(), bytes);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_PlainRead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  chord::keep_freed_tensor_memory();  // as chord's programs do; see core/allocator.hpp
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
