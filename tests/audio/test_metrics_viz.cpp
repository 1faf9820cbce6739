// LSD, SI-SDR and mel L1 with hand-computed values; spectrogram and curve PNGs.
#include "support.hpp"

#include <chord/audio/metrics.hpp>
#include <chord/core/random.hpp>
#include <chord/viz/plots.hpp>

#include <cmath>
#include <fstream>

namespace audio = chord::audio;

TEST_CASE("SI-SDR has the textbook value on hand-made signals", "[audio][metrics]") {
  // s = [1,1,1,1], ŝ = 2s + [1,-1,1,-1]: α = 2, target = 2s, residual energy 4 vs target 16 → 10·log10(4)
  auto s = torch::ones({4});
  auto e = torch::tensor({3.0, 1.0, 3.0, 1.0});
  REQUIRE(audio::si_sdr(e, s).item<double>() == Approx(10.0 * std::log10(4.0)).epsilon(1e-9));
  // scale invariance, and a perfect estimate is (eps-limited) huge
  REQUIRE(audio::si_sdr(5.0 * e, s).item<double>() == Approx(10.0 * std::log10(4.0)).epsilon(1e-9));
  REQUIRE(audio::si_sdr(s, s).item<double>() > 100.0);
  // orthogonal estimate: no target component → very negative
  REQUIRE(audio::si_sdr(torch::tensor({1.0, -1.0, 1.0, -1.0}), s).item<double>() < -100.0);
  // zero_mean removes a DC offset first
  auto offset = torch::tensor({1.0, 2.0, 3.0, 4.0});
  REQUIRE(audio::si_sdr(offset + 10.0, offset, /*zero_mean=*/true).item<double>() > 100.0);
}

TEST_CASE("SI-SDR equals the SAGA-SR (estimate-scaled) convention on random signals", "[audio][metrics]") {
  auto gen = chord::make_generator(3);
  auto s = torch::randn({8, 1000}, gen, torch::kFloat64);
  auto e = s * 0.7 + 0.3 * torch::randn({8, 1000}, gen, torch::kFloat64);
  // TorchJaekwon get_si_sdr(source=e, target=s): α = <s,e>/‖e‖², 10·log10(‖αe‖² / ‖αe − s‖²)
  auto alpha = (s * e).sum(-1, true) / e.square().sum(-1, true);
  auto saga = 10.0 * ((alpha * e).square().sum(-1) / (alpha * e - s).square().sum(-1)).log10();
  REQUIRE(chord::test::max_abs_diff(audio::si_sdr(e, s), saga) < 1e-9);
}

TEST_CASE("LSD is zero for identical signals and 2 for a 10x amplitude error", "[audio][metrics]") {
  auto gen = chord::make_generator(5);
  auto noise = torch::randn({2, 44100}, gen);
  REQUIRE(audio::log_spectral_distance(noise, noise).max().item<double>() < 1e-6);
  // (T/P)² = 1/100 in every bin → |log10| = 2 → LSD = 2
  auto lsd = audio::log_spectral_distance(noise * 10.0, noise);
  REQUIRE(lsd.sizes() == torch::IntArrayRef({2}));
  REQUIRE(lsd[0].item<double>() == Approx(2.0).epsilon(1e-4));
}

TEST_CASE("mel L1 averages absolute differences, optionally over masked frames", "[audio][metrics]") {
  auto a = torch::zeros({1, 2, 4});
  auto b = torch::ones({1, 2, 4});
  b[0][0][3] = 5.0;
  REQUIRE(audio::mel_l1(a, b).item<double>() == Approx(12.0 / 8.0));
  auto mask = torch::tensor({{1, 1, 0, 0}}).to(torch::kBool);
  REQUIRE(audio::mel_l1(a, b, mask).item<double>() == Approx(1.0));
}

namespace {
std::pair<uint32_t, uint32_t> png_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[24];
  in.read(reinterpret_cast<char*>(header), 24);
  REQUIRE(in.gcount() == 24);
  REQUIRE(header[1] == 'P');
  REQUIRE(header[2] == 'N');
  REQUIRE(header[3] == 'G');
  auto be32 = [&](int at) { return (uint32_t(header[at]) << 24) | (uint32_t(header[at + 1]) << 16) | (uint32_t(header[at + 2]) << 8) | header[at + 3]; };
  return {be32(16), be32(20)};
}
}  // namespace

TEST_CASE("colormaps follow matplotlib's magma and viridis", "[viz]") {
  // The polynomial fits stay within 5 of 255 levels of matplotlib's tables over all 256 entries
  // (measured: worst 5 for magma, 4 for viridis); reference colours are matplotlib's.
  auto near = [](chord::viz::Color c, int r, int g, int b) {
    return std::abs(c.r - r) <= 5 && std::abs(c.g - g) <= 5 && std::abs(c.b - b) <= 5;
  };
  using chord::viz::Colormap;
  REQUIRE(near(chord::viz::colormap(0.0, Colormap::magma), 0, 0, 4));
  REQUIRE(near(chord::viz::colormap(0.5, Colormap::magma), 183, 55, 121));
  REQUIRE(near(chord::viz::colormap(1.0, Colormap::magma), 252, 253, 191));
  REQUIRE(near(chord::viz::colormap(0.0, Colormap::viridis), 68, 1, 84));
  REQUIRE(near(chord::viz::colormap(0.5, Colormap::viridis), 33, 145, 140));
  REQUIRE(near(chord::viz::colormap(1.0, Colormap::viridis), 253, 231, 37));
  REQUIRE(chord::viz::colormap(2.0, Colormap::gray).r == 255);  // clamped
}

TEST_CASE("spectrogram pooling averages whole groups, a shorter last group, and skips non-finite values", "[viz]") {
  auto values = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, NAN}).reshape({1, 5});
  auto pooled = chord::viz::detail::pool_spectrogram(values, 1, 2);
  REQUIRE(pooled.sizes() == torch::IntArrayRef{1, 3});
  REQUIRE(pooled[0][0].item<float>() == 1.5f);
  REQUIRE(pooled[0][1].item<float>() == 3.5f);
  REQUIRE(std::isnan(pooled[0][2].item<float>()));
  auto grid = torch::arange(12, torch::kFloat32).reshape({4, 3});
  auto both = chord::viz::detail::pool_spectrogram(grid, 2, 3);
  REQUIRE(both.sizes() == torch::IntArrayRef{2, 1});
  REQUIRE(both[0][0].item<float>() == 2.5f);  // mean of 0..5
  REQUIRE(both[1][0].item<float>() == 8.5f);  // mean of 6..11
}

TEST_CASE("text outside printable ASCII is drawn as one '?' per character", "[viz]") {
  // Found by UndefinedBehaviorSanitizer: a non-ASCII title indexed the font's glyph table at −60.
  using chord::viz::Canvas;
  const std::string text = "h\xC3\xA9llo \xE4\xB8\x96\xF0\x9F\x8E\xB5\t!";  // "héllo 世🎵\t!"
  REQUIRE(Canvas::drawable(text) == "h?llo ???!");
  REQUIRE(Canvas::drawable("a\nb") == "a\nb");
  REQUIRE(Canvas::text_width(text) == Canvas::text_width("h?llo ???!"));
  Canvas drawn(120, 12), expected(120, 12);
  drawn.draw_text(1, 1, text, chord::viz::kBlack);
  expected.draw_text(1, 1, "h?llo ???!", chord::viz::kBlack);
  REQUIRE(drawn.pixels() == expected.pixels());
  REQUIRE(drawn.pixels() != Canvas(120, 12).pixels());  // something was drawn
}

TEST_CASE("spectrogram and curve PNGs are written with the expected size", "[viz]") {
  const auto dir = chord::test::scratch_dir("viz");
  auto mel = torch::linspace(-10, 2, 100 * 80).reshape({100, 80});
  chord::viz::save_spectrograms_png(dir / "mel.png", {{"target", mel}, {"generated", mel.flip(0)}});
  auto [w, h] = png_size(dir / "mel.png");
  REQUIRE(w == 50 + 80 * 2 + 70);
  REQUIRE(h == 2 * (22 + 100 * 3) + 26);

  // 85 s of speech at 24 kHz (hop 256) used to ask for a 17680-pixel canvas and fail after the WAV was
  // written; past the width cap, adjacent frames are averaged instead.
  auto long_mel = torch::randn({100, 20000});
  chord::viz::save_spectrograms_png(dir / "long.png", {{"generated", long_mel}, {"prompt", mel}});
  auto [lw, lh] = png_size(dir / "long.png");
  REQUIRE(lw == 50 + 20000 / 5 + 70);  // 5 frames per pixel fit the 4000-pixel cap
  REQUIRE(lh == 2 * (22 + 100 * 3) + 26);
  auto tall = torch::randn({5000, 10});
  chord::viz::save_spectrograms_png(dir / "tall.png", {{"many bins", tall}});
  REQUIRE(png_size(dir / "tall.png").second == 22 + 2500 + 26);  // 2 bins per pixel

  chord::viz::Series train{"train", {}, {}}, valid{"valid", {}, {}};
  for (int i = 1; i <= 50; ++i) {
    train.x.push_back(i);
    train.y.push_back(2.0 / i);
    if (i % 10 == 0) {
      valid.x.push_back(i);
      valid.y.push_back(2.5 / i);
    }
  }
  chord::viz::save_curves_png(dir / "loss.png", {train, valid}, {.title = "loss", .y_label = "mse", .log_y = true});
  auto [cw, ch] = png_size(dir / "loss.png");
  REQUIRE(cw == 900);
  REQUIRE(ch == 520);
  REQUIRE_THROWS(chord::viz::save_curves_png(dir / "bad.png", {{"x", {1, 2}, {1}}}));
}
