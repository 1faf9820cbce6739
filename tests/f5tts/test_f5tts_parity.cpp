// F5-TTS parity with the pip f5-tts 1.1.20 reference (fixtures: tests/parity/make_f5tts_fixtures.py),
// fp32 on CPU: DiT forward, CFM training loss, sampling, and checkpoint loading.
#include "support.hpp"

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
    Model::Impl::SampleOptions options;
    options.sampler.steps = 8;
    options.sampler.grid.coefficient = -1.0;
    options.guidance_strength = 2.0;

    Model::Impl::Request one;
    one.prompt = f.at("prompt");
    one.text = f.at("sample_text");
    one.duration = torch::tensor({44});
    options.seeds = {1234};
    auto single = r.model->sample(one, options, gen);
    REQUIRE(single.output.sizes() == f.at("sample_b1").sizes());
    REQUIRE(max_abs_diff(single.output, f.at("sample_b1")) <= 1e-3);

    Model::Impl::Request two;
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
