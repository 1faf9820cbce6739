// Audio files, resampling, mono mixdown and RMS normalisation.
#include "support.hpp"

#include <chord/audio/io.hpp>
#include <chord/audio/resample.hpp>
#include <chord/audio/signal.hpp>
#include <torch/fft.h>

#include <cmath>
#include <fstream>
#include <iterator>

namespace {
torch::Tensor sine(double hz, int64_t rate, int64_t n, double amplitude = 0.5) {
  return amplitude * torch::sin(2.0 * M_PI * hz * torch::arange(n, torch::kFloat64) / rate).to(torch::kFloat32);
}
}  // namespace

TEST_CASE("WAV and FLAC round-trip within their sample format's precision", "[audio][io]") {
  const auto dir = chord::test::scratch_dir("audio_io");
  auto stereo = torch::stack({sine(440, 24000, 2400), sine(660, 24000, 2400, 0.25)});
  chord::audio::write_audio(dir / "a.wav", stereo, 24000);
  auto back = chord::audio::read_audio(dir / "a.wav");
  REQUIRE(back.sample_rate == 24000);
  REQUIRE(back.samples.sizes() == stereo.sizes());
  REQUIRE(chord::test::max_abs_diff(back.samples, stereo) <= 1.0 / 32768.0);
  REQUIRE(back.seconds() == Approx(0.1));

  chord::audio::write_audio(dir / "f.wav", stereo, 24000, chord::audio::SampleFormat::float32);
  REQUIRE(torch::equal(chord::audio::read_audio(dir / "f.wav").samples, stereo));

  chord::audio::write_audio(dir / "a.flac", stereo[0], 44100, chord::audio::SampleFormat::pcm24);
  auto flac = chord::audio::read_audio(dir / "a.flac");
  REQUIRE(flac.sample_rate == 44100);
  REQUIRE(flac.channels() == 1);
  REQUIRE(chord::test::max_abs_diff(flac.samples[0], stereo[0]) <= 1.0 / 8388608.0 * 1.01);
  auto info = chord::audio::audio_info(dir / "a.flac");
  REQUIRE(info.frames == 2400);
}

TEST_CASE("audio errors name the file and the problem", "[audio][io]") {
  const auto dir = chord::test::scratch_dir("audio_errors");
  REQUIRE_THROWS_WITH(chord::audio::read_audio(dir / "nope.wav"), Catch::Matchers::Contains("nope.wav' does not exist"));
  { std::ofstream(dir / "junk.wav") << "RIFF but not really a wave file"; }
  REQUIRE_THROWS_WITH(chord::audio::read_audio(dir / "junk.wav"), Catch::Matchers::Contains("cannot read audio"));
  REQUIRE_THROWS_WITH(chord::audio::write_audio(dir / "x.mp9", torch::zeros({10}), 24000),
                      Catch::Matchers::Contains("unknown extension"));
  REQUIRE_THROWS_WITH(chord::audio::write_audio(dir / "n.wav", torch::full({4}, NAN), 24000),
                      Catch::Matchers::Contains("NaN"));
}

TEST_CASE("audio with NaN or Inf samples is refused at reading, naming the file and the first bad frame", "[audio][io]") {
  const auto dir = chord::test::scratch_dir("audio_nonfinite");
  chord::test::write_raw_float_wav(dir / "nan.wav", {0.1f, 0.2f, NAN, 0.3f}, 16000);
  chord::test::write_raw_float_wav(dir / "inf.wav", {0.1f, -INFINITY}, 16000);
  chord::test::write_raw_float_wav(dir / "fine.wav", {0.1f, -0.2f}, 16000);
  REQUIRE_THROWS_WITH(chord::audio::read_audio(dir / "nan.wav"),
                      Catch::Matchers::Contains("nan.wav' contains NaN or Inf samples (the first at frame 2, channel 0)"));
  REQUIRE_THROWS_WITH(chord::audio::read_audio(dir / "inf.wav"), Catch::Matchers::Contains("the first at frame 1"));
  REQUIRE(chord::audio::read_audio(dir / "fine.wav").samples.numel() == 2);
}

TEST_CASE("resampling keeps a tone's frequency and level and gives round(N·to/from) samples", "[audio][resample]") {
  auto tone = sine(1000, 24000, 24000);
  auto down = chord::audio::resample(tone, 24000, 16000);
  REQUIRE(down.size(0) == 16000);
  auto spectrum = torch::fft::rfft(down.to(torch::kFloat64)).abs();
  REQUIRE(spectrum.argmax().item<int64_t>() == 1000);  // 1 Hz bins over one second
  // level preserved away from the edges
  REQUIRE(chord::audio::rms(down.slice(0, 1000, 15000)) == Approx(0.5 / std::sqrt(2.0)).epsilon(0.01));
  auto stereo = torch::stack({tone, tone});
  REQUIRE(chord::audio::resample(stereo, 24000, 44100).sizes() == torch::IntArrayRef({2, 44100}));
  REQUIRE(chord::audio::resample(tone, 24000, 24000).data_ptr() == tone.data_ptr());
  // up then down returns close to the original (band-limited signal)
  auto round_trip = chord::audio::resample(chord::audio::resample(tone, 24000, 48000), 48000, 24000);
  REQUIRE(chord::test::max_abs_diff(round_trip.slice(0, 500, 23500), tone.slice(0, 500, 23500)) < 1e-3);
}

TEST_CASE("mono mixdown averages channels and RMS normalisation only boosts quiet audio", "[audio][signal]") {
  auto stereo = torch::tensor({{1.0f, 0.0f, -1.0f}, {0.0f, 1.0f, 1.0f}});
  REQUIRE(torch::allclose(chord::audio::to_mono(stereo), torch::tensor({{0.5f, 0.5f, 0.0f}})));
  auto quiet = torch::full({100}, 0.01f);
  auto [boosted, gain] = chord::audio::normalize_rms(quiet, 0.1);
  REQUIRE(gain == Approx(10.0));
  REQUIRE(chord::audio::rms(boosted) == Approx(0.1));
  auto loud = torch::full({100}, 0.5f);
  auto [same, unity] = chord::audio::normalize_rms(loud, 0.1);
  REQUIRE(unity == 1.0);
  REQUIRE(torch::equal(same, loud));
  REQUIRE(chord::audio::normalize_rms(loud, 0.1, /*only_if_quieter=*/false).second == Approx(0.2));
}

TEST_CASE("a header's frame count is not trusted for memory: a FLAC claiming 2^36 frames is refused as truncated",
          "[audio][io]") {
  // Found by fuzzing: 116 bytes claiming 1.7 G frames made read_audio allocate for all of them. Here a
  // real FLAC of 2400 frames with STREAMINFO's 36-bit total set to its maximum (275 GB as float).
  const auto dir = chord::test::scratch_dir("audio_claims");
  chord::audio::write_audio(dir / "small.flac", sine(440, 24000, 2400), 24000);
  std::string bytes;
  {
    std::ifstream in(dir / "small.flac", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE(bytes.substr(0, 4) == "fLaC");
  bytes[21] = static_cast<char>(bytes[21] | 0x0F);  // "fLaC", block header, then STREAMINFO: total samples in 21-25
  for (int i = 22; i < 26; ++i) bytes[i] = static_cast<char>(0xFF);
  std::ofstream(dir / "claims.flac", std::ios::binary) << bytes;
  REQUIRE(chord::audio::audio_info(dir / "claims.flac").frames == (int64_t{1} << 36) - 1);
  REQUIRE_THROWS_WITH(chord::audio::read_audio(dir / "claims.flac"),
                      Catch::Matchers::Contains("claims.flac' is truncated: read 2400 of 68719476735 frames"));

  // A valid file past the single-allocation bound (16 Mi samples; FLAC compresses silence ~1000:1)
  // decodes in blocks to the same samples.
  auto long_quiet = torch::zeros({(int64_t{1} << 24) + 5000});
  long_quiet.narrow(0, long_quiet.size(0) - 4800, 4800).copy_(sine(300, 48000, 4800));
  chord::audio::write_audio(dir / "long.flac", long_quiet, 48000);
  const auto back = chord::audio::read_audio(dir / "long.flac");
  REQUIRE(back.samples.sizes() == torch::IntArrayRef{1, long_quiet.size(0)});
  REQUIRE(chord::test::max_abs_diff(back.samples[0], long_quiet) <= 1.0 / 32768.0);
}
