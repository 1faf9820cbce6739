// SAGA-SR building blocks with hand-checked values: rectified flow and its schedules, the roll-off
// rule, low-frequency replacement (hard and cross-faded), the NumberConditioner.
#include "support.hpp"

#include <chord/audio/band_replacement.hpp>
#include <chord/audio/lowpass.hpp>
#include <chord/audio/rolloff.hpp>
#include <chord/core/random.hpp>
#include <chord/nn/number_conditioner.hpp>
#include <chord/policies/objective/rectified_flow.hpp>

#include <set>

using chord::test::max_abs_diff;

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

TEST_CASE("rectified flow: t = 1 is noise, the target is noise − data", "[saga_sr][objective]") {
  chord::obj::RectifiedFlow<> objective;
  auto data = torch::randn({4, 6, 3});
  auto gen = chord::make_generator(2);
  auto pair = objective.draw(data, gen);
  const auto t = pair.time.view({-1, 1, 1});
  REQUIRE(max_abs_diff(pair.x_t, (1 - t) * data + t * pair.noise) < 1e-6);
  REQUIRE(max_abs_diff(pair.target, pair.noise - data) < 1e-6);
  // Logit-normal times: sigmoid of the generator's first normal draws.
  auto replay = chord::make_generator(2);
  REQUIRE(max_abs_diff(pair.time, torch::sigmoid(torch::randn({4}, replay))) < 1e-7);
  // The exact velocity integrates noise back to the data in one Euler step (1 → 0).
  const auto net = chord::test::fixed_output_net(pair.noise - data);
  auto out = chord::obj::RectifiedFlow<>{}.sample(net, pair.noise, {1}, gen);
  REQUIRE(max_abs_diff(out, data) < 1e-5);
}

TEST_CASE("the stable-audio log-SNR and SAGA-SR linear-quadratic schedules", "[saga_sr][objective]") {
  // sample_rf, steps 4: λ = −6, −4, −2, 0, 2; t = sigmoid(−λ) with the ends forced to 1 and 0.
  auto t = chord::grid::LogSnr::times(4);
  REQUIRE(t.size(0) == 5);
  REQUIRE(t[0].item<float>() == 1.0f);
  REQUIRE(t[1].item<float>() == Approx(sigmoid(4.0)));
  REQUIRE(t[2].item<float>() == Approx(sigmoid(2.0)));
  REQUIRE(t[3].item<float>() == Approx(0.5));
  REQUIRE(t[4].item<float>() == 0.0f);
  // 100 steps: 1.000 → 0.950 in 0.001 steps, then 0.95·(1 − (j/50)²).
  auto lq = chord::grid::LinearQuadratic::times(100);
  REQUIRE(lq.size(0) == 101);
  REQUIRE(lq[0].item<float>() == 1.0f);
  REQUIRE(lq[1].item<float>() == Approx(0.999));
  REQUIRE(lq[50].item<float>() == Approx(0.95));
  REQUIRE(lq[51].item<float>() == Approx(0.95 * (1 - 1.0 / 2500)));
  REQUIRE(lq[75].item<float>() == Approx(0.95 * 0.75));
  REQUIRE(lq[100].item<float>() == 0.0f);
  REQUIRE((lq.slice(0, 1) < lq.slice(0, 0, 100)).all().item<bool>());
}

TEST_CASE("roll-off: the largest bin below 98.5 % of the cumulative magnitude", "[saga_sr][audio]") {
  // Hand-made spectrogram: bin magnitudes 1, 1, 1, 97 (summed over time): e = 1, 2, 3, 100;
  // 0.985·100 = 98.5, so bins 0..2 are below and k* = 2.
  auto magnitude = torch::tensor({{0.5, 0.5}, {1.0, 0.0}, {0.25, 0.75}, {50.0, 47.0}});
  REQUIRE(chord::audio::rolloff_bin(magnitude) == 2);
  REQUIRE(chord::audio::rolloff_bin(torch::tensor({{100.0}, {0.0}})) == 0);  // nothing below: 0
  // A waveform: white noise low-passed at 4 kHz (44.1 kHz): the roll-off lands just under the cut.
  auto gen = chord::make_generator(3);
  auto noise = torch::randn({44100}, gen);
  auto spectrum = torch::fft::rfft(noise);
  const auto cut = static_cast<int64_t>(4000.0 / 44100.0 * 44100);  // rfft bin spacing 1 Hz
  spectrum.slice(0, cut).zero_();
  auto band_limited = torch::fft::irfft(spectrum, 44100);
  const double ratio = chord::audio::rolloff_ratio(band_limited);
  CAPTURE(ratio);
  REQUIRE(ratio < 4000.0 / 22050.0);
  REQUIRE(ratio > 0.96 * 4000.0 / 22050.0);
  // Stereo is averaged first.
  REQUIRE(chord::audio::rolloff_ratio(torch::stack({band_limited, band_limited})) == ratio);
}

TEST_CASE("low-frequency replacement: the hard cut leaves a step at the cutoff that the cross-fade removes", "[saga_sr][audio]") {
  // Known spectra with one phase pattern (the generated low band follows the input's): the input is
  // flat at level 1 up to bin 120 and silent above; the generated audio is flat at level 3. With the
  // cutoff bin k = 100, r = clip(1/3, 0.8, 1.2) = 0.8.
  const int64_t bins = 400, frames = 8, k = 100;
  auto gen = chord::make_generator(1);
  auto phase = torch::polar(torch::ones({bins, frames}, torch::kDouble), torch::rand({bins, frames}, gen, torch::kDouble) * 6.283);
  auto lr = phase * (torch::arange(bins, torch::kDouble) <= 120).to(torch::kDouble).unsqueeze(1);
  auto generated = phase * 3.0;
  auto level = [](const torch::Tensor& s) { return s.abs().mean(1); };  // per-bin magnitude
  auto largest_step = [&](const torch::Tensor& s) {
    auto l = level(s).log();
    return (l.slice(0, 1) - l.slice(0, 0, bins - 1)).abs().max().item<double>();
  };
  auto hard = chord::audio::replace_low_frequencies_spectrum(lr, generated, k);
  // Bins below k are the input divided by r = 0.8 (phase kept), bins from k on are untouched.
  REQUIRE(max_abs_diff(hard.slice(0, 0, k), lr.slice(0, 0, k) / 0.8) < 1e-12);
  REQUIRE(torch::equal(hard.slice(0, k), generated.slice(0, k)));
  // The step at the cutoff bin: log(3 / 1.25) ≈ 0.875 in one bin.
  REQUIRE(largest_step(hard) == Approx(std::log(3.0 / 1.25)).epsilon(1e-9));
  auto faded = chord::audio::replace_low_frequencies_spectrum(lr, generated, k,
                                                              chord::audio::LowFrequencyReplacementOptions::cross_fade());
  // Below 0.9·k: the input; above 1.1·k: the generated audio; no single-bin step above 0.2.
  REQUIRE(max_abs_diff(faded.slice(0, 0, 90), lr.slice(0, 0, 90) / 0.8) < 1e-12);
  REQUIRE(torch::equal(faded.slice(0, 111), generated.slice(0, 111)));
  CAPTURE(largest_step(faded));
  REQUIRE(largest_step(faded) < 0.2);
  REQUIRE(largest_step(faded) < largest_step(hard) / 4);
}

TEST_CASE("low-frequency replacement on waveforms keeps the length and the input's low band", "[saga_sr][audio]") {
  auto gen = chord::make_generator(5);
  const int64_t n = 44100;
  auto t = torch::arange(n, torch::kFloat) / 44100.0;
  auto lr = 0.5 * torch::sin(2 * M_PI * 440.0 * t) + 0.01 * torch::randn({n}, gen);
  auto generated = 0.2 * torch::randn({n}, gen);
  auto out = chord::audio::replace_low_frequencies(generated, lr);
  REQUIRE(out.sizes() == generated.sizes());
  // The 440 Hz tone comes back from the input (within the 0.8 … 1.2 level ratio).
  auto spectrum = torch::fft::rfft(out).abs();
  auto tone = spectrum[440].item<double>(), reference = torch::fft::rfft(lr).abs()[440].item<double>();
  REQUIRE(tone / reference > 1 / 1.25);
  REQUIRE(tone / reference < 1 / 0.75);
  REQUIRE_THROWS_WITH(chord::audio::replace_low_frequencies(generated, lr.narrow(0, 0, 100)), Catch::Matchers::Contains("one shape"));
  // Signals too short for a centred n_fft 2048 STFT (the tail of a long input cut into windows) are
  // zero-padded for the analysis: the length is kept and the tone's roll-off found.
  auto taper = torch::hann_window(800, torch::TensorOptions().dtype(torch::kFloat));  // no click at the ends
  auto short_lr = 0.5 * torch::sin(2 * M_PI * 440.0 * t.narrow(0, 0, 800)) * taper, short_generated = generated.narrow(0, 0, 800);
  REQUIRE(chord::audio::replace_low_frequencies(short_generated, short_lr).size(0) == 800);
  REQUIRE(chord::audio::rolloff_ratio(short_lr) < 0.1);
}

TEST_CASE("NumberConditioner: clamp, normalise, [u, sin, cos] features, one token", "[saga_sr][conditioner]") {
  torch::manual_seed(0);
  chord::nn::NumberConditioner conditioner(chord::nn::NumberConditionerOptions(4).min_value(0.0).max_value(2.0));
  auto named = conditioner->named_parameters();
  REQUIRE(named.contains("embedder.embedding.0.weights"));
  REQUIRE(named.contains("embedder.embedding.1.weight"));
  REQUIRE(named["embedder.embedding.0.weights"].sizes() == torch::IntArrayRef({128}));
  auto features = chord::nn::LearnedFourierFeatures(4);
  {
    torch::NoGradGuard no_grad;
    features->weights.copy_(torch::tensor({1.0f, 0.25f}));
  }
  auto f = features(torch::tensor({0.5f}));
  // u = 0.5: [0.5, sin(π), sin(π/4), cos(π), cos(π/4)]
  REQUIRE(max_abs_diff(f, torch::tensor({{0.5f, 0.0f, float(std::sin(M_PI / 4)), -1.0f, float(std::cos(M_PI / 4))}})) < 1e-6);
  torch::NoGradGuard no_grad;
  auto [embedding, mask] = conditioner(torch::tensor({1.0, 5.0, -1.0}));
  REQUIRE(embedding.sizes() == torch::IntArrayRef({3, 1, 4}));
  REQUIRE(mask.all().item<bool>());
  // 5 clamps to the maximum (u = 1), −1 to the minimum (u = 0).
  auto direct = conditioner->embedder(torch::tensor({0.5f, 1.0f, 0.0f}));
  REQUIRE(max_abs_diff(embedding.squeeze(1), direct) < 1e-6);
}

namespace {
double db(double magnitude) { return 20.0 * std::log10(magnitude); }
}  // namespace

TEST_CASE("low-pass designs have the responses their families promise", "[saga_sr][audio][filters]") {
  using chord::audio::FilterFamily;
  const double fs = 44100.0, fc = 4000.0;
  auto design = [&](FilterFamily family, int order) { return chord::audio::design_lowpass({family, order, fc, fs, 0.1, 60.0}); };
  std::vector<double> passband, stopband;
  for (double f = 0.0; f <= fc; f += 50.0) passband.push_back(f);
  for (double f = 2.0 * fc; f < fs / 2; f += 250.0) stopband.push_back(f);

  auto butter = design(FilterFamily::butterworth, 4);
  REQUIRE(butter.sections.size() == 2);
  auto h = butter.magnitude({0.0, fc, 2 * fc}, fs);
  REQUIRE(h[0] == Approx(1.0).margin(1e-5));
  REQUIRE(db(h[1]) == Approx(-3.01).margin(0.05));
  REQUIRE(h[2] < 1.0 / std::sqrt(1.0 + std::pow(2.0, 8)) * 1.1);  // bilinear warping only helps

  for (auto family : {FilterFamily::chebyshev1, FilterFamily::elliptic}) {
    INFO(chord::audio::to_string(family));
    auto filter = design(family, 6);
    for (double m : filter.magnitude(passband, fs)) REQUIRE(db(m) > -0.1 - 1e-3);  // 0.1 dB ripple
    REQUIRE(db(filter.magnitude({fc}, fs)[0]) == Approx(-0.1).margin(0.02));
  }
  for (double m : design(FilterFamily::elliptic, 6).magnitude(stopband, fs)) REQUIRE(db(m) < -60.0 + 1e-3);
  // Steeper than Butterworth of the same order just above the cutoff.
  REQUIRE(design(FilterFamily::chebyshev1, 6).magnitude({1.5 * fc}, fs)[0] < design(FilterFamily::butterworth, 6).magnitude({1.5 * fc}, fs)[0]);

  auto bessel = design(FilterFamily::bessel, 4).magnitude(stopband, fs);
  auto bessel_pass = design(FilterFamily::bessel, 4).magnitude(passband, fs);
  REQUIRE(bessel_pass.front() == Approx(1.0).margin(1e-4));
  for (size_t i = 1; i < bessel_pass.size(); ++i) REQUIRE(bessel_pass[i] <= bessel_pass[i - 1] + 1e-9);  // monotone, no ripple
  REQUIRE(bessel.front() < 0.5);
  REQUIRE_THROWS_WITH(design(FilterFamily::butterworth, 0), Catch::Matchers::Contains("order 0"));
}

TEST_CASE("zero-phase filtering keeps passband phase and squares the stopband gain", "[saga_sr][audio][filters]") {
  const double fs = 44100.0;
  auto filter = chord::audio::design_lowpass({chord::audio::FilterFamily::butterworth, 4, 4000.0, fs});
  auto t = torch::arange(8820, torch::kDouble) / fs;
  auto low = torch::sin(2 * M_PI * 500.0 * t), high = torch::sin(2 * M_PI * 12000.0 * t);
  auto filtered_low = chord::audio::sosfiltfilt(low, filter);
  auto middle = [](const torch::Tensor& x) { return x.slice(0, 2000, 6820); };
  const double gain_low = filter.magnitude({500.0}, fs)[0];
  REQUIRE(max_abs_diff(middle(filtered_low), middle(low) * gain_low * gain_low) < 1e-3);  // no phase shift
  auto filtered_high = chord::audio::sosfiltfilt(high, filter);
  const double gain_high = filter.magnitude({12000.0}, fs)[0];
  REQUIRE(middle(filtered_high).abs().max().item<double>() == Approx(gain_high * gain_high).epsilon(0.02));
  // A constant comes out scaled by the DC gain squared from the very first sample (steady-state
  // initial conditions: no start-up transient). liquid-dsp designs in float32, so the gain is 1 ± 1e-7.
  auto constant = torch::full({500}, 0.3, torch::kDouble);
  const double dc = filter.magnitude({0.0}, fs)[0];
  REQUIRE(dc == Approx(1.0).margin(1e-6));
  REQUIRE(max_abs_diff(chord::audio::sosfiltfilt(constant, filter), constant * dc * dc) < 1e-12);
}

TEST_CASE("low-resolution simulation: seeded random designs, no energy above the cutoff", "[saga_sr][audio][filters]") {
  auto gen = chord::make_generator(11);
  auto audio = 0.1 * torch::randn({2, 22050}, gen);
  auto a = chord::make_generator(4), b = chord::make_generator(4);
  auto first = chord::audio::simulate_low_resolution(audio, 44100, a);
  auto second = chord::audio::simulate_low_resolution(audio, 44100, b);
  REQUIRE(first.design.family == second.design.family);
  REQUIRE(first.design.order == second.design.order);
  REQUIRE(first.design.cutoff_hz == second.design.cutoff_hz);
  REQUIRE(torch::equal(first.audio, second.audio));
  REQUIRE(first.audio.sizes() == audio.sizes());
  CAPTURE(chord::audio::to_string(first.design.family), first.design.order, first.design.cutoff_hz);
  REQUIRE(first.design.cutoff_hz >= 2000);
  REQUIRE(first.design.cutoff_hz <= 16000);
  // Above the cutoff (1.05×, past the resampler's transition) almost nothing is left.
  auto spectrum = torch::fft::rfft(first.audio[0]).abs().square();  // 2 Hz per bin
  const auto edge = static_cast<int64_t>(first.design.cutoff_hz * 1.05 / 2.0);
  REQUIRE(spectrum.slice(0, edge).sum().item<double>() < 1e-4 * spectrum.sum().item<double>());
  // Every family and order range is reachable.
  std::set<std::string> families;
  for (int i = 0; i < 40; ++i) {
    auto g = chord::make_generator(100 + i);
    chord::audio::LowResolutionOptions quick;
    quick.resample = false;
    families.insert(chord::audio::to_string(chord::audio::simulate_low_resolution(audio[0], 44100, g, quick).design.family));
  }
  REQUIRE(families.size() == 4);
}
