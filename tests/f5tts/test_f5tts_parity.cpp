// F5-TTS parity with the pip f5-tts 1.1.20 reference (fixtures: tests/parity/make_f5tts_fixtures.py),
// fp32 on CPU: DiT forward, CFM training loss, sampling, and checkpoint loading.
#include "support.hpp"

#include <chord/core/mask.hpp>
#include <chord/systems/f5tts.hpp>

namespace f5 = chord::systems::f5tts;
using Model = chord::systems::F5TTSModel;
using chord::test::max_abs_diff;

namespace {

chord::nn::F5DiTOptions fixture_options(const std::string& name) {
  auto o = chord::nn::F5DiTOptions(128, name == "v1" ? 2 : 1, 2).ff_mult(2).text_dim(64).conv_layers(2)
               .text_num_embeds(40).dropout(0.0);
  if (name == "v0") o.text_mask_padding(false).pe_attn_head(1);
  return o;
}

struct Reference {
  Model model{nullptr};
  chord::io::TensorMap io;
  chord::io::LoadReport report;
};

Reference load_reference(const std::string& name, chord::FlowModelOptions<chord::systems::F5TTS> options) {
  Reference r;
  r.model = Model(options);
  r.report = f5::load_checkpoint(r.model, chord::test::fixture("f5tts_" + name + "_ema.safetensors"));
  r.io = chord::test::fixture_tensors("f5tts_" + name + "_io.safetensors");
  return r;
}

Reference load_reference(const std::string& name) {
  return load_reference(name, chord::FlowModelOptions<chord::systems::F5TTS>(fixture_options(name)));
}

torch::Tensor rows(int64_t n, bool value) { return torch::full({n}, value, torch::kBool); }

}  // namespace

TEST_CASE("a checkpoint saved by the Python package loads with no missing or unexpected keys", "[f5tts][parity][checkpoint]") {
  for (const std::string name : {"v1", "v0"}) {
    INFO(name);
    auto r = load_reference(name);
    REQUIRE(r.report.clean());
    REQUIRE(r.report.loaded.size() == chord::io::state_dict(*r.model).size());
    // The rotary buffer is part of the published state dict and was loaded like a parameter.
    REQUIRE(std::find(r.report.loaded.begin(), r.report.loaded.end(), "transformer.rotary_embed.inv_freq") != r.report.loaded.end());
  }
}

TEST_CASE("the DiT forward matches the reference within 1e-4", "[f5tts][parity][dit]") {
  for (const std::string name : {"v1", "v0"}) {
    INFO(name);
    auto r = load_reference(name);
    auto& dit = r.model->backbone;
    const auto& f = r.io;
    torch::NoGradGuard no_grad;
    const auto x = f.at("x"), cond = f.at("cond"), text = f.at("text"), time = f.at("time");
    const auto mask = chord::lens_to_mask(f.at("lens"), x.size(1));
    const int64_t b = x.size(0);
    SECTION("batch 1, no mask") {
      REQUIRE(max_abs_diff(dit->forward(x.slice(0, 0, 1), cond.slice(0, 0, 1), text.slice(0, 0, 1), time.slice(0, 0, 1)),
                           f.at("fwd_b1")) <= 1e-4);
    }
    SECTION("batch 3 with per-sample lengths") {
      REQUIRE(max_abs_diff(dit->forward(x, cond, text, time, mask), f.at("fwd_masked")) <= 1e-4);
    }
    SECTION("audio prompt dropped, and both dropped") {
      REQUIRE(max_abs_diff(dit->forward(x, cond, text, time, mask, rows(b, true)), f.at("fwd_drop_audio")) <= 1e-4);
      REQUIRE(max_abs_diff(dit->forward(x, cond, text, time, mask, rows(b, true), rows(b, true)), f.at("fwd_drop_both")) <= 1e-4);
    }
    SECTION("cfg_infer: conditional and unconditional branches packed in one batch") {
      auto drop = torch::cat({rows(b, false), rows(b, true)});
      auto packed = dit->forward(x.repeat({2, 1, 1}), cond.repeat({2, 1, 1}), text.repeat({2, 1}), time.repeat({2}),
                                 mask.repeat({2, 1}), drop, drop);
      REQUIRE(max_abs_diff(packed, f.at("fwd_cfg")) <= 1e-4);
    }
  }
}

TEST_CASE("the CFM training loss matches the reference within 1e-5 relative", "[f5tts][parity][loss]") {
  for (const std::string name : {"v1", "v0"}) {
    for (const bool drop : {false, true}) {
      INFO(name << (drop ? " with prompt and text dropped" : " without drops"));
      auto options = chord::FlowModelOptions<chord::systems::F5TTS>(fixture_options(name));
      // Same span, noise and time as the reference: one generator seeded like torch.manual_seed(777),
      // drawn in the reference's order. The drops are chosen, as the fixture chose random().
      options.guidance.audio_drop_prob = 0.0;
      options.guidance.cond_drop_prob = drop ? 1.0 : 0.0;
      auto r = load_reference(name, options);
      const auto& f = r.io;
      auto gen = chord::make_generator(777);
      torch::NoGradGuard no_grad;
      auto losses = r.model->loss({f.at("mel"), f.at("lens"), f.at("text")}, gen);
      const auto expected = f.at(drop ? "loss_dropboth" : "loss_nodrop").item<double>();
      REQUIRE(losses.loss.item<double>() == Approx(expected).epsilon(1e-5));
      REQUIRE(max_abs_diff(losses.prediction, f.at(drop ? "loss_dropboth_pred" : "loss_nodrop_pred")) <= 1e-4);
    }
  }
}

TEST_CASE("sample() matches the reference within 1e-3 (NFE 8, CFG 2, sway -1)", "[f5tts][parity][sample]") {
  for (const std::string name : {"v1", "v0"}) {
    INFO(name);
    auto r = load_reference(name);
    const auto& f = r.io;
    auto gen = chord::make_generator(0);
    Model::SampleOptions options;
    options.sampler.steps = 8;
    options.sampler.grid.coefficient = -1.0;
    options.guidance_strength = 2.0;

    Model::Request one;
    one.prompt = f.at("prompt");
    one.text = f.at("sample_text");
    one.duration = torch::tensor({44});
    options.seeds = {1234};
    auto single = r.model->sample(one, options, gen);
    REQUIRE(single.output.sizes() == f.at("sample_b1").sizes());
    REQUIRE(max_abs_diff(single.output, f.at("sample_b1")) <= 1e-3);

    Model::Request two;
    two.prompt = f.at("sample2_prompt");
    two.prompt_lengths = f.at("sample2_prompt_lens");
    two.text = f.at("sample2_text");
    two.duration = f.at("sample2_durations");
    options.seeds = {99, 99};
    auto pair = r.model->sample(two, options, gen);
    const auto& expected = f.at("sample_b2");
    REQUIRE(pair.output.sizes() == expected.sizes());
    for (int64_t b = 0; b < 2; ++b) {  // the reference's frames past an item's duration are padding
      const auto d = pair.durations[b].item<int64_t>();
      REQUIRE(max_abs_diff(pair.output[b].slice(0, 0, d), expected[b].slice(0, 0, d)) <= 1e-3);
    }
  }
}

// --- reference options (fixtures: tests/parity/make_f5tts_option_fixtures.py) ---

namespace {

chord::nn::F5DiTOptions option_fixture(const std::string& name) {
  auto o = chord::nn::F5DiTOptions(32, 2, 2).ff_mult(2).text_dim(16).text_num_embeds(30).dropout(0.0);
  if (name == "dh16") o.dim_head(16).conv_layers(2).qk_norm(true).long_skip_connection(true);
  if (name == "dh32v0") o.dim_head(32).conv_layers(2).text_mask_padding(false).pe_attn_head(1);
  if (name == "dh24mask") o.dim_head(24).attn_mask_enabled(true);
  if (name == "avgmask") o.dim_head(16).conv_layers(2).attn_mask_enabled(true).text_embedding_average_upsampling(true);
  return o;
}

const std::vector<std::string> option_fixtures{"dh16", "dh32v0", "dh24mask", "avgmask"};

/// F5-TTS with another of torchdiffeq's fixed-grid methods.
template <class Solver>
struct F5TTSWith : chord::systems::F5TTS {
  using objective = chord::obj::CondFlowMatching<Solver, chord::grid::Sway<chord::grid::Epss>>;
};

/// The fixture's weights (`transformer.*`, beside its inputs and outputs) as a checkpoint file of their own.
std::filesystem::path option_checkpoint(const std::string& name) {
  const auto path = std::filesystem::path(CHORD_TEST_OUTPUT) / ("f5tts_opt_" + name + "_weights.safetensors");
  chord::io::TensorMap weights;
  for (const auto& [key, tensor] : chord::test::fixture_tensors("f5tts_opt_" + name + ".safetensors")) {
    if (key.rfind("transformer.", 0) == 0) weights.emplace(key, tensor);
  }
  chord::io::save_safetensors(path, weights);
  return path;
}

template <class Spec>
chord::FlowModel<Spec> option_model(const std::string& name) {
  chord::FlowModel<Spec> model{chord::FlowModelOptions<Spec>(option_fixture(name))};
  const auto report = f5::load_checkpoint(model, option_checkpoint(name));
  REQUIRE(report.clean());
  model->eval();
  return model;
}

template <class Spec>
torch::Tensor sample_fixture(const std::string& name, const chord::io::TensorMap& f) {
  auto model = option_model<Spec>(name);
  chord::RequestOf<Spec> request;
  request.prompt = f.at("cond");
  request.prompt_lengths = f.at("sample_lens");
  request.text = f.at("text");
  request.duration = f.at("sample_duration");
  chord::SampleOptionsOf<Spec> options;
  options.sampler.steps = 7;
  options.sampler.grid.coefficient = -1.0;
  options.guidance_strength = 2.0;
  options.seeds = {1234, 1234};
  auto gen = chord::make_generator(0);
  return model->sample(request, options, gen).output;
}

}  // namespace

TEST_CASE("checkpoints of other head widths, q/k norms, long skips and v0 flags load and are read right",
          "[f5tts][parity][checkpoint]") {
  for (const auto& name : option_fixtures) {
    INFO(name);
    const auto path = option_checkpoint(name);
    // What the weights show: heads and dim_head (from the RoPE buffer), qk_norm, the long skip.
    const auto found = f5::read_checkpoint_options(path);
    const auto configured = option_fixture(name);
    CHECK(found.dim_head() == configured.dim_head());
    CHECK(found.heads() == configured.heads());
    CHECK(f5::describe_mismatch(configured, found).empty());
    option_model<chord::systems::F5TTS>(name);  // loads strictly and cleanly
  }
  // Without the RoPE buffer and q/k norms the weights show only heads × dim_head = 64: the configured
  // dim_head is taken (and said so when it does not fit); without a configuration, 64.
  auto tensors = chord::io::load_safetensors(option_checkpoint("dh32v0"));
  tensors.erase("transformer.rotary_embed.inv_freq");
  const auto assumed = f5::infer_options(tensors);
  CHECK(assumed.dim_head() == 64);
  CHECK(assumed.heads() == 1);
  const auto told = f5::infer_options(tensors, option_fixture("dh32v0"));
  CHECK(told.dim_head() == 32);
  CHECK(told.heads() == 2);
  CHECK(f5::describe_mismatch(option_fixture("dh32v0"), assumed) == "heads 2 vs checkpoint 1, dim_head 32 vs checkpoint 64");
  CHECK_FALSE(f5::shows_head_width(tensors));
  // The flags no weight shows travel in the metadata chord's trainer writes, and come back on reading.
  for (const auto& name : {std::string("dh32v0"), std::string("avgmask")}) {
    INFO(name);
    const auto path = std::filesystem::path(CHORD_TEST_OUTPUT) / ("f5tts_opt_" + name + "_flags.safetensors");
    chord::io::save_safetensors(path, chord::io::load_safetensors(option_checkpoint(name)), f5::invisible_flags_metadata(option_fixture(name)));
    const auto back = f5::read_model_options<chord::systems::F5TTS>(path).backbone;
    CHECK(back.text_mask_padding() == option_fixture(name).text_mask_padding());
    CHECK(back.pe_attn_head() == option_fixture(name).pe_attn_head());
    CHECK(back.attn_mask_enabled() == option_fixture(name).attn_mask_enabled());
    CHECK(back.text_embedding_average_upsampling() == option_fixture(name).text_embedding_average_upsampling());
  }
  // Values chord never writes are refused by name (the fuzzer's first finding: pe_attn_head "ahl" threw
  // a bare std::invalid_argument "stoll"; tests/fuzz/regressions/checkpoint/ keeps its input).
  auto options = f5::preset_options(f5::Preset::tiny, 32);
  CHECK_THROWS_WITH(f5::apply_invisible_flags(options, {{"pe_attn_head", "ahl"}}),
                    Catch::Matchers::Contains("checkpoint metadata pe_attn_head = 'ahl' is not 'all' or a number of heads"));
  CHECK_THROWS_WITH(f5::apply_invisible_flags(options, {{"pe_attn_head", "-2"}}), Catch::Matchers::Contains("pe_attn_head = '-2'"));
  CHECK_THROWS_WITH(f5::apply_invisible_flags(options, {{"attn_mask_enabled", "yes"}}),
                    Catch::Matchers::Contains("checkpoint metadata attn_mask_enabled = 'yes' is not 0 or 1"));
  f5::apply_invisible_flags(options, {{"pe_attn_head", "1"}, {"attn_mask_enabled", "1"}});
  CHECK(options.pe_attn_head() == 1);
  CHECK(options.attn_mask_enabled());
}

TEST_CASE("the DiT with attention masks, average upsampling and the other options matches the reference within 1e-4",
          "[f5tts][parity][dit]") {
  torch::NoGradGuard no_grad;
  for (const auto& name : option_fixtures) {
    INFO(name);
    auto model = option_model<chord::systems::F5TTS>(name);
    auto& dit = model->backbone;
    const auto f = chord::test::fixture_tensors("f5tts_opt_" + name + ".safetensors");
    const auto x = f.at("x"), cond = f.at("cond"), text = f.at("text"), time = f.at("time");
    const auto mask = chord::lens_to_mask(f.at("lens"), x.size(1));
    const auto batched = dit->forward(x, cond, text, time, mask);
    CHECK(max_abs_diff(batched, f.at("out_masked")) <= 1e-4);
    const int64_t n = f.at("lens")[1].item<int64_t>(), tokens = (text[1] != -1).sum().item<int64_t>();
    const auto alone = dit->forward(x.slice(0, 1, 2).narrow(1, 0, n), cond.slice(0, 1, 2).narrow(1, 0, n),
                                    text.slice(0, 1, 2).narrow(1, 0, tokens), time.slice(0, 1, 2));
    CHECK(max_abs_diff(alone, f.at("out_alone1")) <= 1e-4);
    // With the key mask an item batched with a longer one is the item alone: exactly up to rounding
    // without text convolutions; with them the reference's ConvNeXt GRN normalises over padded frames
    // too (time axis), so batched and alone differ a little in the reference as in chord.
    if (option_fixture(name).attn_mask_enabled()) {
      const double tolerance = option_fixture(name).conv_layers() == 0 ? 1e-5 : 1e-4;
      CHECK(max_abs_diff(batched[1].narrow(0, 0, n), alone[0]) <= tolerance);
    }
  }
}

TEST_CASE("F5-TTS sampling with every fixed-grid odeint method matches the reference within 1e-3", "[f5tts][parity][sample]") {
  torch::NoGradGuard no_grad;
  for (const auto& name : {std::string("dh16"), std::string("avgmask")}) {
    const auto f = chord::test::fixture_tensors("f5tts_opt_" + name + ".safetensors");
    const std::vector<std::pair<std::string, torch::Tensor>> results{
        {"euler", sample_fixture<F5TTSWith<chord::ode::Euler>>(name, f)},
        {"midpoint", sample_fixture<F5TTSWith<chord::ode::Midpoint>>(name, f)},
        {"rk4", sample_fixture<F5TTSWith<chord::ode::RK4>>(name, f)},
        {"heun2", sample_fixture<F5TTSWith<chord::ode::Heun2>>(name, f)},
        {"heun3", sample_fixture<F5TTSWith<chord::ode::Heun3>>(name, f)},
        {"explicit_adams", sample_fixture<F5TTSWith<chord::ode::ExplicitAdams>>(name, f)}};
    for (const auto& [method, output] : results) {
      INFO(name << " " << method);
      const auto& expected = f.at("sample_" + method);
      for (int64_t b = 0; b < 2; ++b) {  // the reference's frames past an item's duration are padding
        const auto d = f.at("sample_duration")[b].item<int64_t>();
        CHECK(max_abs_diff(output[b].narrow(0, 0, d), expected[b].narrow(0, 0, d)) <= 1e-3);
      }
    }
    // The methods differ from each other (each check can fail).
    CHECK(max_abs_diff(f.at("sample_rk4"), f.at("sample_euler")) > 1e-3);
  }
  REQUIRE(chord::ode::evaluations<chord::ode::ExplicitAdams>(7) == 4 + 4 + 5);
  REQUIRE(chord::ode::evaluations<chord::ode::RK4>(7) == 28);
}

TEST_CASE("chord zeroes the prompt past each item's prompt length, whatever the padding holds", "[f5tts][sample]") {
  // The one intentional difference from the reference, which lets non-zero padding reach valid frames
  // through unmasked attention keys: both agree on zero-padded batches (what both collates produce).
  torch::NoGradGuard no_grad;
  const auto f = chord::test::fixture_tensors("f5tts_opt_dh16.safetensors");
  auto model = option_model<chord::systems::F5TTS>("dh16");
  Model::Request request;
  request.prompt = f.at("cond").clone();
  request.prompt_lengths = f.at("sample_lens");
  request.text = f.at("text");
  request.duration = f.at("sample_duration");
  Model::SampleOptions options;
  options.sampler.steps = 4;
  options.guidance_strength = 2.0;
  options.seeds = {5, 6};
  auto gen = chord::make_generator(0);
  const auto clean = model->sample(request, options, gen).output;
  for (int64_t b = 0; b < 2; ++b) {
    const auto length = f.at("sample_lens")[b].item<int64_t>();
    request.prompt[b].narrow(0, length, request.prompt.size(1) - length).normal_(0.0, 5.0);
  }
  const auto noisy = model->sample(request, options, gen).output;
  REQUIRE(torch::equal(clean, noisy));
}
