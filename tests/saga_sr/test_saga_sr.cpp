// SAGA-SR: parity of the Stable Audio DiT with pip stable-audio-tools 0.0.19 (fixtures:
// tests/parity/make_saga_sr_fixtures.py), fp32 on CPU — the state dict key for key, the forward with all
// four condition channels (prepended or AdaLN global vector), the package's batched CFG, sample_rf, the
// NumberEmbedder and the timestep Fourier features; then the guidance rules by hand, the conditioning
// policy's drops, and the composed specs (official and the seed's ablation steps).
#include "device_support.hpp"
#include "support.hpp"

#include <chord/systems/saga_sr.hpp>

#include <chord/core/autocast.hpp>
#include <chord/io/state_dict.hpp>
#include <chord/nn/number_conditioner.hpp>
#include <chord/nn/stable_audio_config.hpp>
#include <chord/nn/stable_audio_dit.hpp>
#include <chord/policies/objective/rectified_flow.hpp>

using chord::test::max_abs_diff;

namespace {

chord::nn::StableAudioDiTOptions fixture_options(const std::string& name) {
  if (name == "prepend") {
    return chord::nn::StableAudioDiTOptions(128, 2, 2).io_channels(16).input_concat_dim(16).cond_token_dim(64)
        .project_cond_tokens(false).global_cond_dim(48).prepend_cond_dim(24).ff_mult(2);
  }
  return chord::nn::StableAudioDiTOptions(64, 1, 1).io_channels(8).cond_token_dim(32).global_cond_dim(16)
      .global_cond_type(chord::nn::GlobalCondition::adaptive_layer_norm);
}

struct Reference {
  chord::nn::StableAudioDiT dit{nullptr};
  chord::io::TensorMap io;
  chord::io::LoadReport report;
};

Reference load_reference(const std::string& name) {
  Reference r;
  r.io = chord::test::fixture_tensors("stable_audio_dit_" + name + ".safetensors");
  chord::io::TensorMap weights;
  for (const auto& [key, value] : r.io) {
    if (key.rfind("model.", 0) == 0) weights.emplace(key, value);
  }
  r.dit = chord::nn::StableAudioDiT(fixture_options(name));
  chord::io::LoadOptions options;
  options.strip_prefix = "model.";
  r.report = chord::io::load_state_dict(*r.dit, weights, options);
  r.dit->eval();
  return r;
}

torch::Tensor optional(const chord::io::TensorMap& io, const std::string& key) {
  auto found = io.find(key);
  return found == io.end() ? torch::Tensor() : found->second;
}

chord::nn::StableAudioConditions conditions(const chord::io::TensorMap& io, const std::string& concat_key = "input_concat_cond") {
  auto concat = optional(io, concat_key);
  return {io.at("cross_attn_cond"), optional(io, "global_embed"), concat.defined() ? concat.transpose(1, 2) : concat,
          optional(io, "prepend_cond")};
}

/// The package's CFG: one batched pass over [conditional; null cross-attention and prepend tokens],
/// global and input-concat duplicated, `u + (c − u)·s`. `null_tokens` replace the zeros (negative
/// conditioning).
torch::Tensor guided(chord::nn::StableAudioDiT& dit, const chord::nn::StableAudioConditions& c, const torch::Tensor& x,
                     const torch::Tensor& t, double scale, const torch::Tensor& null_tokens = {}) {
  auto twice = [](const torch::Tensor& v) { return v.defined() ? torch::cat({v, v}) : v; };
  chord::nn::StableAudioConditions both{
      torch::cat({c.cross_attention, null_tokens.defined() ? null_tokens : torch::zeros_like(c.cross_attention)}), twice(c.global),
      twice(c.input_concat), c.prepend.defined() ? torch::cat({c.prepend, torch::zeros_like(c.prepend)}) : torch::Tensor()};
  auto out = dit->run(torch::cat({x, x}), torch::cat({t, t}), dit->embed(both)).chunk(2);
  return out[1] + (out[0] - out[1]) * scale;
}

}  // namespace

TEST_CASE("a stable-audio-tools DiT state dict loads key for key", "[saga_sr][parity][checkpoint]") {
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    INFO(r.report.describe());
    REQUIRE(r.report.clean());
    REQUIRE(r.report.loaded.size() == chord::io::state_dict(*r.dit).size());
  }
}

TEST_CASE("the Stable Audio DiT forward with all four condition channels matches the reference within 1e-4",
          "[saga_sr][parity][dit]") {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    const auto& io = r.io;
    const auto c = conditions(io);
    auto out = r.dit->forward(io.at("x"), io.at("t"), c.cross_attention, c.global,
                              c.input_concat.defined() ? c.input_concat.transpose(1, 2) : torch::Tensor(), c.prepend);
    CHECK(max_abs_diff(out, io.at("out")) <= 1e-4);
    // The same through embed() + run() in chord's time-major layout.
    auto run = r.dit->run(io.at("x").transpose(1, 2), io.at("t"), r.dit->embed(c)).transpose(1, 2);
    CHECK(max_abs_diff(run, io.at("out")) <= 1e-4);
    // A half-rate input-concat latent is nearest-resampled to the latent rate.
    if (io.count("out_half")) {
      auto half = r.dit->run(io.at("x").transpose(1, 2), io.at("t"), r.dit->embed(conditions(io, "input_concat_half")));
      CHECK(max_abs_diff(half.transpose(1, 2), io.at("out_half")) <= 1e-4);
    }
    // The package's batched classifier-free guidance, scale 3.
    auto cfg = guided(r.dit, c, io.at("x").transpose(1, 2), io.at("t"), 3.0).transpose(1, 2);
    CHECK(max_abs_diff(cfg, io.at("out_cfg3")) <= 1e-4);
    // The outputs differ from what a wrong combination would give (the check can fail).
    CHECK(max_abs_diff(io.at("out_cfg3"), io.at("out")) > 1e-3);
  }
}

TEST_CASE("sample_rf (Euler, log-SNR schedule, 8 steps, CFG 3) matches the reference within 1e-3",
          "[saga_sr][parity][sample]") {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    const auto c = conditions(r.io);
    const auto times = chord::grid::LogSnr::times(8);
    auto x = r.io.at("noise").transpose(1, 2);
    for (int64_t i = 0; i < 8; ++i) {
      auto t = torch::full({x.size(0)}, times[i].item<float>());
      x = x + (times[i + 1] - times[i]) * guided(r.dit, c, x, t, 3.0);
    }
    CHECK(max_abs_diff(x.transpose(1, 2), r.io.at("sample_cfg3")) <= 1e-3);
  }
}

TEST_CASE("NumberEmbedder and the timestep Fourier features match the reference exactly in layout",
          "[saga_sr][parity][conditioner]") {
  torch::NoGradGuard no_grad;
  auto r = load_reference("prepend");
  chord::nn::NumberEmbedder embedder(24);
  chord::io::TensorMap weights;
  for (const auto& [key, value] : r.io) {
    if (key.rfind("number.", 0) == 0) weights.emplace(key.substr(7), value);
  }
  REQUIRE(chord::io::load_state_dict(*embedder, weights).clean());
  CHECK(max_abs_diff(embedder(r.io.at("number_u")), r.io.at("number_out")) <= 1e-6);

  r.dit->timestep_features->weight.copy_(r.io.at("fourier.weight"));
  CHECK(max_abs_diff(r.dit->timestep_fourier_features(r.io.at("t")), r.io.at("fourier_out")) <= 1e-5);
}

TEST_CASE("a small DiT given unprojected 768-channel tokens is refused at construction", "[saga_sr][dit]") {
  // embed 512, 8 heads of 64: 768-channel context = 12 key/value heads for 8 query heads.
  auto bad = chord::nn::StableAudioDiTOptions(512, 1, 8).cond_token_dim(768).project_cond_tokens(false);
  REQUIRE_THROWS_WITH(chord::nn::StableAudioDiT(bad), Catch::Matchers::Contains("project_cond_tokens(true)"));
  // Projected (the seed's small config) it builds, with 8 key/value heads.
  REQUIRE_NOTHROW(chord::nn::StableAudioDiT(bad.project_cond_tokens(true)));
  // The full config (1536, 24 heads) takes 768-channel tokens unprojected: 12 key/value heads, groups of 2.
  REQUIRE_NOTHROW(chord::nn::StableAudioDiT(chord::nn::StableAudioDiTOptions(1536, 1, 24).cond_token_dim(768).project_cond_tokens(false)));
}

// ---------------------------------------------------------------------------------------------------
// Guidance rules, conditioning, composed specs.

namespace {

namespace saga = chord::systems::saga_sr;

template <class Spec>
chord::BatchOf<Spec> tiny_batch(int64_t batch, int64_t frames, torch::Generator& gen) {
  chord::BatchOf<Spec> b;
  b.target = torch::randn({batch, frames, 8}, gen);
  b.low_resolution = torch::randn({batch, frames, 8}, gen);
  b.inputs.text = torch::randn({batch, 5, 768}, gen);
  b.inputs.input_rolloff = torch::rand({batch}, gen);
  b.inputs.output_rolloff = torch::ones({batch});
  b.inputs.seconds_start = torch::zeros({batch});
  b.inputs.seconds_total = torch::full({batch}, 1.5);
  return b;
}

template <class Spec>
chord::FlowModel<Spec> tiny_model() {
  torch::manual_seed(0);
  chord::FlowModel<Spec> model(saga::model_options<Spec>(saga::Preset::tiny));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, 0.05);  // nothing zero-initialised away
  return model;
}

}  // namespace

TEST_CASE("guidance rules combine their branches as the references do", "[saga_sr][guidance]") {
  const auto c = torch::full({1, 2, 3}, 3.0), u_all = torch::full({1, 2, 3}, 1.0), u_tokens = torch::full({1, 2, 3}, 2.0);
  // Official: u_all + 1.4·(u_tok − u_all) + s_ca·(c − u_tok) = 1 + 1.4 + 1.2 = 3.6.
  chord::guide::IndependentDropout official;
  CHECK(official.branches(2, 1.2).size() == 3);
  CHECK(official.branches(2, 1.2)[1].rows<chord::signal::LowResolution>().all().item<bool>());
  CHECK_FALSE(official.branches(2, 1.2)[2].rows<chord::signal::LowResolution>().any().item<bool>());
  CHECK(official.branches(2, 1.2)[2].rows<chord::signal::CrossAttention>().all().item<bool>());
  CHECK(max_abs_diff(official.combine({c, u_all, u_tokens}, 1.2), torch::full({1, 2, 3}, 3.6)) < 1e-6);
  // stable-audio: u + (c − u)·s = 1 + 2·2 = 5; s = 1 is the conditional pass alone.
  chord::guide::CrossAttentionDropout stable;
  CHECK(stable.branches(2, 1.0).size() == 1);
  CHECK(max_abs_diff(stable.combine({c, u_all}, 2.0), torch::full({1, 2, 3}, 5.0)) < 1e-6);
  // Rescale φ = 1: the guided output takes the conditional output's std over channels.
  stable.scale_phi = 1.0;
  auto cond = torch::tensor({1.0f, 2.0f, 3.0f}).view({1, 1, 3}), uncond = torch::tensor({0.0f, 0.0f, 0.0f}).view({1, 1, 3});
  auto out = stable.combine({cond, uncond}, 4.0);  // plain: (4, 8, 12), std 4 → rescaled to std 1: (1, 2, 3)
  CHECK(max_abs_diff(out, cond) < 1e-5);
}

TEST_CASE("training drops: independent per signal (official), latent on top of token dropout (step 3)", "[saga_sr][guidance]") {
  auto gen = chord::make_generator(5);
  const int64_t batch = 64, rounds = 200, n = batch * rounds;
  chord::guide::IndependentDropout official;
  chord::systems::SagaStep3::guidance step3;  // latent on top of roll-off on top of token dropout
  double latent = 0, tokens = 0, both = 0, latent3 = 0, tokens3 = 0, rolloff3 = 0, tokens_and_rolloff3 = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    auto d = official.training_drop(batch, gen);
    auto l = d.rows<chord::signal::LowResolution>(), t = d.rows<chord::signal::CrossAttention>();
    latent += l.sum().item<double>();
    tokens += t.sum().item<double>();
    both += (l & t).sum().item<double>();
    auto d3 = step3.training_drop(batch, gen);
    latent3 += d3.rows<chord::signal::LowResolution>().sum().item<double>();
    tokens3 += d3.rows<chord::signal::CrossAttention>().sum().item<double>();
    rolloff3 += d3.rows<chord::signal::Rolloff>().sum().item<double>();
    tokens_and_rolloff3 += (d3.rows<chord::signal::Rolloff>() & d3.rows<chord::signal::CrossAttention>()).sum().item<double>();
  }
  auto near = [&](double count, double p) { return std::abs(count / n - p) < 4 * std::sqrt(p * (1 - p) / n); };
  CHECK(near(latent, 0.1));
  CHECK(near(tokens, 0.1));
  CHECK(near(both, 0.01));  // independent: p², not p
  CHECK(near(latent3, 0.1));
  CHECK(near(tokens3, 0.1));
  CHECK(near(rolloff3, 0.1));
  CHECK(near(tokens_and_rolloff3, 0.01));
  CHECK(chord::systems::SagaStep3::guidance::name == "latent_dropout");
  CHECK(chord::systems::SagaStep2::guidance::name == "rolloff_dropout");
}

TEST_CASE("the conditioning applies drops: latent → the null value, tokens → zeros", "[saga_sr][conditioning]") {
  auto model = tiny_model<chord::systems::SagaOfficial>();
  auto gen = chord::make_generator(3);
  auto batch = tiny_batch<chord::systems::SagaOfficial>(3, 6, gen);
  chord::ConditionDrop drop(3);
  drop.set<chord::signal::LowResolution>(torch::tensor({false, true, false}));
  drop.set<chord::signal::CrossAttention>(torch::tensor({false, false, true}));
  torch::NoGradGuard no_grad;
  auto& net = model->backbone;
  auto prepared = model->options.conditioning.prepare_training(net, batch, chord::Masks{}, drop);
  // Row 1's input-concat share is that of a latent filled with −5; rows 0 and 2 keep theirs.
  auto reference = net->model->embed({torch::Tensor(), torch::Tensor(),
                                      torch::where(torch::tensor({false, true, false}).view({-1, 1, 1}), torch::full({}, -5.0f), batch.low_resolution),
                                      torch::Tensor()});
  CHECK(max_abs_diff(prepared.concat_projection, reference.concat_projection) < 1e-6);
  CHECK(max_abs_diff(prepared.concat_projection[1], prepared.concat_projection[0]) > 1e-3);
  // Row 2's keys and values are exactly zero in every layer (no biases); 5 text + 2 roll-off tokens.
  REQUIRE(prepared.keys.size() == 2);
  CHECK(prepared.keys[0].size(2) == 7);
  CHECK(prepared.keys[0][2].abs().max().item<float>() == 0.0f);
  CHECK(prepared.values[1][2].abs().max().item<float>() == 0.0f);
  CHECK(prepared.keys[0][0].abs().max().item<float>() > 0.0f);
}

TEST_CASE("official SAGA-SR sampling is three batched branches on the linear-quadratic schedule", "[saga_sr][model]") {
  using Spec = chord::systems::SagaOfficial;
  auto model = tiny_model<Spec>();
  auto gen = chord::make_generator(4);
  auto batch = tiny_batch<Spec>(2, 6, gen);
  chord::RequestOf<Spec> request;
  request.low_resolution = batch.low_resolution;
  request.inputs = batch.inputs;
  chord::SampleOptionsOf<Spec> options;
  options.sampler.steps = 4;
  options.seeds = {11, 12};
  auto result = model->sample(request, options, gen);
  REQUIRE(result.output.sizes() == batch.low_resolution.sizes());

  // By hand: the same noise, per-branch conditions embedded separately, Euler on the schedule.
  torch::NoGradGuard no_grad;
  auto& net = model->backbone;
  auto [tokens, global, prepend] = net->encode_conditions(batch.inputs, 2);
  REQUIRE_FALSE(prepend.defined());  // the official roll-offs: cross tokens and the global vector
  auto embed = [&](const torch::Tensor& latent, const torch::Tensor& cross) {
    return net->model->embed({cross, global, latent, torch::Tensor()});
  };
  auto cond = embed(batch.low_resolution, tokens);
  auto all = embed(torch::full_like(batch.low_resolution, -5.0), torch::zeros_like(tokens));
  auto latent_only = embed(batch.low_resolution, torch::zeros_like(tokens));
  auto x = chord::seeded_noise({6, 6}, 8, {11, 12}, torch::TensorOptions());
  const auto times = chord::grid::LinearQuadratic::times(4);
  for (int64_t i = 0; i < 4; ++i) {
    auto t = torch::full({2}, times[i].item<float>());
    auto c = net->model->run(x, t, cond), u = net->model->run(x, t, all), l = net->model->run(x, t, latent_only);
    x = x + (times[i + 1] - times[i]) * (u + 1.4 * (l - u) + 1.2 * (c - l));
  }
  CHECK(max_abs_diff(result.output, x) < 1e-4);
}

// docs/systems/saga_sr.md: the official rules with the seed's roll-off conditioner.
struct OfficialWithSeedRolloff : chord::systems::SagaOfficial {
  static constexpr std::string_view name = "official_seed_rolloff";
  using conditioning = chord::cond::LatentSuperResolution<chord::sr::text | chord::sr::rolloff_fourier, -5>;
};

TEST_CASE("every ablation spec trains a step and samples", "[saga_sr][model]") {
  auto run = []<class Spec>(std::type_identity<Spec>) {
    INFO(typeid(Spec).name());
    auto model = tiny_model<Spec>();
    auto gen = chord::make_generator(6);
    auto batch = tiny_batch<Spec>(2, 5, gen);
    auto losses = model->loss(batch, gen);
    REQUIRE(std::isfinite(losses.loss.template item<float>()));
    losses.loss.backward();
    // The conditioners learn through the DiT.
    for (const auto& item : model->named_parameters()) {
      if (item.key().find("conditioner.") != std::string::npos) {
        INFO(item.key());
        CHECK(item.value().grad().defined());
      }
    }
    chord::RequestOf<Spec> request;
    request.low_resolution = batch.low_resolution;
    request.inputs = batch.inputs;
    chord::SampleOptionsOf<Spec> options;
    options.sampler.steps = 2;
    auto out = model->sample(request, options, gen).output;
    CHECK(out.sizes() == batch.target.sizes());
    CHECK(torch::isfinite(out).all().template item<bool>());
  };
  run(std::type_identity<chord::systems::SagaStep0>{});
  run(std::type_identity<chord::systems::SagaStep1>{});
  run(std::type_identity<chord::systems::SagaStep2>{});
  run(std::type_identity<chord::systems::SagaStep2Prime>{});
  run(std::type_identity<chord::systems::SagaStep3>{});
  run(std::type_identity<chord::systems::SagaOfficial>{});
  run(std::type_identity<OfficialWithSeedRolloff>{});  // the mix docs/systems/saga_sr.md shows
  STATIC_REQUIRE(chord::systems::SagaStep2Prime::low_frequency_replacement == chord::systems::LowFrequencyReplacement::cross_fade);
}

TEST_CASE("the conditioning configures its backbone: the condition channels are said in one place", "[saga_sr][model]") {
  // Step 0's options (seconds only) become step 2's (text, the seed's roll-off conditioner, seconds)
  // when a step-2 model is built from them: the conditioning policy derives the DiT's channels.
  auto step0 = saga::model_options<chord::systems::SagaStep0>(saga::Preset::tiny);
  REQUIRE_FALSE(step0.backbone.rolloff_fourier());
  chord::FlowModelOptions<chord::systems::SagaStep2> reused(step0.backbone.text_dim(768));
  reused.conditioning.latent_channels = 8;
  chord::FlowModel<chord::systems::SagaStep2> model(reused);
  CHECK(model->options.backbone.rolloff_fourier());
  CHECK(model->options.backbone.dit.prepend_adds_timestep());
  CHECK(model->options.backbone.dit.cond_token_dim() == model->options.backbone.cross_attention_width());
  auto gen = chord::make_generator(1);
  auto batch = tiny_batch<chord::systems::SagaStep2>(1, 4, gen);
  CHECK(std::isfinite(model->loss(batch, gen).loss.item<double>()));
  // The one fact the options must bring: the text embeddings' width, exactly when there is text.
  chord::FlowModelOptions<chord::systems::SagaStep2> without_text(step0.backbone.text_dim(0));
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::FlowModel<chord::systems::SagaStep2>(without_text), "takes text, but the backbone options give text_dim 0");
  // A batch without the roll-offs the model was built for names the missing condition.
  auto model2 = tiny_model<chord::systems::SagaStep2>();
  batch.inputs.input_rolloff = torch::Tensor();
  CHORD_REQUIRE_THROWS_WITH_TEXT(model2->loss(batch, gen), "input roll-off");
}

TEST_CASE("the presets: the seed's small DiT and the official full one", "[saga_sr][model]") {
  auto small = saga::model_options<chord::systems::SagaStep2>(saga::Preset::small).backbone;
  CHECK(small.dit.embed_dim() == 512);
  CHECK(small.dit.depth() == 8);
  CHECK(small.dit.cond_token_dim() == 512);
  CHECK(small.dit.global_cond_dim() == 2 * 512);  // seconds_start/total
  // The seed's roll-off conditioner: a cross token of cond_token_dim, a prepended token of embed_dim.
  CHECK(small.dit.prepend_cond_dim() == 512);
  CHECK(small.dit.prepend_adds_timestep());
  auto official_small = saga::model_options<chord::systems::SagaOfficial>(saga::Preset::small).backbone;
  CHECK(official_small.dit.global_cond_dim() == 2 * 512);  // the two roll-offs
  CHECK(official_small.dit.prepend_cond_dim() == 0);
  auto full = saga::model_options<chord::systems::SagaOfficial>(saga::Preset::full).backbone;
  CHECK(full.dit.embed_dim() == 1536);
  CHECK(full.dit.cond_token_dim() == 768);
  CHECK_FALSE(full.dit.project_cond_tokens());
  CHECK(full.dit.global_cond_dim() == 1536);
  CHECK(full.cond_dim() == 768);
  CHECK(full.text_dim() == 768);
}

TEST_CASE("the seed's RolloffFourierConditioner: Fourier features of both ratios, one token, one global embedding",
          "[saga_sr][conditioner]") {
  chord::nn::RolloffFourierConditioner rolloff(chord::nn::RolloffFourierConditionerOptions(3, 2).features(4));
  torch::NoGradGuard no_grad;
  rolloff->low_features->weights.copy_(torch::tensor({1.0f, 0.5f}));
  rolloff->high_features->weights.copy_(torch::tensor({0.25f, 2.0f}));
  rolloff->to_cross->weight.fill_(1.0);
  rolloff->to_cross->bias.zero_();
  rolloff->to_global->weight.zero_();
  rolloff->to_global->weight[0][0] = 1.0;  // low's ratio
  rolloff->to_global->weight[1][5] = 1.0;  // high's ratio
  rolloff->to_global->bias.copy_(torch::tensor({1.0f, 2.0f}));
  // low 0.25: [0.25, sin(π/2), sin(π/4), cos(π/2), cos(π/4)]; high 0.5: [0.5, sin(π/4), sin(2π), cos(π/4), cos(2π)].
  // Their sum: 0.25 + 1 + 0.7071 + 0 + 0.7071 + 0.5 + 0.7071 + 0 + 0.7071 + 1 = 5.5784.
  auto [token, global] = rolloff(torch::tensor({0.25f, 1.5f}), torch::tensor({0.5f, 0.5f}));
  REQUIRE(token.sizes() == torch::IntArrayRef({2, 1, 3}));
  REQUIRE(global.sizes() == torch::IntArrayRef({2, 2}));
  CHECK(token[0][0][1].item<float>() == Approx(2.75 + 2 * std::sqrt(2.0)).epsilon(1e-5));
  CHECK(global[0][0].item<float>() == Approx(1.25));
  CHECK(global[0][1].item<float>() == Approx(2.5));
  CHECK(global[1][0].item<float>() == Approx(2.0));  // 1.5 is clamped to 1
  CHECK_THROWS_WITH(rolloff(torch::ones({2}), torch::ones({3})), Catch::Matchers::Contains("low and high roll-offs [B]"));
}

TEST_CASE("prepended tokens carrying the timestep embedding (the seed's roll-off prepend)", "[saga_sr][dit]") {
  auto base = chord::nn::StableAudioDiTOptions(32, 1, 1).io_channels(4).prepend_cond_dim(32);
  torch::manual_seed(1);
  chord::nn::StableAudioDiT plain(base), seed(chord::nn::StableAudioDiTOptions(base).prepend_adds_timestep(true));
  torch::NoGradGuard no_grad;
  for (auto& p : plain->parameters()) p.normal_(0.0, 0.1);
  auto params = seed->named_parameters();
  for (const auto& item : plain->named_parameters()) params[item.key()].copy_(item.value());
  auto gen = chord::make_generator(2);
  auto x = torch::randn({2, 6, 4}, gen), raw = torch::randn({2, 1, 32}, gen), t = torch::tensor({0.3f, 0.8f});
  auto dropped = torch::tensor({false, true});
  auto timestep = plain->to_timestep_embed->forward(plain->timestep_fourier_features(t)).unsqueeze(1);
  // By hand: (raw + timestep embedding), zeroed on the dropped row, through the plain model's prepend path.
  auto by_hand = plain->run(x, t, plain->embed({{}, {}, {}, (raw + timestep) * torch::tensor({1.0f, 0.0f}).view({2, 1, 1})}));
  auto out = seed->run(x, t, seed->embed({{}, {}, {}, raw, dropped}));
  CHECK(max_abs_diff(out, by_hand) < 1e-5);
  CHECK_THROWS_WITH(seed->embed({}), Catch::Matchers::Contains("adds the timestep to prepended tokens"));
  CHECK_THROWS_WITH(chord::nn::StableAudioDiT(chord::nn::StableAudioDiTOptions(32, 1, 1).prepend_cond_dim(16).prepend_adds_timestep(true)),
                    Catch::Matchers::Contains("prepend_adds_timestep needs prepended tokens as wide"));
}

TEST_CASE("step 2's roll-off drop zeroes the seed conditioner's token and prepended token only", "[saga_sr][conditioning]") {
  using Step2 = chord::systems::SagaStep2;
  auto model = tiny_model<Step2>();
  auto gen = chord::make_generator(8);
  auto batch = tiny_batch<Step2>(3, 6, gen);
  chord::ConditionDrop drop(3);
  drop.set<chord::signal::Rolloff>(torch::tensor({false, true, false}));
  drop.set<chord::signal::CrossAttention>(torch::tensor({false, false, true}));
  torch::NoGradGuard no_grad;
  auto& net = model->backbone;
  auto prepared = model->options.conditioning.prepare_training(net, batch, chord::Masks{}, drop);
  // 5 text tokens + 1 roll-off token; one prepended token of embed_dim that waits for the timestep.
  REQUIRE(prepared.keys[0].size(2) == 6);
  REQUIRE(prepared.prepend_condition.sizes() == torch::IntArrayRef({3, 1, 64}));
  CHECK_FALSE(prepared.prepend.defined());
  auto last_keys = prepared.keys[0].select(2, 5);  // [B, Hkv, Dh]
  CHECK(last_keys[1].abs().max().item<float>() == 0.0f);  // roll-off dropped on row 1
  CHECK(last_keys[0].abs().max().item<float>() > 0.0f);
  CHECK(prepared.keys[0][1].narrow(1, 0, 5).abs().max().item<float>() > 0.0f);  // its text stays
  CHECK(prepared.prepend_condition[1].abs().max().item<float>() == 0.0f);
  CHECK(prepared.prepend_condition[0].abs().max().item<float>() > 0.0f);
  // A token drop (row 2) zeroes every token and, after the timestep is added, the prepended one.
  CHECK(prepared.keys[0][2].abs().max().item<float>() == 0.0f);
  CHECK(max_abs_diff(prepared.prepend_kept.flatten(), torch::tensor({1.0f, 1.0f, 0.0f})) == 0.0);
  // The official roll-offs and the seed's are alternatives.
  auto both = saga::model_options<Step2>(saga::Preset::tiny).backbone;
  both.rolloff(true);
  CHECK_THROWS_WITH(chord::nn::SuperResolutionDiT(both), Catch::Matchers::Contains("choose one roll-off conditioner"));
}

// --- reference options (fixtures: tests/parity/make_stable_audio_option_fixtures.py, make_interpolate_fixtures.py) ---

TEST_CASE("input-concat resampling is F.interpolate(nearest) for every pair of lengths up to 128", "[saga_sr][parity][dit]") {
  const auto f = chord::test::fixture_tensors("interpolate_nearest.safetensors");
  const auto index_sums = f.at("index_sum"), weighted_sums = f.at("weighted_sum");
  int64_t pair = 0, mismatched = 0;
  std::string first;
  for (int64_t in = 1; in <= 128; ++in) {
    const auto source = torch::arange(in, torch::kFloat).view({1, in, 1});
    for (int64_t out = 1; out <= 128; ++out, ++pair) {
      const auto index = chord::nn::StableAudioDiTImpl::resample_nearest(source, out).view(-1).to(torch::kLong);
      const bool same = index.sum().item<int64_t>() == index_sums[pair].item<int>() &&
                        (index * torch::arange(1, out + 1)).sum().item<int64_t>() == weighted_sums[pair].item<int>();
      if (!same && mismatched++ == 0) first = std::to_string(in) + " -> " + std::to_string(out);
    }
  }
  INFO("first mismatch: " << first);
  REQUIRE(mismatched == 0);
  // The example: 26 → 22, where a double-precision scale reads source 13 for frame 11 (the reference 12).
  const auto y = chord::nn::StableAudioDiTImpl::resample_nearest(f.at("x_26").transpose(1, 2), 22).transpose(1, 2);
  REQUIRE(torch::equal(y, f.at("y_26_to_22")));
}

namespace {
struct OptionReference {
  chord::nn::StableAudioDiT dit{nullptr};
  chord::io::TensorMap io;
};

/// A DiT built from the config the fixture was made with (its metadata), through chord's config reader.
OptionReference load_option_reference(const std::string& name) {
  const auto path = chord::test::fixture("stable_audio_opt_" + name + ".safetensors");
  OptionReference r;
  r.io = chord::test::fixture_tensors("stable_audio_opt_" + name + ".safetensors");
  const auto config = nlohmann::json::parse(chord::io::SafetensorsReader(path).metadata().at("config"));
  const auto options = chord::nn::stable_audio_dit_options(config);
  chord::nn::check_stable_audio_state_dict(r.io, "model.", options);
  r.dit = chord::nn::StableAudioDiT(options);
  chord::io::TensorMap weights;
  for (const auto& [key, value] : r.io) {
    if (key.rfind("model.", 0) == 0) weights.emplace(key, value);
  }
  chord::io::LoadOptions load;
  load.strip_prefix = "model.";
  REQUIRE(chord::io::load_state_dict(*r.dit, weights, load).clean());
  r.dit->eval();
  return r;
}
}  // namespace

TEST_CASE("Stable Audio options — patches, memory tokens, q/k norms, the input-concat timestep — match the reference",
          "[saga_sr][parity][dit]") {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"patch2", "memory", "qkln", "qkl2", "qkdyt", "tsconcat"}) {
    INFO(name);
    auto r = load_option_reference(name);
    const auto c = conditions(r.io);
    auto out = r.dit->run(r.io.at("x").transpose(1, 2), r.io.at("t"), r.dit->embed(c)).transpose(1, 2);
    CHECK(max_abs_diff(out, r.io.at("out")) <= 1e-4);
    auto cfg = guided(r.dit, c, r.io.at("x").transpose(1, 2), r.io.at("t"), 3.0).transpose(1, 2);
    CHECK(max_abs_diff(cfg, r.io.at("out_cfg3")) <= 1e-4);
  }
}

TEST_CASE("negative cross-attention tokens and cfg_interval in sampling match the reference", "[saga_sr][parity][sample]") {
  torch::NoGradGuard no_grad;
  auto r = load_option_reference("patch2");
  const auto& io = r.io;
  const auto c = conditions(io);
  const auto x = io.at("x").transpose(1, 2);
  // Negative tokens take the zeros' place where their mask is true.
  const auto negative = torch::where(io.at("negative_cross_attn_mask").unsqueeze(-1), io.at("negative_cross_attn_cond"),
                                     torch::zeros_like(io.at("negative_cross_attn_cond")));
  CHECK(max_abs_diff(guided(r.dit, c, x, io.at("t"), 3.0, negative).transpose(1, 2), io.at("out_cfg3_negative")) <= 1e-4);
  CHECK(max_abs_diff(io.at("out_cfg3_negative"), io.at("out_cfg3")) > 1e-5);  // the negative tokens matter
  // cfg_interval (0.2, 0.6) is decided by the first item's t: guided at t = [0.3, 0.85], not at [0.7, 0.1].
  chord::guide::CrossAttentionDropout rule;
  rule.interval_low = 0.2;
  rule.interval_high = 0.6;
  REQUIRE(rule.guides_at(io.at("t")));
  REQUIRE_FALSE(rule.guides_at(io.at("t_b")));
  CHECK(max_abs_diff(guided(r.dit, c, x, io.at("t"), 3.0).transpose(1, 2), io.at("out_cfg3_interval_a")) <= 1e-4);
  CHECK(max_abs_diff(r.dit->run(x, io.at("t_b"), r.dit->embed(c)).transpose(1, 2), io.at("out_cfg3_interval_b")) <= 1e-4);
}

TEST_CASE("sample_rf from sigma_max 0.7, with and without init data, on the reference's float32 grid", "[saga_sr][parity][sample]") {
  torch::NoGradGuard no_grad;
  auto r = load_option_reference("patch2");
  const auto& io = r.io;
  REQUIRE(torch::equal(chord::grid::LogSnr::times(6, {0.7}), io.at("grid_sigma07")));
  REQUIRE(torch::equal(chord::grid::LogSnr::times(6), io.at("grid_full6")));
  REQUIRE(torch::equal(chord::grid::LogSnr::times(8), io.at("grid_full8")));
  const auto c = conditions(io);
  chord::obj::RectifiedFlow<> flow;
  auto solve = [&](torch::Tensor x, double sigma_max) {
    const auto times = chord::grid::LogSnr::times(6, {sigma_max});
    for (int64_t i = 0; i < 6; ++i) {
      x = x + (times[i + 1] - times[i]) * guided(r.dit, c, x, torch::full({x.size(0)}, times[i].item<float>()), 3.0);
    }
    return x.transpose(1, 2);
  };
  const auto noise = io.at("noise").transpose(1, 2), init = io.at("init_data").transpose(1, 2);
  chord::obj::RectifiedFlow<>::SamplerOptions options;
  options.sigma_max = 0.7;
  CHECK(max_abs_diff(solve(flow.start(noise, init, options), 0.7), io.at("sample_sigma07_init")) <= 1e-3);
  CHECK(max_abs_diff(solve(noise, 0.7), io.at("sample_sigma07")) <= 1e-3);  // the reference starts from unscaled noise
  CHECK(max_abs_diff(solve(noise, 1.0), io.at("sample_full")) <= 1e-3);
}

TEST_CASE("a stable-audio config or checkpoint with an option chord lacks is refused by name", "[saga_sr][checkpoint]") {
  const nlohmann::json base = {{"io_channels", 8}, {"embed_dim", 32}, {"depth", 1}, {"num_heads", 1}};
  REQUIRE(chord::nn::stable_audio_dit_options(base).embed_dim() == 32);
  for (const auto& [key, value, message] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"conformer", true, "conformer = true is not supported"},
           {"layer_scale", true, "layer_scale = true"},
           {"use_abs_pos_emb", true, "use_abs_pos_emb"},
           {"transformer_type", "x-transformers", "transformer_type = \"x-transformers\""},
           {"sliding_window", nlohmann::json::array({64, 64}), "sliding_window"},
           {"attn_kwargs", {{"qk_norm", "rms"}}, "qk_norm = \"rms\" is not one of none, l2, ln, dyt"},
           {"attn_kwargs", {{"differential", true}}, "attn_kwargs.differential = true"},
           {"ff_kwargs", {{"glu", false}}, "ff_kwargs.glu = false"},
           {"timestep_cond_type", "input_concat", "needs timestep_embed_dim 1"},
           {"diffusion_objective", "v", "diffusion_objective = \"v\" is not supported"},
           {"diffusion_objective", "rf_denoiser", "diffusion_objective = \"rf_denoiser\" is not supported"},
           {"rotary_pos_emb", false, "rotary_pos_emb = false"},
           {"use_sinusoidal_emb", true, "use_sinusoidal_emb = true"},
           {"remove_norms", true, "remove_norms = true"},
           {"add_rope", true, "add_rope = true"},
           {"final_cross_attn_ix", 0, "final_cross_attn_ix = 0"},
           {"causal", true, "causal = true"},
           {"zero_init_branch_outputs", false, "zero_init_branch_outputs = false"},
           {"attn_kwargs", {{"feat_scale", true}}, "attn_kwargs.feat_scale = true"},
           {"ff_kwargs", {{"no_bias", true}}, "ff_kwargs.no_bias = true"},
           {"ff_kwargs", {{"use_conv", true}}, "ff_kwargs.use_conv = true"},
           {"norm_kwargs", {{"eps", 1e-6}}, "norm_kwargs = {\"eps\":1e-06}"},
           {"dim_heads", 16, "dim_heads = 16 differs from embed_dim / num_heads = 32"},
           {"global_cond_type", "film", "global_cond_type = \"film\""},
           {"frobnicate", 1, "unknown option 'frobnicate'"}}) {
    INFO(key);
    auto config = base;
    config[key] = value;
    CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::stable_audio_dit_options(config), message);
  }
  // A whole model_config.json: the objective lives at model.diffusion, where "v" is the default.
  const nlohmann::json sao_like = {{"model_type", "diffusion_cond"},
                                   {"model", {{"diffusion", {{"type", "dit"}, {"config", base}}}}}};
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::stable_audio_model_dit_options(sao_like),
                                 "diffusion_objective = \"v\" (stable-audio-tools' default when absent) is not supported");
  auto rectified = sao_like;
  rectified["model"]["diffusion"]["diffusion_objective"] = "rectified_flow";
  REQUIRE(chord::nn::stable_audio_model_dit_options(rectified).embed_dim() == 32);
  auto denoiser = rectified;
  denoiser["model"]["diffusion"]["diffusion_objective"] = "rf_denoiser";
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::stable_audio_model_dit_options(denoiser), "diffusion_objective = \"rf_denoiser\" is not");
  auto other_model = rectified;
  other_model["model_type"] = "autoencoder";
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::stable_audio_model_dit_options(other_model), "model_type = \"autoencoder\"");
  auto unet = rectified;
  unet["model"]["diffusion"]["type"] = "adp_cfg_1d";
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::stable_audio_model_dit_options(unet), "model.diffusion.type = \"adp_cfg_1d\"");
  // Keys betray options too: a layer-scale checkpoint.
  auto r = load_option_reference("qkln");
  auto tensors = r.io;
  tensors.emplace("model.transformer.layers.0.self_attn_scale.scale", torch::ones({32}));
  const auto options = r.dit->options;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(tensors, "model.", options), "layer_scale");
  for (const auto& [key, message] : std::vector<std::pair<std::string, std::string>>{
           {"model.transformer.layers.0.conformer.ff1.weight", "conformer blocks"},
           {"model.transformer.layers.0.pre_norm.alpha", "remove_norms"},
           {"model.transformer.layers.0.rope.inv_freq", "add_rope"},
           {"model.transformer.pos_emb.emb.weight", "an absolute or sinusoidal position embedding"},
           {"model.transformer.layers.0.self_attn.lambda_dc", "attention feat_scale"},
           {"model.transformer.layers.0.ff.ff.0.1.weight", "a feed-forward without GLU"}}) {
    INFO(key);
    auto with_key = r.io;
    with_key.emplace(key, torch::ones({2}));
    CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(with_key, "model.", options), message);
  }
  auto no_rotary = r.io;
  no_rotary.erase("model.transformer.rotary_pos_emb.inv_freq");
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(no_rotary, "model.", options), "without the rotary embedding");
  auto other_patch = options;
  other_patch.patch_size(options.patch_size() * 2);
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(r.io, "model.", other_patch), "× patch_size");
  auto with_memory = options;
  with_memory.num_memory_tokens(options.num_memory_tokens() + 4);
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(r.io, "model.", with_memory), "vs num_memory_tokens");
  auto without_norm = options;
  without_norm.qk_norm(chord::nn::QkNorm::none);
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::check_stable_audio_state_dict(r.io, "model.", without_norm), "q/k normalisation (ln)");
}

TEST_CASE("the model's sampler: negative tokens, the guidance interval, audio-to-audio starts and progress", "[saga_sr][model]") {
  using Spec = chord::systems::SagaStep1;  // cross-attention dropout, rectified flow on the log-SNR schedule
  auto model = tiny_model<Spec>();
  auto gen = chord::make_generator(4);
  auto batch = tiny_batch<Spec>(2, 6, gen);
  chord::RequestOf<Spec> request;
  request.low_resolution = batch.low_resolution;
  request.inputs = batch.inputs;
  chord::SampleOptionsOf<Spec> options;
  options.sampler.steps = 3;
  options.seeds = {11, 12};
  auto run = [&](const chord::RequestOf<Spec>& r, double strength) {
    options.guidance_strength = strength;
    return model->sample(r, options, gen).output;
  };
  const auto conditional = run(request, 1.0);
  const auto guided = run(request, 3.0);
  REQUIRE(max_abs_diff(guided, conditional) > 1e-4);
  // Negative inputs equal to the positive ones make u = c, so guidance changes nothing.
  auto with_negative = request;
  with_negative.negative = request.inputs;
  CHECK(max_abs_diff(run(with_negative, 3.0), conditional) <= 1e-5);
  // A guidance interval no sampling time falls in: the conditional branch alone at every step.
  model->options.guidance.interval_low = 2.0;
  model->options.guidance.interval_high = 3.0;
  CHECK(max_abs_diff(run(request, 3.0), conditional) <= 1e-5);
  model->options.guidance.interval_low = 0.0;
  model->options.guidance.interval_high = 1.0;
  CHECK(torch::equal(run(request, 3.0), guided));
  // Progress: one report per backbone pass.
  std::vector<std::pair<int64_t, int64_t>> reports;
  options.progress = [&](int64_t done, int64_t total) { reports.emplace_back(done, total); };
  run(request, 3.0);
  CHECK(reports == std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {2, 3}, {3, 3}});
  options.progress = {};
  // Audio-to-audio: from data at sigma_max, one Euler step down to 0 is init·(1 − σ) + noise·σ − σ·v.
  chord::obj::RectifiedFlow<chord::grid::LogSnr> flow;
  chord::obj::RectifiedFlow<chord::grid::LogSnr>::SamplerOptions start;
  start.sigma_max = 0.25;
  const auto noise = torch::full({1, 2, 3}, 2.0), init = torch::full({1, 2, 3}, -1.0);
  CHECK(torch::allclose(flow.start(noise, init, start), torch::full({1, 2, 3}, -1.0 * 0.75 + 2.0 * 0.25)));
  start.steps = 1;
  auto sample = flow.sample(chord::test::fixed_output_net(torch::full({3}, 4.0)), flow.start(noise, init, start), start, gen);
  CHECK(torch::allclose(sample, torch::full({1, 2, 3}, -0.25 - 0.25 * 4.0)));
  request.init = batch.target;
  options.sampler.sigma_max = 0.05;
  const auto near = run(request, 1.0);
  CHECK(max_abs_diff(near, batch.target) < max_abs_diff(conditional, batch.target));  // it stays near the data
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::grid::LinearQuadratic::times(4, {0.5}), "needs grid::LogSnr");
}

TEST_CASE("SAGA-SR on a CUDA device: the DiT matches the reference, every spec trains and samples on the device",
          "[.cuda]") {
  const c10::Device cuda(c10::kCUDA, 0);
  {
    torch::NoGradGuard no_grad;
    chord::test::NoTF32 no_tf32;
    auto r = load_reference("prepend");
    r.dit->to(cuda);
    chord::test::require_on(*r.dit, cuda);
    const auto c = conditions(r.io);
    auto on_cuda = [&](const torch::Tensor& t) { return t.defined() ? t.to(cuda) : t; };
    const chord::nn::StableAudioConditions moved{on_cuda(c.cross_attention), on_cuda(c.global), on_cuda(c.input_concat),
                                                on_cuda(c.prepend)};
    const auto x = r.io.at("x").transpose(1, 2).to(cuda);
    const auto t = r.io.at("t").to(cuda);
    const auto out = r.dit->run(x, t, r.dit->embed(moved));
    REQUIRE(out.is_cuda());
    CHECK(max_abs_diff(out.transpose(1, 2).cpu(), r.io.at("out")) <= 1e-4);
    // bfloat16 autocast: 8 significant bits, so agreement to a few percent of the output's scale.
    chord::AutocastGuard bf16(c10::kCUDA, c10::kBFloat16);
    const auto low = r.dit->run(x, t, r.dit->embed(moved)).to(torch::kFloat32);
    const double scale = r.io.at("out").abs().max().item<double>();
    CHECK(max_abs_diff(low.transpose(1, 2).cpu(), r.io.at("out")) <= 5e-2 * scale);
  }
  auto run = [&]<class Spec>(std::type_identity<Spec>) {
    INFO(typeid(Spec).name());
    auto model = tiny_model<Spec>();
    model->to(cuda);
    auto cpu_gen = chord::make_generator(6);
    auto gen = chord::make_generator(6, cuda);
    const auto batch = tiny_batch<Spec>(2, 5, cpu_gen);  // on the CPU: the model moves it
    auto losses = model->loss(batch, gen);
    REQUIRE(losses.loss.is_cuda());
    REQUIRE(std::isfinite(losses.loss.template item<float>()));
    losses.loss.backward();
    for (const auto& item : model->named_parameters()) {
      INFO(item.key());
      if (item.value().grad().defined()) REQUIRE(item.value().grad().device() == cuda);
    }
    {
      chord::AutocastGuard bf16(c10::kCUDA, c10::kBFloat16);
      REQUIRE(std::isfinite(model->loss(batch, gen).loss.template item<float>()));
    }
    chord::RequestOf<Spec> request;
    request.low_resolution = batch.low_resolution;
    request.inputs = batch.inputs;
    chord::SampleOptionsOf<Spec> options;
    options.sampler.steps = 2;
    const auto out = model->sample(request, options, gen).output;
    REQUIRE(out.device() == cuda);
    CHECK(out.sizes() == batch.target.sizes());
    CHECK(torch::isfinite(out).all().template item<bool>());
    chord::test::require_on(*model, cuda);
  };
  run(std::type_identity<chord::systems::SagaStep0>{});
  run(std::type_identity<chord::systems::SagaStep2>{});
  run(std::type_identity<chord::systems::SagaStep2Prime>{});
  run(std::type_identity<chord::systems::SagaStep3>{});
  run(std::type_identity<chord::systems::SagaOfficial>{});
}
