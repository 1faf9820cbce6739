// Bert-VITS2's text encoder, posterior encoder and flows: parity with fishaudio/Bert-VITS2 8f7fbd8
// (`attentions.py`, `modules.py`, `models.py`) through tests/parity/make_bert_vits2_encoder_fixtures.py
// (small modules, fp32, eval mode), the real 2.3 configuration's state-dict keys and shapes
// (tests/fixtures/bert_vits2_encoder_keys.txt), and hand checks of the index shuffles, masks,
// invertibility and bad inputs.
//
// Tolerances: the C++ modules run the reference's operations in the reference's order on the same
// fp32 inputs, so differences come only from kernel-level summation order (convolutions, matmuls,
// layer norm); 1e-5 relative to the largest reference value leaves room for those, far below the size
// of any wrong mask, index or scale.
#include "support.hpp"
#include "bert_vits2/keys.hpp"

#include <chord/core/random.hpp>
#include <chord/io/state_dict.hpp>
#include <chord/nn/vits/attentions.hpp>
#include <chord/nn/vits/flows.hpp>
#include <chord/nn/vits/posterior_encoder.hpp>
#include <chord/nn/vits/text_encoder.hpp>
#include <chord/nn/vits/wavenet.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

using chord::test::max_abs_diff;
namespace vits = chord::nn::vits;

namespace {

const char* const kFixture = "bert_vits2_encoder.safetensors";

/// The fixture's tensors, read once.
const chord::io::TensorMap& fixture() {
  static const chord::io::TensorMap tensors = chord::test::fixture_tensors(kFixture);
  return tensors;
}

const torch::Tensor& io(const std::string& key) {
  const auto& all = fixture();
  const auto found = all.find("io." + key);
  if (found == all.end()) FAIL("fixture " << kFixture << " has no io." << key);
  return found->second;
}

/// Loads the fixture's weights under `prefix.` into `module`, strictly (every key, every shape).
void load_prefix(torch::nn::Module& module, const std::string& prefix) {
  chord::io::TensorMap weights;
  for (const auto& [key, tensor] : fixture()) {
    if (key.rfind(prefix + ".", 0) == 0) weights.emplace(key.substr(prefix.size() + 1), tensor);
  }
  chord::io::LoadOptions options;
  options.source_name = std::string(kFixture) + " [" + prefix + "]";
  const auto report = chord::io::load_state_dict(module, weights, options);
  INFO(report.describe());
  REQUIRE(report.clean());
  module.eval();
}

/// REQUIREs `got` within `tol` of `want`, relative to max(1, max |want|); with CHORD_PRINT_DIFFS set,
/// prints the difference (for parity reports).
void require_close(const std::string& what, const torch::Tensor& got, const torch::Tensor& want, double tol = 1e-5) {
  const double scale = std::max(1.0, want.abs().max().item<double>());
  const double diff = max_abs_diff(got, want);
  if (std::getenv("CHORD_PRINT_DIFFS") != nullptr) std::printf("  %-28s max|diff| %.3g (scale %.3g)\n", what.c_str(), diff, scale);
  INFO(what << ": max |diff| " << diff << ", scale " << scale);
  REQUIRE(diff <= tol * scale);
}

/// Zero on every frame where `mask [B, 1, T]` is 0.
bool zero_on_padding(const torch::Tensor& x, const torch::Tensor& mask) {
  return ((x * (1 - mask)).abs().max().item<double>() == 0.0);
}

torch::Tensor mask_of(const std::vector<int64_t>& lengths, int64_t t) {
  return vits::sequence_mask(torch::tensor(lengths, torch::kLong), t);
}

vits::TextEncoderOptions small_text_encoder() { return vits::TextEncoderOptions(112, 6, 16, 32, 2, 3, 3, 0.1).gin_channels(8); }
vits::PosteriorEncoderOptions small_posterior() { return vits::PosteriorEncoderOptions(20, 6, 16, 5, 2, 3).gin_channels(8); }
vits::TransformerCouplingBlockOptions small_flow() { return vits::TransformerCouplingBlockOptions(8, 16, 32, 2, 3, 5, 0.1).n_flows(2).gin_channels(8); }
vits::ResidualCouplingBlockOptions small_rflow() { return vits::ResidualCouplingBlockOptions(8, 16, 5, 1, 2).n_flows(2).gin_channels(8); }

}  // namespace

TEST_CASE("relative/absolute position shuffles by hand", "[bert_vits2][encoders]") {
  namespace ad = vits::attention_detail;
  const int64_t l = 3;
  // rel[i, r] = 10·i + r over relative index r = distance + (L − 1).
  auto rel = (torch::arange(l).view({l, 1}) * 10 + torch::arange(2 * l - 1).view({1, 2 * l - 1})).to(torch::kFloat32).view({1, 1, l, 2 * l - 1});
  auto abs = ad::relative_to_absolute(rel);
  REQUIRE(abs.sizes() == torch::IntArrayRef({1, 1, l, l}));
  for (int64_t i = 0; i < l; ++i) {
    for (int64_t j = 0; j < l; ++j) REQUIRE(abs[0][0][i][j].item<float>() == static_cast<float>(10 * i + (j - i + l - 1)));
  }
  // Back: out[i, r] = abs[i, i + r − (L − 1)], zero outside the sequence.
  auto a = (torch::arange(l * l).to(torch::kFloat32) + 1).view({1, 1, l, l});
  auto back = ad::absolute_to_relative(a);
  REQUIRE(back.sizes() == torch::IntArrayRef({1, 1, l, 2 * l - 1}));
  for (int64_t i = 0; i < l; ++i) {
    for (int64_t r = 0; r < 2 * l - 1; ++r) {
      const int64_t j = i + r - (l - 1);
      const float want = (j >= 0 && j < l) ? static_cast<float>(i * l + j + 1) : 0.0f;
      REQUIRE(back[0][0][i][r].item<float>() == want);
    }
  }
  // The window's table, cut (short sequence) or zero-padded (long one) to 2L − 1 rows.
  auto table = (torch::arange(5).to(torch::kFloat32) + 1).view({1, 5, 1});  // window 2
  auto one = ad::relative_embeddings(table, 2, 1);
  REQUIRE(one.sizes() == torch::IntArrayRef({1, 1, 1}));
  REQUIRE(one.item<float>() == 3.0f);  // distance 0
  auto five = ad::relative_embeddings(table, 2, 5).flatten();
  REQUIRE(torch::equal(five, torch::tensor({0.f, 0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 0.f, 0.f})));
}

TEST_CASE("MultiHeadAttention without a window is plain masked softmax attention", "[bert_vits2][encoders]") {
  torch::manual_seed(1);
  vits::MultiHeadAttention mha(vits::MultiHeadAttentionOptions(8, 8, 2));
  mha->eval();
  REQUIRE(!mha->emb_rel_k.defined());
  auto x = torch::randn({2, 8, 5});
  auto mask = mask_of({5, 3}, 5);
  auto attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1);
  torch::NoGradGuard no_grad;
  auto y = mha(x, x, attn_mask);
  // By hand: per head softmax(q·kᵀ/√4 with hidden keys at −1e4)·v, heads stacked, conv_o.
  auto q = mha->conv_q(x).view({2, 2, 4, 5}).transpose(2, 3);
  auto k = mha->conv_k(x).view({2, 2, 4, 5}).transpose(2, 3);
  auto v = mha->conv_v(x).view({2, 2, 4, 5}).transpose(2, 3);
  auto scores = torch::matmul(q, k.transpose(2, 3)) / 2.0;
  scores = scores.masked_fill(attn_mask == 0, -1e4);
  auto out = torch::matmul(torch::softmax(scores, -1), v).transpose(2, 3).reshape({2, 8, 5});
  require_close("mha plain", y, mha->conv_o(out), 1e-6);
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::MultiHeadAttention(vits::MultiHeadAttentionOptions(6, 6, 4)), "not divisible by n_heads 4");
}

TEST_CASE("MultiHeadAttention with per-head relative windows matches the reference", "[bert_vits2][encoders][parity]") {
  vits::MultiHeadAttention mha(vits::MultiHeadAttentionOptions(8, 6, 2).window_size(2).heads_share(false));
  REQUIRE(mha->emb_rel_k.sizes() == torch::IntArrayRef({2, 5, 4}));
  load_prefix(*mha, "mha");
  torch::NoGradGuard no_grad;
  const auto& mask = io("mha.x.mask");
  auto y = mha(io("mha.x.x"), io("mha.x.x"), mask.unsqueeze(2) * mask.unsqueeze(-1));
  require_close("mha.x.y", y, io("mha.x.y"));
}

TEST_CASE("attentions.Encoder matches the reference with and without the speaker", "[bert_vits2][encoders][parity]") {
  vits::AttentionEncoder enc(vits::AttentionEncoderOptions(16, 32, 2, 3).kernel_size(3).p_dropout(0.1).window_size(4).gin_channels(8));
  load_prefix(*enc, "attn");
  torch::NoGradGuard no_grad;
  for (const std::string c : {"g", "t5", "t3", "t1"}) {
    INFO(c);
    const auto& mask = io("attn." + c + ".mask");
    auto y = enc(io("attn." + c + ".x"), mask, io("attn." + c + ".g"));
    require_close("attn." + c + ".y", y, io("attn." + c + ".y"));
    REQUIRE(zero_on_padding(y, mask));
  }
  auto nog = enc(io("attn.nog.x"), io("attn.nog.mask"));
  require_close("attn.nog.y", nog, io("attn.nog.y"));
  // The speaker matters (the two reference outputs differ on valid frames by far more than the tolerance).
  REQUIRE(max_abs_diff(io("attn.nog.y"), io("attn.g.y")) > 1e-2);

  vits::AttentionEncoder enc0(vits::AttentionEncoderOptions(16, 32, 2, 2));
  REQUIRE(!enc0->spk_emb_linear);
  load_prefix(*enc0, "attn0");
  auto y0 = enc0(io("attn0.x.x"), io("attn0.x.mask"));
  require_close("attn0.x.y", y0, io("attn0.x.y"));
}

TEST_CASE("attentions.Encoder: bad configurations and inputs are named", "[bert_vits2][encoders]") {
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::AttentionEncoder(vits::AttentionEncoderOptions(16, 32, 2, 2).gin_channels(8)),
                                 "cond_layer_idx 2 must be below n_layers 2");
  vits::AttentionEncoder plain(vits::AttentionEncoderOptions(16, 32, 2, 3));
  CHORD_REQUIRE_THROWS_WITH_TEXT(plain(torch::zeros({1, 16, 4}), torch::ones({1, 1, 4}), torch::zeros({1, 8, 1})), "no speaker conditioning");
  CHORD_REQUIRE_THROWS_WITH_TEXT(plain(torch::zeros({1, 12, 4}), torch::ones({1, 1, 4})), "x [B, 16, T] expected");
  CHORD_REQUIRE_THROWS_WITH_TEXT(plain(torch::zeros({1, 16, 4}), torch::ones({1, 1, 5})), "x_mask [1, 1, 4] expected");
  vits::AttentionEncoder with_g(vits::AttentionEncoderOptions(16, 32, 2, 3).gin_channels(8));
  CHORD_REQUIRE_THROWS_WITH_TEXT(with_g(torch::zeros({1, 16, 4}), torch::ones({1, 1, 4}), torch::zeros({1, 4, 1})), "g [1, 8, 1] or [1, 8, 4] expected");
}

TEST_CASE("TextEncoder matches models.TextEncoder", "[bert_vits2][encoders][parity]") {
  vits::TextEncoder enc_p(small_text_encoder());
  load_prefix(*enc_p, "enc_p");
  torch::NoGradGuard no_grad;
  auto out = enc_p(io("enc_p.x.ids"), io("enc_p.x.lengths"), io("enc_p.x.tone"), io("enc_p.x.language"), io("enc_p.x.bert"),
                   io("enc_p.x.ja_bert"), io("enc_p.x.en_bert"), io("enc_p.x.g"));
  REQUIRE(torch::equal(out.x_mask, io("enc_p.x.x_mask")));
  require_close("enc_p.x.h", out.h, io("enc_p.x.h"));
  require_close("enc_p.x.m", out.m, io("enc_p.x.m"));
  require_close("enc_p.x.logs", out.logs, io("enc_p.x.logs"));
  // Item 1 has 8 of 11 tokens: its last 3 frames are zero in every output.
  REQUIRE(out.x_mask[1][0].sum().item<float>() == 8.0f);
  for (const auto* t : {&out.h, &out.m, &out.logs}) REQUIRE(zero_on_padding(*t, out.x_mask));
  CHORD_REQUIRE_THROWS_WITH_TEXT(enc_p(io("enc_p.x.ids"), io("enc_p.x.lengths"), io("enc_p.x.tone"), io("enc_p.x.language"),
                                       io("enc_p.x.bert").narrow(1, 0, 512), io("enc_p.x.ja_bert"), io("enc_p.x.en_bert")),
                                 "BERT features [2, 1024, 11] expected");
}

TEST_CASE("WN and PosteriorEncoder match the reference; the sample comes from an explicit generator",
          "[bert_vits2][encoders][parity]") {
  vits::PosteriorEncoder enc_q(small_posterior());
  load_prefix(*enc_q, "enc_q");
  torch::NoGradGuard no_grad;
  // The WaveNet stack alone, with and without its condition.
  const auto& wn_mask = io("enc_q.wn.mask");
  auto wn = enc_q->enc(io("enc_q.wn.x"), wn_mask, io("enc_q.wn.g"));
  require_close("enc_q.wn.out", wn, io("enc_q.wn.out"));
  require_close("enc_q.wn.out_nog", enc_q->enc(io("enc_q.wn.x"), wn_mask), io("enc_q.wn.out_nog"));
  REQUIRE(zero_on_padding(wn, wn_mask));

  const auto& y = io("enc_q.x.y");
  const auto& lengths = io("enc_q.x.lengths");
  const auto& g = io("enc_q.x.g");
  auto out = enc_q->forward_with_noise(y, lengths, io("enc_q.x.eps"), g);
  REQUIRE(torch::equal(out.y_mask, io("enc_q.x.y_mask")));
  require_close("enc_q.x.m", out.m, io("enc_q.x.m"));
  require_close("enc_q.x.logs", out.logs, io("enc_q.x.logs"));
  require_close("enc_q.x.z (given eps)", out.z, io("enc_q.x.z"));
  for (const auto* t : {&out.z, &out.m, &out.logs}) REQUIRE(zero_on_padding(*t, out.y_mask));
  // The reference drew eps after torch.manual_seed(seed); a CPU generator with that seed draws the same.
  auto gen = chord::make_generator(static_cast<uint64_t>(io("enc_q.x.seed").item<int64_t>()));
  auto drawn = enc_q(y, lengths, gen, g);
  require_close("enc_q.x.z (generator)", drawn.z, io("enc_q.x.z"));
  auto again = enc_q(y, lengths, gen, g);  // the generator moved on: another sample
  REQUIRE(max_abs_diff(again.z, drawn.z) > 1e-2);
  CHORD_REQUIRE_THROWS_WITH_TEXT(enc_q->forward_with_noise(y, lengths, io("enc_q.x.eps").narrow(2, 0, 5), g), "PosteriorEncoder: eps");
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::WN(vits::WNOptions(4, 4, 1, 2)), "kernel_size 4 is not odd");
  CHORD_REQUIRE_THROWS_WITH_TEXT(enc_q->enc(io("enc_q.wn.x"), wn_mask, torch::zeros({2, 8, 3})), "WN: g [2, 8, 1] or [2, 8, 17] expected");
  vits::WN plain(vits::WNOptions(16, 5, 2, 3));
  CHORD_REQUIRE_THROWS_WITH_TEXT(plain(io("enc_q.wn.x"), wn_mask, io("enc_q.wn.g")), "no condition (gin_channels 0)");
}

TEST_CASE("coupling layers match the reference forward, log-determinant and reverse", "[bert_vits2][encoders][parity]") {
  torch::NoGradGuard no_grad;
  vits::ResidualCouplingLayer rcl(vits::ResidualCouplingLayerOptions(8, 8, 3, 2, 2));
  load_prefix(*rcl, "rcl");
  auto [rcl_fwd, rcl_logdet] = rcl(io("rcl.x.x"), io("rcl.x.mask"));
  require_close("rcl.x.fwd", rcl_fwd, io("rcl.x.fwd"));
  require_close("rcl.x.logdet", rcl_logdet, io("rcl.x.logdet"));
  require_close("rcl.x.rev", rcl->reverse(io("rcl.x.x"), io("rcl.x.mask")), io("rcl.x.rev"));

  vits::TransformerCouplingLayer tcl(vits::TransformerCouplingLayerOptions(4, 8, 3, 1, 2).filter_channels(16));
  load_prefix(*tcl, "tcl");
  auto [tcl_fwd, tcl_logdet] = tcl(io("tcl.x.x"), io("tcl.x.mask"));
  require_close("tcl.x.fwd", tcl_fwd, io("tcl.x.fwd"));
  require_close("tcl.x.logdet", tcl_logdet, io("tcl.x.logdet"));
  require_close("tcl.x.rev", tcl->reverse(io("tcl.x.x"), io("tcl.x.mask")), io("tcl.x.rev"));

  // Inverse on valid frames; padded frames: the conditioning half passes unmasked, the other is zeroed.
  for (const auto& [name, fwd, x, mask, half] :
       {std::tuple{std::string("rcl"), rcl_fwd, io("rcl.x.x"), io("rcl.x.mask"), int64_t{4}},
        std::tuple{std::string("tcl"), tcl_fwd, io("tcl.x.x"), io("tcl.x.mask"), int64_t{2}}}) {
    INFO(name);
    auto back = name == "rcl" ? rcl->reverse(fwd, mask) : tcl->reverse(fwd, mask);
    require_close(name + " reverse(forward) on valid frames", back * mask, x * mask);
    REQUIRE(torch::equal(fwd.narrow(1, 0, half), x.narrow(1, 0, half)));
    REQUIRE(zero_on_padding(fwd.narrow(1, half, half), mask));
    REQUIRE(!zero_on_padding(x.narrow(1, 0, half), mask));  // the fixture's padding is not zero
  }
}

TEST_CASE("a fresh coupling layer is the identity on valid frames; FlowFlip reverses channels", "[bert_vits2][encoders]") {
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 6, 7});
  auto mask = mask_of({7, 4}, 7);
  vits::ResidualCouplingLayer rcl(vits::ResidualCouplingLayerOptions(6, 8, 3, 1, 2));
  auto [y, logdet] = rcl(x, mask);
  REQUIRE(max_abs_diff(y * mask, x * mask) == 0.0);
  REQUIRE(logdet.abs().max().item<float>() == 0.0f);
  vits::FlowFlip flip;
  auto [f, flip_logdet] = flip(x);
  REQUIRE(torch::equal(f[0][0], x[0][5]));
  REQUIRE(torch::equal(f[1][2], x[1][3]));
  REQUIRE(flip_logdet.sizes() == torch::IntArrayRef({2}));
  REQUIRE(torch::equal(flip->reverse(f), x));
  CHORD_REQUIRE_THROWS_WITH_TEXT(vits::ResidualCouplingLayer(vits::ResidualCouplingLayerOptions(5, 8, 3, 1, 2)), "channels 5 are not even");
  CHORD_REQUIRE_THROWS_WITH_TEXT(rcl(torch::zeros({2, 4, 7}), mask), "x [B, 6, T] expected");
}

TEST_CASE("flow blocks match the reference forward and reverse and invert on valid frames", "[bert_vits2][encoders][parity]") {
  torch::NoGradGuard no_grad;
  vits::TransformerCouplingBlock flow(small_flow());
  vits::ResidualCouplingBlock rflow(small_rflow());
  load_prefix(*flow, "flow");
  load_prefix(*rflow, "rflow");
  for (const std::string prefix : {"flow", "rflow"}) {
    INFO(prefix);
    auto run = [&](const torch::Tensor& x, const torch::Tensor& g, bool reverse) {
      return prefix == "flow" ? flow(x, io(prefix + ".x.mask"), g, reverse) : rflow(x, io(prefix + ".x.mask"), g, reverse);
    };
    const auto& x = io(prefix + ".x.x");
    const auto& mask = io(prefix + ".x.mask");
    const auto& g = io(prefix + ".x.g");
    auto fwd = run(x, g, false);
    require_close(prefix + ".x.fwd", fwd, io(prefix + ".x.fwd"));
    require_close(prefix + ".x.rev_of_fwd", run(fwd, g, true), io(prefix + ".x.rev_of_fwd"));
    require_close(prefix + ".x.rev", run(x, g, true), io(prefix + ".x.rev"));
    require_close(prefix + ".x.fwd_nog", run(x, torch::Tensor(), false), io(prefix + ".x.fwd_nog"));
    require_close(prefix + " reverse(forward) on valid frames", run(fwd, g, true) * mask, x * mask);
    // The flow is not the identity (its perturbed `post` layers act).
    REQUIRE(max_abs_diff(fwd * mask, x * mask) > 1e-2);
  }
}

TEST_CASE("the 2.3 configuration builds with the reference's state-dict keys and shapes", "[bert_vits2][encoders]") {
  // `<key> <d0,d1,...>` per line, from the reference modules at config.json v2.3 sizes.
  const auto expected = chord::test::read_key_shapes("bert_vits2_encoder_keys.txt");
  // The phone vocabulary the file shows (len(symbols)).
  REQUIRE(expected.at("enc_p.emb.weight")[0] == 112);

  auto check = [&](const std::string& prefix, const torch::nn::Module& module) {
    INFO(prefix);
    chord::test::require_same_key_shapes(chord::test::keys_under(expected, prefix), module);
  };
  check("enc_p", *vits::TextEncoder(vits::TextEncoderOptions::bert_vits2_v23()));
  check("enc_q", *vits::PosteriorEncoder(vits::PosteriorEncoderOptions::bert_vits2_v23()));
  check("flow", *vits::TransformerCouplingBlock(vits::TransformerCouplingBlockOptions::bert_vits2_v23()));
  check("rflow", *vits::ResidualCouplingBlock(vits::ResidualCouplingBlockOptions::bert_vits2_v23()));
  REQUIRE(chord::test::keys_under(expected, "enc_p").size() == 121);
  REQUIRE(chord::test::keys_under(expected, "flow").size() == 312);
}

TEST_CASE("dropout acts in training mode only", "[bert_vits2][encoders]") {
  // The reference's flow transformer and text encoder train with dropout 0.1 (reference/vits2.md §1.6).
  vits::TransformerCouplingBlock flow(vits::TransformerCouplingBlockOptions(8, 16, 32, 2, 3, 5, 0.5).n_flows(1));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : flow->named_parameters()) {
      if (p.key().find("post.") != std::string::npos) p.value().normal_(0.0, 0.1);  // away from the identity
    }
  }
  auto x = torch::randn({1, 8, 9});
  auto mask = torch::ones({1, 1, 9});
  torch::NoGradGuard no_grad;
  flow->eval();
  REQUIRE(torch::equal(flow(x, mask), flow(x, mask)));
  flow->train();
  REQUIRE(max_abs_diff(flow(x, mask), flow(x, mask)) > 0.0);
}
