// The inputs of the command-line tests (tests/CMakeLists.txt): files a user might hand a program by
// mistake (NaN audio, empty or one-sample audio, a crafted safetensors header, a manifest with bad
// lines) and ordinary ones the tests need (a long prompt with pauses, a clip at 44.1 kHz and its
// 48 kHz copy). Hidden from the normal runs; CTest's `cli_inputs` fixture runs it once.
#include "support.hpp"

#include <chord/audio/io.hpp>
#include <chord/audio/resample.hpp>

#include <fstream>
#include <iterator>

namespace {
torch::Tensor tone(double seconds, int64_t rate, double hz, double amplitude = 0.3) {
  const auto n = static_cast<int64_t>(seconds * static_cast<double>(rate));
  return amplitude * torch::sin(2.0 * M_PI * hz * torch::arange(n, torch::kFloat64) / static_cast<double>(rate)).to(torch::kFloat32);
}
}  // namespace

TEST_CASE("write the command-line tests' input files", "[.cli_inputs]") {
  const auto dir = std::filesystem::path(CHORD_TEST_OUTPUT) / "cli_inputs";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto corpus = std::filesystem::path(CHORD_TEST_OUTPUT) / "demo_smoke" / "corpus";
  REQUIRE(std::filesystem::exists(corpus / "wavs" / "00000.wav"));  // the demo_corpus fixture

  std::vector<float> with_nan(24000, 0.1f);
  with_nan[12000] = NAN;
  chord::test::write_raw_float_wav(dir / "nan.wav", with_nan, 24000);
  chord::test::write_raw_float_wav(dir / "nan_44k.wav", std::vector<float>(4410, NAN), 44100);
  chord::audio::write_audio(dir / "empty.wav", torch::zeros({0}), 24000);
  chord::audio::write_audio(dir / "empty_44k.wav", torch::zeros({0}), 44100);
  chord::audio::write_audio(dir / "one_sample.wav", torch::full({1}, 0.1f), 24000);
  // 20 s with one long pause after 7 s: clipped there (7.75 s) as F5-TTS clips prompts over 12 s.
  chord::audio::write_audio(dir / "long_prompt.wav",
                            torch::cat({tone(7.0, 24000, 220.0), torch::zeros({36000}), tone(11.5, 24000, 180.0)}), 24000);
  // A band-limited clip at 44.1 kHz and the same clip at 48 kHz.
  auto clip = tone(1.0, 44100, 440.0) + tone(1.0, 44100, 3000.0, 0.1);
  chord::audio::write_audio(dir / "clip_44k.wav", clip, 44100);
  chord::audio::write_audio(dir / "clip_48k.wav", chord::audio::resample(clip, 44100, 48000), 48000);
  // A regular file where a folder is expected.
  std::ofstream(dir / "not_a_folder") << "a file\n";
  // 2^61 + 16 float64 elements: the byte count wraps around to 128 in 64-bit arithmetic.
  {
    const std::string header = R"({"w":{"dtype":"F64","shape":[2305843009213693968],"data_offsets":[0,128]}})";
    std::ofstream out(dir / "crafted.safetensors", std::ios::binary);
    const uint64_t size = header.size();
    out.write(reinterpret_cast<const char*>(&size), 8);
    out << header << std::string(128, '\0');
  }
  // A FLAC file cut in half (its header promises every frame) and a file that is no audio at all.
  {
    chord::audio::write_audio(dir / "whole.flac", tone(1.0, 24000, 300.0), 24000);
    std::ifstream in(dir / "whole.flac", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "truncated.flac", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(dir / "junk.wav", std::ios::binary) << "RIFF, but not a wave file at all";
  }
  // Trainer configs: a misspelt option (silently ignored before) and a float far outside 64-bit
  // integers where an integer belongs (converted with an undefined cast before).
  std::ofstream(dir / "config_misspelt.json") << R"({"stpes": 3})" << "\n";
  std::ofstream(dir / "config_huge_steps.json") << R"({"steps": 1e300})" << "\n";
  // A manifest of three good corpus items and five bad ones (lines 4-8).
  {
    std::ofstream out(dir / "manifest_with_bad_items.jsonl");
    for (const char* name : {"00000", "00001", "00002"}) {
      out << R"({"audio": ")" << (corpus / "wavs" / (std::string(name) + ".wav")).string() << R"(", "text": "Hello there, my friend."})" << "\n";
    }
    out << R"({"audio": "missing.wav", "text": "Gone."})" << "\n"
        << R"({"audio": "nan.wav", "text": "Not a number."})" << "\n"
        << R"({"audio": "empty.wav", "text": "Nothing."})" << "\n"
        << R"({"audio": "truncated.flac", "text": "Cut short."})" << "\n"
        << R"({"audio": "junk.wav", "text": "Noise."})" << "\n";
  }
  REQUIRE(std::filesystem::exists(dir / "clip_48k.wav"));
}
