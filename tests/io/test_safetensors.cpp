// safetensors: round trips, zero-copy views, Python interop, and every malformed-file case.
#include "support.hpp"

#include <chord/io/safetensors.hpp>

#include <fstream>

namespace {

using chord::io::TensorMap;

/// The deterministic tensors both interop directions use (tests/parity/safetensors_values.py
/// builds the same ones in Python).
TensorMap interop_tensors() {
  auto base = torch::arange(24, torch::kFloat64).reshape({2, 3, 4}) * 0.5 - 3.0;
  return {
      {"f64", base},
      {"f32", base.to(torch::kFloat32)},
      {"f16", base.to(torch::kFloat16)},
      {"bf16", base.to(torch::kBFloat16)},
      {"i64", torch::arange(-5, 5, torch::kLong)},
      {"i32", torch::arange(-5, 5, torch::kInt) * 1000},
      {"bool", torch::arange(6) % 2 == 0},
      {"u8", torch::arange(250, 256, torch::kLong).to(torch::kUInt8)},
      {"scalar", torch::tensor(3.25f)},
      {"empty", torch::zeros({0, 3})},
  };
}

void write_raw(const std::filesystem::path& path, const std::string& header, const std::string& data,
               std::optional<uint64_t> declared_length = std::nullopt) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = declared_length.value_or(header.size());
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header << data;
}

void require_same(const TensorMap& a, const TensorMap& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, tensor] : a) {
    INFO("tensor " << name);
    REQUIRE(b.count(name));
    REQUIRE(b.at(name).scalar_type() == tensor.scalar_type());
    REQUIRE(b.at(name).sizes() == tensor.sizes());
    REQUIRE(torch::equal(b.at(name), tensor));
  }
}

}  // namespace

TEST_CASE("safetensors round-trips every supported dtype with metadata", "[io][safetensors]") {
  const auto dir = chord::test::scratch_dir("safetensors_roundtrip");
  const auto tensors = interop_tensors();
  chord::io::save_safetensors(dir / "all.safetensors", tensors, {{"format", "pt"}, {"who", "chord"}});
  chord::io::SafetensorsReader reader(dir / "all.safetensors");
  require_same(tensors, reader.tensors());
  REQUIRE(reader.metadata().at("who") == "chord");
  REQUIRE(reader.entry("f32").dtype == torch::kFloat32);
  REQUIRE(reader.keys().size() == tensors.size());
  // Tensors are laid out aligned to their element size.
  for (const auto& e : reader.entries()) REQUIRE(e.begin % c10::elementSize(e.dtype) == 0);
}

TEST_CASE("zero-copy views alias the mapping and never write back to the file", "[io][safetensors]") {
  const auto dir = chord::test::scratch_dir("safetensors_view");
  chord::io::save_safetensors(dir / "v.safetensors", {{"w", torch::arange(16, torch::kFloat32)}});
  torch::Tensor view;
  {
    chord::io::SafetensorsReader reader(dir / "v.safetensors");
    view = reader.tensor("w", /*copy=*/false);
  }  // the view keeps the mapping alive after the reader is gone
  REQUIRE(view[5].item<float>() == 5.0f);
  view.mul_(2);  // copy-on-write pages: only this process sees it
  REQUIRE(view[5].item<float>() == 10.0f);
  REQUIRE(chord::io::load_safetensors(dir / "v.safetensors").at("w")[5].item<float>() == 5.0f);
}

TEST_CASE("a file written by the Python safetensors package loads with identical values", "[io][safetensors][parity]") {
  chord::io::SafetensorsReader reader(chord::test::fixture("python_written.safetensors"));
  require_same(interop_tensors(), reader.tensors());
  REQUIRE(reader.metadata().at("writer") == "python safetensors");
}

TEST_CASE("chord writes the interop file the Python package reads back", "[interop]") {
  std::filesystem::create_directories(CHORD_TEST_OUTPUT);
  chord::io::save_safetensors(std::filesystem::path(CHORD_TEST_OUTPUT) / "interop_chord_written.safetensors",
                              interop_tensors(), {{"writer", "chord"}});
  REQUIRE(std::filesystem::exists(std::filesystem::path(CHORD_TEST_OUTPUT) / "interop_chord_written.safetensors"));
}

TEST_CASE("malformed safetensors files give an error naming the file and the problem", "[io][safetensors]") {
  const auto dir = chord::test::scratch_dir("safetensors_bad");
  const std::string good_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight_bytes(8, '\0');
  auto path = [&](const char* name) { return dir / name; };
  auto expect_error = [&](const std::filesystem::path& file, const std::string& problem) {
    INFO("file " << file.filename() << ", expecting \"" << problem << "\"");
    try {
      chord::io::load_safetensors(file);
      FAIL("no error");
    } catch (const chord::Error& error) {
      const std::string message = error.what();
      REQUIRE_THAT(message, Catch::Matchers::Contains(file.filename().string()));
      REQUIRE_THAT(message, Catch::Matchers::Contains(problem));
    }
  };

  { std::ofstream(path("tiny.safetensors"), std::ios::binary) << "abc"; }
  expect_error(path("tiny.safetensors"), "too short");

  write_raw(path("long_header.safetensors"), "{" + good_entry + "}", eight_bytes, 1000);
  expect_error(path("long_header.safetensors"), "runs past the end of the file");

  write_raw(path("bad_json.safetensors"), R"({"a": {"dtype": "F32", )", eight_bytes);
  expect_error(path("bad_json.safetensors"), "not valid JSON");

  write_raw(path("overlap.safetensors"),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'));
  expect_error(path("overlap.safetensors"), "overlap");

  write_raw(path("out_of_range.safetensors"), R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight_bytes);
  expect_error(path("out_of_range.safetensors"), "reach past the data section");

  write_raw(path("dtype.safetensors"), R"({"a":{"dtype":"F13","shape":[2],"data_offsets":[0,8]}})", eight_bytes);
  expect_error(path("dtype.safetensors"), "unknown dtype 'F13'");

  write_raw(path("bytes.safetensors"), R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight_bytes);
  expect_error(path("bytes.safetensors"), "needs 12 bytes but data_offsets span 8");

  // 2^61 + 16 float64 elements are 2^64 + 128 bytes, which wraps around to 128 in 64-bit arithmetic.
  write_raw(path("wrap.safetensors"), R"({"a":{"dtype":"F64","shape":[2305843009213693968],"data_offsets":[0,128]}})",
            std::string(128, '\0'));
  expect_error(path("wrap.safetensors"), "needs more than 2^64 bytes but data_offsets span 128");

  write_raw(path("gap.safetensors"), R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight_bytes);
  expect_error(path("gap.safetensors"), "unclaimed bytes");

  write_raw(path("no_dtype.safetensors"), R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight_bytes);
  expect_error(path("no_dtype.safetensors"), "missing string 'dtype'");

  write_raw(path("array.safetensors"), "[1,2]", eight_bytes);
  expect_error(path("array.safetensors"), "not a JSON object");

  write_raw(path("trailing.safetensors"), "{" + good_entry + "}", eight_bytes + "xx");
  expect_error(path("trailing.safetensors"), "data section holds 10 bytes");

  expect_error(path("missing.safetensors"), "cannot open");

  // A well-formed file asked for a key it does not have.
  chord::io::save_safetensors(path("ok.safetensors"), {{"w", torch::ones({2})}});
  REQUIRE_THROWS_WITH(chord::io::SafetensorsReader(path("ok.safetensors")).tensor("v"),
                      Catch::Matchers::Contains("no tensor named 'v'"));
}

TEST_CASE("a truncated copy of a real file is rejected, never half-loaded", "[io][safetensors]") {
  const auto dir = chord::test::scratch_dir("safetensors_truncated");
  chord::io::save_safetensors(dir / "full.safetensors", {{"a", torch::randn({64})}, {"b", torch::randn({64})}});
  const auto size = std::filesystem::file_size(dir / "full.safetensors");
  std::filesystem::copy_file(dir / "full.safetensors", dir / "cut.safetensors");
  std::filesystem::resize_file(dir / "cut.safetensors", size - 100);
  REQUIRE_THROWS_WITH(chord::io::load_safetensors(dir / "cut.safetensors"),
                      Catch::Matchers::Contains("reach past the data section"));
}
