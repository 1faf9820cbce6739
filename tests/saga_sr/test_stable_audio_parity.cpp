// Parity of the Stable Audio DiT with pip stable-audio-tools 0.0.19 (fixtures:
// tests/parity/make_saga_sr_fixtures.py), fp32 on CPU: the state dict key for key, the forward with all
// four condition channels (prepended or AdaLN global vector), the package's batched CFG, sample_rf, the
// NumberEmbedder and the timestep Fourier features.
#include "support.hpp"

#include <chord/io/state_dict.hpp>
#include <chord/nn/number_conditioner.hpp>
#include <chord/nn/stable_audio_dit.hpp>
#include <chord/policies/objective/rectified_flow.hpp>

using chord::test::max_abs_diff;

namespace {

chord::nn::StableAudioDiTOptions fixture_options(const std::string& name) {
  if (name == "prepend") {
    return chord::nn::StableAudioDiTOptions(128, 2, 2).io_channels(16).input_concat_dim(16).cond_token_dim(64)
        .project_cond_tokens(false).global_cond_dim(48).prepend_cond_dim(24).ff_mult(2);
  }
  return chord::nn::StableAudioDiTOptions(64, 1, 1).io_channels(8).cond_token_dim(32).global_cond_dim(16)
      .global_cond_type(chord::nn::GlobalCondition::adaptive_layer_norm);
}

struct Reference {
  chord::nn::StableAudioDiT dit{nullptr};
  chord::io::TensorMap io;
  chord::io::LoadReport report;
};

Reference load_reference(const std::string& name) {
  Reference r;
  r.io = chord::test::fixture_tensors("stable_audio_dit_" + name + ".safetensors");
  chord::io::TensorMap weights;
  for (const auto& [key, value] : r.io) {
    if (key.rfind("model.", 0) == 0) weights.emplace(key, value);
  }
  r.dit = chord::nn::StableAudioDiT(fixture_options(name));
  chord::io::LoadOptions options;
  options.strip_prefix = "model.";
  r.report = chord::io::load_state_dict(*r.dit, weights, options);
  r.dit->eval();
  return r;
}

torch::Tensor optional(const chord::io::TensorMap& io, const std::string& key) {
  auto found = io.find(key);
  return found == io.end() ? torch::Tensor() : found->second;
}

chord::nn::StableAudioConditions conditions(const chord::io::TensorMap& io, const std::string& concat_key = "input_concat_cond") {
  auto concat = optional(io, concat_key);
  return {io.at("cross_attn_cond"), io.at("global_embed"), concat.defined() ? concat.transpose(1, 2) : concat,
          optional(io, "prepend_cond")};
}

/// The package's CFG: one batched pass over [conditional; null cross-attention and prepend tokens],
/// global and input-concat duplicated, `u + (c − u)·s`.
torch::Tensor guided(chord::nn::StableAudioDiT& dit, const chord::nn::StableAudioConditions& c, const torch::Tensor& x,
                     const torch::Tensor& t, double scale) {
  chord::nn::StableAudioConditions both{
      torch::cat({c.cross_attention, torch::zeros_like(c.cross_attention)}), torch::cat({c.global, c.global}),
      c.input_concat.defined() ? torch::cat({c.input_concat, c.input_concat}) : torch::Tensor(),
      c.prepend.defined() ? torch::cat({c.prepend, torch::zeros_like(c.prepend)}) : torch::Tensor()};
  auto out = dit->run(torch::cat({x, x}), torch::cat({t, t}), dit->embed(both)).chunk(2);
  return out[1] + (out[0] - out[1]) * scale;
}

}  // namespace

TEST_CASE("a stable-audio-tools DiT state dict loads key for key", "[saga_sr][parity][checkpoint]") {
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    INFO(r.report.describe());
    REQUIRE(r.report.clean());
    REQUIRE(r.report.loaded.size() == chord::io::state_dict(*r.dit).size());
  }
}

TEST_CASE("the Stable Audio DiT forward with all four condition channels matches the reference within 1e-4",
          "[saga_sr][parity][dit]") {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    const auto& io = r.io;
    const auto c = conditions(io);
    auto out = r.dit->forward(io.at("x"), io.at("t"), c.cross_attention, c.global,
                              c.input_concat.defined() ? c.input_concat.transpose(1, 2) : torch::Tensor(), c.prepend);
    CHECK(max_abs_diff(out, io.at("out")) <= 1e-4);
    // The same through embed() + run() in chord's time-major layout.
    auto run = r.dit->run(io.at("x").transpose(1, 2), io.at("t"), r.dit->embed(c)).transpose(1, 2);
    CHECK(max_abs_diff(run, io.at("out")) <= 1e-4);
    // A half-rate input-concat latent is nearest-resampled to the latent rate.
    if (io.count("out_half")) {
      auto half = r.dit->run(io.at("x").transpose(1, 2), io.at("t"), r.dit->embed(conditions(io, "input_concat_half")));
      CHECK(max_abs_diff(half.transpose(1, 2), io.at("out_half")) <= 1e-4);
    }
    // The package's batched classifier-free guidance, scale 3.
    auto cfg = guided(r.dit, c, io.at("x").transpose(1, 2), io.at("t"), 3.0).transpose(1, 2);
    CHECK(max_abs_diff(cfg, io.at("out_cfg3")) <= 1e-4);
    // The outputs differ from what a wrong combination would give (the check can fail).
    CHECK(max_abs_diff(io.at("out_cfg3"), io.at("out")) > 1e-3);
  }
}

TEST_CASE("sample_rf (Euler, log-SNR schedule, 8 steps, CFG 3) matches the reference within 1e-3",
          "[saga_sr][parity][sample]") {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"prepend", "adaln"}) {
    INFO(name);
    auto r = load_reference(name);
    const auto c = conditions(r.io);
    const auto times = chord::schedule::LogSnr::times(8);
    auto x = r.io.at("noise").transpose(1, 2);
    for (int64_t i = 0; i < 8; ++i) {
      auto t = torch::full({x.size(0)}, times[i].item<float>());
      x = x + (times[i + 1] - times[i]) * guided(r.dit, c, x, t, 3.0);
    }
    CHECK(max_abs_diff(x.transpose(1, 2), r.io.at("sample_cfg3")) <= 1e-3);
  }
}

TEST_CASE("NumberEmbedder and the timestep Fourier features match the reference exactly in layout",
          "[saga_sr][parity][conditioner]") {
  torch::NoGradGuard no_grad;
  auto r = load_reference("prepend");
  chord::nn::NumberEmbedder embedder(24);
  chord::io::TensorMap weights;
  for (const auto& [key, value] : r.io) {
    if (key.rfind("number.", 0) == 0) weights.emplace(key.substr(7), value);
  }
  REQUIRE(chord::io::load_state_dict(*embedder, weights).clean());
  CHECK(max_abs_diff(embedder(r.io.at("number_u")), r.io.at("number_out")) <= 1e-6);

  r.dit->timestep_features->weight.copy_(r.io.at("fourier.weight"));
  CHECK(max_abs_diff(r.dit->timestep_fourier_features(r.io.at("t")), r.io.at("fourier_out")) <= 1e-5);
}

TEST_CASE("a small DiT given unprojected 768-channel tokens is refused at construction", "[saga_sr][dit]") {
  // embed 512, 8 heads of 64: 768-channel context = 12 key/value heads for 8 query heads.
  auto bad = chord::nn::StableAudioDiTOptions(512, 1, 8).cond_token_dim(768).project_cond_tokens(false);
  REQUIRE_THROWS_WITH(chord::nn::StableAudioDiT(bad), Catch::Matchers::Contains("project_cond_tokens(true)"));
  // Projected (the seed's small config) it builds, with 8 key/value heads.
  REQUIRE_NOTHROW(chord::nn::StableAudioDiT(bad.project_cond_tokens(true)));
  // The full config (1536, 24 heads) takes 768-channel tokens unprojected: 12 key/value heads, groups of 2.
  REQUIRE_NOTHROW(chord::nn::StableAudioDiT(chord::nn::StableAudioDiTOptions(1536, 1, 24).cond_token_dim(768).project_cond_tokens(false)));
}
