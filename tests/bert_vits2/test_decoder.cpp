// Bert-VITS2's decoder and adversaries: the HiFi-GAN generator and its residual blocks, the multi-period
// discriminator and the duration discriminator against fishaudio/Bert-VITS2 8f7fbd8
// (tests/parity/make_bert_vits2_decoder_fixtures.py), their key names and shapes at the shipped config,
// and hand checks of what a fixture cannot see (period folding, detached inputs, output lengths, errors).
#include "support.hpp"
#include "bert_vits2/keys.hpp"

#include <chord/io/state_dict.hpp>
#include <chord/nn/vits/discriminators.hpp>
#include <chord/nn/vits/hifigan.hpp>


using chord::test::max_abs_diff;
namespace vits = chord::nn::vits;

namespace {

const std::string kFixture = "bert_vits2_decoder.safetensors";

/// The entries under `prefix.`, with the prefix removed.
chord::io::TensorMap under(const chord::io::TensorMap& all, const std::string& prefix) {
  chord::io::TensorMap out;
  for (const auto& [key, value] : all) {
    if (key.rfind(prefix + ".", 0) == 0) out.emplace(key.substr(prefix.size() + 1), value);
  }
  return out;
}

void load(torch::nn::Module& module, const chord::io::TensorMap& all, const std::string& prefix) {
  auto report = chord::io::load_state_dict(module, under(all, prefix));
  INFO(report.describe());
  REQUIRE(report.clean());
}

/// The module's state dict compared with the reference's keys under `prefix.`, name for name and shape for shape.
void require_same_keys(const torch::nn::Module& module, const chord::test::KeyShapes& reference, const std::string& prefix) {
  INFO(prefix);
  chord::test::require_same_key_shapes(chord::test::keys_under(reference, prefix), module);
}

vits::GeneratorOptions gen1_options() {
  return vits::GeneratorOptions()
      .initial_channel(8)
      .resblock("1")
      .resblock_kernel_sizes({3, 7})
      .resblock_dilation_sizes({{1, 3, 5}, {1, 3, 5}})
      .upsample_rates({4, 2})
      .upsample_initial_channel(16)
      .upsample_kernel_sizes({8, 4})
      .gin_channels(8);
}

vits::GeneratorOptions gen2_options() {
  return vits::GeneratorOptions()
      .initial_channel(8)
      .resblock("2")
      .resblock_kernel_sizes({3, 5})
      .resblock_dilation_sizes({{1, 3}, {2, 1}})
      .upsample_rates({3, 2})
      .upsample_initial_channel(16)
      .upsample_kernel_sizes({6, 4})
      .gin_channels(0);
}

vits::MultiPeriodDiscriminatorOptions small_mpd_options() {
  return vits::MultiPeriodDiscriminatorOptions()
      .scale(vits::DiscriminatorSOptions().channels({4, 8, 16, 32, 32, 32}).groups({1, 2, 4, 8, 16, 1}))
      .period_channels({4, 8, 16, 32, 32});
}

int count_folded(torch::nn::Module& module, bool* all_folded) {
  int n = 0;
  *all_folded = true;
  for (const auto& child : module.modules()) {
    if (auto* conv = dynamic_cast<chord::nn::WeightNormConvImpl*>(child.get())) {
      ++n;
      *all_folded = *all_folded && !conv->weight_normalised();
    }
  }
  return n;
}

}  // namespace

// fp32 on CPU in both; the tolerances leave room for summation-order differences of the convolutions
// (outputs are O(1), differences seen are O(1e-7)).
TEST_CASE("Generator matches models.Generator (ResBlock1 with g, ResBlock2 without), and remove_weight_norm keeps its output",
          "[bert_vits2][decoder][parity]") {
  const auto all = chord::test::fixture_tensors(kFixture);
  torch::NoGradGuard no_grad;

  vits::Generator gen1(gen1_options());
  load(*gen1, all, "gen1");
  gen1->eval();
  const auto& x = all.at("io.gen1.g.x");
  const auto& g = all.at("io.gen1.g.g");
  const auto out = gen1(x, g);
  REQUIRE(out.sizes() == torch::IntArrayRef({2, 1, 72}));  // 9 frames × 4 × 2
  const double diff_g = max_abs_diff(out, all.at("io.gen1.g.out"));
  const double diff_nog = max_abs_diff(gen1(x), all.at("io.gen1.nog.out"));
  WARN("gen1 with g: max abs diff " << diff_g << "; without g: " << diff_nog);
  REQUIRE(diff_g < 1e-5);
  REQUIRE(diff_nog < 1e-5);
  // g changes the output (cond is applied), and the non-tanh-saturated output is not trivially small.
  REQUIRE(max_abs_diff(all.at("io.gen1.g.out"), all.at("io.gen1.nog.out")) > 1e-2);

  bool folded = true;
  REQUIRE(count_folded(*gen1, &folded) == 2 + 2 * 2 * 6);  // ups + 2 stages × 2 ResBlock1 × 6 convs
  REQUIRE_FALSE(folded);
  gen1->remove_weight_norm();
  REQUIRE(count_folded(*gen1, &folded) == 26);
  REQUIRE(folded);
  const auto out_rwn = gen1(x, g);
  const double diff_rwn = max_abs_diff(out_rwn, all.at("io.gen1.g.out_rwn"));
  WARN("gen1 after remove_weight_norm: max abs diff " << diff_rwn << " to the reference, " << max_abs_diff(out_rwn, out)
                                                       << " to before");
  REQUIRE(diff_rwn < 1e-5);
  REQUIRE(max_abs_diff(out_rwn, out) < 1e-6);

  vits::Generator gen2(gen2_options());
  load(*gen2, all, "gen2");
  REQUIRE(gen2->cond.is_empty());
  gen2->eval();
  const auto out2 = gen2(all.at("io.gen2.x.x"));
  // k − u = 3 is odd in the first stage: (7 − 1)·3 − 2·1 + 6 = 22 frames, then (22 − 1)·2 − 2 + 4 = 44.
  REQUIRE(out2.sizes() == torch::IntArrayRef({2, 1, 44}));
  const double diff2 = max_abs_diff(out2, all.at("io.gen2.x.out"));
  WARN("gen2 (ResBlock2, no gin): max abs diff " << diff2);
  REQUIRE(diff2 < 1e-5);
  CHORD_REQUIRE_THROWS_WITH_TEXT(gen2(all.at("io.gen2.x.x"), torch::zeros({2, 8, 1})), "built without gin_channels");
}

TEST_CASE("ResBlock1 and ResBlock2 match modules.ResBlock1/2, with and without x_mask", "[bert_vits2][decoder][parity]") {
  const auto all = chord::test::fixture_tensors(kFixture);
  torch::NoGradGuard no_grad;
  vits::ResBlock1 rb1(6, 3, std::vector<int64_t>{1, 2, 3});
  vits::ResBlock2 rb2(6, 5, std::vector<int64_t>{1, 3});
  load(*rb1, all, "rb1");
  load(*rb2, all, "rb2");
  for (const std::string name : {"rb1", "rb2"}) {
    INFO(name);
    auto& block = name == "rb1" ? static_cast<vits::ResBlockBase&>(*rb1) : static_cast<vits::ResBlockBase&>(*rb2);
    const auto& x = all.at("io." + name + ".x.x");
    const auto& mask = all.at("io." + name + ".x.x_mask");
    const double plain = max_abs_diff(block.forward(x), all.at("io." + name + ".x.out"));
    const auto masked_out = block.forward(x, mask);
    const double masked = max_abs_diff(masked_out, all.at("io." + name + ".x.out_mask"));
    WARN(name << ": max abs diff " << plain << " unmasked, " << masked << " masked");
    REQUIRE(plain < 1e-5);
    REQUIRE(masked < 1e-5);
    // Item 1 has 6 valid frames of 10: the masked result is zero after them.
    REQUIRE(masked_out[1].narrow(1, 6, 4).abs().max().item<double>() == 0.0);
  }
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::ResBlock1(6, 3, std::vector<int64_t>{1, 3}), "3 dilations expected, got 2");
}

TEST_CASE("MultiPeriodDiscriminator matches models.MultiPeriodDiscriminator (reduced channels)", "[bert_vits2][decoder][parity]") {
  const auto all = chord::test::fixture_tensors(kFixture);
  torch::NoGradGuard no_grad;
  vits::MultiPeriodDiscriminator mpd(small_mpd_options());
  load(*mpd, all, "mpd");
  mpd->eval();
  const auto out = mpd(all.at("io.mpd.x.y"), all.at("io.mpd.x.y_hat"));
  REQUIRE(out.y_d_rs.size() == 6);
  REQUIRE(out.fmap_gs.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    INFO("discriminator " << i);
    const auto prefix = "io.mpd.x.";
    const auto index = std::to_string(i);
    double worst = std::max(max_abs_diff(out.y_d_rs[i], all.at(prefix + std::string("y_d_r.") + index)),
                            max_abs_diff(out.y_d_gs[i], all.at(prefix + std::string("y_d_g.") + index)));
    REQUIRE(out.fmap_rs[i].size() == (i == 0 ? 7u : 6u));
    for (size_t j = 0; j < out.fmap_rs[i].size(); ++j) {
      const auto suffix = index + "." + std::to_string(j);
      worst = std::max(worst, max_abs_diff(out.fmap_rs[i][j], all.at(prefix + std::string("fmap_r.") + suffix)));
      worst = std::max(worst, max_abs_diff(out.fmap_gs[i][j], all.at(prefix + std::string("fmap_g.") + suffix)));
    }
    WARN("MPD discriminator " << i << " (" << (i == 0 ? "S" : "P" + std::to_string(mpd->options.periods()[i - 1]))
                              << "): max abs diff over scores and feature maps " << worst);
    REQUIRE(worst < 1e-5);
  }
  CHORD_REQUIRE_THROWS_WITH_TEXT(mpd(torch::zeros({1, 2, 100}), torch::zeros({1, 1, 100})), "y [B, 1, T] expected");
}

TEST_CASE("DiscriminatorP folds periods with right reflect padding", "[bert_vits2][decoder]") {
  const auto x = torch::arange(7.0).view({1, 1, 7});
  // 7 samples, period 3: two reflected samples (5, 4) complete the last row.
  const auto folded = vits::fold_period(x, 3);
  REQUIRE(folded.sizes() == torch::IntArrayRef({1, 1, 3, 3}));
  REQUIRE(max_abs_diff(folded, torch::tensor({0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 5.0f, 4.0f}).view({1, 1, 3, 3})) == 0.0);
  // A multiple of the period is only reshaped.
  REQUIRE(max_abs_diff(vits::fold_period(x, 7), x.view({1, 1, 1, 7})) == 0.0);
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::fold_period(torch::zeros({1, 1, 2}), 5), "too short to reflect-pad");
}

TEST_CASE("DurationDiscriminator matches models.DurationDiscriminator, with and without g", "[bert_vits2][decoder][parity]") {
  const auto all = chord::test::fixture_tensors(kFixture);
  vits::DurationDiscriminator dd(vits::DurationDiscriminatorOptions(8, 16, 3, 0.1, 8));
  load(*dd, all, "dd");
  dd->eval();
  const auto& x = all.at("io.dd.g.x");
  const auto& mask = all.at("io.dd.g.x_mask");
  const auto& dur_r = all.at("io.dd.g.dur_r");
  const auto& dur_hat = all.at("io.dd.g.dur_hat");
  const auto& g = all.at("io.dd.g.g");
  {
    torch::NoGradGuard no_grad;
    for (const std::string c : {"g", "nog"}) {
      INFO(c);
      const auto probs = c == "g" ? dd(x, mask, dur_r, dur_hat, g) : dd(x, mask, dur_r, dur_hat);
      REQUIRE(probs[0].sizes() == torch::IntArrayRef({2, 7, 1}));
      const double diff_r = max_abs_diff(probs[0], all.at("io.dd." + c + ".prob_r"));
      const double diff_hat = max_abs_diff(probs[1], all.at("io.dd." + c + ".prob_hat"));
      WARN("duration discriminator (" << c << "): max abs diff " << diff_r << " real, " << diff_hat << " predicted");
      REQUIRE(diff_r < 1e-5);
      REQUIRE(diff_hat < 1e-5);
    }
  }
  // x and g are detached: the discriminator's loss trains only the discriminator.
  auto x_leaf = x.clone().requires_grad_(true);
  auto g_leaf = g.clone().requires_grad_(true);
  auto probs = dd(x_leaf, mask, dur_r, dur_hat, g_leaf);
  (probs[0].sum() + probs[1].sum()).backward();
  REQUIRE_FALSE(x_leaf.grad().defined());
  REQUIRE_FALSE(g_leaf.grad().defined());
  REQUIRE(dd->cond->weight.grad().defined());
  REQUIRE(dd->LSTM->named_parameters()["weight_hh_l0_reverse"].grad().abs().sum().item<double>() > 0.0);
  CHORD_REQUIRE_THROWS_WITH_TEXT(dd(x, mask, dur_r.narrow(2, 0, 6), dur_hat), "durations [2, 1, 7] expected");
}

TEST_CASE("Bert-VITS2 2.3 decoder and discriminators: reference key names and shapes, output shapes", "[bert_vits2][decoder]") {
  const auto reference = chord::test::read_key_shapes("bert_vits2_decoder_keys.txt");
  torch::NoGradGuard no_grad;

  vits::Generator dec(vits::GeneratorOptions::bert_vits2());
  require_same_keys(*dec, reference, "dec");
  REQUIRE(dec->options.upsample_factor() == 512);
  const auto wave = dec(torch::zeros({1, 192, 3}), torch::zeros({1, 512, 1}));
  REQUIRE(wave.sizes().vec() == reference.at("shape.dec.out"));
  REQUIRE(wave.size(2) == 3 * 512);

  vits::MultiPeriodDiscriminator mpd;
  require_same_keys(*mpd, reference, "mpd");
  const auto out = mpd(torch::zeros({1, 1, 1100}), torch::zeros({1, 1, 1100}));
  for (size_t i = 0; i < 6; ++i) {
    INFO("discriminator " << i);
    REQUIRE(out.y_d_gs[i].sizes().vec() == reference.at("shape.mpd.y_d." + std::to_string(i)));
    for (size_t j = 0; j < out.fmap_gs[i].size(); ++j) {
      REQUIRE(out.fmap_gs[i][j].sizes().vec() == reference.at("shape.mpd.fmap." + std::to_string(i) + "." + std::to_string(j)));
    }
    REQUIRE(reference.count("shape.mpd.fmap." + std::to_string(i) + "." + std::to_string(out.fmap_gs[i].size())) == 0);
  }

  vits::DurationDiscriminator dur_disc(vits::DurationDiscriminatorOptions::bert_vits2());
  require_same_keys(*dur_disc, reference, "dur_disc");
}

TEST_CASE("decoder options and inputs are checked by name", "[bert_vits2][decoder]") {
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::Generator(gen1_options().resblock("3")), "resblock \"1\" or \"2\" expected, got \"3\"");
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::Generator(gen1_options().upsample_kernel_sizes({8})),
                                 "2 upsample rates for 1 upsample kernel sizes");
  vits::Generator gen(gen1_options());
  CHORD_REQUIRE_THROWS_WITH_TEXT(gen(torch::zeros({1, 7, 4})), "z [B, 8, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(gen(torch::zeros({1, 8, 4}), torch::zeros({1, 4, 1})), "g [B, 8, 1] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::DiscriminatorS(vits::DiscriminatorSOptions().channels({4, 6, 16, 32, 32, 32}).groups({1, 4, 4, 8, 16, 1})),
                                 "cannot have 4 groups");
}
