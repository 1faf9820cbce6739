// Bert-VITS2's duration predictors, the rational-quadratic spline and the GAN/VITS losses against
// fishaudio/Bert-VITS2 8f7fbd8 (tests/parity/make_bert_vits2_duration_fixtures.py), plus hand-computed
// checks of what a fixture would not catch (skipped flow, detached inputs, normalisations, bad inputs).
#include "support.hpp"

#include <chord/core/random.hpp>
#include <chord/io/state_dict.hpp>
#include <chord/nn/vits/duration_predictors.hpp>
#include <chord/nn/vits/losses.hpp>
#include <chord/nn/vits/spline.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using chord::test::max_abs_diff;
namespace vits = chord::nn::vits;

namespace {

const chord::io::TensorMap& fixture() {
  static const auto tensors = chord::test::fixture_tensors("bert_vits2_duration.safetensors");
  return tensors;
}

const torch::Tensor& io(const std::string& name) { return fixture().at("io." + name); }

template <typename Module>
void load_prefixed(Module& module, const std::string& prefix) {
  chord::io::TensorMap weights;
  for (const auto& [key, value] : fixture()) {
    if (key.rfind(prefix + ".", 0) == 0) weights.emplace(key.substr(prefix.size() + 1), value);
  }
  auto report = chord::io::load_state_dict(*module, weights);  // strict: every key, exactly
  INFO(report.describe());
  REQUIRE(report.clean());
  REQUIRE(report.loaded.size() == weights.size());
}

/// Largest difference relative to the reference's largest magnitude (at least 1).
double scaled_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / std::max(1.0, b.abs().max().item<double>());
}

vits::StochasticDurationPredictor fixture_sdp() {
  vits::StochasticDurationPredictor sdp(vits::StochasticDurationPredictorOptions(16, 3, 0.5).n_flows(4).gin_channels(8));
  load_prefixed(sdp, "sdp");
  sdp->eval();
  return sdp;
}

}  // namespace

TEST_CASE("durations: the rational-quadratic spline matches transforms.py in both directions, gradients included",
          "[bert_vits2][durations][parity]") {
  struct Case {
    std::string name;
    double bound, min_width, min_height, min_derivative;
  };
  for (const auto& c : {Case{"k10", 5.0, 1e-3, 1e-3, 1e-3}, Case{"k4", 1.5, 0.02, 0.05, 0.01}}) {
    INFO(c.name);
    const auto p = "spline." + c.name + ".";
    for (const std::string direction : {"fwd", "inv"}) {
      INFO(direction);
      std::vector<torch::Tensor> leaves;
      for (const char* n : {"inputs", "widths", "heights", "derivs"}) leaves.push_back(io(p + n).clone().requires_grad_(true));
      const auto options = vits::SplineOptions()
                               .inverse(direction == "inv")
                               .tail_bound(c.bound)
                               .min_bin_width(c.min_width)
                               .min_bin_height(c.min_height)
                               .min_derivative(c.min_derivative);
      auto [y, lad] = vits::piecewise_rational_quadratic_transform(leaves[0], leaves[1], leaves[2], leaves[3], options);
      // Same operations in the same order on fp32: differences are rounding of reductions (softmax,
      // cumsum), a few ulp of the magnitudes involved (≤ 1e-5 on values up to ~7).
      const double d_out = max_abs_diff(y, io(p + direction));
      const double d_lad = max_abs_diff(lad, io(p + direction + "_lad"));
      UNSCOPED_INFO("spline " << c.name << " " << direction << ": out " << d_out << ", logabsdet " << d_lad);
      CHECK(d_out < 1e-5);
      CHECK(d_lad < 1e-5);
      (y * io(p + "r_out") + lad * io(p + "r_lad")).sum().backward();
      const char* names[] = {"inputs", "widths", "heights", "derivs"};
      for (size_t i = 0; i < 4; ++i) {
        const auto& expected = io(p + "grad_" + direction + "_" + names[i]);
        REQUIRE(leaves[i].grad().defined());
        REQUIRE(torch::isfinite(leaves[i].grad()).all().item<bool>());
        const double d = scaled_diff(leaves[i].grad(), expected);
        UNSCOPED_INFO("  grad " << names[i] << " " << d);
        // Gradients go through 1/denominator² and log terms: fp32, relative to the largest gradient.
        CHECK(d < 1e-4);
      }
    }
  }
}

TEST_CASE("durations: the spline inverts itself, is the identity outside its bound and names bad shapes", "[bert_vits2][durations]") {
  const auto inputs = io("spline.k10.inputs"), widths = io("spline.k10.widths"), heights = io("spline.k10.heights"),
             derivs = io("spline.k10.derivs");
  const auto options = vits::SplineOptions().tail_bound(5.0);
  auto [y, lad] = vits::piecewise_rational_quadratic_transform(inputs, widths, heights, derivs, options);
  // The round trip in float64: in fp32 it is off by up to 6e-4 where the slope is e^-8 (the reference's
  // too), so only double precision shows that the inverse is exact.
  {
    const auto d = [](const torch::Tensor& t) { return t.to(torch::kFloat64); };
    auto [y64, lad64] = vits::piecewise_rational_quadratic_transform(d(inputs), d(widths), d(heights), d(derivs), options);
    auto [x64, lad_inv64] =
        vits::piecewise_rational_quadratic_transform(y64, d(widths), d(heights), d(derivs), vits::SplineOptions(options).inverse(true));
    REQUIRE(max_abs_diff(x64, d(inputs)) < 1e-9);
    REQUIRE(max_abs_diff(lad64 + lad_inv64, torch::zeros_like(lad64)) < 1e-9);
  }
  const auto outside = inputs.abs() > 5.0;
  REQUIRE(outside.any().item<bool>());
  REQUIRE((~outside).any().item<bool>());
  REQUIRE(torch::equal(y.masked_select(outside), inputs.masked_select(outside)));
  REQUIRE(lad.masked_select(outside).abs().max().item<double>() == 0.0);
  // Inside, the map moves points (random knots): the identity would pass the checks above.
  REQUIRE((y - inputs).masked_select(~outside).abs().max().item<double>() > 0.1);
  // The ends map to themselves with slope 1 (linear tails continue the spline).
  REQUIRE(std::abs(y[0][0].item<double>() - 5.0) < 1e-5);
  REQUIRE(std::abs(y[0][1].item<double>() + 5.0) < 1e-5);
  REQUIRE(std::abs(lad[0][0].item<double>()) < 1e-5);
  // Every point outside: identity (the reference fails on an empty selection).
  auto [far, far_lad] = vits::piecewise_rational_quadratic_transform(torch::full({2, 3}, 9.0), widths.narrow(0, 0, 2).narrow(1, 0, 3),
                                                                     heights.narrow(0, 0, 2).narrow(1, 0, 3),
                                                                     derivs.narrow(0, 0, 2).narrow(1, 0, 3), options);
  REQUIRE(torch::equal(far, torch::full({2, 3}, 9.0)));
  REQUIRE(torch::equal(far_lad, torch::zeros({2, 3})));
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::piecewise_rational_quadratic_transform(inputs, widths, heights, widths, options),
                                 "derivatives [..., K - 1]");
  CHORD_REQUIRE_THROWS_WITH_TEXT(
      vits::piecewise_rational_quadratic_transform(inputs, widths, heights, derivs, vits::SplineOptions().min_bin_width(0.2)),
      "minimal bin width");
}

TEST_CASE("durations: StochasticDurationPredictor matches models.py (nll, reverse, gradients, generator draws)",
          "[bert_vits2][durations][parity]") {
  auto sdp = fixture_sdp();
  const auto &x = io("sdp.fwd.x"), &mask = io("sdp.fwd.mask"), &g = io("sdp.fwd.g"), &w = io("sdp.fwd.w");

  auto nll = sdp->nll_with_noise(x, mask, w, io("sdp.fwd.e_q"), g);
  // nll is a sum over ~2·11 terms of magnitude ~10 after 9 flows: fp32 sums, relative 1e-5.
  const double d_nll = scaled_diff(nll, io("sdp.fwd.nll"));
  UNSCOPED_INFO("sdp nll (injected e_q): " << d_nll << " (scaled; abs " << max_abs_diff(nll, io("sdp.fwd.nll")) << ")");
  CHECK(d_nll < 1e-5);

  // The reference draws e_q from the CPU generator after torch.manual_seed(seed): the same stream.
  auto gen = chord::make_generator(static_cast<uint64_t>(io("sdp.fwd.seed").item<int64_t>()));
  REQUIRE(max_abs_diff(sdp->nll(x, mask, w, gen, g), nll) == 0.0);

  // Parameter gradients of nll.sum(): every parameter, by the reference's names.
  nll.sum().backward();
  double worst = 0;
  std::string worst_key;
  int64_t compared = 0;
  for (const auto& item : sdp->named_parameters()) {
    const auto& expected = io("sdp.fwd.grad." + item.key());
    REQUIRE(item.value().grad().defined());
    const double d = scaled_diff(item.value().grad(), expected);
    if (d > worst) worst = d, worst_key = item.key();
    ++compared;
  }
  UNSCOPED_INFO("sdp gradients: " << compared << " parameters, worst scaled diff " << worst << " (" << worst_key << ")");
  REQUIRE(compared == static_cast<int64_t>(sdp->parameters().size()));
  // Backward through 9 flows and two DDSConv stacks in fp32, relative to each parameter's largest
  // gradient (gradients reach ~1e2): 1e-4.
  CHECK(worst < 1e-4);

  torch::NoGradGuard no_grad;
  auto logw = sdp->reverse_with_noise(x, mask, io("sdp.rev.noise"), g, 0.8);
  const double d_rev = max_abs_diff(logw, io("sdp.rev.logw"));
  UNSCOPED_INFO("sdp reverse (noise_scale 0.8): " << d_rev);
  CHECK(d_rev < 1e-5);
  auto gen_rev = chord::make_generator(static_cast<uint64_t>(io("sdp.rev.seed").item<int64_t>()));
  REQUIRE(max_abs_diff(sdp->reverse(x, mask, gen_rev, g, 0.8), logw) == 0.0);
  // noise_scale 1 is what training uses for logw_sdp (the loss fixture's value).
  REQUIRE(max_abs_diff(sdp->reverse_with_noise(x, mask, io("sdp.rev.noise"), g), io("loss.dur.logw_sdp")) < 1e-5);
}

TEST_CASE("durations: StochasticDurationPredictor without g, 2 flows (post_flows keep 4)", "[bert_vits2][durations][parity]") {
  vits::StochasticDurationPredictor sdp(vits::StochasticDurationPredictorOptions(6, 3, 0.5).n_flows(2));
  REQUIRE(sdp->flows->size() == 5);       // ElementwiseAffine + (ConvFlow, Flip) × 2
  REQUIRE(sdp->post_flows->size() == 9);  // ElementwiseAffine + (ConvFlow, Flip) × 4, whatever n_flows
  REQUIRE(sdp->cond.is_empty());
  load_prefixed(sdp, "sdp2");
  sdp->eval();
  torch::NoGradGuard no_grad;
  const auto &x = io("sdp2.fwd.x"), &mask = io("sdp2.fwd.mask");
  const double d_nll = scaled_diff(sdp->nll_with_noise(x, mask, io("sdp2.fwd.w"), io("sdp2.fwd.e_q")), io("sdp2.fwd.nll"));
  const double d_rev = max_abs_diff(sdp->reverse_with_noise(x, mask, io("sdp2.rev.noise")), io("sdp2.rev.logw"));
  UNSCOPED_INFO("sdp2 nll " << d_nll << " (scaled), reverse " << d_rev);
  CHECK(d_nll < 1e-5);
  CHECK(d_rev < 1e-5);
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->reverse_with_noise(x, mask, io("sdp2.rev.noise"), torch::zeros({2, 8, 1})),
                                 "gin_channels is 0");
}

TEST_CASE("durations: the SDP's reverse pass skips its first ConvFlow, detaches x and g, and masks padding",
          "[bert_vits2][durations]") {
  auto sdp = fixture_sdp();
  const auto &mask = io("sdp.fwd.mask"), &w = io("sdp.fwd.w"), &noise = io("sdp.rev.noise"), &e_q = io("sdp.fwd.e_q");
  const auto x = io("sdp.fwd.x").clone().requires_grad_(true);
  const auto g = io("sdp.fwd.g").clone().requires_grad_(true);
  auto nll = sdp->nll_with_noise(x, mask, w, e_q, g);
  auto logw = sdp->reverse_with_noise(x, mask, noise, g);
  (nll.sum() + logw.sum()).backward();
  REQUIRE_FALSE(x.grad().defined());
  REQUIRE_FALSE(g.grad().defined());
  REQUIRE(sdp->pre->weight.grad().defined());

  torch::NoGradGuard no_grad;
  // Changing the posterior noise on padded frames changes nothing (it is masked before use).
  const auto pad = (1 - mask).expand_as(e_q);
  REQUIRE(max_abs_diff(sdp->nll_with_noise(x, mask, w, e_q + 3 * pad, g), nll) == 0.0);
  // Moving the first ConvFlow (flows.1) changes the training pass but not the reverse pass; moving the
  // last one (flows.7) changes both.
  auto first = sdp->flows->ptr<vits::ConvFlowImpl>(1);
  first->proj->bias.add_(0.5);
  REQUIRE(max_abs_diff(sdp->reverse_with_noise(x, mask, noise, g), logw) == 0.0);
  REQUIRE(max_abs_diff(sdp->nll_with_noise(x, mask, w, e_q, g), nll) > 1e-3);
  auto last = sdp->flows->ptr<vits::ConvFlowImpl>(7);
  last->proj->bias.add_(0.5);
  REQUIRE(max_abs_diff(sdp->reverse_with_noise(x, mask, noise, g), logw) > 1e-3);
  // The reverse noise is not masked, but every flow masks its output: logw is zero on padding and
  // padded noise never reaches valid tokens.
  const auto pad2 = (1 - mask).expand_as(noise);
  const auto moved = sdp->reverse_with_noise(x, mask, noise + 3 * pad2, g);
  REQUIRE(torch::equal(moved, sdp->reverse_with_noise(x, mask, noise, g)));
  REQUIRE(torch::equal(moved * (1 - mask), torch::zeros_like(moved)));
  // Shapes named.
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->nll_with_noise(x, mask, w, e_q.narrow(1, 0, 1), g), "noise e_q [B, 2, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->nll_with_noise(x, mask, w.squeeze(1), e_q, g), "durations w [B, 1, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->reverse_with_noise(x.narrow(1, 0, 8), mask, noise, g), "x [B, 16, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->reverse_with_noise(x, mask.squeeze(1), noise, g), "x_mask [B, 1, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(sdp->reverse_with_noise(x, mask, noise, g.narrow(1, 0, 4)), "g [B, 8, 1] expected");
}

TEST_CASE("durations: DurationPredictor matches models.py and detaches its inputs", "[bert_vits2][durations][parity]") {
  vits::DurationPredictor dp(vits::DurationPredictorOptions(16, 24, 3, 0.5).gin_channels(8));
  load_prefixed(dp, "dp");
  dp->eval();
  const auto &mask = io("dp.x.mask");
  const auto x = io("dp.x.x").clone().requires_grad_(true);
  const auto g = io("dp.x.g").clone().requires_grad_(true);
  auto out = dp(x, mask, g);
  const double d = max_abs_diff(out, io("dp.x.out"));
  const double d_nog = max_abs_diff(dp(x, mask), io("dp.x.out_nog"));
  UNSCOPED_INFO("dp out " << d << ", out_nog " << d_nog);
  CHECK(d < 1e-5);
  CHECK(d_nog < 1e-5);
  out.sum().backward();
  REQUIRE_FALSE(x.grad().defined());
  REQUIRE_FALSE(g.grad().defined());
  REQUIRE(dp->conv_1->weight.grad().defined());
  REQUIRE(torch::equal(out * (1 - mask), torch::zeros_like(out)));
  vits::DurationPredictor plain(vits::DurationPredictorOptions(16, 24, 3, 0.5));
  REQUIRE(plain->cond.is_empty());
  CHORD_REQUIRE_THROWS_WITH_TEXT(plain(x, mask, g), "gin_channels is 0");
}

TEST_CASE("durations: feature, discriminator, generator and KL losses match losses.py", "[bert_vits2][durations][parity]") {
  std::vector<std::vector<torch::Tensor>> fmap_r(2), fmap_g(2);
  const size_t layers[] = {3, 2};
  for (size_t i = 0; i < 2; ++i) {
    for (size_t j = 0; j < layers[i]; ++j) {
      fmap_r[i].push_back(io("loss.x.fmap_r." + std::to_string(i) + "." + std::to_string(j)));
      fmap_g[i].push_back(io("loss.x.fmap_g." + std::to_string(i) + "." + std::to_string(j)));
    }
  }
  std::vector<torch::Tensor> dr, dg;
  for (int i = 0; i < 3; ++i) {
    dr.push_back(io("loss.x.dr." + std::to_string(i)));
    dg.push_back(io("loss.x.dg." + std::to_string(i)));
  }
  // Means and small sums of fp32 values of order 1: a few ulp.
  const double d_fm = max_abs_diff(vits::feature_loss(fmap_r, fmap_g), io("loss.x.fm"));
  auto disc = vits::discriminator_loss(dr, dg);
  const double d_disc = max_abs_diff(disc.loss, io("loss.x.disc"));
  REQUIRE(disc.real_losses.size() == 3);
  REQUIRE(disc.generated_losses.size() == 3);
  const double d_disc_r = max_abs_diff(torch::stack(disc.real_losses), io("loss.x.disc_r"));
  const double d_disc_g = max_abs_diff(torch::stack(disc.generated_losses), io("loss.x.disc_g"));
  auto gen = vits::generator_loss(dg);
  const double d_gen = max_abs_diff(gen.loss, io("loss.x.gen"));
  const double d_gen_each = max_abs_diff(torch::stack(gen.losses), io("loss.x.gen_each"));
  const double d_kl = max_abs_diff(
      vits::kl_loss(io("loss.x.z_p"), io("loss.x.logs_q"), io("loss.x.m_p"), io("loss.x.logs_p"), io("loss.x.z_mask")), io("loss.x.kl"));
  UNSCOPED_INFO("feature " << d_fm << ", disc " << d_disc << " (r " << d_disc_r << ", g " << d_disc_g << "), gen " << d_gen << " (each "
                           << d_gen_each << "), kl " << d_kl);
  CHECK(d_fm < 1e-5);
  CHECK(d_disc < 1e-5);
  CHECK(d_disc_r < 1e-6);
  CHECK(d_disc_g < 1e-6);
  CHECK(d_gen < 1e-5);
  CHECK(d_gen_each < 1e-6);
  CHECK(d_kl < 1e-5);

  // Lower-precision inputs are computed in float32, as the reference's `.float()`.
  auto half = vits::generator_loss({dg[0].to(torch::kBFloat16)});
  REQUIRE(half.loss.scalar_type() == torch::kFloat32);
  REQUIRE(vits::feature_loss({{fmap_r[0][0].to(torch::kBFloat16)}}, {{fmap_g[0][0]}}).scalar_type() == torch::kFloat32);
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::feature_loss(fmap_r, {fmap_g[0]}), "1 generated discriminators");
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::discriminator_loss(dr, {dg[0]}), "3 real and 1 generated");
}

TEST_CASE("durations: losses by hand (normalisations, targets, detached real features)", "[bert_vits2][durations]") {
  // feature: 2 · mean|r − g|; the real side gets no gradient.
  const auto r = torch::tensor({1.0f, 2.0f}).requires_grad_(true);
  const auto g = torch::tensor({0.0f, 0.0f}).requires_grad_(true);
  auto fm = vits::feature_loss({{r}}, {{g}});
  REQUIRE(fm.item<double>() == Approx(3.0));
  fm.backward();
  REQUIRE_FALSE(r.grad().defined());
  REQUIRE(g.grad().defined());
  // LSGAN: real 1 and fake 0 cost nothing; D = 0.5 everywhere costs 0.25 + 0.25.
  REQUIRE(vits::discriminator_loss({torch::ones({2, 3})}, {torch::zeros({2, 3})}).loss.item<double>() == 0.0);
  REQUIRE(vits::discriminator_loss({torch::full({4}, 0.5)}, {torch::full({4}, 0.5)}).loss.item<double>() == Approx(0.5));
  REQUIRE(vits::generator_loss({torch::full({4}, 0.5), torch::zeros({2})}).loss.item<double>() == Approx(1.25));
  // KL divides by valid frames, not frames × channels: 3 channels, 2 of 3 frames valid, each element
  // −0.5 + 0.5·2² = 1.5 → 1.5·3·2 / 2 = 4.5.
  const auto zeros = torch::zeros({1, 3, 3});
  const auto mask = torch::tensor({1.0f, 1.0f, 0.0f}).view({1, 1, 3});
  REQUIRE(vits::kl_loss(zeros + 2, zeros, zeros, zeros, mask).item<double>() == Approx(4.5));
  // Duration terms: the target log(w + 1e-6) on valid tokens, sums divided by the batch's token count.
  const auto w = torch::tensor({2.0f, 1.0f, 0.0f, 4.0f, 0.0f, 0.0f}).view({2, 1, 3});
  const auto x_mask = torch::tensor({1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f}).view({2, 1, 3});
  const auto logw = torch::zeros({2, 1, 3});
  auto d = vits::duration_losses(torch::tensor({3.0f, 6.0f}), logw, logw, w, x_mask);
  REQUIRE(d.logw_target[0][0][0].item<double>() == Approx(std::log(2.0)));
  REQUIRE(d.logw_target[0][0][2].item<double>() == 0.0);
  const double l2 = std::log(2.0), l4 = std::log(4.0);
  REQUIRE(d.l_length_dp[0].item<double>() == Approx(l2 * l2 / 3));
  REQUIRE(d.l_length_dp[1].item<double>() == Approx(l4 * l4 / 3));
  REQUIRE(d.l_length_sdp[1].item<double>() == Approx(6.0 / 3 + l4 * l4 / 3));
  REQUIRE(vits::duration_loss(d.l_length).item<double>() == Approx(3.0 + 2 * (l2 * l2 + l4 * l4) / 3));
}

TEST_CASE("durations: the duration terms match SynthesizerTrn.forward and train_ms.py", "[bert_vits2][durations][parity]") {
  auto d = vits::duration_losses(io("loss.dur.nll"), io("loss.dur.logw"), io("loss.dur.logw_sdp"), io("loss.dur.w"), io("loss.dur.mask"));
  const double d_target = max_abs_diff(d.logw_target, io("loss.dur.logw_"));
  const double d_dp = max_abs_diff(d.l_length_dp, io("loss.dur.l_length_dp"));
  const double d_sdp = max_abs_diff(d.l_length_sdp, io("loss.dur.l_length_sdp"));
  const double d_all = max_abs_diff(d.l_length, io("loss.dur.l_length"));
  const double d_sum = max_abs_diff(vits::duration_loss(d.l_length), io("loss.dur.loss_dur"));
  UNSCOPED_INFO("logw_ " << d_target << ", l_length_dp " << d_dp << ", l_length_sdp " << d_sdp << ", l_length " << d_all << ", loss_dur "
                         << d_sum);
  // The same handful of fp32 operations in the same order (values ~10).
  CHECK(d_target < 1e-6);
  CHECK(d_dp < 1e-5);
  CHECK(d_sdp < 1e-5);
  CHECK(d_all < 1e-5);
  CHECK(d_sum < 1e-5);
  // End to end from the modules: SDP nll, DP and SDP reverse at noise scale 1 on the fixture's inputs.
  auto sdp = fixture_sdp();
  vits::DurationPredictor dp(vits::DurationPredictorOptions(16, 24, 3, 0.5).gin_channels(8));
  load_prefixed(dp, "dp");
  dp->eval();
  torch::NoGradGuard no_grad;
  const auto &x = io("sdp.fwd.x"), &mask = io("sdp.fwd.mask"), &g = io("sdp.fwd.g"), &w = io("sdp.fwd.w");
  auto e2e = vits::duration_losses(sdp->nll_with_noise(x, mask, w, io("sdp.fwd.e_q"), g), dp(x, mask, g),
                                   sdp->reverse_with_noise(x, mask, io("sdp.rev.noise"), g), w, mask);
  const double d_e2e = max_abs_diff(vits::duration_loss(e2e.l_length), io("loss.dur.loss_dur"));
  UNSCOPED_INFO("loss_dur end to end " << d_e2e);
  CHECK(d_e2e < 1e-4);
}

TEST_CASE("durations: the 2.3 config's SDP and DP have the reference's keys and shapes", "[bert_vits2][durations]") {
  std::ifstream file(chord::test::fixture("bert_vits2_duration_keys.txt"));
  REQUIRE(file.good());
  std::vector<std::string> expected;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) expected.push_back(line);
  }
  REQUIRE(expected.size() > 100);
  vits::StochasticDurationPredictor sdp(vits::StochasticDurationPredictorOptions::bert_vits2());
  vits::DurationPredictor dp(vits::DurationPredictorOptions::bert_vits2());
  std::vector<std::string> got;
  auto list = [&](const std::string& prefix, const torch::nn::Module& module) {
    // named_parameters keeps registration order, which follows the reference's constructors.
    for (const auto& item : module.named_parameters()) {
      std::ostringstream line;
      line << prefix << "." << item.key() << " ";
      const auto sizes = item.value().sizes();
      for (size_t i = 0; i < sizes.size(); ++i) line << (i ? "," : "") << sizes[i];
      got.push_back(line.str());
    }
  };
  list("sdp", *sdp);
  list("dp", *dp);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(i);
    REQUIRE(got[i] == expected[i]);
  }
  // ConvFlow's proj starts at zero, as the reference (its spline starts with uniform bins).
  REQUIRE(sdp->flows->ptr<vits::ConvFlowImpl>(1)->proj->weight.abs().max().item<double>() == 0.0);
  REQUIRE(sdp->post_flows->ptr<vits::ConvFlowImpl>(7)->proj->bias.abs().max().item<double>() == 0.0);
}
