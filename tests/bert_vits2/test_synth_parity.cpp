// Bert-VITS2's generator end to end against fishaudio/Bert-VITS2 8f7fbd8 `SynthesizerTrn`
// (tests/parity/make_bert_vits2_synth_fixtures.py): the reference's state dict loads key for key, the
// training forward (transformer and residual flow) returns the same 17 tensors, inference gives the same
// waveform and alignment, and train_ms.py's mel, KL and duration terms agree. Forward and inference run twice: seeded
// (chord's generator must draw the reference's noise in the reference's order) and with the reference's
// draws injected from a differently seeded generator (the injection path must use every injected draw).
#include "support.hpp"
#include "bert_vits2/keys.hpp"

#include <chord/core/random.hpp>
#include <chord/io/state_dict.hpp>
#include <chord/systems/bert_vits2/synthesizer.hpp>

#include <optional>
#include <string>
#include <vector>

using chord::test::max_abs_diff;
namespace bv2 = chord::systems::bert_vits2;

namespace {

const chord::io::TensorMap& fixture() {
  static const auto tensors = chord::test::fixture_tensors("bert_vits2_synth.safetensors");
  return tensors;
}

const torch::Tensor& f(const std::string& name) {
  const auto found = fixture().find(name);
  if (found == fixture().end()) FAIL("fixture has no " << name);
  return found->second;
}

int64_t scalar(const std::string& name) { return f(name).item<int64_t>(); }

/// The fixture's model: the reference's hard-coded sizes (16 posterior layers, DP filter 256) set explicitly.
bv2::SynthesizerOptions small_options(bool transformer_flow) {
  bv2::SpectrogramConfig spectrogram;
  spectrogram.sampling_rate = 16000;
  spectrogram.filter_length = 128;
  spectrogram.hop_length = 16;
  spectrogram.win_length = 128;
  spectrogram.n_mel_channels = 20;
  return bv2::SynthesizerOptions()
      .n_vocab(112)
      .spec_channels(65)
      .segment_frames(8)
      .inter_channels(16)
      .hidden_channels(16)
      .filter_channels(32)
      .n_heads(2)
      .n_layers(3)
      .kernel_size(3)
      .p_dropout(0.1)
      .decoder(chord::nn::vits::GeneratorOptions()
                   .initial_channel(16)
                   .resblock("2")
                   .resblock_kernel_sizes({3, 5})
                   .resblock_dilation_sizes({{1, 3}, {1, 3}})
                   .upsample_rates({4, 4})
                   .upsample_initial_channel(16)
                   .upsample_kernel_sizes({8, 8})
                   .gin_channels(8))
      .n_speakers(4)
      .gin_channels(8)
      .posterior_layers(16)
      .use_transformer_flow(transformer_flow)
      .n_flow_layer(2)
      .n_layers_trans_flow(3)
      .duration_filter_channels(256)
      .use_noise_scaled_mas(true)
      .mas_noise_scale_initial(0.1)
      .noise_scale_delta(2e-6)
      .spectrogram(spectrogram)
      .c_mel(45.0)
      .c_kl(1.0);
}

/// The reference's state dict, strictly: every key of chord's module present, none left over, same shapes.
bv2::Synthesizer fixture_model(bool transformer_flow) {
  bv2::Synthesizer model(small_options(transformer_flow));
  chord::io::TensorMap weights;
  for (const auto& [key, value] : fixture()) {
    if (key.rfind("synth.", 0) != 0) continue;
    const auto name = key.substr(6);
    if (!transformer_flow && name.rfind("flow.", 0) == 0) continue;
    weights.emplace(name, value);
  }
  if (!transformer_flow) {
    for (const auto& [key, value] : fixture()) {
      if (key.rfind("res.flow.", 0) == 0) weights.emplace(key.substr(4), value);
    }
  }
  const auto report = chord::io::load_state_dict(*model, weights);  // strict
  INFO(report.describe());
  REQUIRE(report.clean());
  REQUIRE(report.loaded.size() == weights.size());
  REQUIRE(chord::io::state_dict(*model).size() == weights.size());
  model->eval();
  return model;
}

bv2::Batch fixture_batch() {
  bv2::Batch batch;
  batch.text_padded = f("batch.text");
  batch.text_lengths = f("batch.text_lengths");
  batch.spec_padded = f("batch.spec");
  batch.spec_lengths = f("batch.spec_lengths");
  batch.wav_padded = f("batch.wav");
  batch.wav_lengths = batch.spec_lengths * 16;
  batch.sid = f("batch.sid");
  batch.tone_padded = f("batch.tone");
  batch.language_padded = f("batch.language");
  batch.bert_padded = f("batch.bert_x128").to(torch::kFloat32) / 128;
  batch.ja_bert_padded = f("batch.ja_bert_x128").to(torch::kFloat32) / 128;
  batch.en_bert_padded = f("batch.en_bert_x128").to(torch::kFloat32) / 128;
  batch.order = torch::arange(batch.text_padded.size(0));
  return batch;
}

/// fp32, the same operations in the same order on the same LibTorch: bitwise equal where measured (0).
/// The margin is for other CPU kernels (vector widths, thread splits of reductions), whose rounding the
/// deepest path (16 WN layers, 2 couplings, 4 SDP flows, the decoder) accumulates to ~1e-6 on values ≤ ~10.
constexpr double kTolerance = 1e-4;

void compare_forward(const bv2::ForwardOutput& r, const std::string& p) {
  const std::vector<std::pair<std::string, torch::Tensor>> outputs{
      {"o", r.o},           {"l_length", r.l_length}, {"x_mask", r.x_mask}, {"y_mask", r.y_mask}, {"z", r.z},
      {"z_p", r.z_p},       {"m_p", r.m_p},           {"logs_p", r.logs_p}, {"m_q", r.m_q},       {"logs_q", r.logs_q},
      {"x", r.hidden_x},    {"logw", r.logw},         {"logw_", r.logw_},   {"logw_sdp", r.logw_sdp}, {"g", r.g}};
  // Exact: the alignment (MAS on the noisy log-likelihoods) and the segment starts (floor of rand · range).
  REQUIRE(r.attn.sizes() == f(p + "attn").sizes());
  CHECK(torch::equal(r.attn, f(p + "attn")));
  CHECK(torch::equal(r.ids_slice, f(p + "ids_slice")));
  for (const auto& [name, value] : outputs) {
    INFO(p << name);
    const double d = max_abs_diff(value, f(p + name));
    UNSCOPED_INFO(p << name << " max abs diff " << d);
    CHECK(d <= kTolerance);
  }
}

double relative_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / std::max(1e-12, b.abs().max().item<double>());
}

}  // namespace

TEST_CASE("synth parity: the reference's state dict loads key for key into both flow kinds",
          "[bert_vits2][synth_parity][parity]") {
  const auto transformer = fixture_model(true);
  const auto residual = fixture_model(false);
  // The two models differ only in the flow (the residual one is VITS-1's ResidualCouplingBlock: 4 flows of
  // n_flow_layer WN layers, the reference's argument order).
  // is_empty(), not the holder itself: Catch would print a holder, and printing an empty one throws.
  REQUIRE_FALSE(transformer->transformer_flow.is_empty());
  REQUIRE(transformer->residual_flow.is_empty());
  REQUIRE_FALSE(residual->residual_flow.is_empty());
  REQUIRE(residual->transformer_flow.is_empty());
  REQUIRE(chord::io::state_dict(*residual).count("flow.flows.6.enc.in_layers.1.weight_v") == 1);
}

TEST_CASE("synth parity: the 2.3 generator train_ms.py builds has the reference's keys and shapes",
          "[bert_vits2][synth_parity]") {
  // `<key> <d0,d1,...>` per line: SynthesizerTrn for configs/config.json (850 speakers, n_fft 2048, 32-frame
  // segments, transformer flow, posterior 16 layers, DP 256 filters).
  const auto want = chord::test::read_key_shapes("bert_vits2_synth_keys.txt");
  REQUIRE(want.size() == 1125);
  REQUIRE(want.at("emb_g.weight") == std::vector<int64_t>{850, 512});
  REQUIRE(want.at("dp.conv_2.weight") == std::vector<int64_t>{256, 256, 3});

  const bv2::Synthesizer model(bv2::SynthesizerOptions::v2_3(850));
  chord::test::require_same_key_shapes(want, *model);
}

TEST_CASE("synth parity: SynthesizerTrn.forward, every returned tensor, seeded and injected",
          "[bert_vits2][synth_parity][parity]") {
  torch::NoGradGuard no_grad;
  const auto batch = fixture_batch();
  for (const bool transformer_flow : {true, false}) {
    const std::string p = transformer_flow ? "fwd." : "res.";
    INFO("flow " << (transformer_flow ? "transformer" : "residual"));
    auto model = fixture_model(transformer_flow);
    model->begin_step(scalar(p + "step"));
    REQUIRE(model->mas_noise_scale() == std::max(0.1 - 2e-6 * static_cast<double>(scalar(p + "step")), 0.0));
    {
      INFO("seeded: torch.manual_seed stream");
      auto gen = chord::make_generator(static_cast<uint64_t>(scalar(p + "seed")));
      compare_forward(model->forward(batch, gen), p);
    }
    {
      INFO("injected draws, another seed");
      auto gen = chord::make_generator(static_cast<uint64_t>(scalar(p + "seed")) + 101);
      bv2::ForwardNoise noise;
      noise.posterior = f(p + "draw.posterior");
      noise.mas = f(p + "draw.mas");
      noise.sdp_posterior = f(p + "draw.sdp_posterior");
      noise.sdp_reverse = f(p + "draw.sdp_reverse");
      noise.segment_starts = f(p + "draw.segment_starts");
      compare_forward(model->forward(batch, gen, noise), p);
    }
  }
}

TEST_CASE("synth parity: train_ms.py's mel, KL and duration terms on the forward outputs",
          "[bert_vits2][synth_parity][parity]") {
  torch::NoGradGuard no_grad;
  const auto batch = fixture_batch();
  for (const bool transformer_flow : {true, false}) {
    const std::string p = transformer_flow ? "fwd." : "res.";
    INFO("flow " << (transformer_flow ? "transformer" : "residual"));
    auto model = fixture_model(transformer_flow);
    model->begin_step(scalar(p + "step"));
    auto gen = chord::make_generator(static_cast<uint64_t>(scalar(p + "seed")));
    const auto outputs = model->generate(batch, gen);
    const auto terms = model->losses(batch, outputs);
    // The real audio of the segment: the waveform at ids_slice · hop.
    const auto starts = f(p + "ids_slice");
    const auto real = outputs.get<bv2::out::RealAudio>();
    for (int64_t i = 0; i < 2; ++i) {
      CHECK(torch::equal(real[i], batch.wav_padded[i].narrow(1, starts[i].item<int64_t>() * 16, 128)));
    }
    // Scalars of fp32 sums and means: a few ulp relative.
    const double d_mel = relative_diff(terms.at("mel"), f(p + "loss_mel"));
    const double d_kl = relative_diff(terms.at("kl"), f(p + "loss_kl"));
    const double d_dur = relative_diff(terms.at("duration"), f(p + "loss_dur"));
    UNSCOPED_INFO(p << "loss_mel " << terms.at("mel").item<double>() << " rel diff " << d_mel << "; loss_kl "
                    << terms.at("kl").item<double>() << " rel diff " << d_kl << "; loss_dur rel diff " << d_dur);
    CHECK(d_mel <= 1e-5);
    CHECK(d_kl <= 1e-5);
    CHECK(d_dur <= 1e-5);
  }
}

TEST_CASE("synth parity: SynthesizerTrn.infer at sdp_ratio 0 and 0.5 and with max_len, seeded and injected",
          "[bert_vits2][synth_parity][parity]") {
  torch::NoGradGuard no_grad;
  const auto batch = fixture_batch();
  auto model = fixture_model(true);
  struct Case {
    std::string name;
    double sdp_ratio;
    std::optional<int64_t> max_len;
  };
  for (const auto& c : {Case{"inf0", 0.0, std::nullopt}, Case{"inf5", 0.5, std::nullopt}, Case{"inf0m", 0.0, 7}}) {
    const std::string p = c.name + ".";
    INFO(c.name << ": sdp_ratio " << c.sdp_ratio);
    const auto controls =
        bv2::InferOptions().noise_scale(0.667).length_scale(1.2).noise_scale_w(0.8).sdp_ratio(c.sdp_ratio).max_len(c.max_len);
    for (const bool inject : {false, true}) {
      INFO((inject ? "injected draws, another seed" : "seeded: torch.manual_seed stream"));
      auto gen = chord::make_generator(static_cast<uint64_t>(scalar(p + "seed")) + (inject ? 101 : 0));
      bv2::InferNoise noise;
      if (inject) {
        noise.sdp_reverse = f(p + "draw.sdp_reverse");
        noise.prior = f(p + "draw.prior");
      }
      const auto r = model->infer(batch.text_padded, batch.text_lengths, batch.sid, batch.tone_padded, batch.language_padded,
                                  batch.bert_padded, batch.ja_bert_padded, batch.en_bert_padded, controls, gen, noise);
      REQUIRE(r.attn.sizes() == f(p + "attn").sizes());
      CHECK(torch::equal(r.attn, f(p + "attn")));
      CHECK(torch::equal(r.y_mask, f(p + "y_mask")));
      REQUIRE(r.audio.sizes() == f(p + "o").sizes());
      if (c.max_len) REQUIRE(r.audio.size(2) == *c.max_len * 16);  // fewer frames than either item has
      const double d = max_abs_diff(r.audio, f(p + "o"));
      UNSCOPED_INFO(p << "o max abs diff " << d << (inject ? " (injected)" : " (seeded)"));
      CHECK(d <= kTolerance);
    }
  }
}
