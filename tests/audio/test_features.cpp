// STFT, mel filterbanks and log-mel features against torchaudio / librosa / F5-TTS fixtures;
// Griffin-Lim.
#include "support.hpp"

#include <chord/audio/griffin_lim.hpp>
#include <chord/audio/mel.hpp>
#include <chord/audio/stft.hpp>
#include <chord/core/random.hpp>

using chord::test::max_abs_diff;
namespace audio = chord::audio;

TEST_CASE("mel scales convert with the HTK and Slaney formulas", "[audio][mel]") {
  REQUIRE(audio::hz_to_mel(1000.0, audio::MelScale::htk) == Approx(999.9855371396244).epsilon(1e-12));
  REQUIRE(audio::hz_to_mel(1000.0, audio::MelScale::slaney) == Approx(15.0));
  REQUIRE(audio::hz_to_mel(500.0, audio::MelScale::slaney) == Approx(7.5));  // linear below 1 kHz: f / (200/3)
  REQUIRE(audio::hz_to_mel(6400.0, audio::MelScale::slaney) == Approx(42.0));  // 15 + 27·log(6.4)/log(6.4)
  for (double hz : {0.0, 300.0, 999.0, 1000.0, 4321.0, 12000.0}) {
    for (auto scale : {audio::MelScale::htk, audio::MelScale::slaney}) {
      REQUIRE(audio::mel_to_hz(audio::hz_to_mel(hz, scale), scale) == Approx(hz).margin(1e-9));
    }
  }
}

TEST_CASE("mel filterbanks match torchaudio (HTK) and librosa (Slaney)", "[audio][mel][parity]") {
  auto f = chord::test::fixture_tensors("mel_reference.safetensors");
  auto htk = audio::mel_filterbank(513, 0.0, 12000.0, 100, 24000, audio::MelScale::htk, audio::MelNorm::none);
  REQUIRE(htk.sizes() == f.at("fb_htk").sizes());
  // torchaudio run in float64 computes the same formula as chord: equal to float32 rounding.
  REQUIRE(max_abs_diff(htk, f.at("fb_htk_f64")) < 1e-7);
  // torchaudio's default float32 arithmetic (linspace of mels ~3000 in float32, then ratios of
  // differences) rounds the weights by up to ~1e-5; chord builds the bank in float64.
  REQUIRE(max_abs_diff(htk, f.at("fb_htk")) < 2e-5);
  auto slaney = audio::mel_filterbank(1025, 0.0, 22050.0, 128, 44100, audio::MelScale::slaney, audio::MelNorm::slaney);
  REQUIRE(max_abs_diff(slaney.t(), f.at("fb_slaney")) < 1e-7);
}

TEST_CASE("the F5-TTS log-mel matches the reference within 1e-4", "[audio][mel][parity]") {
  auto f = chord::test::fixture_tensors("mel_reference.safetensors");
  audio::MelSpectrogram vocos(audio::MelSpectrogramOptions::vocos_24k());
  auto mel = vocos(f.at("wave24"));
  REQUIRE(mel.sizes() == f.at("logmel_vocos").sizes());
  REQUIRE(mel.size(2) == vocos.frames(f.at("wave24").size(1)));
  REQUIRE(max_abs_diff(mel, f.at("logmel_vocos")) < 1e-4);

  audio::MelSpectrogram bigvgan(audio::MelSpectrogramOptions::bigvgan_24k());
  auto big = bigvgan(f.at("wave24"));
  REQUIRE(big.sizes() == f.at("logmel_bigvgan").sizes());
  REQUIRE(big.size(2) == bigvgan.frames(f.at("wave24").size(1)));
  REQUIRE(max_abs_diff(big, f.at("logmel_bigvgan")) < 1e-4);
}

TEST_CASE("the VITS linear spectrogram and log-mel match mel_processing.py", "[audio][mel][parity]") {
  auto f = chord::test::fixture_tensors("mel_reference.safetensors");
  auto wave = f.at("wave44");
  auto linear = audio::vits_linear_spectrogram(wave);
  REQUIRE(linear.sizes() == f.at("vits_linear").sizes());
  REQUIRE(linear.size(2) == wave.size(1) / 512);  // floor(L / hop)
  REQUIRE(max_abs_diff(linear, f.at("vits_linear")) < 1e-4);
  audio::MelSpectrogram vits(audio::MelSpectrogramOptions::vits());
  auto mel = vits(wave);
  REQUIRE(max_abs_diff(mel, f.at("vits_logmel")) < 1e-4);
}

TEST_CASE("stft and istft invert each other for centred layouts", "[audio][stft]") {
  auto x = torch::randn({2, 4000});
  audio::StftOptions options{512, 128, 512, true, false};
  auto window = audio::hann_window(512);
  auto spectrum = audio::stft(x, options, window);
  REQUIRE(spectrum.sizes() == torch::IntArrayRef({2, 257, 4000 / 128 + 1}));
  auto back = audio::istft(spectrum, options, window, 4000);
  REQUIRE(max_abs_diff(back, x) < 1e-5);
  // leading dimensions are kept
  REQUIRE(audio::stft(torch::randn({2, 3, 1000}), options, window).sizes() == torch::IntArrayRef({2, 3, 257, 8}));
}

TEST_CASE("Griffin-Lim recovers a waveform whose spectrogram matches the target", "[audio][griffin_lim]") {
  const int64_t rate = 24000;
  auto t = torch::arange(rate, torch::kFloat32) / rate;
  auto wave = 0.3 * torch::sin(2 * M_PI * 440 * t) + 0.2 * torch::sin(2 * M_PI * 1250 * t);
  audio::StftOptions options{1024, 256, 1024, true, false};
  auto window = audio::hann_window(1024);
  auto target = audio::stft(wave, options, window).abs();
  auto convergence = [&](int iterations) {
    auto gen = chord::make_generator(0);
    auto rebuilt = audio::griffin_lim(target, options, window, {iterations, 0.99, true}, gen, rate);
    auto magnitude = audio::stft(rebuilt, options, window).abs();
    return ((magnitude - target).norm() / target.norm()).item<double>();  // spectral convergence
  };
  const double few = convergence(2), many = convergence(48);
  REQUIRE(many < few);
  REQUIRE(many < 0.1);
}

TEST_CASE("the Griffin-Lim vocoder turns an F5-TTS log-mel back into matching audio", "[audio][griffin_lim]") {
  const int64_t rate = 24000;
  auto t = torch::arange(rate, torch::kFloat32) / rate;
  auto wave = (0.3 * torch::sin(2 * M_PI * 220 * t) + 0.1 * torch::sin(2 * M_PI * 2500 * t)).unsqueeze(0);
  audio::MelSpectrogram mel(audio::MelSpectrogramOptions::vocos_24k());
  auto logmel = mel(wave);
  audio::GriffinLimVocoder vocoder;
  auto gen = chord::make_generator(1);
  auto audio_out = vocoder.decode(logmel, gen);
  REQUIRE(audio_out.sizes() == torch::IntArrayRef({1, (logmel.size(2) - 1) * 256}));
  auto relogmel = mel(audio_out);
  const auto frames = std::min(relogmel.size(2), logmel.size(2)) - 4;
  // The loud partials come back within a couple of dB (log-mel difference, natural log).
  auto loud = logmel.slice(2, 2, frames) > -2.0;
  auto diff = (relogmel.slice(2, 2, frames) - logmel.slice(2, 2, frames)).abs().masked_select(loud);
  REQUIRE(diff.mean().item<double>() < 0.25);
}
