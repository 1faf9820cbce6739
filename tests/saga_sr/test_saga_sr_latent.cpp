// SAGA-SR's latent space and text: the Oobleck VAE against pip stable-audio-tools 0.0.19
// (tests/parity/make_oobleck_fixtures.py), waveform patching, the T5 encoder against transformers and
// the Unigram tokenizer against tokenizers (tests/parity/make_t5_fixtures.py), the byte tokenizer and
// the text conditioner.
#include "support.hpp"

#include <chord/nn/pretransform.hpp>
#include <chord/nn/text_conditioner.hpp>

#include <fstream>

using chord::test::max_abs_diff;

namespace {

chord::nn::OobleckOptions oobleck_fixture_options(const std::string& name) {
  if (name == "snake") {
    return chord::nn::OobleckOptions().audio_channels(2).channels(4).channel_multipliers({1, 2}).strides({2, 4}).latent_channels(8);
  }
  return chord::nn::OobleckOptions().audio_channels(1).channels(6).channel_multipliers({1, 2}).strides({2, 2}).latent_channels(4)
      .snake(false).final_tanh(true);
}

}  // namespace

TEST_CASE("the Oobleck VAE matches stable-audio-tools and loads its checkpoint layouts", "[saga_sr][parity][latent]") {
  for (const std::string name : {"snake", "elu"}) {
    INFO(name);
    auto io = chord::test::fixture_tensors("oobleck_" + name + ".safetensors");
    chord::nn::OobleckAutoencoder vae(oobleck_fixture_options(name));
    auto report = chord::nn::load_oobleck(vae, chord::test::fixture("oobleck_" + name + ".safetensors"));
    INFO(report.describe());
    REQUIRE(report.clean());
    vae->eval();
    torch::NoGradGuard no_grad;
    const auto& audio = io.at("io.audio");
    REQUIRE(max_abs_diff(vae->encoder(audio), io.at("io.moments")) < 1e-4);
    auto [mean, stdev] = vae->posterior(audio);
    REQUIRE(max_abs_diff(mean, io.at("io.mean")) < 1e-4);
    REQUIRE(max_abs_diff(stdev, io.at("io.stdev")) < 1e-4);
    const double scale = io.at("io.decoded").abs().max().item<double>();
    REQUIRE(max_abs_diff(vae->decode(io.at("io.mean")), io.at("io.decoded")) < 1e-5 * std::max(1.0, scale));
    // The mean without a generator; a sample with one, spread by the posterior's deviation.
    REQUIRE(max_abs_diff(vae->encode(audio), mean) == 0.0);
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(3);
    auto sample = vae->encode(audio, &gen);
    auto z = (sample - mean) / stdev;
    REQUIRE(std::abs(z.mean().item<double>()) < 0.5);
    REQUIRE(std::abs(z.std().item<double>() - 1.0) < 0.5);
  }
}

TEST_CASE("Oobleck: Stable Audio Open's geometry, bad inputs named", "[saga_sr][latent]") {
  auto sao = chord::nn::OobleckOptions::stable_audio_open();
  REQUIRE(sao.downsampling_ratio() == 2048);
  chord::nn::OobleckPretransform small(oobleck_fixture_options("snake"), 0.5);
  REQUIRE(small->downsampling_ratio() == 8);
  REQUIRE(small->latent_channels() == 8);
  CHORD_REQUIRE_THROWS_WITH_TEXT(small->encode(torch::zeros({1, 2, 12})), "not a multiple of the downsampling ratio 8");
  CHORD_REQUIRE_THROWS_WITH_TEXT(small->encode(torch::zeros({1, 1, 16})), "audio [B, 2, N] expected");
  REQUIRE(small->pad_to_frames(torch::zeros({1, 2, 12})).size(2) == 16);
  // The pretransform divides by its scale on the way in and multiplies on the way out.
  chord::nn::OobleckPretransform unit(oobleck_fixture_options("snake"), 1.0);
  chord::io::load_state_dict(*unit->autoencoder, chord::io::state_dict(*small->autoencoder));
  auto audio = torch::randn({1, 2, 16});
  REQUIRE(max_abs_diff(small->encode(audio) * 0.5, unit->encode(audio)) < 1e-6);
  // A file without an autoencoder is refused by name.
  auto dir = chord::test::scratch_dir("oobleck_bad");
  chord::io::save_safetensors(dir / "other.safetensors", {{"model.weight", torch::zeros({2})}});
  chord::nn::OobleckAutoencoder vae(oobleck_fixture_options("snake"));
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::load_oobleck(vae, dir / "other.safetensors"), "holds no Oobleck autoencoder");
  // A checkpoint with one tensor missing loses nothing and names the key.
  auto tensors = chord::test::fixture_tensors("oobleck_snake.safetensors");
  tensors.erase("pretransform.model.decoder.layers.0.weight_g");
  chord::io::save_safetensors(dir / "partial.safetensors", tensors);
  auto before = vae->decoder->layers->ptr(0)->named_parameters()["weight_v"].clone();
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::load_oobleck(vae, dir / "partial.safetensors"), "decoder.layers.0.weight_g");
  REQUIRE(max_abs_diff(vae->decoder->layers->ptr(0)->named_parameters()["weight_v"], before) == 0.0);
}

TEST_CASE("waveform patching: frames of consecutive samples, exactly invertible", "[saga_sr][latent]") {
  chord::nn::WaveformPatching patch(2, 4, 0.5);
  // Channel 0 holds 0..7, channel 1 holds 100..107: frame 0 = samples 0..3 of each channel, over 0.5.
  auto audio = torch::cat({torch::arange(8.0).view({1, 1, 8}), (100 + torch::arange(8.0)).view({1, 1, 8})}, 1);
  auto latents = patch->encode(audio);
  REQUIRE(latents.sizes() == torch::IntArrayRef({1, 8, 2}));
  REQUIRE(latents[0][1][0].item<float>() == 2.0f);    // sample 1 of channel 0, / 0.5
  REQUIRE(latents[0][5][1].item<float>() == 210.0f);  // sample 5 of channel 1 (frame 1, offset 1)
  REQUIRE(max_abs_diff(patch->decode(latents), audio) == 0.0);
  CHORD_REQUIRE_THROWS_WITH_TEXT(patch->encode(torch::zeros({1, 2, 6})), "not a multiple of the patch 4");
  CHORD_REQUIRE_THROWS_WITH_TEXT(patch->decode(torch::zeros({1, 7, 2})), "latents [B, 8, T] expected");
}

TEST_CASE("the T5 encoder matches transformers' T5EncoderModel", "[saga_sr][parity][text]") {
  for (const std::string name : {"relu", "gated"}) {
    INFO(name);
    const auto path = chord::test::fixture("t5_" + name + ".safetensors");
    auto io = chord::test::fixture_tensors("t5_" + name + ".safetensors");
    const bool gated = name == "gated";
    auto options = gated ? chord::nn::T5EncoderOptions().vocab_size(50).d_model(32).d_kv(8).d_ff(64).num_layers(2).num_heads(4).gated_gelu(true)
                         : chord::nn::T5EncoderOptions().vocab_size(40).d_model(48).d_kv(12).d_ff(96).num_layers(2).num_heads(4)
                               .relative_attention_num_buckets(8).relative_attention_max_distance(20);
    chord::nn::T5Encoder t5(options);
    auto report = t5->load(path);
    INFO(report.describe());
    REQUIRE(report.clean());
    t5->eval();
    torch::NoGradGuard no_grad;
    auto hidden = t5(io.at("io.ids"), io.at("io.mask"));
    // Padded positions still get outputs in the reference (they attend to the real tokens); compare all.
    REQUIRE(max_abs_diff(hidden, io.at("io.hidden")) < 1e-4);
  }
}

TEST_CASE("a T5 config.json is read field by field; numbers that do not fit are refused by name", "[saga_sr][text]") {
  const auto config = nlohmann::json::parse(R"({"vocab_size": 40, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 1,
    "num_heads": 2, "relative_attention_num_buckets": 8, "feed_forward_proj": "gated-gelu"})");
  const auto o = chord::nn::T5EncoderOptions::from_config(config, "t5/config.json");
  CHECK(o.d_model() == 16);
  CHECK(o.relative_attention_num_buckets() == 8);
  CHECK(o.relative_attention_max_distance() == 128);  // transformers' default
  CHECK(o.gated_gelu());
  // The fuzzer's input (tests/fuzz/regressions/model_config): d_kv 4.6e96 was cast to int64 with undefined behaviour.
  auto huge = config;
  huge["d_kv"] = 4.6e96;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::T5EncoderOptions::from_config(huge, "t5/config.json"),
                                 "t5/config.json: d_kv = 4.6e+96 has the wrong type or is out of range");
  auto fractional = config;
  fractional["relative_attention_num_buckets"] = 8.5;
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::T5EncoderOptions::from_config(fractional), "relative_attention_num_buckets = 8.5");
  auto missing = config;
  missing.erase("num_heads");
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::T5EncoderOptions::from_config(missing, "t5/config.json"), "t5/config.json: not a T5 config");
}

TEST_CASE("T5 relative-position buckets by hand", "[saga_sr][text]") {
  // 32 buckets, max distance 128: 16 per direction, exact below 8, then 8 + ⌊log(n/8)/log(16)·8⌋ (15 → 9, 16 → 10), at most 15.
  auto rel = torch::tensor({0, -1, -7, -8, -15, -16, -127, -500, 1, 8, 16, 127}, torch::kLong);
  auto b = chord::nn::t5_relative_position_bucket(rel, 32, 128);
  std::vector<int64_t> expected{0, 1, 7, 8, 9, 10, 15, 15, 17, 24, 26, 31};
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(rel[i].item<int64_t>());
    REQUIRE(b[i].item<int64_t>() == expected[i]);
  }
}

TEST_CASE("the Unigram tokenizer gives the tokenizers library's ids", "[saga_sr][parity][text]") {
  auto tokenizer = chord::text::UnigramTokenizer::from_file(chord::test::fixture("t5_unigram_tokenizer.json"));
  std::ifstream in(chord::test::fixture("t5_unigram_expected.json"));
  REQUIRE(in);
  auto expected = nlohmann::json::parse(in);
  REQUIRE(expected.size() == 4);
  for (const auto& [text, ids] : expected.items()) {
    INFO(text);
    REQUIRE(tokenizer.encode(text) == ids.get<std::vector<int64_t>>());
  }
  // Fixed length: padded with 0, mask 0 there; truncation keeps </s> last.
  auto batch = tokenizer.encode_batch({"a bell", "strings under a quiet kick pattern"}, 6);
  REQUIRE(batch.ids.sizes() == torch::IntArrayRef({2, 6}));
  REQUIRE(batch.ids[1][5].item<int64_t>() == 1);
  REQUIRE(batch.mask[1].sum().item<int64_t>() == 6);
  const auto short_length = static_cast<int64_t>(tokenizer.encode("a bell").size());
  REQUIRE(batch.mask[0].sum().item<int64_t>() == short_length);
  REQUIRE(batch.ids[0][5].item<int64_t>() == 0);
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::text::UnigramTokenizer::from_file("/nonexistent/tokenizer.json"), "cannot open tokenizer file");
}

TEST_CASE("byte tokens and the offline text conditioner", "[saga_sr][text]") {
  chord::text::ByT5Tokenizer bytes;
  REQUIRE(bytes.encode("Ab") == std::vector<int64_t>{65 + 3, 98 + 3, 1});
  auto conditioner = chord::nn::TextConditioner(chord::nn::TextConditionerImpl::byte_level(32, 16));
  conditioner->eval();
  auto [embedding, mask] = conditioner->forward({"a bell", "a much longer caption than sixteen bytes"});
  REQUIRE(embedding.sizes() == torch::IntArrayRef({2, 16, 32}));
  REQUIRE(mask[0].sum().item<int64_t>() == 7);  // 6 bytes + </s>
  REQUIRE(mask[1].all().item<bool>());
  REQUIRE(embedding[0].slice(0, 7).abs().max().item<double>() == 0.0);  // padded positions are zero
  REQUIRE(embedding[0].slice(0, 0, 7).abs().min().item<double>() >= 0.0);
  // Trainable: gradients reach the encoder.
  conditioner->train();
  auto [e, m] = conditioner->forward({"bright strings"});
  e.square().mean().backward();
  REQUIRE(conditioner->encoder->shared->weight.grad().defined());
  REQUIRE(!conditioner->frozen());
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::nn::TextConditionerImpl::t5_folder("/nonexistent/t5-base"), "no config.json");
}

// ---------------------------------------------------------------------------------------------------
// The end-to-end pipeline (chord/systems/saga_sr/: data, training, run folders, enhance) on two
// synthetic clips.

#include <chord/systems/saga_sr.hpp>

namespace saga = chord::systems::saga_sr;

namespace {

/// A 1.2 s clip: harmonics of `f0` up to 20 kHz (real content above any simulated cutoff).
torch::Tensor bright_tone(double f0) {
  auto t = torch::arange(52920, torch::kFloat64) / 44100.0;
  auto wave = torch::zeros_like(t);
  for (int k = 1; k * f0 < 20000.0; ++k) wave += (2.0 * M_PI * k * f0 * t).sin() / k;
  return (0.3 * wave / wave.abs().max()).to(torch::kFloat32);
}

std::filesystem::path write_tone_corpus(const std::string& name) {
  auto dir = chord::test::scratch_dir(name);
  std::ofstream manifest(dir / "manifest.jsonl");
  int i = 0;
  for (double f0 : {220.0, 330.0}) {
    const auto file = dir / ("tone" + std::to_string(i++) + ".wav");
    chord::audio::write_audio(file, bright_tone(f0), 44100);
    manifest << nlohmann::json{{"audio", file.string()}, {"text", "a bright tone"}}.dump() << "\n";
  }
  return dir;
}

}  // namespace

TEST_CASE("SAGA-SR batches: a pure function of their seed, with measured roll-offs", "[saga_sr][pipeline]") {
  const auto dir = write_tone_corpus("sr_batches");
  auto clips = saga::load_clips(chord::data::Manifest::read(dir / "manifest.jsonl"), 1);
  REQUIRE(clips.audio.size() == 2);
  REQUIRE(clips.audio[0].sizes() == torch::IntArrayRef({1, 52920}));
  auto a = saga::random_example(clips, 3, 8192, 5), b = saga::random_example(clips, 3, 8192, 5);
  auto c = saga::random_example(clips, 3, 8192, 6);
  REQUIRE(a.high.sizes() == torch::IntArrayRef({3, 1, 8192}));
  REQUIRE(max_abs_diff(a.low, b.low) == 0.0);
  REQUIRE(max_abs_diff(a.high, c.high) > 0.0);
  // The low-pass takes the top of the spectrum away: the input roll-off is below the output's, which
  // for harmonics up to 20 kHz sits high (the 0.985 share of the magnitude is reached above 15 kHz).
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(a.input_rolloff[i].item<float>() < a.output_rolloff[i].item<float>());
    CHECK(a.output_rolloff[i].item<float>() > 0.7f);
  }
  REQUIRE(a.seconds_total[0].item<float>() == Approx(1.2f));
  // The official validation degradation is deterministic: Chebyshev I, order 8, 4 kHz.
  auto gen1 = chord::make_generator(1), gen2 = chord::make_generator(2);
  auto x = clips.audio[0].narrow(1, 0, 8192);
  auto v1 = chord::audio::simulate_low_resolution(x, 44100, gen1, saga::validation_degradation());
  auto v2 = chord::audio::simulate_low_resolution(x, 44100, gen2, saga::validation_degradation());
  REQUIRE(v1.design.order == 8);
  REQUIRE(v1.design.cutoff_hz == 4000.0);
  REQUIRE(max_abs_diff(v1.audio, v2.audio) == 0.0);
}

TEST_CASE("SAGA-SR: train a few steps, reload the run, enhance, evaluate", "[saga_sr][pipeline]") {
  using Spec = chord::systems::SagaStep1;  // text through the byte-level T5, trained with the model
  const auto dir = write_tone_corpus("sr_run");
  saga::SrConfig cfg;
  cfg.manifest = (dir / "manifest.jsonl").string();
  cfg.out = (dir / "run").string();
  cfg.steps = 3;
  cfg.batch_size = 2;
  cfg.segment_seconds = 0.2;
  cfg.text_width = 32;
  cfg.text_length = 16;
  cfg.log_every = 1;
  cfg.checkpoint_every = 0;
  cfg.fresh = true;
  auto trained = saga::train_super_resolution<Spec>(cfg, "test");
  REQUIRE(trained.steps == 3);
  REQUIRE(std::isfinite(trained.final_loss));
  REQUIRE(std::filesystem::exists(dir / "run" / "loss.png"));
  // The export holds the DiT, its conditioners and the text encoder, under the system's names.
  auto weights = chord::io::load_safetensors(trained.weights);
  REQUIRE(weights.count("text.encoder.shared.weight") == 1);
  REQUIRE(weights.count("model.model.conditioner.conditioners.prompt.proj_out.weight") == 1);

  auto run = saga::load_run<Spec>(dir / "run");
  auto clip = saga::load_clips(chord::data::Manifest::read(dir / "manifest.jsonl"), 1).audio[0].narrow(1, 0, 8000);  // not a whole frame count
  auto gen = chord::make_generator(0);
  auto low = chord::audio::simulate_low_resolution(clip, 44100, gen, saga::validation_degradation()).audio;
  saga::EnhanceOptions options;
  options.steps = 3;
  options.caption = "a bright tone";
  auto first = saga::enhance(run, low, options), again = saga::enhance(run, low, options);
  REQUIRE(first.sizes() == low.sizes());
  REQUIRE(max_abs_diff(first, again) == 0.0);  // the seed fixes the noise
  options.low_frequency_replacement = chord::systems::LowFrequencyReplacement::off;
  auto raw = saga::enhance(run, low, options);
  REQUIRE(max_abs_diff(raw, first) > 0.0);  // the hard replacement changed the low band
  // Long input in windows: 8000 samples in windows of 40 frames overlapping by 8 (see plan_windows);
  // the start of the output, before the first cross-fade, is window 0 enhanced on its own.
  const int64_t ratio = run.pretransform->downsampling_ratio();
  auto windowed_options = options;
  windowed_options.window_frames = 40;
  windowed_options.overlap_frames = 8;
  const auto windows = saga::plan_windows(low.size(1), ratio, 40, 8);
  REQUIRE(windows.size() > 1);
  REQUIRE(windows.back().first + windows.back().second == low.size(1));
  size_t reports = 0;
  windowed_options.progress = [&](size_t window, size_t count, int64_t done, int64_t total) {
    REQUIRE(count == windows.size());
    REQUIRE(window < count);
    REQUIRE(total == 3);
    REQUIRE(done <= total);
    ++reports;
  };
  auto windowed = saga::enhance(run, low, windowed_options);
  REQUIRE(windowed.sizes() == low.sizes());
  REQUIRE(reports == 3 * windows.size());
  torch::Tensor window0;
  {
    torch::NoGradGuard no_grad;
    window0 = saga::detail::enhance_window(run, low.narrow(1, 0, 40 * ratio), 0.0, low.size(1) / 44100.0, options.seed,
                                                  options, {});
  }
  REQUIRE(max_abs_diff(windowed.narrow(1, 0, 32 * ratio), window0.narrow(1, 0, 32 * ratio)) == 0.0);
  // A window longer than the input is exactly the single pass.
  windowed_options.progress = {};
  windowed_options.window_frames = 0;
  const auto whole = saga::enhance(run, low, windowed_options);
  windowed_options.window_frames = 1 << 20;
  REQUIRE(max_abs_diff(saga::enhance(run, low, windowed_options), whole) == 0.0);
  const auto metrics = saga::sr_metrics(first, clip);
  REQUIRE(std::isfinite(metrics.lsd));
  REQUIRE(std::isfinite(metrics.si_sdr));
  // A folder that is not a run, and a run whose weights do not fit its config, are named.
  CHORD_REQUIRE_THROWS_WITH_TEXT(saga::load_run<Spec>(dir), "is not a SAGA-SR run folder");
  CHORD_REQUIRE_THROWS_WITH_TEXT(saga::load_run<chord::systems::SagaStep0>(dir / "run"), "do not fit its config.json");
}

TEST_CASE("long input is cut into full-length windows; the last one ends at the end", "[saga_sr][inference]") {
  using Windows = std::vector<std::pair<int64_t, int64_t>>;
  // 1000 samples, windows of 30 frames of 10 samples overlapping by 5: starts 0, 250, 500, then 700.
  REQUIRE(saga::plan_windows(1000, 10, 30, 5) == Windows{{0, 300}, {250, 300}, {500, 300}, {700, 300}});
  REQUIRE(saga::plan_windows(300, 10, 30, 5) == Windows{{0, 300}});
  REQUIRE(saga::plan_windows(1000, 10, 0, 5) == Windows{{0, 1000}});
  CHORD_REQUIRE_THROWS_WITH_TEXT(saga::plan_windows(1000, 10, 30, 30), "need 0 <= overlap < window");
}
