// The conditional DiT with prepended condition tokens and the seed-003 sequence-length policies.
#include "device_support.hpp"
#include "support.hpp"

#include <chord/io/state_dict.hpp>
#include <chord/systems/cond_dit.hpp>
#include <chord/train/trainer.hpp>
#include <torch/optim/adamw.h>

namespace cd = chord::systems::cond_dit;
using chord::test::max_abs_diff;
using Batch = chord::cond::PrependedTokens::Batch;

namespace {

template <class Spec>
chord::FlowModel<Spec> tiny_model(uint64_t seed = 0, std::function<void(chord::FlowModelOptions<Spec>&)> tweak = {}) {
  torch::manual_seed(seed);
  chord::FlowModelOptions<Spec> options(cd::preset_options(cd::Preset::tiny));
  if (tweak) tweak(options);
  chord::FlowModel<Spec> model(options);
  torch::NoGradGuard no_grad;  // break the zero inits so that every path carries signal
  for (auto& p : model->parameters()) p.normal_(0.0, 0.1);
  return model;
}

Batch random_batch(uint64_t seed, int64_t b, int64_t condition_tokens) {
  auto gen = chord::make_generator(seed);
  Batch batch;
  batch.target = torch::randn({b, 256, 16}, gen);
  if (condition_tokens > 0) batch.condition = torch::randn({b, condition_tokens, 16}, gen);
  return batch;
}

/// The model's prediction for a batch with a fixed draw.
template <class Spec>
torch::Tensor predict(chord::FlowModel<Spec>& model, const Batch& batch, uint64_t seed = 3) {
  auto gen = chord::make_generator(seed);
  torch::NoGradGuard no_grad;
  return model->loss(batch, gen).prediction;
}

}  // namespace

TEST_CASE("patchify lays patches out row-major and unpatchify inverts it", "[cond_dit][backbone]") {
  auto image = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  auto tokens = chord::nn::patchify(image, 2);
  REQUIRE(tokens.sizes() == torch::IntArrayRef({1, 4, 4}));
  // Token 1 is the top-right 2×2 patch: pixels (0,2), (0,3), (1,2), (1,3) = 2, 3, 6, 7.
  REQUIRE(torch::equal(tokens[0][1], torch::tensor({2.f, 3.f, 6.f, 7.f})));
  REQUIRE(torch::equal(tokens[0][2], torch::tensor({8.f, 9.f, 12.f, 13.f})));
  REQUIRE(torch::equal(chord::nn::unpatchify(tokens, 2, 2, 2, 1), image));
  // The 2× coarser condition grid sits at the centres of the target cells it covers.
  auto coarse = chord::nn::grid_coordinates(2, 2, 2.0);
  REQUIRE(torch::equal(coarse, torch::tensor({{0.5f, 0.5f}, {0.5f, 2.5f}, {2.5f, 0.5f}, {2.5f, 2.5f}})));
  // 2-D sin-cos: row channels first, [sin, cos] with ω_0 = 1.
  auto table = chord::nn::sincos_table(torch::tensor({{1.f, 2.f}}), 8);
  REQUIRE(table[0][0].item<float>() == Approx(std::sin(1.0)));
  REQUIRE(table[0][2].item<float>() == Approx(std::cos(1.0)));
  REQUIRE(table[0][4].item<float>() == Approx(std::sin(2.0)));
  REQUIRE(table[0][5].item<float>() == Approx(std::sin(2.0 / 100.0)));  // ω_1 = 10000^(−1/2)
}

TEST_CASE("one set of weights takes 256- and 320-token inputs without reallocation", "[cond_dit][backbone]") {
  auto model = tiny_model<chord::systems::CondDiT>();
  std::vector<const void*> before;
  for (const auto& p : model->parameters()) before.push_back(p.data_ptr());
  REQUIRE(model->backbone->pos_embed.sizes() == torch::IntArrayRef({1, 256, 32}));
  REQUIRE(model->backbone->cond_pos_embed.sizes() == torch::IntArrayRef({1, 64, 32}));
  auto unconditional = predict(model, random_batch(1, 2, 0));
  auto conditional = predict(model, random_batch(1, 2, 64));
  REQUIRE(unconditional.sizes() == torch::IntArrayRef({2, 256, 16}));
  REQUIRE(conditional.sizes() == torch::IntArrayRef({2, 256, 16}));
  REQUIRE(max_abs_diff(unconditional, conditional) > 1e-3);  // the condition is used
  std::vector<const void*> after;
  for (const auto& p : model->parameters()) after.push_back(p.data_ptr());
  REQUIRE(before == after);
  // More condition tokens than the absolute table holds is an error that names the remedies.
  REQUIRE_THROWS_WITH(predict(model, random_batch(1, 2, 65)), Catch::Matchers::Contains("FixedConditionLength") &&
                                                                  Catch::Matchers::Contains("65 condition tokens"));
  REQUIRE_THROWS_WITH(predict(model, Batch{torch::randn({1, 200, 16}), {}, {}}), Catch::Matchers::Contains("200 target tokens"));
}

TEST_CASE("clean-target flow: the training pair and an exact sampler on a constant prediction", "[cond_dit][objective]") {
  chord::obj::CleanTargetFlow<> objective;
  auto x1 = torch::randn({3, 5, 2});
  auto gen = chord::make_generator(4);
  auto pair = objective.draw(x1, gen);
  const auto t = pair.time.view({-1, 1, 1});
  REQUIRE(max_abs_diff(pair.x_t, (1 - t) * pair.x0 + t * x1) < 1e-6);
  REQUIRE(torch::equal(pair.target, x1));
  // A net that always predicts c: v = (c − x)/(1 − t); Euler on the uniform grid lands on c exactly
  // (the last step has dt = 1 − t).
  const auto c = torch::full({1, 4, 2}, 0.75);
  const auto net = chord::test::fixed_output_net(c);
  auto x0 = torch::randn({1, 4, 2});
  auto out = objective.sample(net, x0, {5}, gen);
  REQUIRE(max_abs_diff(out, c) < 1e-6);
  // A single step (dt = 1 from t = 0) lands on c as well.
  auto one = objective.sample(net, x0, {1}, gen);
  REQUIRE(max_abs_diff(one, c) < 1e-6);
  REQUIRE(objective.evaluations({5}) == 5);
}

TEST_CASE("policy 1: dummy conditions appear with probability p, only on unconditional batches", "[cond_dit][sequence]") {
  chord::seq::DummyCondition policy;
  policy.probability = 0.15;
  auto gen = chord::make_generator(5);
  int with_condition = 0;
  const int steps = 4000;
  for (int step = 0; step < steps; ++step) {
    auto batch = random_batch(step, 2, 0);
    policy.adapt_training(batch, step, gen);
    if (batch.condition.defined()) {
      ++with_condition;
      REQUIRE(batch.condition.sizes() == torch::IntArrayRef({2, 64, 16}));  // 320-token sequences
    }
  }
  // Binomial(4000, 0.15): sd ≈ 0.0056; 4 sd.
  REQUIRE(with_condition / double(steps) == Approx(0.15).margin(0.023));
  // Zeros as content, and a stop step.
  policy.content = chord::seq::DummyCondition::Content::zeros;
  policy.probability = 1.0;
  policy.until_step = 10;
  auto batch = random_batch(1, 2, 0);
  policy.adapt_training(batch, 9, gen);
  REQUIRE(torch::equal(batch.condition, torch::zeros({2, 64, 16})));
  batch = random_batch(1, 2, 0);
  policy.adapt_training(batch, 10, gen);
  REQUIRE_FALSE(batch.condition.defined());
  // A real condition is kept and nothing is drawn.
  auto real = random_batch(2, 2, 64);
  auto untouched = real.condition.clone();
  auto before = gen.get_state();
  policy.until_step = -1;
  policy.adapt_training(real, 0, gen);
  REQUIRE(torch::equal(real.condition, untouched));
  REQUIRE(torch::equal(gen.get_state(), before));
}

TEST_CASE("policy 2: padding content and truncated-away tokens cannot change the output", "[cond_dit][sequence]") {
  auto model = tiny_model<chord::systems::CondDiTFixedLength>();
  REQUIRE(model->options.sequence.length == 64);
  // 40 real tokens, padded to 64: whatever the model is told the padding holds changes nothing.
  auto short_batch = random_batch(7, 2, 40);
  auto reference = predict(model, short_batch);
  chord::seq::FixedConditionLength fixed;
  auto padded = short_batch;
  fixed.fix(padded.condition, padded.condition_mask, 2, 16, padded.target.options());
  REQUIRE(padded.condition.size(1) == 64);
  REQUIRE(padded.condition_mask.sum().item<int64_t>() == 80);
  padded.condition.narrow(1, 40, 24).normal_(0.0, 10.0);  // garbage in the padding
  REQUIRE(max_abs_diff(predict(model, padded), reference) < 1e-5);
  // 80 tokens truncated to 64: tokens 64..79 do not matter; token 10 does.
  auto long_batch = random_batch(8, 2, 80);
  auto long_reference = predict(model, long_batch);
  auto changed_tail = long_batch;
  changed_tail.condition = long_batch.condition.clone();
  changed_tail.condition.narrow(1, 64, 16).normal_(0.0, 10.0);
  REQUIRE(max_abs_diff(predict(model, changed_tail), long_reference) < 1e-6);
  auto changed_head = long_batch;
  changed_head.condition = long_batch.condition.clone();
  changed_head.condition.narrow(1, 10, 1).normal_(0.0, 10.0);
  REQUIRE(max_abs_diff(predict(model, changed_head), long_reference) > 1e-4);
  // An unconditional batch gets 64 fully masked tokens: the same output as no tokens at all.
  auto native = tiny_model<chord::systems::CondDiT>();
  auto unconditional = random_batch(9, 2, 0);
  REQUIRE(max_abs_diff(predict(model, unconditional), predict(native, unconditional)) < 1e-5);
}

TEST_CASE("policy 3: the stage switches exactly at the configured step", "[cond_dit][sequence]") {
  chord::seq::TwoStage policy;
  policy.switch_step = 100;
  policy.finetune_lr = 1e-5;
  auto gen = chord::make_generator(0);
  auto before = random_batch(1, 2, 64);
  policy.adapt_training(before, 99, gen);
  REQUIRE_FALSE(before.condition.defined());
  auto after = random_batch(1, 2, 64);
  policy.adapt_training(after, 100, gen);
  REQUIRE(after.condition.sizes() == torch::IntArrayRef({2, 64, 16}));
  REQUIRE(policy.learning_rate(99, 1e-3) == 1e-3);
  REQUIRE(policy.learning_rate(100, 1e-3) == 1e-5);
  // The model exposes the rule; a policy without one keeps the base rate.
  auto model = tiny_model<chord::systems::CondDiTTwoStage>(0, [](auto& o) { o.sequence.switch_step = 100; o.sequence.finetune_lr = 2e-5; });
  REQUIRE(model->learning_rate(100, 1e-3) == 2e-5);
  REQUIRE(tiny_model<chord::systems::CondDiT>()->learning_rate(100, 1e-3) == 1e-3);
}

TEST_CASE("policy 3: a run resumed across the stage switch is bitwise the uninterrupted run", "[cond_dit][sequence][resume]") {
  using Spec = chord::systems::CondDiTTwoStage;
  const auto dir = chord::test::scratch_dir("cond_dit_two_stage");
  // Every batch carries a real condition; the policy strips it before step 3.
  chord::train::BatchSource<Batch> source{[](int64_t) { return size_t{4}; },
                                          [](int64_t epoch, size_t index) {
                                            return random_batch(static_cast<uint64_t>(epoch * 10 + static_cast<int64_t>(index)), 2, 64);
                                          }};
  struct Run {
    chord::FlowModel<Spec> model{nullptr};
    std::unique_ptr<chord::train::Trainer> trainer;
  };
  auto make_run = [&](const std::filesystem::path& out, int64_t steps, uint64_t init) {
    Run run{tiny_model<Spec>(init, [](auto& o) { o.sequence.switch_step = 3; o.sequence.finetune_lr = 1e-4; }), nullptr};
    chord::train::TrainerOptions options;
    options.max_steps = steps;
    options.checkpoint_dir = out;
    options.seed = 5;
    run.trainer = std::make_unique<chord::train::Trainer>(options);
    run.trainer->add_module("model", run.model.ptr());
    auto optimizer = std::make_shared<torch::optim::AdamW>(run.model->parameters(), torch::optim::AdamWOptions(1e-3));
    auto model = run.model;
    run.trainer->add_optimizer("model", optimizer, [model](int64_t step, int64_t) { return model->learning_rate(step, 1e-3); }, 1.0);
    return run;
  };
  auto fit = [&](Run& run) {
    return run.trainer->fit<Batch>(source, [&](const Batch& batch, chord::train::StepContext& context) {
      auto losses = run.model->loss(batch, context.generator(), context.step());
      context.backward("model", losses.loss);
      return chord::train::Trainer::Scalars{{"loss", losses.loss}};
    });
  };
  auto straight = make_run(dir / "straight", 6, 1);
  REQUIRE(fit(straight).step == 6);
  auto first = make_run(dir / "split", 2, 1);
  REQUIRE(fit(first).step == 2);               // stops in the unconditional stage
  auto second = make_run(dir / "split", 6, 99);  // a new process, differently initialised
  REQUIRE(fit(second).step == 6);              // resumes and crosses the switch at step 3
  auto a = chord::io::state_dict(*straight.model), b = chord::io::state_dict(*second.model);
  REQUIRE(a.size() == b.size());
  for (const auto& [name, tensor] : a) {
    INFO(name);
    REQUIRE(torch::equal(tensor, b.at(name)));
  }
}

TEST_CASE("policy 4: rotary attention scores depend only on relative offsets", "[cond_dit][sequence]") {
  auto model = tiny_model<chord::systems::CondDiTRelative>();
  REQUIRE(model->backbone->options.positions() == chord::nn::PositionEncoding::rotary);
  REQUIRE_FALSE(model->backbone->pos_embed.defined());  // no tables at all
  auto block = model->backbone->block_list().front();
  auto x = torch::randn({1, 20, 32});
  auto coordinates = torch::rand({20, 2}) * 15;
  auto table = [&](const torch::Tensor& c) { return chord::nn::rotary_table(chord::nn::rotary_2d_frequencies(c, 16, 100.0)); };
  torch::NoGradGuard no_grad;
  auto base = table(coordinates);
  auto shifted = table(coordinates + torch::tensor({{3.5f, -7.0f}}));
  REQUIRE(max_abs_diff(block->scores(x, &base), block->scores(x, &shifted)) < 1e-4);
  // A non-uniform change of positions does change them.
  auto moved = coordinates.clone();
  moved[0][0] += 2.0;
  auto other = table(moved);
  REQUIRE(max_abs_diff(block->scores(x, &base), block->scores(x, &other)) > 1e-3);
  // Any number of condition tokens is native: 100 (beyond the 8×8 grid) runs.
  auto out = predict(model, random_batch(3, 1, 100));
  REQUIRE(out.sizes() == torch::IntArrayRef({1, 256, 16}));
}

TEST_CASE("1 + 3 compose: dummies before the switch, real conditions after, rates chained", "[cond_dit][sequence]") {
  chord::seq::Compose<chord::seq::TwoStage, chord::seq::DummyCondition> policy;
  policy.get<0>().switch_step = 10;
  policy.get<0>().finetune_lr = 1e-5;
  policy.get<1>().probability = 1.0;
  policy.get<1>().content = chord::seq::DummyCondition::Content::zeros;
  auto gen = chord::make_generator(0);
  auto early = random_batch(1, 2, 64);
  policy.adapt_training(early, 9, gen);  // real condition removed, then a dummy added
  REQUIRE(torch::equal(early.condition, torch::zeros({2, 64, 16})));
  auto late = random_batch(1, 2, 64);
  auto real = late.condition.clone();
  policy.adapt_training(late, 10, gen);
  REQUIRE(torch::equal(late.condition, real));
  REQUIRE(policy.learning_rate(9, 1e-3) == 1e-3);
  REQUIRE(policy.learning_rate(10, 1e-3) == 1e-5);
  auto model = tiny_model<chord::systems::CondDiTRecommended>();
  REQUIRE(model->backbone->options.positions() == chord::nn::PositionEncoding::absolute);
}

TEST_CASE("the conditional DiT samples with and without a condition", "[cond_dit][sample]") {
  auto model = tiny_model<chord::systems::CondDiT>();
  using Model = chord::FlowModel<chord::systems::CondDiT>;
  Model::Request request;
  auto gen = chord::make_generator(1);
  request.condition = torch::randn({2, 64, 16}, gen);
  Model::SampleOptions options;
  options.sampler.steps = 4;
  auto conditional = model->sample(request, options, gen);
  REQUIRE(conditional.output.sizes() == torch::IntArrayRef({2, 256, 16}));
  REQUIRE(torch::isfinite(conditional.output).all().item<bool>());
  Model::Request unconditional;
  unconditional.count = 3;
  REQUIRE(model->sample(unconditional, options, gen).output.sizes() == torch::IntArrayRef({3, 256, 16}));
  // The fixed-length model pads a short request's condition the way it pads training batches.
  auto fixed = tiny_model<chord::systems::CondDiTFixedLength>();
  request.condition = request.condition.narrow(1, 0, 30);
  chord::FlowModel<chord::systems::CondDiTFixedLength>::SampleOptions fixed_options;
  fixed_options.sampler.steps = 4;
  REQUIRE(fixed->sample(request, fixed_options, gen).output.sizes() == torch::IntArrayRef({2, 256, 16}));
}

TEST_CASE("mel tiles of the demo corpus: shapes, normalisation and the 2× condition", "[cond_dit][data]") {
  auto tiles = torch::randn({3, 1, 64, 64});
  auto condition = cd::downsample(tiles);
  REQUIRE(condition.sizes() == torch::IntArrayRef({3, 1, 32, 32}));
  REQUIRE(condition[1][0][3][5].item<float>() == Approx(tiles[1][0].slice(0, 6, 8).slice(1, 10, 12).mean().item<float>()));
  cd::TileSet set{tiles, 0.0, 1.0};
  auto batch = cd::make_batch(set, torch::tensor({2, 0}), 4, true);
  REQUIRE(batch.target.sizes() == torch::IntArrayRef({2, 256, 16}));
  REQUIRE(batch.condition.sizes() == torch::IntArrayRef({2, 64, 16}));
  REQUIRE(torch::equal(batch.target[0], chord::nn::patchify(tiles.narrow(0, 2, 1), 4)[0]));
}

TEST_CASE("the conditional DiT on a CUDA device: a trainer step, sampling and the length policies stay on the device",
          "[.cuda]") {
  const c10::Device cuda(c10::kCUDA, 0);
  auto run = [&]<class Spec>(std::type_identity<Spec>) {
    INFO(typeid(Spec).name());
    auto model = tiny_model<Spec>();
    chord::train::TrainerOptions options;
    options.max_steps = 2;
    options.device = cuda;
    chord::train::Trainer trainer(options);
    trainer.add_module("model", model.ptr());
    trainer.add_optimizer("model", std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(1e-3)));
    chord::train::BatchSource<Batch> source{[](int64_t) { return size_t{2}; },
                                            [](int64_t, size_t i) { return random_batch(i, 2, i == 0 ? 0 : 40); }};
    trainer.fit<Batch>(source, [&](const Batch& batch, chord::train::StepContext& context) {
      REQUIRE(batch.target.device() == cuda);
      auto losses = model->loss(batch, context.generator());
      REQUIRE(losses.loss.device() == cuda);
      context.backward("model", losses.loss);
      return chord::train::Trainer::Scalars{{"loss", losses.loss}};
    });
    chord::test::require_on(*model, cuda);
    typename chord::FlowModel<Spec>::Request request;
    auto cpu_gen = chord::make_generator(1);
    request.condition = torch::randn({2, 30, 16}, cpu_gen);
    typename chord::FlowModel<Spec>::SampleOptions sample_options;
    sample_options.sampler.steps = 4;
    auto gen = chord::make_generator(1, cuda);
    const auto out = model->sample(request, sample_options, gen).output;
    REQUIRE(out.device() == cuda);
    REQUIRE(out.sizes() == torch::IntArrayRef({2, 256, 16}));
    REQUIRE(torch::isfinite(out).all().template item<bool>());
  };
  run(std::type_identity<chord::systems::CondDiT>{});
  run(std::type_identity<chord::systems::CondDiTFixedLength>{});
  run(std::type_identity<chord::systems::CondDiTRecommended>{});
}
