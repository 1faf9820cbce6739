// Monotonic alignment search: hand-computed paths, bit-identical paths to Bert-VITS2's numba kernel,
// the noise of noise-scaled MAS, and the CUDA kernel against the CPU loop where a device exists.
#include "support.hpp"

#include <chord/ops/monotonic_alignment.hpp>

namespace {

torch::Tensor full_mask(int64_t frames, int64_t tokens) { return torch::ones({1, frames, tokens}); }

}  // namespace

TEST_CASE("maximum_path: a hand-computed 3-frame, 2-token alignment", "[ops][mas]") {
  // Cumulative values: y0: (1, ·); y1: (−1 + 1 = 0, 2 + 1 = 3); y2: (·, 3 + max(3, 0) = 6). Backtrack from
  // token 1: frame 2 stays (3 < 0 is false), frame 1 is on the diagonal and must move to token 0.
  const auto scores = torch::tensor({{1.0f, -5.0f}, {-1.0f, 2.0f}, {0.0f, 3.0f}}).unsqueeze(0);
  const auto path = chord::ops::maximum_path(scores, full_mask(3, 2));
  REQUIRE(torch::equal(path, torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {0.0f, 1.0f}}).unsqueeze(0)));
  // All ties: the backtrack stays on a token while it can (strict <), so token 1 keeps frames 1 and 2.
  const auto ties = chord::ops::maximum_path(torch::zeros({1, 3, 2}), full_mask(3, 2));
  REQUIRE(torch::equal(ties, torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {0.0f, 1.0f}}).unsqueeze(0)));
  // Every frame on exactly one token, every token used, monotonic.
  const auto long_path = chord::ops::maximum_path(torch::randn({1, 9, 4}, chord::make_generator(3)), full_mask(9, 4));
  REQUIRE(torch::equal(long_path.sum(2), torch::ones({1, 9})));
  REQUIRE((long_path.sum(1) >= 1).all().item<bool>());
  const auto token_of_frame = long_path.argmax(2);
  REQUIRE((token_of_frame.diff(1, 1) >= 0).all().item<bool>());
}

TEST_CASE("maximum_path: padding is left alone and the path takes the scores' dtype", "[ops][mas]") {
  auto scores = torch::randn({2, 6, 4}, chord::make_generator(5));
  auto mask = torch::zeros({2, 6, 4});
  mask[0].slice(0, 0, 6).slice(1, 0, 4).fill_(1);
  mask[1].slice(0, 0, 3).slice(1, 0, 2).fill_(1);
  const auto path = chord::ops::maximum_path(scores.to(torch::kBFloat16), mask);
  REQUIRE(path.scalar_type() == torch::kBFloat16);
  REQUIRE(path[1].slice(0, 3).sum().item<float>() == 0.0f);
  REQUIRE(path[1].slice(1, 2).sum().item<float>() == 0.0f);
  REQUIRE(path[1].sum().item<float>() == 3.0f);
  CHORD_REQUIRE_THROWS_WITH_TEXT(chord::ops::maximum_path(scores, mask.slice(2, 0, 3)), "must match neg_cent");
}

TEST_CASE("maximum_path gives Bert-VITS2's paths bit for bit", "[ops][mas][parity]") {
  const auto cases = chord::test::fixture_tensors("mas_bert_vits2.safetensors");
  int64_t compared = 0;
  for (int64_t i = 0; cases.count("neg_cent_" + std::to_string(i)); ++i) {
    INFO("case " << i);
    const auto scores = cases.at("neg_cent_" + std::to_string(i));
    const auto mask = cases.at("mask_" + std::to_string(i)).to(torch::kFloat);
    const auto expected = cases.at("path_" + std::to_string(i)).to(torch::kFloat);
    REQUIRE(torch::equal(chord::ops::maximum_path(scores, mask), expected));
    ++compared;
  }
  REQUIRE(compared == 26);
}

TEST_CASE("noise-scaled MAS: std(neg_cent)·ε·scale from the generator, and the reference's schedule", "[ops][mas]") {
  const auto scores = torch::randn({2, 5, 3}, chord::make_generator(1)) * 4.0;
  auto gen = chord::make_generator(9);
  const auto noised = chord::ops::add_mas_noise(scores, 0.01, gen);
  auto replay = chord::make_generator(9);
  const auto epsilon = torch::randn({2, 5, 3}, replay);
  REQUIRE(chord::test::max_abs_diff(noised, scores + scores.std() * epsilon * 0.01) < 1e-6);
  REQUIRE(chord::ops::mas_noise_scale(0) == Approx(0.01));
  REQUIRE(chord::ops::mas_noise_scale(2500) == Approx(0.005));
  REQUIRE(chord::ops::mas_noise_scale(5000) == 0.0);
  REQUIRE(chord::ops::mas_noise_scale(9000) == 0.0);
}

TEST_CASE("maximum_path on a CUDA device: the chord::cuda_ops kernel gives the CPU paths", "[.cuda][ops][mas]") {
  REQUIRE(torch::cuda::is_available());
  INFO("chord::cuda_ops linked: " << chord::ops::linked_with_cuda_ops());
  REQUIRE(chord::ops::has_cuda_maximum_path());
  const auto cases = chord::test::fixture_tensors("mas_bert_vits2.safetensors");
  for (int64_t i = 0; cases.count("neg_cent_" + std::to_string(i)); ++i) {
    INFO("case " << i);
    const auto scores = cases.at("neg_cent_" + std::to_string(i)).cuda();
    const auto mask = cases.at("mask_" + std::to_string(i)).to(torch::kCUDA, torch::kFloat);
    const auto path = chord::ops::maximum_path(scores, mask);
    REQUIRE(path.is_cuda());
    REQUIRE(torch::equal(path.cpu(), cases.at("path_" + std::to_string(i)).to(torch::kFloat)));
  }
  // Larger than a block's threads and than the default shared-memory limit.
  auto gen = chord::make_generator(4);
  const auto scores = torch::randn({3, 8000, 1500}, gen);
  const auto mask = torch::ones({3, 8000, 1500});
  REQUIRE(torch::equal(chord::ops::maximum_path(scores.cuda(), mask.cuda()).cpu(), chord::ops::maximum_path_cpu(scores, mask)));
}
