// Learning-rate schedules and EMA against the Python references; the fused AdamW against the loop.
#include "support.hpp"

#include <chord/core/random.hpp>
#include <chord/train/ema.hpp>
#include <chord/train/fused_adamw.hpp>
#include <chord/train/schedulers.hpp>

#include <cmath>

#include <torch/optim/sgd.h>

TEST_CASE("warm-up + linear decay has the hand-computed values", "[train][schedule]") {
  auto lr = chord::train::warmup_linear_decay(1e-3, 10, 110);
  REQUIRE(lr(0, 0) == Approx(1e-11));
  REQUIRE(lr(5, 0) == Approx(1e-3 * (1e-8 + (1 - 1e-8) * 0.5)));
  REQUIRE(lr(10, 0) == Approx(1e-3));
  REQUIRE(lr(60, 0) == Approx(1e-3 * (1 + (1e-8 - 1) * 0.5)));
  REQUIRE(lr(110, 0) == Approx(1e-11));
  REQUIRE(lr(500, 0) == Approx(1e-11));
  REQUIRE_THROWS(chord::train::warmup_linear_decay(1e-3, 10, 10));
}

TEST_CASE("warm-up + linear decay matches F5-TTS's SequentialLR of two LinearLRs", "[train][schedule][parity]") {
  auto f = chord::test::fixture_tensors("schedules_reference.safetensors");
  auto expected = f.at("f5_lr");
  auto lr = chord::train::warmup_linear_decay(7.5e-5, 10, 30);
  for (int64_t step = 0; step < expected.numel(); ++step) {
    INFO("step " << step);
    REQUIRE(lr(step, 0) == Approx(expected[step].item<double>()).epsilon(1e-9).margin(1e-18));
  }
  auto exp_expected = f.at("exp_lr");
  auto exp = chord::train::exponential_per_epoch(2e-4, 0.99995);
  for (int64_t epoch = 0; epoch < exp_expected.numel(); ++epoch) {
    REQUIRE(exp(12345, epoch) == Approx(exp_expected[epoch].item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("InverseLR has stable-audio-tools' closed form", "[train][schedule]") {
  auto lr = chord::train::inverse_lr(5e-5, 1e6, 0.5, 0.99);
  REQUIRE(lr(0, 0) == Approx(5e-5 * 0.01));
  REQUIRE(lr(99, 0) == Approx(5e-5 * (1 - std::pow(0.99, 100)) * std::pow(1 + 99 / 1e6, -0.5)));
  REQUIRE(lr(1000000, 0) == Approx(5e-5 * std::pow(2.0, -0.5)).epsilon(1e-6));
  auto floored = chord::train::inverse_lr(1.0, 1.0, 1.0, 0.0, 0.1);
  REQUIRE(floored(100, 0) == Approx(0.1));  // max(final_lr, decayed)
}

namespace {
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    weight = register_parameter("weight", torch::zeros({3}));
    running = register_buffer("running", torch::zeros({2}));
    count = register_buffer("count", torch::zeros({}, torch::kLong));
  }
  torch::Tensor weight, running, count;
};
TORCH_MODULE(Tiny);

void check_against_reference(const std::string& name, chord::train::EmaOptions options, int steps) {
  auto f = chord::test::fixture_tensors("ema_reference.safetensors");
  Tiny model;
  chord::train::ExponentialMovingAverage ema(*model, options);
  for (int k = 0; k < steps; ++k) {
    {
      torch::NoGradGuard no_grad;
      model->weight.copy_(torch::sin(0.1 * k + torch::arange(3.0)));
      model->running.copy_(torch::cos(0.05 * k + torch::arange(2.0)));
      model->count.fill_(k);
    }
    ema.update(*model);
    INFO(name << " step " << k);
    REQUIRE(ema.current_decay() == f.at(name + "_decay")[k].item<double>());  // bit-exact, float32 like the reference
    REQUIRE(chord::test::max_abs_diff(ema.shadow().at("weight"), f.at(name + "_weight")[k]) < 1e-6);
    REQUIRE(chord::test::max_abs_diff(ema.shadow().at("running"), f.at(name + "_running")[k]) < 1e-6);
  }
  REQUIRE_FALSE(ema.shadow().count("count"));  // integer buffers are not averaged
}
}  // namespace

TEST_CASE("EMA decays and weights match ema-pytorch with F5-TTS's settings", "[train][ema][parity]") {
  check_against_reference("f5", chord::train::EmaOptions::f5tts(), 400);
}

TEST_CASE("EMA decays and weights match ema-pytorch with stable-audio-tools' settings", "[train][ema][parity]") {
  check_against_reference("sat", chord::train::EmaOptions::stable_audio(), 60);
}

TEST_CASE("EMA state dict has ema-pytorch's layout and copies into a model", "[train][ema]") {
  Tiny model, other;
  chord::train::ExponentialMovingAverage ema(*model, {0.5, 0, 1, 1.0, 1.0, 0.0});
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(4.0);
  }
  ema.update(*model);  // first call copies
  REQUIRE(ema.shadow().at("weight")[0].item<float>() == 4.0f);
  auto sd = ema.state_dict();
  REQUIRE(sd.count("initted"));
  REQUIRE(sd.at("step").item<int64_t>() == 1);
  REQUIRE(sd.count("ema_model.weight"));
  REQUIRE(sd.count("ema_model.running"));
  ema.copy_to(*other);
  REQUIRE(other->weight[1].item<float>() == 4.0f);
}

TEST_CASE("fused AdamW: one step has the hand-computed value", "[train][optim]") {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. Decay: p·(1 − 0.001); m̂ = g, v̂ = g², so
  // the step is lr·g/(|g| + eps) = 0.1·sign(g) up to eps.
  auto p = torch::tensor({1.0f, -2.0f}).requires_grad_();
  p.mutable_grad() = torch::tensor({0.5f, 0.5f});
  chord::train::FusedAdamW adamw({p}, torch::optim::AdamWOptions(0.1).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
  adamw.step();
  const double step = 0.1 * 0.5 / (0.5 + 1e-8);
  CHECK(p[0].item<double>() == Approx(1.0 * 0.999 - step).epsilon(1e-6));
  CHECK(p[1].item<double>() == Approx(-2.0 * 0.999 - step).epsilon(1e-6));
  auto& state = static_cast<torch::optim::AdamWParamState&>(*adamw.state().at(p.unsafeGetTensorImpl()));
  CHECK(state.step() == 1);
  CHECK(state.exp_avg()[0].item<double>() == Approx(0.05));
  CHECK(state.exp_avg_sq()[0].item<double>() == Approx(0.00025));
}

TEST_CASE("fused AdamW follows torch::optim::AdamW to rounding, with and without amsgrad", "[train][optim]") {
  for (const bool amsgrad : {false, true}) {
    INFO("amsgrad " << amsgrad);
    auto gen = chord::make_generator(3);
    std::vector<torch::Tensor> loop_params, fused_params;
    for (const auto& shape : std::vector<std::vector<int64_t>>{{7, 5}, {5}, {3, 2, 4}}) {
      auto init = torch::randn(shape, gen);
      loop_params.push_back(init.clone().requires_grad_());
      fused_params.push_back(init.clone().requires_grad_());
    }
    const auto options = torch::optim::AdamWOptions(3e-2).betas({0.8, 0.99}).eps(1e-9).weight_decay(0.05).amsgrad(amsgrad);
    torch::optim::AdamW loop(loop_params, options);
    auto fused_optimizer = chord::train::fused_if_adamw(std::make_shared<torch::optim::AdamW>(fused_params, options));
    REQUIRE(dynamic_cast<chord::train::FusedAdamW*>(fused_optimizer.get()) != nullptr);
    for (int step = 0; step < 25; ++step) {
      for (size_t i = 0; i < loop_params.size(); ++i) {
        // the middle parameter skips every third step: its step count falls behind the others'
        const bool skip = i == 1 && step % 3 == 2;
        auto grad = torch::randn(loop_params[i].sizes(), gen);
        loop_params[i].mutable_grad() = skip ? torch::Tensor() : grad.clone();
        fused_params[i].mutable_grad() = skip ? torch::Tensor() : grad.clone();
      }
      if (step == 12) {  // a schedule changing the rate between steps
        for (auto* optimizer : {static_cast<torch::optim::Optimizer*>(&loop), fused_optimizer.get()}) {
          optimizer->param_groups().front().options().set_lr(1e-2);
        }
      }
      loop.step();
      fused_optimizer->step();
    }
    for (size_t i = 0; i < loop_params.size(); ++i) {
      INFO("parameter " << i);
      CHECK((loop_params[i] - fused_params[i]).abs().max().item<double>() < 1e-5);
      auto& a = static_cast<torch::optim::AdamWParamState&>(*loop.state().at(loop_params[i].unsafeGetTensorImpl()));
      auto& b = static_cast<torch::optim::AdamWParamState&>(*fused_optimizer->state().at(fused_params[i].unsafeGetTensorImpl()));
      CHECK(a.step() == b.step());
      CHECK(a.step() == (i == 1 ? 17 : 25));
      CHECK((a.exp_avg_sq() - b.exp_avg_sq()).abs().max().item<double>() < 1e-6);
      if (amsgrad) CHECK((a.max_exp_avg_sq() - b.max_exp_avg_sq()).abs().max().item<double>() < 1e-6);
    }
  }
}

TEST_CASE("fused_if_adamw converts only AdamW and keeps its groups and state", "[train][optim]") {
  auto p = torch::ones({3}).requires_grad_();
  auto sgd = std::make_shared<torch::optim::SGD>(std::vector<torch::Tensor>{p}, torch::optim::SGDOptions(0.1));
  REQUIRE(chord::train::fused_if_adamw(sgd) == sgd);
  auto adamw = std::make_shared<torch::optim::AdamW>(std::vector<torch::Tensor>{p}, torch::optim::AdamWOptions(0.1).weight_decay(0.2));
  p.mutable_grad() = torch::full({3}, 0.5f);
  adamw->step();
  const auto fused = chord::train::fused_if_adamw(adamw);
  REQUIRE(fused != adamw);
  REQUIRE(chord::train::fused_if_adamw(fused) == fused);
  const auto& options = static_cast<const torch::optim::AdamWOptions&>(fused->param_groups().front().options());
  CHECK(options.lr() == 0.1);
  CHECK(options.weight_decay() == 0.2);
  REQUIRE(fused->state().size() == 1);
  CHECK(static_cast<torch::optim::AdamWParamState&>(*fused->state().begin()->second).step() == 1);
  CHECK_THROWS_WITH(
      [] {
        auto strided = torch::ones({4, 4}).t().requires_grad_();  // a transposed view: not contiguous
        strided.mutable_grad() = torch::ones({4, 4});
        chord::train::FusedAdamW({strided}).step();
      }(),
      Catch::Matchers::Contains("not contiguous"));
}
