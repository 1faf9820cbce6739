// The Vocos vocoder against the PyPI `vocos` package (fixture: tests/parity/make_vocos_fixtures.py).
#include "support.hpp"

#include <chord/audio/vocos.hpp>

TEST_CASE("Vocos decodes a log-mel like the vocos package", "[f5tts][vocos][parity]") {
  auto io = chord::test::fixture_tensors("vocos_small_io.safetensors");
  chord::audio::Vocos vocos(chord::audio::VocosOptions().dim(64).intermediate_dim(192).num_layers(2));
  auto report = chord::audio::load_vocos(vocos, chord::test::fixture("vocos_small_weights.safetensors"));
  REQUIRE(report.clean());
  torch::NoGradGuard no_grad;
  auto audio = vocos->decode(io.at("mel"));
  REQUIRE(audio.sizes() == io.at("audio").sizes());
  REQUIRE(audio.size(1) == 37 * 256);
  const double scale = io.at("audio").abs().max().item<double>();
  REQUIRE(chord::test::max_abs_diff(audio, io.at("audio")) <= 1e-4 * scale);
}

TEST_CASE("Vocos refuses weights of another shape and says what is missing", "[f5tts][vocos]") {
  chord::audio::Vocos vocos;  // the full 24 kHz configuration
  REQUIRE_THROWS_WITH(chord::audio::load_vocos(vocos, chord::test::fixture("vocos_small_weights.safetensors")),
                      Catch::Matchers::Contains("shape mismatches"));
  REQUIRE_THROWS_WITH(chord::audio::load_vocos(vocos, "no/such/vocos.safetensors"),
                      Catch::Matchers::Contains("scripts/convert_vocos.py"));
}
