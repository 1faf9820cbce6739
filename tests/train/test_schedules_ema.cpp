// Learning-rate schedules and EMA against the Python references.
#include "support.hpp"

#include <chord/train/ema.hpp>
#include <chord/train/schedulers.hpp>

#include <cmath>

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
