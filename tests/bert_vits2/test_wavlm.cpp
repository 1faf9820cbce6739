// WavLM encoder (transformers WavLMModel), torchaudio's sinc resampler, and Bert-VITS2's
// WavLMDiscriminator + WavLMLoss against tests/fixtures/bert_vits2_wavlm.safetensors and
// bert_vits2_wavlm_keys.txt (tests/parity/make_bert_vits2_wavlm_fixtures.py).
#include "support.hpp"
#include "bert_vits2/keys.hpp"

#include <chord/audio/sinc_resample.hpp>
#include <chord/io/state_dict.hpp>
#include <chord/nn/vits/wavlm_discriminator.hpp>
#include <chord/nn/wavlm.hpp>

#include <torch/autograd.h>


namespace {

using chord::io::TensorMap;
using chord::test::fixture_tensors;
using chord::test::max_abs_diff;

const char* const kFixture = "bert_vits2_wavlm.safetensors";

// The small config of the fixture script (SMALL there).
chord::nn::WavLMOptions small_options() {
  return chord::nn::WavLMOptions()
      .hidden_size(32)
      .num_hidden_layers(2)
      .num_attention_heads(2)
      .intermediate_size(64)
      .conv_dim({16, 16, 16})
      .conv_kernel({10, 3, 2})
      .conv_stride({5, 2, 2})
      .num_conv_pos_embeddings(16)
      .num_conv_pos_embedding_groups(4)
      .num_buckets(32)
      .max_bucket_distance(80);
}

// Entries under `prefix.`, prefix removed.
TensorMap under(const TensorMap& all, const std::string& prefix) {
  TensorMap out;
  for (const auto& [key, value] : all) {
    if (key.rfind(prefix + ".", 0) == 0) out[key.substr(prefix.size() + 1)] = value;
  }
  return out;
}

chord::nn::WavLMModel small_wavlm(const TensorMap& all) {
  chord::nn::WavLMModel wavlm(small_options());
  chord::io::load_state_dict(*wavlm, chord::nn::wavlm_state_dict_from_transformers(under(all, "wavlm")));
  wavlm->eval();
  return wavlm;
}

chord::nn::vits::WavLMDiscriminator small_wd(const TensorMap& all) {
  chord::nn::vits::WavLMDiscriminator wd(chord::nn::vits::WavLMDiscriminatorOptions().slm_hidden(32).slm_layers(3).initial_channel(8));
  chord::io::load_state_dict(*wd, under(all, "wd"));
  return wd;
}

}  // namespace

TEST_CASE("WavLM hidden states match transformers' WavLMModel", "[bert_vits2][wavlm][parity]") {
  const auto all = fixture_tensors(kFixture);
  auto wavlm = small_wavlm(all);
  torch::NoGradGuard no_grad;
  for (const std::string c : {"long", "short"}) {
    const auto p = "io.wavlm." + c + ".";
    const auto out = wavlm->forward(all.at(p + "input"));
    REQUIRE(out.hidden_states.size() == 3);
    for (size_t i = 0; i < out.hidden_states.size(); ++i) {
      // fp32; the states are LayerNorm outputs of order 1 after two attention layers.
      const double diff = max_abs_diff(out.hidden_states[i], all.at(p + "hs" + std::to_string(i)));
      INFO(c << " hidden state " << i << ": max abs diff " << diff);
      CHECK(diff < 1e-5);
    }
    CHECK(max_abs_diff(out.last_hidden_state, all.at(p + "last")) < 1e-5);
    CHECK(out.hidden_states[0].size(1) == wavlm->output_frames(all.at(p + "input").size(1)));
  }
}

TEST_CASE("WavLM relative position buckets (hand-computed, wavlm-base-plus sizes)", "[bert_vits2][wavlm]") {
  // 320 buckets: 160 per direction (positive distances from 160), exact below 80, then
  // 80 + floor(log(d / 80) / log(800 / 80) · 80), capped at 159. E.g. d = 100: log10(1.25)·80 = 7.75 → 87;
  // d = 160: log10(2)·80 = 24.08 → 104; d = 799: 79.96 → 159; d ≥ 800 → 159.
  const auto rel = torch::tensor({0, 1, -1, 79, -79, 80, -80, 81, 100, -160, 799, 800, -800, 5000}, torch::kLong);
  const auto expected = torch::tensor({0, 161, 1, 239, 79, 240, 80, 240, 247, 104, 319, 319, 159, 319}, torch::kLong);
  CHECK(torch::equal(chord::nn::wavlm_relative_position_bucket(rel, 320, 800), expected));
}

TEST_CASE("WavLM: output frames, config parsing, refused variants", "[bert_vits2][wavlm]") {
  chord::nn::WavLMModel wavlm(small_options());
  // 1416 samples: (1416 − 10) / 5 + 1 = 282 → (282 − 3) / 2 + 1 = 140 → (140 − 2) / 2 + 1 = 70.
  CHECK(wavlm->output_frames(1416) == 70);
  // Bert-VITS2's training slice: 16384 samples at 44.1 kHz → 5945 at 16 kHz → 18 frames (vits2.md §2.4).
  const auto base = chord::nn::WavLMOptions::base_plus();
  int64_t n = 5945;
  for (size_t i = 0; i < base.conv_kernel().size(); ++i) n = (n - base.conv_kernel()[i]) / base.conv_stride()[i] + 1;
  CHECK(n == 18);

  // The published wavlm-base-plus config.json (the keys that matter).
  const auto config = nlohmann::json::parse(R"({
    "architectures": ["WavLMModel"], "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "feat_extract_norm": "group", "feat_extract_activation": "gelu",
    "do_stable_layer_norm": false, "conv_dim": [512, 512, 512, 512, 512, 512, 512],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": false,
    "num_feat_extract_layers": 7, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
    "num_buckets": 320, "max_bucket_distance": 800, "layer_norm_eps": 1e-05, "mask_time_prob": 0.05})");
  const auto o = chord::nn::WavLMOptions::from_config(config);
  CHECK(o.hidden_size() == 768);
  CHECK(o.conv_kernel() == base.conv_kernel());
  CHECK(o.conv_stride() == base.conv_stride());
  CHECK(o.num_buckets() == 320);
  CHECK(o.max_bucket_distance() == 800);
  CHECK(o.masked_spec_embed());

  auto large = config;
  large["feat_extract_norm"] = "layer";
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::WavLMOptions::from_config(large), "feat_extract_norm \"layer\"");
  auto stable = config;
  stable["do_stable_layer_norm"] = true;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::WavLMOptions::from_config(stable), "do_stable_layer_norm");
  // Numbers that do not fit their field are refused by name (they were converted with undefined behaviour).
  auto huge = config;
  huge["num_buckets"] = 4.6e96;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::WavLMOptions::from_config(huge), "num_buckets = 4.6e+96 has the wrong type or is out of range");
  auto fractional_conv = config;
  fractional_conv["conv_dim"][2] = 512.5;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::WavLMOptions::from_config(fractional_conv), "conv_dim = ");
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::WavLMModel(chord::nn::WavLMOptions().hidden_size(100)), "num_attention_heads");
  CHORD_REQUIRE_THROWS_WITH_TEXT(wavlm->forward(torch::zeros({2, 5})), "needs N >= 10");
}

TEST_CASE("sinc resampler: kernel and outputs match torchaudio", "[bert_vits2][wavlm][parity]") {
  const auto all = fixture_tensors(kFixture);
  chord::audio::SincResample t44(44100, 16000);
  // gcd 100 → 441 → 160; width = ceil(6 · 441 / (160 · 0.99)) = ceil(16.70) = 17; taps 2·17 + 441.
  CHECK(t44->width == 17);
  REQUIRE(t44->kernel.sizes() == torch::IntArrayRef({160, 1, 475}));
  REQUIRE(t44->kernel.scalar_type() == torch::kFloat32);
  // Built in float64 like the transform, then cast once: equal up to the last float32 bit at most.
  const double kdiff = max_abs_diff(t44->kernel, all.at("resample.kernel_44100_16000"));
  INFO("kernel max abs diff " << kdiff);
  CHECK(kdiff < 1e-7);
  CHECK(chord::io::state_dict(*t44).count("kernel") == 1);

  // Outputs: sums of up to 475 products of order-1 values in fp32.
  auto check = [&](const std::string& c, const torch::Tensor& got) {
    const auto& want = all.at("io.resample." + c + ".output");
    REQUIRE(got.sizes() == want.sizes());
    const double diff = max_abs_diff(got, want);
    INFO(c << ": max abs diff " << diff);
    CHECK(diff < 1e-6);
  };
  const auto x = all.at("io.resample.t44k.input");
  // ceil(160 · 3901 / 441) = ceil(1415.33) = 1416.
  CHECK(t44->output_length(3901) == 1416);
  check("t44k", t44(x));
  check("f44k", chord::audio::sinc_resample(all.at("io.resample.f44k.input"), 44100, 16000));
  chord::audio::SincResample up(16000, 44100);
  check("up", up(all.at("io.resample.up.input")));
  check("kaiser", chord::audio::sinc_resample(all.at("io.resample.kaiser.input"),
                                              chord::audio::SincResampleOptions(24000, 16000)
                                                  .lowpass_filter_width(4)
                                                  .rolloff(0.9)
                                                  .window(chord::audio::SincWindow::kaiser)));

  // Equal rates pass the input through; non-positive rates are refused.
  chord::audio::SincResample same(16000, 16000);
  CHECK(same(x).is_same(x));
  CHECK(chord::audio::sinc_resample(x, 22050, 22050).is_same(x));
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::audio::SincResample(0, 16000), "rates must be > 0");
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::audio::sinc_resample(x, 44100, -1), "rates must be > 0");
}

TEST_CASE("WavLMDiscriminator matches models.WavLMDiscriminator", "[bert_vits2][wavlm][parity]") {
  const auto all = fixture_tensors(kFixture);
  auto wd = small_wd(all);
  torch::NoGradGuard no_grad;
  const auto out = wd(all.at("io.wd.x.input"));
  const double diff = max_abs_diff(out, all.at("io.wd.x.output"));
  INFO("max abs diff " << diff);
  CHECK(diff < 1e-5);
  CHORD_REQUIRE_THROWS_WITH_TEXT(wd(torch::zeros({2, 95, 11})), "x [B, 96, T]");
}

TEST_CASE("WavLMLoss terms and gradients match losses.WavLMLoss", "[bert_vits2][wavlm][parity]") {
  const auto all = fixture_tensors(kFixture);
  auto wd = small_wd(all);
  chord::nn::vits::WavLMLoss wl(small_wavlm(all), wd, 44100, 16000);
  for (const auto& p : wl->wavlm->parameters()) CHECK_FALSE(p.requires_grad());
  CHECK(wl->wd.ptr() == wd.ptr());  // shared with the trainer, as in the reference

  const auto wav = all.at("io.loss.x.wav");
  const auto y_rec = all.at("io.loss.x.y_rec").clone().set_requires_grad(true);
  auto scalar = [&](const std::string& name, const torch::Tensor& got, double tol) {
    const double diff = max_abs_diff(got, all.at("io.loss.x." + name));
    INFO(name << ": max abs diff " << diff);
    CHECK(diff < tol);
  };
  // Gradients (max 0.03 / 0.001 / 0.02) relative to their largest entry: fp32 backprop through WavLM
  // and the resampler.
  auto relative = [&](const std::string& name, const torch::Tensor& got, double tol) {
    const auto& want = all.at("io.loss.x." + name);
    const double rel = max_abs_diff(got, want) / want.abs().max().item<double>();
    INFO(name << ": max abs diff / max |reference| " << rel);
    CHECK(rel < tol);
  };

  // Losses of order 1 (sums/means over fp32 features): 1e-5.
  const auto f = wl->forward(wav, y_rec);
  scalar("forward", f, 1e-5);
  const auto f_grad = torch::autograd::grad({f}, {y_rec})[0];
  relative("forward_grad", f_grad, 1e-4);

  const auto g = wl->generator(y_rec);
  scalar("generator", g, 1e-5);
  relative("generator_grad", torch::autograd::grad({g}, {y_rec})[0], 1e-4);

  const auto d = wl->discriminator(wav, y_rec.detach());
  scalar("discriminator", d, 1e-5);
  relative("discriminator_grad_pre_v", torch::autograd::grad({d}, {wd->pre->weight_v})[0], 1e-4);

  scalar("discriminator_forward", wl->discriminator_forward(wav), 1e-5);

  // No gradient reaches y_rec through the discriminator term (WavLM runs under no-grad there).
  const auto d2 = wl->discriminator(wav, y_rec);
  CHECK_FALSE(d2.grad_fn() == nullptr);
  CHECK_THROWS(torch::autograd::grad({d2}, {y_rec}));
  // [B, 1, N] is taken as [B, N].
  scalar("discriminator_forward", wl->discriminator_forward(wav.unsqueeze(1)), 1e-5);
}

TEST_CASE("WavLMLoss at wavlm-base-plus sizes: keys and shapes of the reference", "[bert_vits2][wavlm]") {
  // `<key> <d0,d1,...>` of the reference's WavLMModel (as the installed transformers names it),
  // WavLMDiscriminator(768, 13, 64) and Resample(44100, 16000), prefixed as WavLMLoss registers them.
  TensorMap reference;
  for (const auto& [key, shape] : chord::test::read_key_shapes("bert_vits2_wavlm_keys.txt")) {
    reference[key] = torch::empty(shape, torch::TensorOptions().device(torch::kMeta));
  }
  REQUIRE(reference.size() == 264);
  REQUIRE(reference.count("wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original0") == 1);
  reference = chord::nn::wavlm_state_dict_from_transformers(reference);
  // The published checkpoint's layout for the weight-normed positional conv (norm over dim 2).
  CHECK(reference.at("wavlm.encoder.pos_conv_embed.conv.weight_g").sizes() == torch::IntArrayRef({1, 1, 128}));
  CHECK(reference.at("wavlm.encoder.pos_conv_embed.conv.weight_v").sizes() == torch::IntArrayRef({768, 48, 128}));

  chord::nn::vits::WavLMLoss wl(chord::nn::WavLMModel(chord::nn::WavLMOptions::base_plus()),
                                chord::nn::vits::WavLMDiscriminator(), 44100, 16000);
  const auto ours = chord::io::state_dict(*wl);
  chord::test::require_same_key_shapes(chord::test::shapes_of(reference), chord::test::shapes_of(ours));
  CHECK(ours.size() == 264);
}
