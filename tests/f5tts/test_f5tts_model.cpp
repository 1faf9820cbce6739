// F5-TTS composed from policies: masks, guidance, determinism, edit mode, errors, overfitting.
#include "device_support.hpp"
#include "support.hpp"

#include <chord/audio/signal.hpp>

#include <chord/audio/mel.hpp>
#include <chord/policies/guidance/no_guidance.hpp>
#include <chord/policies/masking/length_only.hpp>
#include <chord/systems/f5tts.hpp>
#include <chord/train/trainer.hpp>
#include <torch/optim/adamw.h>

namespace f5 = chord::systems::f5tts;
using Model = chord::systems::F5TTSModel;
using chord::test::max_abs_diff;

namespace {

template <class Spec = chord::systems::F5TTS>
chord::FlowModel<Spec> tiny_model(int64_t vocab = 32, uint64_t seed = 0) {
  torch::manual_seed(seed);
  chord::FlowModelOptions<Spec> options(f5::preset_options(f5::Preset::tiny, vocab));
  options.backbone.dropout(0.0);
  chord::FlowModel<Spec> model(options);
  torch::NoGradGuard no_grad;  // break the zero init so outputs depend on the inputs
  for (auto& p : model->parameters()) p.normal_(0.0, 0.05);
  return model;
}

Model::Request make_request(int64_t prompt_frames = 20, int64_t duration = 50) {
  Model::Request request;
  auto gen = chord::make_generator(42);
  request.prompt = torch::randn({1, prompt_frames, 100}, gen);
  request.text = torch::tensor({{1, 2, 3, 4, 5, 6}});
  request.duration = torch::tensor({duration});
  return request;
}

Model::SampleOptions sample_options(int64_t steps, double strength, uint64_t seed = 7) {
  Model::SampleOptions options;
  options.sampler.steps = steps;
  options.guidance_strength = strength;
  options.seeds = {seed};
  return options;
}

}  // namespace

TEST_CASE("random spans cover 70-100 % of each utterance, contiguous and inside the valid frames", "[f5tts][masking]") {
  chord::mask::RandomSpan policy;
  auto gen = chord::make_generator(3);
  auto lens = torch::tensor({100, 57, 80, 10});
  double smallest = 1.0, largest = 0.0;
  for (int draw = 0; draw < 500; ++draw) {
    auto masks = policy.training_masks(lens, 100, gen);
    REQUIRE(torch::equal(masks.cond, masks.valid & ~masks.loss));
    REQUIRE_FALSE((masks.loss & ~masks.valid).any().item<bool>());
    for (int64_t b = 0; b < lens.size(0); ++b) {
      auto row = masks.loss[b].to(torch::kInt);
      const auto span = row.sum().item<int64_t>();
      const double fraction = static_cast<double>(span) / lens[b].item<double>();
      smallest = std::min(smallest, fraction);
      largest = std::max(largest, fraction);
      REQUIRE(fraction >= 0.6);  // trunc(0.7·len)/len, e.g. 6/10 at len 10
      // contiguous: exactly one rising edge
      auto padded = torch::constant_pad_nd(row, {1, 0}, 0);
      REQUIRE((padded.slice(0, 1) - padded.slice(0, 0, -1) == 1).sum().item<int64_t>() == (span > 0 ? 1 : 0));
    }
  }
  REQUIRE(smallest < 0.72);  // both ends of U[0.7, 1) are reached
  REQUIRE(largest > 0.97);
}

TEST_CASE("length-only masking counts every valid frame and conditions on none", "[f5tts][masking]") {
  chord::mask::LengthOnly policy;
  auto gen = chord::make_generator(0);
  auto masks = policy.training_masks(torch::tensor({4, 2}), 4, gen);
  REQUIRE(torch::equal(masks.loss, masks.valid));
  REQUIRE_FALSE(masks.cond.any().item<bool>());
}

TEST_CASE("joint dropout drops audio at 0.3 + 0.2·0.7 and both at 0.2, per batch", "[f5tts][guidance]") {
  chord::guide::JointDropout policy;
  auto gen = chord::make_generator(11);
  int audio = 0, both = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto drop = policy.training_drop(3, gen);
    auto a = drop.rows<chord::signal::AudioPrompt>(), t = drop.rows<chord::signal::Text>();
    REQUIRE((a.all().item<bool>() || !a.any().item<bool>()));  // one decision for the whole batch
    REQUIRE_FALSE((t & ~a).any().item<bool>());                // text is only dropped together with audio
    audio += a[0].item<bool>();
    both += t[0].item<bool>();
  }
  REQUIRE(audio / double(n) == Approx(0.3 + 0.7 * 0.2).margin(0.01));  // P(audio dropped) = 0.44
  REQUIRE(both / double(n) == Approx(0.2).margin(0.01));
  REQUIRE(policy.branches(2, 0.0).size() == 1);
  REQUIRE(policy.branches(2, 2.0).size() == 2);
  auto c = torch::tensor({1.0, 2.0}), u = torch::tensor({0.5, 3.0});
  REQUIRE(torch::allclose(policy.combine({c, u}, 2.0), torch::tensor({2.0, 0.0})));  // c + (c − u)·2
}

TEST_CASE("guidance strength 0 equals the conditional branch alone", "[f5tts][guidance]") {
  struct Unguided : chord::systems::F5TTS {
    using guidance = chord::guide::NoGuidance;
  };
  auto model = tiny_model();
  auto unguided = tiny_model<Unguided>();
  chord::io::load_state_dict(*unguided, chord::io::state_dict(*model));
  auto gen = chord::make_generator(0);
  auto a = model->sample(make_request(), sample_options(4, 0.0), gen);
  chord::FlowModel<Unguided>::SampleOptions options;
  options.sampler.steps = 4;
  options.seeds = {7};
  auto b = unguided->sample(make_request(), options, gen);
  REQUIRE(torch::equal(a.output, b.output));
}

TEST_CASE("guided sampling is Euler on c + (c - u)·s with one packed conditional/unconditional pass", "[f5tts][guidance]") {
  auto model = tiny_model();
  auto request = make_request(12, 30);
  auto gen = chord::make_generator(0);
  auto options = sample_options(2, 2.0, 5);
  options.sampler.grid.coefficient = std::nullopt;  // 2 steps: EPSS has no table → t = {0, 0.5, 1}
  auto sampled = model->sample(request, options, gen);

  // By hand: the same noise, two Euler steps, the conditional (prompt + text) and unconditional
  // (both dropped) velocities from the DiT itself.
  torch::NoGradGuard no_grad;
  auto x = chord::seeded_noise({30}, 100, {5});
  auto cond = torch::constant_pad_nd(request.prompt, {0, 0, 0, 18});
  auto yes = torch::ones({1}, torch::kBool);
  for (double t0 : {0.0, 0.5}) {
    auto t = torch::full({1}, t0);
    auto c = model->backbone->forward(x, cond, request.text, t);
    auto u = model->backbone->forward(x, cond, request.text, t, {}, yes, yes);
    x = x + 0.5 * (c + (c - u) * 2.0);
  }
  x.slice(1, 0, 12).copy_(request.prompt);
  REQUIRE(max_abs_diff(sampled.output, x) < 1e-5);
}

TEST_CASE("an item's sample depends on its seed, not on the rest of the batch", "[f5tts][sample]") {
  auto model = tiny_model();
  auto gen = chord::make_generator(0);
  auto alone = model->sample(make_request(20, 50), sample_options(4, 2.0, 5), gen);

  Model::Request pair;
  auto other = chord::make_generator(9);
  pair.prompt = torch::cat({make_request(20, 50).prompt, torch::randn({1, 20, 100}, other)});
  pair.prompt_lengths = torch::tensor({20, 14});
  pair.text = torch::tensor({{1, 2, 3, 4, 5, 6, -1}, {7, 8, 9, 10, 11, 12, 13}});
  pair.duration = torch::tensor({50, 41});
  auto options = sample_options(4, 2.0);
  options.seeds = {5, 77};
  auto batched = model->sample(pair, options, gen);
  // Same noise bit for bit; the batch-of-2 pass uses masks and other matmul shapes, so the result
  // agrees to float32 rounding.
  REQUIRE(max_abs_diff(batched.output[0].slice(0, 0, 50), alone.output[0]) < 1e-4);
  options.seeds = {5, 78};
  auto reseeded = model->sample(pair, options, gen);
  REQUIRE(torch::equal(reseeded.output[0], batched.output[0]));  // the other item's seed changes nothing here
  REQUIRE_FALSE(torch::allclose(reseeded.output[1], batched.output[1]));
}

TEST_CASE("edit mode regenerates the edited span and keeps every other frame bit-identical", "[f5tts][sample][edit]") {
  auto model = tiny_model();
  auto request = make_request(40, 0);
  auto keep = torch::ones({1, 40}, torch::kBool);
  keep.slice(1, 15, 25).fill_(false);
  request.edit_mask = keep;
  request.duration = torch::tensor({40});
  auto gen = chord::make_generator(0);
  auto result = model->sample(request, sample_options(4, 2.0), gen);
  REQUIRE(result.durations[0].item<int64_t>() == 41);  // the reference's rule: prompt length + 1
  auto out = result.output[0];
  REQUIRE(torch::equal(out.slice(0, 0, 15), request.prompt[0].slice(0, 0, 15)));
  REQUIRE(torch::equal(out.slice(0, 25, 40), request.prompt[0].slice(0, 25, 40)));
  REQUIRE(max_abs_diff(out.slice(0, 15, 25), request.prompt[0].slice(0, 15, 25)) > 0.1);
}

TEST_CASE("bad F5-TTS input gives clear errors", "[f5tts][errors]") {
  auto model = tiny_model();
  auto gen = chord::make_generator(0);
  SECTION("empty text") {
    auto request = make_request();
    request.text = torch::full({1, 4}, -1, torch::kLong);
    REQUIRE_THROWS_WITH(model->sample(request, sample_options(2, 2.0), gen), Catch::Matchers::Contains("at least one text token"));
    REQUIRE_THROWS_WITH(f5::estimate_duration(100, "ref", "", 1.0), Catch::Matchers::Contains("text to synthesise is empty"));
    REQUIRE_THROWS_WITH(f5::estimate_duration(100, "", "hello", 1.0), Catch::Matchers::Contains("reference text is empty"));
  }
  SECTION("a prompt at another sample rate") {
    chord::audio::MelSpectrogram mel(chord::audio::MelSpectrogramOptions::vocos_24k());
    REQUIRE_THROWS_WITH(f5::prompt_features(torch::zeros({16000}), 16000, mel),
                        Catch::Matchers::Contains("16000 Hz") && Catch::Matchers::Contains("24000 Hz"));
    REQUIRE(f5::prompt_features(torch::zeros({24000}), 24000, mel).sizes() == torch::IntArrayRef({1, 94, 100}));
  }
  SECTION("a checkpoint with another mel size") {
    const auto dir = chord::test::scratch_dir("f5tts_bad_checkpoint");
    chord::FlowModelOptions<chord::systems::F5TTS> options(f5::preset_options(f5::Preset::tiny, 32).mel_dim(80));
    Model other(options);
    chord::io::save_safetensors(dir / "mel80.safetensors", chord::io::state_dict(*other));
    const auto before = model->backbone->proj_out->weight.clone();
    REQUIRE_THROWS_WITH(f5::load_checkpoint(model, dir / "mel80.safetensors"),
                        Catch::Matchers::Contains("mel_dim 100 vs checkpoint 80"));
    REQUIRE(torch::equal(before, model->backbone->proj_out->weight));  // nothing loaded
    REQUIRE_THROWS_WITH(f5::load_checkpoint(model, dir / "missing.safetensors"),
                        Catch::Matchers::Contains("model_1250000.safetensors"));
  }
  SECTION("a mel of the wrong width") {
    Model::Batch batch{torch::randn({1, 10, 80}), torch::tensor({10}), torch::tensor({{1, 2}})};
    REQUIRE_THROWS_WITH(model->loss(batch, gen), Catch::Matchers::Contains("mel [B, N, 100] expected"));
  }
}

TEST_CASE("the text front end, duration rule, chunking and cross-fade follow the reference", "[f5tts][text]") {
  REQUIRE(f5::text_tokens("Hi;there") == std::vector<std::string>{"H", "i", ",", " ", "t", "h", "e", "r", "e"});
  REQUIRE(f5::text_tokens("Hello, world") == std::vector<std::string>{"H", "e", "l", "l", "o", ",", " ", "w", "o", "r", "l", "d"});
  REQUIRE(f5::text_tokens("it\xE2\x80\x99s") == std::vector<std::string>{"i", "t", "'", "s"});
  REQUIRE(f5::normalize_reference_text("Some call me nature") == "Some call me nature. ");
  REQUIRE(f5::normalize_reference_text("Done.") == "Done. ");
  REQUIRE(f5::normalize_reference_text("  Hi\n") == "Hi. ");
  REQUIRE_THROWS_WITH(f5::normalize_reference_text(" \n\t"), Catch::Matchers::Contains("the reference text is empty"));
  // ref 188 frames for 20 bytes, 30 new bytes: 188 + int(188/20·30) = 188 + 282
  REQUIRE(f5::estimate_duration(188, std::string(20, 'a'), std::string(30, 'b')) == 470);
  REQUIRE(f5::estimate_duration(100, std::string(20, 'a'), "short") == 100 + static_cast<int64_t>(100.0 / 20 * 5 / 0.3));
  auto chunks = f5::chunk_text("One two three. Four five six! Seven, eight nine.", 20);
  REQUIRE(chunks == std::vector<std::string>{"One two three.", "Four five six!", "Seven, eight nine."});
  auto faded = chord::audio::cross_fade({torch::ones({10}), torch::zeros({10})}, 4);
  REQUIRE(faded.size(0) == 16);
  REQUIRE(faded[6].item<float>() == Approx(1.0f));
  REQUIRE(faded[9].item<float>() == Approx(0.0f));
  auto stereo = chord::audio::cross_fade({torch::ones({2, 10}), torch::zeros({2, 10})}, 4);
  REQUIRE(stereo.sizes() == torch::IntArrayRef{2, 16});
  REQUIRE(torch::equal(stereo[0], stereo[1]));
}

TEST_CASE("long prompts are clipped at a pause in [6, 12] s, else at a shorter pause, else hard", "[f5tts][text]") {
  const int64_t rate = 1000;
  auto tone = [&](double seconds) { return 0.3 * torch::sin(torch::arange(static_cast<int64_t>(seconds * rate)) * 0.7); };
  auto quiet = [&](double seconds, double level) { return torch::full({static_cast<int64_t>(seconds * rate)}, level); };
  // 7 s speech, a 1.5 s pause, 8 s speech: cut in the middle of the pause (7.75 s).
  auto [long_pause, rule1] = f5::clip_prompt(torch::cat({tone(7), quiet(1.5, 0.0), tone(8)}), rate);
  REQUIRE(rule1 == f5::PromptClip::long_pause);
  REQUIRE(long_pause.size(0) == 7750);
  // Only a 0.2 s pause at -46 dBFS (above -50, below -40): the second pass finds it.
  auto [short_pause, rule2] = f5::clip_prompt(torch::cat({tone(9), quiet(0.2, 0.005), tone(8)}), rate);
  REQUIRE(rule2 == f5::PromptClip::short_pause);
  REQUIRE(short_pause.size(0) == 9100);
  // A pause too early (before 6 s) does not count: hard cut at 12 s.
  auto [hard, rule3] = f5::clip_prompt(torch::cat({tone(3), quiet(2, 0.0), tone(12)}), rate);
  REQUIRE(rule3 == f5::PromptClip::hard);
  REQUIRE(hard.size(0) == 12000);
  // Short prompts, and max_seconds 0, keep everything.
  REQUIRE(f5::clip_prompt(tone(11.9), rate).second == f5::PromptClip::none);
  REQUIRE(f5::clip_prompt(tone(30), rate, 0.0).first.size(0) == 30000);
}

TEST_CASE("the tiny preset overfits one batch: loss falls at least 5x within 300 steps", "[f5tts][slow]") {
  // One structured batch: log-mels of two harmonic tones with different pitch glides.
  chord::audio::MelSpectrogram mel(chord::audio::MelSpectrogramOptions::vocos_24k());
  auto t = torch::arange(24000 * 3 / 4, torch::kFloat32) / 24000.0;
  auto tone = [&](double f0, double glide) {
    auto phase = 2 * M_PI * (f0 * t + 0.5 * glide * t * t);
    return 0.3 * torch::sin(phase) + 0.15 * torch::sin(2 * phase) + 0.07 * torch::sin(3 * phase);
  };
  auto mels = mel(torch::stack({tone(180, 80), tone(260, -120)})).transpose(1, 2);  // [2, 71, 100]
  Model::Batch batch{mels, torch::tensor({71, 71}), torch::tensor({{3, 4, 5, 6, -1}, {7, 8, 9, 10, 11}})};

  torch::manual_seed(0);
  Model model(f5::model_options(f5::Preset::tiny, 16));
  chord::train::TrainerOptions options;
  options.max_steps = 300;
  options.log_every = 1;
  options.seed = 1;
  chord::train::Trainer trainer(options);
  trainer.add_optimizer("model", std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(2e-3)),
                        chord::train::warmup_linear_decay(2e-3, 20, 301), 1.0);
  std::vector<double> losses;
  trainer.fit<Model::Batch>({[](int64_t) { return size_t{1}; }, [&](int64_t, size_t) { return batch; }},
                                  [&](const Model::Batch& b, chord::train::StepContext& context) {
                                    auto loss = model->loss(b, context.generator(), context.step()).loss;
                                    context.backward("model", loss);
                                    losses.push_back(loss.item<double>());
                                    return chord::train::Trainer::Scalars{{"loss", loss}};
                                  });
  REQUIRE(losses.size() == 300);
  auto mean = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t i = from; i < to; ++i) sum += losses[i];
    return sum / static_cast<double>(to - from);
  };
  const double first = mean(0, 20), last = mean(280, 300);
  INFO("mean loss, steps 1-20: " << first << ", steps 281-300: " << last);
  REQUIRE(first / last >= 5.0);
}

TEST_CASE("fixed-grid solvers by hand: exact on polynomials up to their order, RK4 is the 3/8 rule", "[f5tts][ode]") {
  namespace ode = chord::ode;
  const auto grid = torch::tensor({0.0f, 0.25f, 0.5f, 1.0f});
  // v = t²: ∫₀¹ t² dt = 1/3. Heun2 (trapezoid) is exact for degree 1; RK4, Heun3 for degree 2 and 3.
  const ode::VelocityFn square = [](const torch::Tensor& x, const torch::Tensor& t) { return torch::ones_like(x) * t * t; };
  const auto x0 = torch::zeros({1});
  auto solve = [&]<class Solver>(Solver) { return ode::integrate<Solver>(square, x0, grid).template item<double>(); };
  CHECK(solve(ode::RK4{}) == Approx(1.0 / 3.0).margin(1e-7));
  CHECK(solve(ode::Heun3{}) == Approx(1.0 / 3.0).margin(1e-7));
  // The trapezoid rule over [0, .25, .5, 1]: Σ dt·(t0² + t1²)/2 = 0.0078125 + 0.0390625 + 0.3125.
  CHECK(solve(ode::Heun2{}) == Approx(0.0078125 + 0.0390625 + 0.3125).margin(1e-7));
  // Midpoint: Σ dt·((t0 + t1)/2)² = .25·.015625 + .25·.140625 + .5·.5625.
  CHECK(solve(ode::Midpoint{}) == Approx(0.25 * 0.015625 + 0.25 * 0.140625 + 0.5 * 0.5625).margin(1e-7));
  // One RK4 step on v = x (dx/dt = x) from 1 over dt = 1: the 3/8 rule gives 1 + 1 + 1/2 + 1/6 + 1/24,
  // like the classic rule for this linear problem; its stages are at 1/3 and 2/3.
  const ode::VelocityFn identity = [](const torch::Tensor& x, const torch::Tensor&) { return x; };
  std::vector<float> stage_times;
  const ode::VelocityFn recording = [&](const torch::Tensor& x, const torch::Tensor& t) {
    stage_times.push_back(t.item<float>());
    return x;
  };
  CHECK(ode::integrate<ode::RK4>(identity, torch::ones({1}), torch::tensor({0.0f, 1.0f})).item<double>() ==
        Approx(1.0 + 1.0 + 0.5 + 1.0 / 6.0 + 1.0 / 24.0).margin(1e-6));
  ode::integrate<ode::RK4>(recording, torch::ones({1}), torch::tensor({0.0f, 1.0f}));
  CHECK(stage_times == std::vector<float>{0.0f, 1.0f / 3.0f, 2.0f / 3.0f, 1.0f});
  // Explicit Adams: two RK4 steps, then Adams–Bashforth (order 3 on the third step), exact on v = t²
  // with equal steps; 4 + 4 + 1 evaluations.
  int calls = 0;
  const ode::VelocityFn counted = [&](const torch::Tensor& x, const torch::Tensor& t) {
    ++calls;
    return torch::ones_like(x) * t * t;
  };
  const auto even = torch::linspace(0.0, 1.0, 4);
  CHECK(ode::integrate<ode::ExplicitAdams>(counted, x0, even).item<double>() == Approx(1.0 / 3.0).margin(1e-6));
  CHECK(calls == 9);
  CHECK(ode::evaluations<ode::ExplicitAdams>(3) == 9);
  CHECK(ode::ExplicitAdams::coefficients(3) == std::vector<double>{23.0 / 12, -16.0 / 12, 5.0 / 12});
}

namespace {
/// Trains two updates on `device` from CPU batches, resumes from the checkpoint, samples from a CPU
/// request: the model, its EMA, every batch a step sees, the step generator and the outputs are on `device`.
void check_device_placement(c10::Device device) {
  const auto dir = chord::test::scratch_dir("device_placement_" + device.str());
  auto run = [&](int64_t steps) {
    auto model = tiny_model();
    chord::train::TrainerOptions options;
    options.max_steps = steps;
    options.checkpoint_dir = dir;
    options.device = device;
    chord::train::Trainer trainer(options);
    trainer.add_module("model", model.ptr());
    auto optimizer = std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(1e-3));
    trainer.add_optimizer("model", optimizer);
    auto& ema = trainer.add_ema("model", model.ptr());
    chord::train::BatchSource<Model::Batch> source{[](int64_t) { return size_t{2}; }, [](int64_t, size_t i) {
      auto gen = chord::make_generator(i);
      return Model::Batch{torch::randn({2, 40, 100}, gen), torch::tensor({40, 31}), torch::randint(0, 32, {2, 8}, gen)};
    }};
    trainer.fit<Model::Batch>(source, [&](const Model::Batch& batch, chord::train::StepContext& context) {
      REQUIRE(batch.mel.device() == device);
      REQUIRE(batch.text.device() == device);
      REQUIRE(context.generator().device() == device);
      auto losses = model->loss(batch, context.generator());
      REQUIRE(losses.loss.device() == device);
      context.backward("model", losses.loss);
      return chord::train::Trainer::Scalars{{"loss", losses.loss}};
    });
    chord::test::require_on(*model, device);
    for (const auto& [name, tensor] : ema.shadow()) REQUIRE(tensor.device() == device);
    for (const auto& group : optimizer->param_groups()) {
      for (const auto& p : group.params()) {
        const auto& state = static_cast<torch::optim::AdamWParamState&>(*optimizer->state().at(p.unsafeGetTensorImpl()));
        REQUIRE(state.exp_avg().device() == device);
      }
    }
    return model;
  };
  run(1);
  auto model = run(2);  // resumed from the step-1 checkpoint, loaded onto `device`
  auto gen = chord::make_generator(0, device);
  auto result = model->sample(make_request(), sample_options(2, 2.0), gen);
  REQUIRE(result.output.device() == device);
  REQUIRE(result.durations.device() == c10::Device(c10::kCPU));  // lengths stay on the CPU by design
}
}  // namespace

TEST_CASE("training, resuming and sampling place everything on the trainer's device (CPU)", "[f5tts][device]") {
  check_device_placement(c10::Device(c10::kCPU));
}

TEST_CASE("training, resuming and sampling place everything on the trainer's device (CUDA)", "[.cuda]") {
  check_device_placement(c10::Device(c10::kCUDA, 0));
  // Per-item noise is drawn on the CPU: the same sample on either device (fp32 convolutions without TF32).
  chord::test::NoTF32 no_tf32;
  auto model = tiny_model();
  auto cpu_gen = chord::make_generator(0);
  const auto cpu = model->sample(make_request(), sample_options(4, 2.0), cpu_gen);
  model->to(c10::Device(c10::kCUDA, 0));
  auto gen = chord::make_generator(0, c10::Device(c10::kCUDA, 0));
  const auto cuda = model->sample(make_request(), sample_options(4, 2.0), gen);
  REQUIRE(max_abs_diff(cpu.output, cuda.output.cpu()) <= 1e-4);
}

// docs/policies/conditioning.md example: the "Minimal custom policy" code, verbatim (keep the two in
// step). A local class cannot have member templates, so it lives at namespace scope.
namespace {
struct TextOnly {  // text only, no audio prompt
  using policy_category = chord::conditioning_policy_tag;
  static constexpr std::string_view name = "text_only";
  using signals = chord::Signals<chord::signal::Text>;
  using Batch = chord::cond::F5TextAudio::Batch;  // mel [B, N, 100], lengths [B], text [B, Nt]
  struct Request {
    torch::Tensor text;      // [B, Nt] token ids, −1 padded
    torch::Tensor duration;  // [B] output frames
  };
  template <class Backbone>
  using Prepared = chord::cond::F5TextAudio::Prepared<Backbone>;

  chord::cond::F5TextAudio base;  // its readers and run() serve unchanged

  int64_t channels() const { return base.channels(); }
  torch::Tensor target(const Batch& b) const { return base.target(b); }
  torch::Tensor lengths(const Batch& b) const { return base.lengths(b); }
  torch::Tensor durations(const Request& r) const { return r.duration.to(torch::kLong); }

  template <chord::cond::TextAudioBackbone Backbone>
  Prepared<Backbone> prepare_training(Backbone& backbone, const Batch& b, const chord::Masks& masks,
                                      const chord::ConditionDrop& drop) const {
    return prepare(backbone, b.text.to(b.mel.device()), masks.valid, drop, b.mel.size(1));
  }
  template <chord::cond::TextAudioBackbone Backbone>
  Prepared<Backbone> prepare_inference(Backbone& backbone, const Request& r, const chord::Masks& masks,
                                       const std::vector<chord::ConditionDrop>& branches) const {
    const auto k = static_cast<int64_t>(branches.size());  // guidance branches, stacked along the batch
    auto valid = masks.valid.defined() ? masks.valid.repeat({k, 1}) : torch::Tensor();
    return prepare(backbone, r.text.to(masks.cond.device()).repeat({k, 1}), valid,
                   chord::ConditionDrop::concat(branches), masks.cond.size(1));
  }
  template <chord::cond::TextAudioBackbone Backbone>
  torch::Tensor run(Backbone& backbone, const Prepared<Backbone>& p, const torch::Tensor& x,
                    const torch::Tensor& t, bool features) const {
    return base.run(backbone, p, x, t, features);
  }

  // The text embedding and a silent audio condition, computed once per call.
  template <class Backbone>
  Prepared<Backbone> prepare(Backbone& backbone, const torch::Tensor& text, const torch::Tensor& valid,
                             const chord::ConditionDrop& drop, int64_t frames) const {
    auto silence = torch::zeros({text.size(0), frames, channels()}, text.options().dtype(torch::kFloat));
    auto embedded = backbone->embed_text(text, frames, valid, drop.rows<chord::signal::Text>(text.device()));
    return {backbone->embed_condition(silence, embedded, torch::Tensor()), valid};
  }
};
static_assert(chord::ConditioningPolicy<TextOnly>);
static_assert(chord::Conditions<TextOnly, chord::nn::F5DiT>);

// docs/policies/masking.md example, verbatim: it compiles and satisfies MaskingPolicy.
struct PrefixPrompt {  // the first third of each utterance is the prompt
  using policy_category = chord::masking_policy_tag;
  static constexpr std::string_view name = "prefix_prompt";
  chord::Masks training_masks(const torch::Tensor& lens, int64_t frames, torch::Generator&) const {
    chord::Masks m;
    m.valid = chord::lens_to_mask(lens, frames);
    m.cond = chord::lens_to_mask(lens / 3, frames);
    m.loss = m.valid & ~m.cond;
    return m;
  }
  chord::Masks inference_masks(const torch::Tensor& p, const torch::Tensor& e, const torch::Tensor& d) const {
    return chord::mask::prompt_inference_masks(p, e, d);
  }
};
static_assert(chord::MaskingPolicy<PrefixPrompt>);
}  // namespace

TEST_CASE("docs/policies/conditioning.md example: a text-only conditioning trains and samples in a FlowModel",
          "[f5tts][docs]") {
  struct TextOnlyTTS : chord::systems::F5TTS {
    using conditioning = TextOnly;
    using masking = chord::mask::LengthOnly;
    using guidance = chord::guide::NoGuidance;
  };
  using TextOnlyModel = chord::FlowModel<TextOnlyTTS>;
  auto model = tiny_model<TextOnlyTTS>();
  auto gen = chord::make_generator(0);

  TextOnlyModel::Batch batch;
  batch.mel = torch::randn({2, 40, 100}, gen);
  batch.lengths = torch::tensor({40, 30});
  batch.text = torch::tensor({{1, 2, 3, -1}, {4, 5, 6, 7}});
  auto losses = model->loss(batch, gen);
  REQUIRE(losses.loss.dim() == 0);
  REQUIRE(torch::isfinite(losses.loss).item<bool>());
  REQUIRE_FALSE(losses.masks.cond.any().item<bool>());  // no frame is given: there is no prompt

  TextOnlyModel::SampleOptions options;
  options.sampler.steps = 2;
  options.seeds = {7};
  auto say = [&](torch::Tensor text) {
    return model->sample(TextOnlyModel::Request{std::move(text), torch::tensor({30})}, options, gen).output;
  };
  const auto a = say(torch::tensor({{1, 2, 3}}));
  REQUIRE(a.sizes() == torch::IntArrayRef({1, 30, 100}));
  REQUIRE(max_abs_diff(a, say(torch::tensor({{1, 2, 3}}))) == 0.0);  // same seed, same text
  REQUIRE(max_abs_diff(a, say(torch::tensor({{9, 8, 7}}))) > 0.0);   // the text reaches the backbone
}
