// The discriminator-set family and GAN training: gradient isolation between optimisers, the shared
// fp16 loss scaler, and a toy GAN whose second adversary is a one-line spec change.
#include "support.hpp"
#include "train/recorder.hpp"
#include "train/toy_gan.hpp"

#include <chord/train/gan_training.hpp>
#include <torch/autograd.h>
#include <torch/optim/sgd.h>

namespace train = chord::train;
using chord::test::Recorder;

static_assert(chord::GanGenerator<toy_gan::Generator>);
static_assert(chord::DiscriminatorMember<toy_gan::LsganCritic>);
static_assert(chord::DiscriminatorSetPolicy<chord::disc::Set<toy_gan::LsganCritic, toy_gan::SecondCritic>>);
static_assert(chord::disc::Set<toy_gan::LsganCritic, toy_gan::SecondCritic>::prefixes[1] == "D2");

namespace {

/// 4 batches per epoch, each a pure function of (epoch, index).
train::BatchSource<toy_gan::Batch> toy_gan_source() {
  return {[](int64_t) { return size_t{4}; },
          [](int64_t epoch, size_t index) {
            auto gen = chord::make_generator(static_cast<uint64_t>(100 + epoch * 10 + static_cast<int64_t>(index)));
            auto input = torch::randn({6, 4}, gen);
            return toy_gan::Batch{input, input.flip(1) * 0.5 + 0.25};
          }};
}

template <class Spec>
chord::GanModel<Spec> make_toy_gan(double critic_learning_rate) {
  torch::manual_seed(5);
  chord::GanModelOptions<Spec> options(toy_gan::GeneratorOptions{});
  std::apply([&](auto&... member) { ((member.learning_rate = critic_learning_rate), ...); }, options.discriminators.members);
  return chord::GanModel<Spec>(options);
}

/// d loss / d parameters, as tensors shaped like the parameters.
std::vector<torch::Tensor> gradients(const torch::Tensor& loss, const std::vector<torch::Tensor>& parameters) {
  return torch::autograd::grad({loss}, parameters, {}, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
}

void require_close(const std::vector<torch::Tensor>& actual, const std::vector<torch::Tensor>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("parameter " << i);
    REQUIRE(actual[i].defined());
    REQUIRE(chord::test::max_abs_diff(actual[i], expected[i]) < 1e-6);
  }
}

}  // namespace

TEST_CASE("each optimiser's backward leaves gradients in its own parameters only, with accumulation",
          "[train][gan][isolation]") {
  // Learning rates 0: the parameters stay put, so the gradients the trainer leaves after one update can
  // be recomputed here from the same two micro-batches.
  auto model = make_toy_gan<toy_gan::OneCritic>(0.0);
  train::TrainerOptions options;
  options.max_steps = 1;
  options.grad_accumulation = 2;
  train::Trainer trainer(options);
  train::add_gan(trainer, model, std::make_shared<torch::optim::SGD>(model->generator->parameters(), torch::optim::SGDOptions(0.0)));
  trainer.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch& batch, train::StepContext& context) {
    return train::gan_step(model, batch, context);
  });

  const auto critic_parameters = model->discriminators.at("D")->parameters();
  const auto generator_parameters = model->generator->parameters();
  std::vector<torch::Tensor> critic_expected, generator_expected, critic_leak;
  torch::Generator unused = chord::make_generator(0);
  for (size_t index = 0; index < 2; ++index) {
    const auto batch = toy_gan_source().load(0, index);
    const auto outputs = model->generate(batch, unused);
    const auto critic_loss = model->discriminator_losses(outputs).at("D") / 2.0;
    const auto generator_loss = model->generator_loss(batch, outputs) / 2.0;
    const auto d = gradients(critic_loss, critic_parameters);
    const auto g = gradients(generator_loss, generator_parameters);
    const auto leak = gradients(generator_loss, critic_parameters);  // what a plain backward would add to D
    for (size_t i = 0; i < d.size(); ++i) {
      if (index == 0) critic_expected.push_back(d[i]), critic_leak.push_back(leak[i]);
      else critic_expected[i] += d[i], critic_leak[i] += leak[i];
    }
    for (size_t i = 0; i < g.size(); ++i) {
      if (index == 0) generator_expected.push_back(g[i]);
      else generator_expected[i] += g[i];
    }
  }
  std::vector<torch::Tensor> critic_actual, generator_actual;
  for (const auto& p : critic_parameters) critic_actual.push_back(p.grad());
  for (const auto& p : generator_parameters) generator_actual.push_back(p.grad());
  require_close(critic_actual, critic_expected);
  require_close(generator_actual, generator_expected);
  // The check above can fail: the generator's loss does reach the critic's parameters.
  double leak_size = 0.0;
  for (const auto& l : critic_leak) leak_size = std::max(leak_size, l.abs().max().item<double>());
  REQUIRE(leak_size > 1e-3);
}

TEST_CASE("add_gan clips per optimiser; every gradient norm is logged, clipped or not", "[train][gan][clipping]") {
  // Bert-VITS2 under bf16: D clipped at 200, G at 500, the others not; the norms logged in every run.
  // Here G is clipped to a tiny norm, D not at all; learning rates 0 keep the gradients comparable.
  auto model = make_toy_gan<toy_gan::OneCritic>(0.0);
  train::TrainerOptions options;
  options.max_steps = 1;
  options.log_every = 1;
  options.log_grad_norms = true;
  train::Trainer trainer(options);
  train::add_gan(trainer, model, std::make_shared<torch::optim::SGD>(model->generator->parameters(), torch::optim::SGDOptions(0.0)), {},
                 {{"G", 1e-6}});
  auto recorder = std::make_shared<Recorder>();
  trainer.add_observer(recorder);
  trainer.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch& batch, train::StepContext& context) {
    return train::gan_step(model, batch, context);
  });

  torch::Generator unused = chord::make_generator(0);
  const auto batch = toy_gan_source().load(0, 0);
  const auto outputs = model->generate(batch, unused);
  auto total_norm = [](const std::vector<torch::Tensor>& grads) {
    double sum = 0.0;
    for (const auto& g : grads) sum += g.to(torch::kFloat64).pow(2).sum().item<double>();
    return std::sqrt(sum);
  };
  const auto critic_parameters = model->discriminators.at("D")->parameters();
  const auto generator_parameters = model->generator->parameters();
  const double critic_norm = total_norm(gradients(model->discriminator_losses(outputs).at("D"), critic_parameters));
  const double generator_norm = total_norm(gradients(model->generator_loss(batch, outputs), generator_parameters));
  REQUIRE(generator_norm > 1e-3);
  REQUIRE(critic_norm > 1e-3);
  REQUIRE(recorder->steps.size() == 1);
  const auto& logged = recorder->steps.front().scalars;
  REQUIRE(logged.count("grad_norm/G"));
  REQUIRE(logged.count("grad_norm/D"));
  CHECK(logged.at("grad_norm/G") == Approx(generator_norm).epsilon(1e-5));  // measured before clipping
  CHECK(logged.at("grad_norm/D") == Approx(critic_norm).epsilon(1e-5));
  std::vector<torch::Tensor> critic_left, generator_left;
  for (const auto& p : critic_parameters) critic_left.push_back(p.grad());
  for (const auto& p : generator_parameters) generator_left.push_back(p.grad());
  CHECK(total_norm(critic_left) == Approx(critic_norm).epsilon(1e-5));  // D: not clipped
  CHECK(total_norm(generator_left) == Approx(1e-6).epsilon(1e-3));      // G: clipped to its norm

  // Without log_grad_norms and clipping, no norm is logged (and none computed).
  auto quiet_model = make_toy_gan<toy_gan::OneCritic>(0.0);
  train::TrainerOptions quiet_options = options;
  quiet_options.log_grad_norms = false;
  train::Trainer quiet(quiet_options);
  train::add_gan(quiet, quiet_model);
  auto quiet_recorder = std::make_shared<Recorder>();
  quiet.add_observer(quiet_recorder);
  quiet.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch& b, train::StepContext& context) {
    return train::gan_step(quiet_model, b, context);
  });
  CHECK_FALSE(quiet_recorder->steps.front().scalars.count("grad_norm/G"));

  // A name that is neither "G" nor a member's prefix is refused by name.
  auto other = make_toy_gan<toy_gan::OneCritic>(0.0);
  train::Trainer other_trainer(options);
  CHORD_REQUIRE_THROWS_WITH_TEXT(train::add_gan(other_trainer, other, nullptr, {}, {{"DUR", 1.0}}),
                                 "max_grad_norms names 'DUR', which is neither \"G\" nor one of the discriminator prefixes");
}

TEST_CASE("GradScaler scales, unscales, backs off on overflow and grows after clean updates", "[train][gan][grad_scaler]") {
  train::GradScaler scaler({/*init_scale=*/8.0, /*growth_factor=*/2.0, /*backoff_factor=*/0.25, /*growth_interval=*/2});
  REQUIRE(scaler.scaled(torch::tensor(3.0)).item<double>() == 24.0);
  auto p = torch::zeros({2}, torch::requires_grad());
  p.mutable_grad() = torch::tensor({16.0f, -4.0f});
  REQUIRE(scaler.unscale({p}));
  REQUIRE(torch::equal(p.grad(), torch::tensor({2.0f, -0.5f})));
  p.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity(), 1.0f});
  REQUIRE_FALSE(scaler.unscale({p}));
  scaler.update(true);
  REQUIRE(scaler.scale() == 2.0);  // 8 · 0.25
  scaler.update(false);
  REQUIRE(scaler.scale() == 2.0);  // one clean update of two
  scaler.update(false);
  REQUIRE(scaler.scale() == 4.0);  // grown
  REQUIRE_THROWS_WITH(train::GradScaler({0.0}), Catch::Contains("init_scale > 0"));
}

TEST_CASE("with a loss scaler, an overflowing optimiser skips its step and the scale backs off", "[train][gan][grad_scaler]") {
  // d(10·w)/dw · scale overflows float32 (3.4e38) while scale > 3.4e37: 1e38 → 5e37 (overflow) →
  // 2.5e37 (clean, w steps by −lr·10) → 5e37 (growth interval 1) → overflow → 2.5e37.
  auto w = torch::zeros({1}, torch::requires_grad());
  train::TrainerOptions options;
  options.max_steps = 4;
  options.grad_scaler = train::GradScalerOptions{1e38, 2.0, 0.5, 1};
  train::Trainer trainer(options);
  auto holder = std::make_shared<torch::nn::Module>();
  holder->register_parameter("w", w);
  trainer.add_module("w", holder);
  trainer.add_optimizer("w", std::make_shared<torch::optim::SGD>(std::vector<torch::Tensor>{w}, torch::optim::SGDOptions(0.1)));
  auto recorder = std::make_shared<Recorder>();
  trainer.add_observer(recorder);
  std::vector<double> w_after;
  trainer.set_after_update([&](int64_t) { w_after.push_back(w.item<double>()); });
  trainer.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch&, train::StepContext& context) {
    auto loss = (w * 10.0).sum();
    context.backward("w", loss);
    return train::Trainer::Scalars{{"loss", loss.detach()}};
  });
  REQUIRE(w_after.size() == 4);
  REQUIRE(w_after[0] == 0.0);
  REQUIRE(w_after[1] == 0.0);
  REQUIRE(w_after[2] == Approx(-1.0).epsilon(1e-6));
  REQUIRE(w_after[3] == Approx(-1.0).epsilon(1e-6));
  std::vector<double> scales;
  for (const auto& step : recorder->steps) scales.push_back(step.scalars.at("grad_scale"));
  REQUIRE(scales == std::vector<double>{5e37, 2.5e37, 5e37, 2.5e37});
  REQUIRE(recorder->warnings.empty());  // an overflow is not a bad update
}

TEST_CASE("a second adversary is a one-line spec change: its module, optimiser, losses and checkpoint entries follow",
          "[train][gan][set]") {
  auto one = make_toy_gan<toy_gan::OneCritic>(1e-2);
  auto two = make_toy_gan<toy_gan::TwoCritics>(1e-2);
  auto has_parameter = [](const auto& model, const std::string& name) { return model->named_parameters().contains(name); };
  REQUIRE(has_parameter(one, "generator.linear.weight"));
  REQUIRE(has_parameter(one, "D.hidden.weight"));
  REQUIRE_FALSE(has_parameter(one, "D2.hidden.weight"));
  REQUIRE(has_parameter(two, "D2.hidden.weight"));

  const auto dir = chord::test::scratch_dir("gan_two_critics");
  train::TrainerOptions options;
  options.max_steps = 40;
  options.checkpoint_dir = dir;
  train::Trainer trainer(options);
  train::add_gan(trainer, two, train::vits_adamw(two->generator->parameters(), 1e-2));
  auto recorder = std::make_shared<Recorder>();
  trainer.add_observer(recorder);
  const auto d2_before = two->named_parameters()["D2.hidden.weight"].clone();
  trainer.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch& batch, train::StepContext& context) {
    return train::gan_step(two, batch, context);
  });
  REQUIRE_FALSE(torch::equal(two->named_parameters()["D2.hidden.weight"], d2_before));
  const auto& first = recorder->steps.front().scalars;
  const auto& last = recorder->steps.back().scalars;
  for (const char* key : {"D/loss", "D2/loss", "G/loss", "G/reconstruction", "G/D/adversarial", "G/D2/feature_matching", "lr/D2"}) {
    INFO(key);
    REQUIRE(last.count(key));
  }
  REQUIRE(last.at("lr/D2") == Approx(1e-2));
  // G/loss is the sum of its parts.
  double parts = last.at("G/reconstruction");
  for (const char* key : {"G/D/adversarial", "G/D/feature_matching", "G/D2/adversarial", "G/D2/feature_matching"}) parts += last.at(key);
  REQUIRE(last.at("G/loss") == Approx(parts).epsilon(1e-5));
  REQUIRE(last.at("G/reconstruction") < first.at("G/reconstruction"));

  torch::serialize::InputArchive archive;
  archive.load_from((dir / "checkpoint_000000040.pt").string());
  torch::serialize::InputArchive sub;
  for (const char* key : {"optimizer_G", "optimizer_D", "optimizer_D2"}) {
    INFO(key);
    REQUIRE(archive.try_read(key, sub));
  }
}

TEST_CASE("a GAN run resumes exactly: every optimiser, the per-epoch learning rate and the loss scale carry over",
          "[train][gan][resume]") {
  // 4 batches per epoch, ExponentialLR per epoch (gamma 0.5) on the generator, a loss scaler that grows
  // after every 2 clean updates. Stopped after 6 updates (mid-epoch 1) and resumed to 10, the run must
  // equal one of 10 updates bit for bit, the learning rate included (the reference's resume restarts it
  // near its initial value: reference/vits2.md §4.3).
  auto run = [](const std::filesystem::path& dir, int64_t steps) {
    auto model = make_toy_gan<toy_gan::TwoCritics>(1e-2);
    train::TrainerOptions options;
    options.max_steps = steps;
    options.checkpoint_dir = dir;
    options.checkpoint_every = 3;
    options.grad_scaler = train::GradScalerOptions{1024.0, 2.0, 0.5, 2};
    train::Trainer trainer(options);
    train::add_gan(trainer, model, train::vits_adamw(model->generator->parameters(), 1e-2), train::exponential_per_epoch(1e-2, 0.5));
    auto recorder = std::make_shared<Recorder>();
    trainer.add_observer(recorder);
    trainer.fit<toy_gan::Batch>(toy_gan_source(), [&](const toy_gan::Batch& batch, train::StepContext& context) {
      return train::gan_step(model, batch, context);
    });
    return std::make_pair(model, recorder);
  };
  const auto [whole, whole_log] = run(chord::test::scratch_dir("gan_resume_whole"), 10);
  const auto dir = chord::test::scratch_dir("gan_resume_parts");
  (void)run(dir, 6);
  const auto [resumed, resumed_log] = run(dir, 10);

  REQUIRE(resumed_log->steps.size() == 4);
  REQUIRE(resumed_log->steps.front().step == 7);
  const auto& expected = whole_log->steps.back().scalars;
  const auto& actual = resumed_log->steps.back().scalars;
  REQUIRE(expected.at("lr/G") == Approx(1e-2 * 0.25));  // epoch 2 (updates 9 and 10)
  for (const char* key : {"lr/G", "lr/D", "lr/D2", "grad_scale", "G/loss", "D/loss", "D2/loss"}) {
    INFO(key);
    REQUIRE(actual.at(key) == expected.at(key));
  }
  const auto whole_parameters = whole->named_parameters();
  for (const auto& item : resumed->named_parameters()) {
    INFO(item.key());
    REQUIRE(torch::equal(item.value(), whole_parameters[item.key()]));
  }
}
