// Builds F5-TTS (tiny) from the installed headers alone, takes one training step and samples.
#include <chord/systems/f5tts.hpp>
#include <chord/train/trainer.hpp>

#include <torch/optim/adamw.h>

#include <iostream>

int main() {
  namespace f5 = chord::systems::f5tts;
  using Model = chord::systems::F5TTSModel;
  torch::manual_seed(0);
  Model model(chord::FlowModelOptions<chord::systems::F5TTS>(f5::preset_options(f5::Preset::tiny, 32)));
  auto gen = chord::make_generator(1);
  Model::Batch batch{torch::randn({2, 40, 100}, gen), torch::tensor({40, 31}), torch::randint(0, 32, {2, 8}, gen)};
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto loss = model->loss(batch, gen).loss;
  loss.backward();
  optimizer.step();

  Model::Request request;
  request.prompt = torch::randn({1, 12, 100}, gen);
  request.text = torch::tensor({{1, 2, 3, 4}});
  request.duration = torch::tensor({30});
  Model::SampleOptions options;
  options.sampler.steps = 2;
  options.seeds = {7};
  const auto sample = model->sample(request, options, gen);
  const bool ok = std::isfinite(loss.item<double>()) && sample.output.size(1) == 30 && torch::isfinite(sample.output).all().item<bool>();
  std::cout << "models-only consumer: loss " << loss.item<double>() << (ok ? " OK\n" : " FAILED\n");
  return ok ? 0 : 1;
}
