// DTM-F5TTS: the seed-000 defects (no span masking, no CFG) cannot come back, because masking and
// guidance are not the objective's business. Tiny preset, real model.
#include "device_support.hpp"
#include "support.hpp"

#include <chord/systems/dtm_f5tts.hpp>

#include <set>
#include <utility>

namespace f5 = chord::systems::f5tts;
using Model = chord::systems::DTMF5TTSModel;
using chord::test::max_abs_diff;

namespace {

Model tiny_dtm(uint64_t seed = 0) {
  torch::manual_seed(seed);
  chord::FlowModelOptions<chord::systems::DTMF5TTS> options(f5::preset_options(f5::Preset::tiny, 32));
  options.backbone.dropout(0.0);
  options.objective.transitions = 8;
  options.objective.head_width = 64;
  options.objective.head_depth = 2;
  Model model(options);
  torch::NoGradGuard no_grad;  // break the zero inits so every path carries signal
  for (auto& p : model->parameters()) p.normal_(0.0, 0.05);
  return model;
}

Model::Batch tiny_batch(uint64_t seed = 5) {
  auto gen = chord::make_generator(seed);
  return {torch::randn({3, 24, 100}, gen), torch::tensor({24, 20, 13}),
          torch::tensor({{1, 2, 3, 4, -1}, {5, 6, 7, -1, -1}, {8, 9, 10, 11, 12}})};
}

/// The DTM prediction recomputed by hand from the pair, with the given audio condition and drops.
torch::Tensor predict_by_hand(Model& model, const Model::Batch& batch, const Model::Impl::Losses& l,
                              const torch::Tensor& cond, const torch::Tensor& drop_audio, const torch::Tensor& drop_text) {
  auto& dit = model->backbone;
  auto text = dit->embed_text(batch.text, batch.mel.size(1), l.masks.valid, drop_text);
  auto h = dit->embed_noisy(l.pair.x_t, dit->embed_condition(cond, text, drop_audio), l.masks.valid);
  auto features = dit->transform(h, dit->embed_time(l.pair.time, batch.mel.size(0)), l.masks.valid);
  return model->head->forward(features, l.pair.y_s, l.pair.s, l.pair.time);
}

}  // namespace

TEST_CASE("the DTM loss counts only span frames: targets outside the span do not change it", "[dtm][masking]") {
  auto model = tiny_dtm();
  auto batch = tiny_batch();
  auto gen = chord::make_generator(3);
  torch::NoGradGuard no_grad;
  auto l = model->loss(batch, gen);
  // The loss is the MSE over exactly the masking policy's span.
  REQUIRE(torch::equal(l.masks.loss, l.masks.valid & ~l.masks.cond));
  REQUIRE(l.masks.loss.sum().item<int64_t>() < l.masks.valid.sum().item<int64_t>());
  auto squared = (l.prediction - l.pair.target).square();
  REQUIRE(l.loss.item<double>() == Approx(squared.index({l.masks.loss}).mean().item<double>()).epsilon(1e-6));
  // Any change of the target outside the span leaves the loss bit-identical; inside, it does not.
  auto pair = l.pair;
  auto outside = ~l.masks.loss;
  pair.target = l.pair.target.masked_fill(outside.unsqueeze(-1), 1e6);
  const chord::obj::DifferenceTransitionMatching<> objective;
  REQUIRE(objective.loss(l.prediction, pair, l.masks.loss).item<double>() == l.loss.item<double>());
  pair.target = l.pair.target.masked_fill(l.masks.loss.unsqueeze(-1), 0.0);
  REQUIRE(objective.loss(l.prediction, pair, l.masks.loss).item<double>() != l.loss.item<double>());
}

TEST_CASE("the DTM condition is the clean mel with the span zeroed, not zeros", "[dtm][conditioning]") {
  auto options_model = tiny_dtm();
  auto& model = options_model;
  model->options.guidance.audio_drop_prob = 0.0;  // keep the prompt for this check
  model->options.guidance.cond_drop_prob = 0.0;
  auto batch = tiny_batch();
  auto gen = chord::make_generator(11);
  torch::NoGradGuard no_grad;
  auto l = model->loss(batch, gen);
  const auto none = torch::zeros({3}, torch::kBool);
  auto masked_mel = torch::where(l.masks.cond.unsqueeze(-1), batch.mel, torch::zeros_like(batch.mel));
  REQUIRE(max_abs_diff(l.prediction, predict_by_hand(model, batch, l, masked_mel, none, none)) < 1e-6);
  REQUIRE(max_abs_diff(l.prediction, predict_by_hand(model, batch, l, torch::zeros_like(batch.mel), none, none)) > 1e-3);
}

TEST_CASE("over many batches the backbone sees audio-only and joint drops at the configured rates", "[dtm][guidance]") {
  auto model = tiny_dtm();
  auto gen = chord::make_generator(17);
  auto batch = tiny_batch();
  batch.mel = batch.mel.narrow(1, 0, 8);
  batch.lengths = torch::tensor({8, 6, 5});
  torch::NoGradGuard no_grad;
  int audio_only = 0, joint = 0;
  const int n = 1500;
  bool checked_joint = false;
  for (int i = 0; i < n; ++i) {
    auto l = model->loss(batch, gen);
    const bool audio = l.drop.rows<chord::signal::AudioPrompt>()[0].item<bool>();
    const bool text = l.drop.rows<chord::signal::Text>()[0].item<bool>();
    audio_only += audio && !text;
    joint += audio && text;
    if (audio && text && !checked_joint) {  // the drop reached the backbone: prediction = both dropped
      const auto all = torch::ones({3}, torch::kBool);
      auto masked_mel = torch::where(l.masks.cond.unsqueeze(-1), batch.mel, torch::zeros_like(batch.mel));
      REQUIRE(max_abs_diff(l.prediction, predict_by_hand(model, batch, l, masked_mel, all, all)) < 1e-6);
      checked_joint = true;
    }
  }
  // F5-TTS rates: audio alone with 0.3·(1 − 0.2) = 0.24, both with 0.2.
  REQUIRE(audio_only / double(n) == Approx(0.24).margin(0.035));
  REQUIRE(joint / double(n) == Approx(0.2).margin(0.035));
  REQUIRE(checked_joint);
}

TEST_CASE("DTM guidance acts on the head velocity: strength 0 is conditional, s gives v_c + (v_c - v_u)·s", "[dtm][guidance]") {
  auto model = tiny_dtm();
  Model::Request request;
  auto gen = chord::make_generator(2);
  request.prompt = torch::randn({1, 10, 100}, gen);
  request.text = torch::tensor({{1, 2, 3, 4, 5}});
  request.duration = torch::tensor({18});
  Model::SampleOptions options;
  options.sampler.steps = 1;  // one transition, one Euler head step: X = x0 + Y0 + v(Y0, s = 0, t = 0)
  options.sampler.head_steps = 1;
  options.seeds = {4};
  auto x0 = chord::seeded_noise({18}, 100, {4});
  auto cond = torch::constant_pad_nd(request.prompt, {0, 0, 0, 8});
  auto& dit = model->backbone;
  auto head = model->head;
  const auto zero = torch::zeros({});
  auto features = [&](bool dropped) {
    auto flag = torch::full({1}, dropped, torch::kBool);
    auto text = dit->embed_text(request.text, 18, {}, flag);
    return dit->transform(dit->embed_noisy(x0, dit->embed_condition(cond, text, flag), {}), dit->embed_time(zero, 1), {});
  };
  for (double s : {0.0, 2.0}) {
    INFO("strength " << s);
    options.guidance_strength = s;
    auto sample_gen = chord::make_generator(21);
    auto result = model->sample(request, options, sample_gen);
    torch::NoGradGuard no_grad;
    auto y0_gen = chord::make_generator(21);
    auto y0 = torch::randn({1, 18, 100}, y0_gen);
    auto v_c = head->forward(features(false), y0, zero, zero);
    auto v = v_c;
    if (s > 0) {
      auto v_u = head->forward(features(true), y0, zero, zero);
      v = v_c + (v_c - v_u) * s;
    }
    auto expected = x0 + y0 + v;
    expected.slice(1, 0, 10).copy_(request.prompt);
    REQUIRE(max_abs_diff(result.output, expected) < 1e-5);
  }
}

namespace {
/// Two prompts (12 and 7 frames) for 30 and 21 output frames, and 4 steps with per-item seeds.
std::pair<Model::Request, Model::SampleOptions> two_prompts() {
  Model::Request request;
  auto gen = chord::make_generator(8);
  request.prompt = torch::randn({2, 12, 100}, gen);
  request.prompt_lengths = torch::tensor({12, 7});
  request.text = torch::tensor({{1, 2, 3, -1}, {4, 5, 6, 7}});
  request.duration = torch::tensor({30, 21});
  Model::SampleOptions options;
  options.sampler.steps = 4;
  options.seeds = {1, 2};
  return {request, options};
}
}  // namespace

TEST_CASE("DTM restores prompt frames exactly and samples batches with per-item lengths", "[dtm][sample]") {
  auto model = tiny_dtm();
  const auto [request, options] = two_prompts();
  auto gen = chord::make_generator(8);
  auto result = model->sample(request, options, gen);
  REQUIRE(result.output.sizes() == torch::IntArrayRef({2, 30, 100}));
  REQUIRE(torch::equal(result.durations, torch::tensor({30, 21})));
  REQUIRE(torch::equal(result.output[0].slice(0, 0, 12), request.prompt[0]));
  REQUIRE(torch::equal(result.output[1].slice(0, 0, 7), request.prompt[1].slice(0, 0, 7)));
  REQUIRE(torch::isfinite(result.output).all().item<bool>());
}

TEST_CASE("a frozen backbone stays in eval mode and only the head trains", "[dtm][training]") {
  auto model = tiny_dtm();
  model->freeze_backbone();
  model->train();
  REQUIRE_FALSE(model->backbone->is_training());
  REQUIRE(model->head->is_training());
  const auto head_parameters = model->head->parameters().size();
  REQUIRE(model->trainable_parameters().size() == head_parameters);
  auto gen = chord::make_generator(1);
  auto l = model->loss(tiny_batch(), gen);
  l.loss.backward();
  REQUIRE_FALSE(model->backbone->proj_out->weight.grad().defined());
  REQUIRE(model->head->output_proj->weight.grad().defined());
}

TEST_CASE("DTM starts from a published F5-TTS checkpoint and refuses one of another architecture", "[dtm][checkpoint]") {
  // The v1 fixture's DiT (dim 128, depth 2, vocab 40) as the backbone of a DTM model.
  auto backbone = chord::nn::F5DiTOptions(128, 2, 2).ff_mult(2).text_dim(64).conv_layers(2).text_num_embeds(40);
  chord::FlowModelOptions<chord::systems::DTMF5TTS> options(backbone);
  Model model(options);
  const auto checkpoint = chord::test::fixture("f5tts_v1_ema.safetensors");
  REQUIRE_THROWS_WITH(f5::load_checkpoint(model, checkpoint), Catch::Matchers::Contains("CheckpointScope::backbone"));
  auto report = f5::load_checkpoint(model, checkpoint, f5::CheckpointScope::backbone);
  REQUIRE(report.clean());
  chord::FlowModelOptions<chord::systems::DTMF5TTS> other(f5::preset_options(f5::Preset::tiny, 40));
  Model mismatched(other);
  REQUIRE_THROWS_WITH(f5::load_checkpoint(mismatched, checkpoint, f5::CheckpointScope::backbone),
                      Catch::Matchers::Contains("does not fit the configured model") && Catch::Matchers::Contains("depth 4 vs checkpoint 2"));
}

TEST_CASE("the DTM training pair follows Algorithm 3 on hand-checkable values", "[dtm][objective]") {
  chord::obj::DifferenceTransitionMatching<> objective;
  objective.transitions = 4;
  auto data = torch::arange(2 * 3 * 2, torch::kFloat).view({2, 3, 2});
  auto gen = chord::make_generator(9);
  std::set<double> seen_times;
  for (int i = 0; i < 64; ++i) {
    auto p = objective.draw(data, gen);
    for (int64_t b = 0; b < 2; ++b) seen_times.insert(p.time[b].item<double>());
    const auto t = p.time.view({-1, 1, 1});
    REQUIRE(max_abs_diff(p.x_t, (1 - t) * p.x0 + t * data) < 1e-6);   // X_t on the straight line
    REQUIRE(max_abs_diff(p.target, (data - p.x0) - p.y0) < 1e-6);     // Y − Y_0 with Y = X_T − X_0
    const auto s = p.s.unsqueeze(-1);                                  // one inner time per token
    REQUIRE(p.s.sizes() == torch::IntArrayRef({2, 3}));
    REQUIRE(max_abs_diff(p.y_s, (1 - s) * p.y0 + s * (data - p.x0)) < 1e-6);
    REQUIRE(((p.s >= 0) & (p.s < 1)).all().item<bool>());
  }
  // t ∈ {0, 1/4, 2/4, 3/4}: never the data end itself.
  REQUIRE(seen_times == std::set<double>{0.0, 0.25, 0.5, 0.75});
  // One sample() call of T steps costs T backbone passes and T·K·(solver evaluations) head passes.
  REQUIRE(objective.evaluations({16, 4}) == std::pair<int64_t, int64_t>{16, 64});
  REQUIRE(chord::obj::DifferenceTransitionMatching<chord::ode::Midpoint>::evaluations({8, 4}) ==
          std::pair<int64_t, int64_t>{8, 64});
}

TEST_CASE("a saved DTM model's head width and depth are read back from its weights", "[dtm][checkpoint]") {
  auto model = tiny_dtm();
  const auto path = std::filesystem::temp_directory_path() / "chord_dtm_options.safetensors";
  chord::io::TensorMap weights;
  for (const auto& item : model->named_parameters()) weights.emplace(item.key(), item.value());
  for (const auto& item : model->named_buffers()) weights.emplace(item.key(), item.value());
  chord::io::save_safetensors(path, weights);
  const auto options = f5::read_model_options<chord::systems::DTMF5TTS>(path);
  REQUIRE(options.objective.head_width == 64);
  REQUIRE(options.objective.head_depth == 2);
  REQUIRE(f5::describe_mismatch(model->options.backbone, options.backbone).empty());
  Model reloaded(options);
  REQUIRE(f5::load_checkpoint(reloaded, path).clean());
  std::filesystem::remove(path);
}

TEST_CASE("DTM-F5TTS on a CUDA device: the loss, its gradients and sampling stay on the device", "[.cuda]") {
  const c10::Device cuda(c10::kCUDA, 0);
  auto model = tiny_dtm();
  model->to(cuda);
  auto gen = chord::make_generator(3, cuda);
  auto losses = model->loss(tiny_batch(), gen);  // a CPU batch: the model moves it
  REQUIRE(losses.loss.device() == cuda);
  REQUIRE(std::isfinite(losses.loss.item<float>()));
  losses.loss.backward();
  for (const auto& item : model->named_parameters()) {
    INFO(item.key());
    if (item.value().grad().defined()) REQUIRE(item.value().grad().device() == cuda);
  }
  const auto [request, options] = two_prompts();  // on the CPU: the model moves it
  const auto result = model->sample(request, options, gen);
  REQUIRE(result.output.device() == cuda);
  REQUIRE(torch::equal(result.output[0].slice(0, 0, 12).cpu(), request.prompt[0]));
  REQUIRE(torch::isfinite(result.output).all().item<bool>());
  chord::test::require_on(*model, cuda);
}
