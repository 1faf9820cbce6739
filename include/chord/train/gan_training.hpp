#pragma once
/// @file
/// A GanModel in the training loop: one optimiser for the generator ("G") and one per discriminator
/// member (its prefix), each with the member's own optimiser and schedule defaults; the update order of
/// VITS-style trainers — every member's discriminator step on the detached generator outputs, in the
/// set's order, then the generator's step on its own terms plus every member's adversarial and
/// feature-matching terms. The trainer keeps each optimiser's gradients its own.

#include "chord/models/gan_model.hpp"
#include "chord/train/trainer.hpp"

#include <torch/optim/adamw.h>

#include <map>
#include <memory>
#include <string>

namespace chord::train {

/// The generator's optimiser defaults: VITS / Bert-VITS2's AdamW (2e-4, betas 0.8/0.99, eps 1e-9).
inline std::shared_ptr<torch::optim::Optimizer> vits_adamw(const std::vector<torch::Tensor>& parameters, double lr = 2e-4) {
  return std::make_shared<torch::optim::AdamW>(parameters, torch::optim::AdamWOptions(lr).betas({0.8, 0.99}).eps(1e-9).weight_decay(0.01));
}

/// Registers `model` with `trainer`: the whole model as module "model" (less the members' pretrained
/// parts, e.g. the WavLM encoder, which checkpoints leave out), "G" over the generator's trainable
/// parameters, and each member's optimiser under its prefix.
/// @param max_grad_norms the clipping norm per optimiser name ("G" or a member's prefix); an
///   optimiser not named does not clip (Bert-VITS2 under bf16: {{"D", 200}, {"G", 500}}).
template <class Spec>
void add_gan(Trainer& trainer, GanModel<Spec>& model, std::shared_ptr<torch::optim::Optimizer> generator_optimizer = nullptr,
             LrSchedule generator_schedule = {}, const std::map<std::string, double>& max_grad_norms = {}) {
  for (const auto& [name, norm] : max_grad_norms) {
    bool known = name == "G";
    model->options.discriminators.for_each([&](const auto& member) { known = known || name == std::string_view(member.prefix); });
    CHORD_CHECK(known, "add_gan: max_grad_norms names '", name, "', which is neither \"G\" nor one of the discriminator prefixes");
    CHORD_CHECK(norm >= 0.0, "add_gan: max_grad_norms['", name, "'] must be >= 0 (0: no clipping), got ", norm);
  }
  const auto max_norm_of = [&](const std::string& name) {
    const auto found = max_grad_norms.find(name);
    return found != max_grad_norms.end() ? found->second : 0.0;
  };
  std::vector<std::string> pretrained;
  model->options.discriminators.for_each([&](const auto& member) {
    if constexpr (requires { member.pretrained_submodule; }) {
      pretrained.push_back(std::string(member.prefix) + "." + std::string(member.pretrained_submodule) + ".");
    }
  });
  trainer.add_module("model", model.ptr(), std::move(pretrained));
  std::vector<torch::Tensor> generator_parameters;
  for (const auto& p : model->generator->parameters()) {
    if (p.requires_grad()) generator_parameters.push_back(p);
  }
  trainer.add_optimizer("G", generator_optimizer ? generator_optimizer : vits_adamw(generator_parameters), std::move(generator_schedule),
                        max_norm_of("G"));
  model->options.discriminators.for_each([&](const auto& member) {
    auto module = model->module_of(member);
    std::vector<torch::Tensor> trainable;  // a member's frozen parts (WavLM's encoder) stay out
    for (const auto& p : module->parameters()) {
      if (p.requires_grad()) trainable.push_back(p);
    }
    trainer.add_optimizer(std::string(member.prefix), member.make_optimizer(trainable), member.schedule(),
                          max_norm_of(std::string(member.prefix)));
  });
}

/// One micro-batch of GAN training (the step function for Trainer::fit).
template <class Spec>
Trainer::Scalars gan_step(GanModel<Spec>& model, const BatchOf<Spec>& batch, StepContext& context) {
  model->train();
  const auto outputs = model->generate(batch, context.generator(), context.step());
  Trainer::Scalars scalars;
  for (const auto& [prefix, loss] : model->discriminator_losses(outputs)) {
    context.backward(prefix, loss);
    scalars.emplace(prefix + "/loss", loss.detach());
  }
  std::map<std::string, torch::Tensor> terms;
  const auto generator_loss = model->generator_loss(batch, outputs, &terms);
  context.backward("G", generator_loss);
  scalars.emplace("G/loss", generator_loss.detach());
  for (auto& [name, term] : terms) scalars.emplace("G/" + name, term);
  return scalars;
}

}  // namespace chord::train
