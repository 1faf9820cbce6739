// Bert-VITS2 benchmarks: one train_ms.py iteration and inference, random weights, fp32, side by side with
// fishaudio/Bert-VITS2 (benchmarks/peers/bert_vits2_peer.py runs the same cases).
//
// Training step, batch 2: the generator's training forward, then the duration, multi-period and WavLM
// discriminator steps, then the generator step (each backward and AdamW step), as train::gan_step does with
// the optimisers train::add_gan registers (gradients of each loss go to its own optimiser's parameters
// only, as the Trainer routes them). The WavLM is wavlm-base-plus-sized (random weights) in both cases,
// and the discriminators are the reference's sizes (its MPD is hard-coded), the duration discriminator at
// hidden × hidden as train_ms.py builds it.
//   tiny: SynthesizerOptions::tiny() with the two sizes the reference hard-codes (posterior encoder
//         16 layers, duration-predictor filter 256), 2 utterances of 40 phones / 64 frames, 22.05 kHz.
//   v2_3: SynthesizerOptions::v2_3(4), 2 utterances of 48 phones / 96 frames, 44.1 kHz, segment 32 frames.
// TrainPhases/v2_3 times the same step by phase (counters in ms: generator forward, each member's loss forward,
// backward and AdamW step, each part of the generator's loss, its backward and step); it updates each member
// right after its loss instead of after all of them, which changes no amount of work.
// Inference: `infer` of one 40-phone utterance at v2_3, sdp_ratio 0.5. With random weights the durations
// would differ between the two implementations, so both zero the deterministic predictor's output
// projection and use noise_scale_w 0 (the SDP then returns log-durations of 0 at its default
// initialisation: zero ConvFlow projections, identity affine): every phone lasts ceil(2.9) = 3 frames,
// 120 frames (1.39 s) on both sides. The SDP, flow and decoder do the same work as with real weights.
//
//   build/benchmarks/chord_bench_systems --benchmark_filter=BertVits2
#include <chord/core/allocator.hpp>
#include <chord/core/random.hpp>
#include <chord/systems/bert_vits2.hpp>
#include <chord/train/gan_training.hpp>

#include <torch/autograd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace bv2 = chord::systems::bert_vits2;
using Spec = chord::systems::BertVits2;
using Model = chord::GanModel<Spec>;

enum class Size { tiny, v2_3 };

bv2::SynthesizerOptions synthesizer_options(Size size) {
  if (size == Size::v2_3) return bv2::SynthesizerOptions::v2_3(4);
  // The reference's SynthesizerTrn hard-codes these two; tiny() is smaller, so match them here.
  return bv2::SynthesizerOptions::tiny(4).posterior_layers(16).duration_filter_channels(256);
}

/// `items` utterances of `phones` phones and `frames` frames: random phones, tones, languages and BERT
/// features, a tone with noise as audio and its linear spectrogram.
bv2::Batch make_batch(const bv2::SynthesizerOptions& options, int64_t items, int64_t phones, int64_t frames, uint64_t seed) {
  auto gen = chord::make_generator(seed);
  const bv2::MelProcessing mel(options.spectrogram());
  const int64_t hop = options.spectrogram().hop_length;
  bv2::Batch batch;
  batch.text_padded = torch::randint(1, options.n_vocab(), {items, phones}, gen);
  batch.tone_padded = torch::randint(0, options.n_tones(), {items, phones}, gen);
  batch.language_padded = torch::randint(0, options.n_languages(), {items, phones}, gen);
  batch.text_lengths = torch::full({items}, phones, torch::kLong);
  batch.bert_padded = torch::randn({items, options.bert_channels(), phones}, gen) * 0.1;
  batch.ja_bert_padded = torch::randn({items, options.bert_channels(), phones}, gen) * 0.1;
  batch.en_bert_padded = torch::randn({items, options.bert_channels(), phones}, gen) * 0.1;
  const auto t = torch::arange(frames * hop, torch::kFloat32) / static_cast<double>(options.spectrogram().sampling_rate);
  batch.wav_padded = (0.3 * torch::sin(2 * M_PI * 220.0 * t) + 0.05 * torch::randn({items, 1, frames * hop}, gen)).contiguous();
  batch.spec_padded = mel.spectrogram(batch.wav_padded.squeeze(1));
  TORCH_CHECK(batch.spec_padded.size(2) == frames, "bench: ", frames, " spectrogram frames expected, got ", batch.spec_padded.sizes());
  batch.spec_lengths = torch::full({items}, frames, torch::kLong);
  batch.wav_lengths = batch.spec_lengths * hop;
  batch.sid = torch::arange(items) % options.n_speakers();
  batch.order = torch::arange(items);
  return batch;
}

chord::GanModelOptions<Spec> gan_options(Size size) {
  chord::GanModelOptions<Spec> options(synthesizer_options(size));
  auto& set = options.discriminators;
  const int64_t hidden = options.generator.hidden_channels();
  // train_ms.py: DurationDiscriminator(hidden, hidden, 3, 0.1, gin_channels).
  set.get<chord::disc::Duration>().options =
      chord::nn::vits::DurationDiscriminatorOptions(hidden, hidden, 3, 0.1, options.generator.gin_channels());
  set.get<chord::disc::WavLM>().model_sample_rate = options.generator.spectrogram().sampling_rate;
  return options;  // MPD and the WavLM discriminator at the reference's sizes, WavLM base-plus
}

/// The model and one AdamW per optimiser name (as train::add_gan registers them).
struct Training {
  explicit Training(Size size) : model(gan_options(size)) {
    std::vector<torch::Tensor> g;
    for (const auto& p : model->generator->parameters()) {
      if (p.requires_grad()) g.push_back(p);
    }
    add("G", chord::train::vits_adamw(g), g);
    model->options.discriminators.for_each([&](const auto& member) {
      std::vector<torch::Tensor> trainable;  // WavLM's encoder is frozen
      for (const auto& p : model->module_of(member)->parameters()) {
        if (p.requires_grad()) trainable.push_back(p);
      }
      add(std::string(member.prefix), member.make_optimizer(trainable), trainable);
    });
  }

  void add(const std::string& name, std::shared_ptr<torch::optim::Optimizer> optimizer, std::vector<torch::Tensor> parameters) {
    optimizers[name] = std::move(optimizer);
    this->parameters[name] = std::move(parameters);
  }

  /// zero_grad, backward into this optimiser's parameters only, step (Trainer's StepContext::backward).
  void update(const std::string& name, const torch::Tensor& loss) {
    auto& optimizer = *optimizers.at(name);
    optimizer.zero_grad();
    torch::autograd::backward({loss}, {}, /*retain_graph=*/false, /*create_graph=*/false, parameters.at(name));
    optimizer.step();
  }

  /// train::gan_step's order: generator forward, every member's step, the generator's step.
  torch::Tensor step(const bv2::Batch& batch, torch::Generator& gen) {
    model->train();
    const auto outputs = model->generate(batch, gen, global_step++);
    for (const auto& [prefix, loss] : model->discriminator_losses(outputs)) update(prefix, loss);
    const auto loss = model->generator_loss(batch, outputs);
    update("G", loss);
    return loss;
  }

  /// step() with the wall time of each phase added to `phases` (ms): the generator forward, each member's loss
  /// forward and its backward + AdamW step, each part of the generator's loss, its backward and its step.
  void timed_step(const bv2::Batch& batch, torch::Generator& gen, std::map<std::string, double>& phases) {
    using clock = std::chrono::steady_clock;
    auto t = clock::now();
    auto lap = [&](const std::string& name) {
      const auto now = clock::now();
      phases[name] += std::chrono::duration<double, std::milli>(now - t).count();
      t = now;
    };
    model->train();
    const auto outputs = model->generate(batch, gen, global_step++);
    lap("G_forward");
    model->options.discriminators.for_each([&](const auto& member) {
      auto module = model->module_of(member);
      const auto loss = member.discriminator_loss(module, outputs.detached());
      lap(std::string(member.prefix) + "_loss");
      auto& optimizer = *optimizers.at(std::string(member.prefix));
      optimizer.zero_grad();
      torch::autograd::backward({loss}, {}, false, false, parameters.at(std::string(member.prefix)));
      lap(std::string(member.prefix) + "_backward");
      optimizer.step();
      lap(std::string(member.prefix) + "_step");
    });
    auto total = torch::stack(torch::TensorList([&] {
                   std::vector<torch::Tensor> terms;
                   for (const auto& [name, term] : model->generator->losses(batch, outputs)) terms.push_back(term);
                   return terms;
                 }())).sum();
    lap("G_loss_own");
    model->options.discriminators.for_each([&](const auto& member) {
      auto module = model->module_of(member);
      const auto parts = member.generator_terms(module, outputs);
      total = total + parts.adversarial;
      if (parts.feature_matching.defined()) total = total + parts.feature_matching;
      lap("G_loss_" + std::string(member.prefix));
    });
    auto& optimizer = *optimizers.at("G");
    optimizer.zero_grad();
    torch::autograd::backward({total}, {}, false, false, parameters.at("G"));
    lap("G_backward");
    optimizer.step();
    lap("G_step");
  }

  Model model;
  std::map<std::string, std::shared_ptr<torch::optim::Optimizer>> optimizers;
  std::map<std::string, std::vector<torch::Tensor>> parameters;
  int64_t global_step = 0;
};

/// A model, optimisers, one batch and a generator, warmed up: the setup both training benchmarks time from.
struct WarmTraining {
  Training training;
  bv2::Batch batch;
  torch::Generator gen = chord::make_generator(2);

  explicit WarmTraining(Size size)
      : training(seeded(size)),
        batch(size == Size::tiny ? make_batch(training.model->options.generator, 2, 40, 64, 1)
                                 : make_batch(training.model->options.generator, 2, 48, 96, 1)) {
    // Two untimed warm-up steps: the first allocates AdamW's moments and the first gradients where its
    // activations were, so the second still grows the heap (about 650 MB of first-touch pages at v2_3, mostly
    // in the multi-period discriminator's forward); from the third on the heap is at its high-water mark.
    // With one warm-up a 1 s run timed that growth: +0.2 s on an idle machine, +1.3 s when another process
    // held 3 GB (page faults cost several times more then), which read as 0.8x against the reference.
    for (int i = 0; i < 2; ++i) training.step(batch, gen);
  }

  /// Freed-memory policy and seed set before the model draws its initial weights.
  static Size seeded(Size size) {
    chord::keep_freed_tensor_memory();
    torch::manual_seed(0);
    return size;
  }
};

void BM_BertVits2_TrainStep(benchmark::State& state, Size size) {
  WarmTraining warm(size);
  for (auto _ : state) benchmark::DoNotOptimize(warm.training.step(warm.batch, warm.gen).data_ptr());
}

/// The training step split into phases (counters: mean ms per step of each phase; see Training::timed_step).
void BM_BertVits2_TrainPhases(benchmark::State& state, Size size) {
  WarmTraining warm(size);
  std::map<std::string, double> phases;
  for (auto _ : state) warm.training.timed_step(warm.batch, warm.gen, phases);
  for (const auto& [name, ms] : phases) state.counters[name] = ms / static_cast<double>(state.iterations());
}

void BM_BertVits2_Infer(benchmark::State& state) {
  chord::keep_freed_tensor_memory();
  torch::manual_seed(0);
  const auto options = synthesizer_options(Size::v2_3);
  bv2::Synthesizer model(options);
  model->eval();
  torch::NoGradGuard no_grad;
  model->dp->proj->weight.zero_();  // log-durations 0: the same length on both sides (see the file comment)
  model->dp->proj->bias.zero_();
  const auto b = make_batch(options, 1, 40, 96, 1);
  const auto controls = bv2::InferOptions().sdp_ratio(0.5).noise_scale_w(0.0).length_scale(2.9);
  auto gen = chord::make_generator(2);
  auto run = [&] {
    return model->infer(b.text_padded, b.text_lengths, b.sid, b.tone_padded, b.language_padded, b.bert_padded, b.ja_bert_padded,
                        b.en_bert_padded, controls, gen);
  };
  const auto first = run();  // untimed warm-up
  const int64_t samples = first.audio.size(2);
  if (samples != 120 * options.spectrogram().hop_length) {
    state.SkipWithError(("expected 120 frames, got " + std::to_string(samples / options.spectrogram().hop_length)).c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(run().audio.data_ptr());
  const double seconds = static_cast<double>(samples) / options.spectrogram().sampling_rate;
  state.counters["audio_s_per_s"] = benchmark::Counter(seconds * state.iterations(), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_BertVits2_TrainStep, tiny, Size::tiny)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BertVits2_TrainStep, v2_3, Size::v2_3)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BertVits2_TrainPhases, v2_3, Size::v2_3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BertVits2_Infer)->Name("BM_BertVits2_Infer/v2_3")->Unit(benchmark::kMillisecond);
