// F5-TTS composed from policies: shapes, masks, guidance, determinism, edit mode, errors.
#include "support.hpp"

#include <chord/systems/f5tts.hpp>

namespace f5 = chord::systems::f5tts;
using Model = chord::systems::F5TTSModel;

namespace {
Model tiny_model(int64_t vocab = 32, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto options = f5::model_options(f5::Preset::tiny, vocab);
  options.backbone.dropout(0.0);
  Model model(options);
  // Break the zero init so outputs depend on the inputs.
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.05);
  return model;
}
}  // namespace

TEST_CASE("the tiny F5-TTS trains one step and samples with the reference's shapes", "[f5tts][model]") {
  auto model = tiny_model();
  auto gen = chord::make_generator(1);
  Model::Impl::Batch batch{torch::randn({2, 40, 100}), torch::tensor({40, 31}), torch::tensor({{1, 2, 3, -1}, {4, 5, 6, 7}})};
  auto losses = model->loss(batch, gen);
  REQUIRE(losses.loss.dim() == 0);
  REQUIRE(std::isfinite(losses.loss.item<double>()));
  losses.loss.backward();
  REQUIRE(model->backbone->proj_out->weight.grad().defined());

  Model::Impl::Request request;
  request.prompt = torch::randn({1, 20, 100});
  request.text = torch::tensor({{1, 2, 3, 4, 5}});
  request.duration = torch::tensor({50});
  Model::Impl::SampleOptions options;
  options.sampler.steps = 4;
  auto result = model->sample(request, options, gen);
  REQUIRE(result.output.sizes() == torch::IntArrayRef({1, 50, 100}));
  REQUIRE(torch::equal(result.output.slice(1, 0, 20), request.prompt));  // prompt frames restored exactly
}
