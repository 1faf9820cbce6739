#pragma once
// A toy GAN for the discriminator-set family's tests: a linear generator (deterministic, so a test can
// recompute every gradient by hand) and LSGAN critics with one hidden layer for feature matching.
#include <chord/models/gan_model.hpp>
#include <chord/train/schedulers.hpp>

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

namespace toy_gan {

struct Fake {
  static constexpr std::string_view name = "fake";
};
struct Real {
  static constexpr std::string_view name = "real";
};
struct Durations {  // an output the toy generator does not provide
  static constexpr std::string_view name = "durations";
};

struct GeneratorOptions {
  int64_t width = 4;
};

struct Batch {
  torch::Tensor input, real;  // [B, width] each
};

struct GeneratorImpl : torch::nn::Module {
  using Batch = toy_gan::Batch;
  using provides = chord::Signals<Fake, Real>;

  explicit GeneratorImpl(GeneratorOptions options_) : options(options_) {
    linear = register_module("linear", torch::nn::Linear(options.width, options.width));
  }
  chord::GeneratorOutputs generate(const Batch& batch, torch::Generator&) {
    chord::GeneratorOutputs outputs;
    outputs.set<Fake>(linear(batch.input)).set<Real>(batch.real);
    return outputs;
  }
  std::map<std::string, torch::Tensor> losses(const Batch& batch, const chord::GeneratorOutputs& outputs) {
    return {{"reconstruction", (outputs.get<Fake>() - batch.real).abs().mean()}};
  }

  GeneratorOptions options;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(Generator);

struct CriticImpl : torch::nn::Module {
  explicit CriticImpl(int64_t width) {
    hidden = register_module("hidden", torch::nn::Linear(width, 8));
    score = register_module("score", torch::nn::Linear(8, 1));
  }
  /// The score and the hidden features.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto features = torch::leaky_relu(hidden(x), 0.1);
    return {score(features), features};
  }
  torch::nn::Linear hidden{nullptr}, score{nullptr};
};
TORCH_MODULE(Critic);

/// LSGAN on (real, fake): D minimises (D(real) − 1)² + D(fake)², G minimises (D(fake) − 1)² plus the
/// L1 distance of the critic's hidden features.
struct LsganCritic {
  static constexpr std::string_view name = "toy-lsgan";
  static constexpr std::string_view prefix = "D";
  using consumes = chord::Signals<Fake, Real>;
  using Module = Critic;

  int64_t width = 4;
  double learning_rate = 1e-2;

  Module make_module() const { return Critic(width); }
  torch::Tensor discriminator_loss(Module& critic, const chord::GeneratorOutputs& outputs) const {
    const auto real = critic(outputs.get<Real>()).first, fake = critic(outputs.get<Fake>()).first;
    return (real - 1).pow(2).mean() + fake.pow(2).mean();
  }
  chord::GeneratorTerms generator_terms(Module& critic, const chord::GeneratorOutputs& outputs) const {
    const auto [fake_score, fake_features] = critic(outputs.get<Fake>());
    const auto real_features = critic(outputs.get<Real>()).second.detach();
    return {(fake_score - 1).pow(2).mean(), (fake_features - real_features).abs().mean()};
  }
  std::shared_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters) const {
    return std::make_shared<torch::optim::Adam>(parameters, torch::optim::AdamOptions(learning_rate));
  }
  chord::train::LrSchedule schedule() const { return chord::train::constant_lr(learning_rate); }
};

/// A second member of the same kind under its own prefix.
struct SecondCritic : LsganCritic {
  static constexpr std::string_view name = "toy-lsgan-2";
  static constexpr std::string_view prefix = "D2";
};

struct OneCritic {
  using generator = Generator;
  using discriminators = chord::disc::Set<LsganCritic>;
};
/// The one-line change: a second adversary.
struct TwoCritics : OneCritic {
  using discriminators = chord::disc::Set<LsganCritic, SecondCritic>;
};

}  // namespace toy_gan
