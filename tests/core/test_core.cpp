// Masks, explicit randomness, the autocast guard and numbers read from outside text.
#include "support.hpp"

#include <chord/core/autocast.hpp>
#include <chord/core/error.hpp>
#include <chord/core/mask.hpp>
#include <chord/core/parse.hpp>
#include <chord/core/random.hpp>

using chord::test::max_abs_diff;

TEST_CASE("lens_to_mask marks the first lens[b] frames of each row", "[core][mask]") {
  auto mask = chord::lens_to_mask(torch::tensor({2, 4, 0}));
  auto expected = torch::tensor({1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}).reshape({3, 4}).to(torch::kBool);
  REQUIRE(mask.scalar_type() == torch::kBool);
  REQUIRE(torch::equal(mask, expected));
  REQUIRE(chord::lens_to_mask(torch::tensor({1}), 3).sizes() == torch::IntArrayRef({1, 3}));
  REQUIRE_THROWS(chord::lens_to_mask(torch::ones({2, 2})));
}

TEST_CASE("mask_from_start_end_indices selects [start, end) up to max(seq_len)", "[core][mask]") {
  auto mask = chord::mask_from_start_end_indices(torch::tensor({4, 3}), torch::tensor({1, 0}), torch::tensor({3, 2}));
  auto expected = torch::tensor({0, 1, 1, 0, 1, 1, 0, 0}).reshape({2, 4}).to(torch::kBool);
  REQUIRE(torch::equal(mask, expected));
}

TEST_CASE("mask_from_frac_lengths draws one contiguous span of trunc(frac*len) frames inside the valid region",
          "[core][mask]") {
  auto seq_len = torch::tensor({10, 7, 100});
  auto frac = torch::tensor({0.75f, 0.5f, 0.999f});
  auto gen = chord::make_generator(1234);
  auto mask = chord::mask_from_frac_lengths(seq_len, frac, gen);
  REQUIRE(mask.sizes() == torch::IntArrayRef({3, 100}));

  // Replay the same uniform draw by hand: span = trunc(frac·len), start = trunc((len − span)·u).
  auto replay = chord::make_generator(1234);
  auto u = torch::rand({3}, replay);
  const int64_t lens[] = {10, 7, 100};
  const float fracs[] = {0.75f, 0.5f, 0.999f};
  for (int b = 0; b < 3; ++b) {
    const auto span = static_cast<int64_t>(fracs[b] * static_cast<float>(lens[b]));
    const auto start = static_cast<int64_t>(static_cast<float>(lens[b] - span) * u[b].item<float>());
    auto row = mask[b];
    REQUIRE(row.sum().item<int64_t>() == span);
    REQUIRE(row.slice(0, start, start + span).all().item<bool>());
    REQUIRE(start + span <= lens[b]);
  }
  REQUIRE(mask[0].sum().item<int64_t>() == 7);  // trunc(7.5)
  REQUIRE(mask[1].sum().item<int64_t>() == 3);  // trunc(3.5)
  REQUIRE(mask[2].sum().item<int64_t>() == 99); // trunc(99.9)
}

TEST_CASE("span starts are uniform over the valid region", "[core][mask]") {
  auto gen = chord::make_generator(7);
  const int64_t n = 20000;
  auto seq_len = torch::full({n}, 50, torch::kLong);
  auto frac = torch::full({n}, 0.7f);
  auto mask = chord::mask_from_frac_lengths(seq_len, frac, gen);
  auto start = mask.to(torch::kFloat).argmax(1).to(torch::kDouble);  // first True
  // span = 35, start uniform on {0..15} (trunc of 15·U): mean 7.0, and every start occurs.
  REQUIRE(start.mean().item<double>() == Approx(7.0).margin(0.1));
  REQUIRE(start.min().item<double>() == 0.0);
  REQUIRE(start.max().item<double>() == 14.0);
}

TEST_CASE("mask_from_frac_lengths matches the F5-TTS reference for the same seed", "[core][mask][parity]") {
  // Made by tests/parity/make_foundation_fixtures.py: f5_tts.model.utils.mask_from_frac_lengths after
  // torch.manual_seed(seed).
  auto f = chord::test::fixture_tensors("masks_f5tts.safetensors");
  auto seq_len = f.at("seq_len");
  auto frac = f.at("frac");
  auto expected = f.at("mask");
  auto seed = f.at("seed").item<int64_t>();
  auto gen = chord::make_generator(static_cast<uint64_t>(seed));
  REQUIRE(torch::equal(chord::mask_from_frac_lengths(seq_len, frac, gen), expected));
}

TEST_CASE("seeded_noise gives each item noise that depends only on its seed and length", "[core][random]") {
  auto both = chord::seeded_noise({3, 5}, 4, {7, 9});
  auto alone = chord::seeded_noise({5}, 4, {9});
  REQUIRE(both.sizes() == torch::IntArrayRef({2, 5, 4}));
  REQUIRE(torch::equal(both[1], alone[0]));
  REQUIRE(torch::equal(both[0].slice(0, 3), torch::zeros({2, 4})));  // padding
  auto direct = chord::make_generator(7);
  REQUIRE(torch::equal(both[0].slice(0, 0, 3), torch::randn({3, 4}, direct)));
  REQUIRE_THROWS(chord::seeded_noise({3}, 4, {1, 2}));
}

TEST_CASE("generators reproduce draws and their state round-trips", "[core][random]") {
  auto a = chord::make_generator(42);
  auto b = chord::make_generator(42);
  REQUIRE(chord::uniform_scalar(a) == chord::uniform_scalar(b));
  auto state = chord::generator_state(a);
  const double next = chord::uniform_scalar(a);
  chord::set_generator_state(a, state);
  REQUIRE(chord::uniform_scalar(a) == next);
  // The same stream as torch.Generator().manual_seed(42) followed by torch.rand(1, dtype=float64).
  auto c = chord::make_generator(42);
  auto fresh = chord::make_generator(42);
  REQUIRE(chord::uniform_scalar(c) == torch::rand({1}, fresh, torch::kFloat64).item<double>());
  int hits = 0;
  auto d = chord::make_generator(3);
  for (int i = 0; i < 4000; ++i) hits += chord::bernoulli_scalar(d, 0.25) ? 1 : 0;
  REQUIRE(hits / 4000.0 == Approx(0.25).margin(0.03));
}

TEST_CASE("AutocastGuard casts matmuls to the low-precision type and restores the previous state", "[core][autocast]") {
  auto x = torch::randn({4, 4});
  REQUIRE(torch::matmul(x, x).scalar_type() == torch::kFloat);
  {
    chord::AutocastGuard bf16(torch::kCPU, torch::kBFloat16);
    REQUIRE(at::autocast::is_autocast_enabled(torch::kCPU));
    REQUIRE(torch::matmul(x, x).scalar_type() == torch::kBFloat16);
    {
      chord::AutocastGuard off(torch::kCPU, torch::kBFloat16, /*enabled=*/false);
      REQUIRE(torch::matmul(x, x).scalar_type() == torch::kFloat);
    }
    REQUIRE(torch::matmul(x, x).scalar_type() == torch::kBFloat16);
  }
  REQUIRE_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  REQUIRE(torch::matmul(x, x).scalar_type() == torch::kFloat);
  {
    chord::AutocastGuard fp16(torch::kCPU, torch::kHalf);
    REQUIRE(torch::matmul(x, x).scalar_type() == torch::kHalf);
  }
}

TEST_CASE("CHORD_CHECK throws chord::Error with the formatted message", "[core]") {
  auto check = [](int v) { CHORD_CHECK(v > 0, "value must be > 0, got ", v); };
  REQUIRE_NOTHROW(check(1));
  REQUIRE_THROWS_AS(check(-3), chord::Error);
  REQUIRE_THROWS_WITH(check(-3), "value must be > 0, got -3");
}

TEST_CASE("parse_number takes only text that is all one number that fits", "[core][parse]") {
  using chord::parse_number;
  REQUIRE(parse_number<uint64_t>("18446744073709551615") == std::optional<uint64_t>(18446744073709551615ULL));
  REQUIRE_FALSE(parse_number<uint64_t>("18446744073709551616"));  // std::stoull throws out_of_range
  REQUIRE_FALSE(parse_number<uint64_t>("-1"));                    // std::stoull wraps it to 2^64 - 1
  REQUIRE_FALSE(parse_number<uint64_t>("abc"));                   // std::stoull throws invalid_argument
  REQUIRE_FALSE(parse_number<uint64_t>("12abc"));                 // std::stoull reads 12
  REQUIRE_FALSE(parse_number<uint64_t>(" 12"));
  REQUIRE_FALSE(parse_number<uint64_t>("+12"));
  REQUIRE_FALSE(parse_number<int64_t>(""));
  REQUIRE(parse_number<int64_t>("-42") == std::optional<int64_t>(-42));
  REQUIRE_FALSE(parse_number<int32_t>("2147483648"));
  REQUIRE(parse_number<double>("0.25") == std::optional<double>(0.25));
  REQUIRE(parse_number<double>("1e-3") == std::optional<double>(1e-3));
  REQUIRE_FALSE(parse_number<double>("1e999"));
  REQUIRE_FALSE(parse_number<double>("0.25 "));
}
