#pragma once
// Shared by chord's demo-corpus generators: a portable seeded PRNG, a sentence grammar, espeak-ng
// speech synthesis into float buffers, and what keeps a corpus a pure function of its arguments.
#include <chord/core/error.hpp>
#include <chord/text/phonemizer.hpp>

#include <espeak-ng/speak_lib.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace chord::examples {

/// A tiny deterministic PRNG (splitmix64): std::uniform_*_distribution differ between standard
/// libraries, this does not.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  /// Uniform in [0, 1), from the top 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  template <class T>
  const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }

 private:
  uint64_t state_;
};

/// Sentences from a small grammar: varied length, vocabulary and punctuation.
inline std::string make_sentence(Rng& rng) {
  static const std::vector<std::string> subjects{
      "the old sailor", "my neighbour", "a quiet engineer", "the children", "our teacher", "a tired musician",
      "the little robot", "her brother", "the green parrot", "a young painter", "the baker", "every student",
      "the orchestra", "a curious fox", "the new manager", "two travellers"};
  static const std::vector<std::string> verbs{
      "carried", "painted", "found", "remembered", "described", "repaired", "counted", "followed", "opened",
      "watched", "borrowed", "sang about", "explained", "discovered", "measured", "forgot"};
  static const std::vector<std::string> objects{
      "a wooden box", "the silver key", "seven yellow lemons", "the broken clock", "a map of the city",
      "the morning news", "an ancient song", "the last train", "a jar of honey", "the stormy weather",
      "three paper boats", "the quiet garden", "a letter from home", "the bright lanterns", "the heavy door"};
  static const std::vector<std::string> places{
      "near the river", "after dinner", "in the small kitchen", "before sunrise", "at the station",
      "under the bridge", "during the long winter", "beside the window", "on a rainy afternoon",
      "behind the library", "at the edge of town", "in the crowded market"};
  static const std::vector<std::string> openers{"Yesterday, ", "Of course, ", "Suddenly, ", "Last week, ", "Honestly, ",
                                                "In the end, ", "Every Sunday, ", ""};
  static const std::vector<std::string> questions{"Did you hear that ", "Is it true that ", "Who knew that "};

  auto capitalised = [](std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
  };
  const std::string clause = rng.pick(subjects) + " " + rng.pick(verbs) + " " + rng.pick(objects);
  switch (rng.below(6)) {
    case 0: return capitalised(rng.pick(questions) + clause + "?");
    case 1: return capitalised(clause + " " + rng.pick(places) + ", and " + rng.pick(subjects) + " " +
                               rng.pick(verbs) + " " + rng.pick(objects) + ".");
    case 2: return capitalised(clause) + "!";
    default: return capitalised(rng.pick(openers) + clause + " " + rng.pick(places) + ".");
  }
}

struct Voice {
  std::string name;  ///< espeak voice (+ variant)
  int pitch;         ///< espeak pitch, 0..100
};

inline const std::vector<Voice>& voices() {
  static const std::vector<Voice> list{{"en-us", 50},       {"en-us+f3", 60},        {"en", 45},
                                       {"en+f2", 65},       {"en-gb-scotland+m3", 40}, {"en-029+f4", 55}};  // "en" is espeak's British English
  return list;
}

/// The seed of espeak's noise for utterance `index` of a corpus generated with `corpus_seed`: a pure
/// function of the two, so a clip does not depend on which clips came before it or how many there are.
inline unsigned utterance_noise_seed(uint64_t corpus_seed, uint64_t index) {
  Rng mix(corpus_seed ^ ((index + 1) * 0xD1B54A32D192ED03ull));
  return static_cast<unsigned>(mix.next() >> 32);
}

/// Removes the environment variables through which libsoxr changes its arithmetic (SIMD on/off, DFT
/// sizes, coefficient interpolation, ...): a generator that promises the same bytes for the same
/// arguments must not resample differently because of a variable the user happened to export.
inline void pin_resampler_environment() {
  for (const char* name : {"SOXR_USE_SIMD", "SOXR_USE_SIMD32", "SOXR_USE_SIMD64", "SOXR_MIN_DFT_SIZE",
                           "SOXR_LARGE_DFT_SIZE", "SOXR_COEFS_SIZE", "SOXR_COEF_INTERP", "SOXR_NUM_THREADS",
                           "SOXR_STRICT_BUF", "SOXR_NOSMALLINTOPT"}) {
    ::unsetenv(name);
  }
}

/// espeak-ng synthesis into a float buffer (espeak's state is global: shared lock and init).
///
/// espeak-ng 1.51 draws the breath noise of its voice variants (`+f2`, `+f3`, ...) from the C library's
/// process-wide `rand()`. Anything else in the process that seeds or draws from it (a library's
/// start-up, a preloaded library) would change the audio, so every utterance reseeds it under the
/// espeak lock right before synthesis with a seed the caller derives from its own arguments.
class EspeakSynthesizer {
 public:
  EspeakSynthesizer() {
    std::lock_guard<std::mutex> lock(chord::text::espeak_mutex());
    sample_rate_ = chord::text::espeak_initialize();
  }
  int sample_rate() const { return sample_rate_; }

  torch::Tensor speak(const std::string& text, const Voice& voice, int words_per_minute, unsigned noise_seed) {
    std::lock_guard<std::mutex> lock(chord::text::espeak_mutex());
    espeak_SetSynthCallback(&EspeakSynthesizer::collect);
    CHORD_CHECK(chord::text::espeak_select_voice(voice.name) == EE_OK, "espeak-ng has no voice '", voice.name, "'");
    espeak_SetParameter(espeakRATE, words_per_minute, 0);
    espeak_SetParameter(espeakPITCH, voice.pitch, 0);
    buffer().clear();
    std::srand(noise_seed);
    CHORD_CHECK(espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, nullptr) ==
                    EE_OK,
                "espeak-ng failed on \"", text, "\"");
    espeak_Synchronize();
    return torch::from_blob(buffer().data(), {static_cast<int64_t>(buffer().size())}, torch::kInt16)
               .to(torch::kFloat32) / 32768.0f;
  }

 private:
  static std::vector<int16_t>& buffer() {
    static std::vector<int16_t> samples;
    return samples;
  }
  static int collect(short* wav, int count, espeak_EVENT*) {
    if (wav != nullptr) buffer().insert(buffer().end(), wav, wav + count);
    return 0;
  }
  int sample_rate_ = 0;
};

/// Trims leading and trailing near-silence, keeping `keep` samples of margin.
inline torch::Tensor trim_silence(const torch::Tensor& wave, float threshold, int64_t keep) {
  auto loud = (wave.abs() > threshold).nonzero();
  if (loud.numel() == 0) return wave;
  const int64_t first = std::max<int64_t>(0, loud[0].item<int64_t>() - keep);
  const int64_t last = std::min<int64_t>(wave.size(0), loud[-1].item<int64_t>() + keep);
  return wave.slice(0, first, last).clone();
}

}  // namespace chord::examples
