#pragma once
// Helpers shared by chord's tests.
#include <catch2/catch.hpp>
#include <chord/io/safetensors.hpp>
#include <chord/policies/objective/concept.hpp>
#include <sndfile.h>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace chord::test {

/// A fresh, empty directory under the build tree for one test's files.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(CHORD_TEST_OUTPUT) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::filesystem::path fixture(const std::string& name) { return std::filesystem::path(CHORD_TEST_FIXTURES) / name; }

/// All tensors of a committed fixture file; a missing fixture fails the test with its path.
inline chord::io::TensorMap fixture_tensors(const std::string& name) {
  const auto path = fixture(name);
  if (!std::filesystem::exists(path)) FAIL("missing fixture " << path.string() << " (see tests/parity/README.md)");
  return chord::io::load_safetensors(path);
}

/// Largest absolute difference (as double).
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  // Complex tensors compare as complex: a cast to float64 would drop the imaginary parts unchecked.
  const auto wide = (a.is_complex() || b.is_complex()) ? torch::kComplexDouble : torch::kFloat64;
  return (a.to(wide) - b.to(wide)).abs().max().item<double>();
}

/// Writes mono 32-bit float WAV samples as given, NaN and Inf included (chord's own writer refuses
/// them): for tests of what readers do with such files.
inline void write_raw_float_wav(const std::filesystem::path& path, const std::vector<float>& samples, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(file != nullptr);
  sf_command(file, SFC_SET_CLIPPING, nullptr, SF_FALSE);
  REQUIRE(sf_writef_float(file, samples.data(), static_cast<sf_count_t>(samples.size())) ==
          static_cast<sf_count_t>(samples.size()));
  sf_close(file);
}

/// A one-branch guided net whose output is always `output` (broadcast to the input's shape): for
/// checking a sampler's arithmetic by hand.
inline GuidedNet fixed_output_net(torch::Tensor output) {
  GuidedNet net;
  net.branch_outputs = [output](const torch::Tensor& x, const torch::Tensor&) { return std::vector<torch::Tensor>{output.expand_as(x)}; };
  net.combine = [](const std::vector<torch::Tensor>& outputs) { return outputs[0]; };
  return net;
}

}  // namespace chord::test

/// REQUIRE that evaluating `expr` throws chord::Error (or c10::Error) whose message contains `text`.
#define CHORD_REQUIRE_THROWS_WITH_TEXT(expr, text) \
  REQUIRE_THROWS_WITH(expr, Catch::Matchers::Contains(text))
