// chord-make-speech-corpus: a small, deterministic English speech corpus synthesised with espeak-ng.
//
// Several voices and speaking rates, a few hundred sentences from a seeded grammar, 24 kHz mono WAV,
// transcripts with IPA, a JSONL manifest split into train/valid, and a character vocab. The same
// arguments always give the same corpus; a corpus that is already complete is left alone.
#include <chord/core/allocator.hpp>
#include <chord/audio/io.hpp>
#include <chord/audio/resample.hpp>
#include <chord/data/manifest.hpp>
#include <chord/text/phonemizer.hpp>
#include <chord/text/tokenizer.hpp>

#include <CLI/CLI.hpp>
#include <espeak-ng/speak_lib.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr int kCorpusFormat = 1;  // bump when the generator's output changes

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
  template <class T>
  const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }

 private:
  uint64_t state_;
};

/// Sentences from a small grammar: varied length, vocabulary and punctuation.
std::string make_sentence(Rng& rng) {
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

const std::vector<Voice>& voices() {
  static const std::vector<Voice> list{{"en-us", 50},       {"en-us+f3", 60},        {"en", 45},
                                       {"en+f2", 65},       {"en-gb-scotland+m3", 40}, {"en-029+f4", 55}};  // "en" is espeak's British English
  return list;
}

/// espeak-ng synthesis into a float buffer (espeak's state is global: shared lock and init).
class EspeakSynthesizer {
 public:
  EspeakSynthesizer() {
    std::lock_guard<std::mutex> lock(chord::text::espeak_mutex());
    sample_rate_ = chord::text::espeak_initialize();
  }
  int sample_rate() const { return sample_rate_; }

  torch::Tensor speak(const std::string& text, const Voice& voice, int words_per_minute) {
    std::lock_guard<std::mutex> lock(chord::text::espeak_mutex());
    espeak_SetSynthCallback(&EspeakSynthesizer::collect);
    CHORD_CHECK(espeak_SetVoiceByName(voice.name.c_str()) == EE_OK, "espeak-ng has no voice '", voice.name, "'");
    espeak_SetParameter(espeakRATE, words_per_minute, 0);
    espeak_SetParameter(espeakPITCH, voice.pitch, 0);
    buffer().clear();
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
torch::Tensor trim_silence(const torch::Tensor& wave, float threshold, int64_t keep) {
  auto loud = (wave.abs() > threshold).nonzero();
  if (loud.numel() == 0) return wave;
  const int64_t first = std::max<int64_t>(0, loud[0].item<int64_t>() - keep);
  const int64_t last = std::min<int64_t>(wave.size(0), loud[-1].item<int64_t>() + keep);
  return wave.slice(0, first, last).clone();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Synthesise chord's deterministic demo speech corpus with espeak-ng."};
  std::filesystem::path out = "out/corpus";
  int count = 300;
  uint64_t seed = 2024;
  int sample_rate = 24000;
  double valid_fraction = 0.05;
  app.add_option("--out", out, "Output folder (wavs/, manifest_*.jsonl, vocab.txt)")->capture_default_str();
  app.add_option("--count", count, "Number of utterances")->check(CLI::Range(10, 100000))->capture_default_str();
  app.add_option("--seed", seed, "Seed of the sentence/voice/rate choices")->capture_default_str();
  app.add_option("--sample-rate", sample_rate, "Output sample rate in Hz")->check(CLI::Range(8000, 96000))->capture_default_str();
  app.add_option("--valid-fraction", valid_fraction, "Share of utterances held out")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  chord::keep_freed_tensor_memory();

  try {
    const nlohmann::json config = {{"format", kCorpusFormat}, {"count", count}, {"seed", seed},
                                   {"sample_rate", sample_rate}, {"valid_fraction", valid_fraction},
                                   {"espeak", espeak_Info(nullptr)}};
    const auto stamp = out / "corpus.json";
    if (std::filesystem::exists(stamp)) {
      std::ifstream in(stamp);
      if (nlohmann::json::parse(in, nullptr, false) == config) {
        std::cout << "corpus in " << out.string() << " is complete; nothing to do\n";
        return 0;
      }
    }
    std::filesystem::create_directories(out / "wavs");
    EspeakSynthesizer synthesizer;
    chord::text::EspeakPhonemizer phonemizer("en-us");
    Rng rng(seed);
    std::vector<chord::data::ManifestItem> items;
    std::vector<std::string> texts;
    double total_seconds = 0.0;
    for (int i = 0; i < count; ++i) {
      const std::string text = make_sentence(rng);
      const Voice& voice = voices()[rng.below(voices().size())];
      const int rate = 140 + static_cast<int>(rng.below(61));  // 140..200 words per minute
      auto wave = synthesizer.speak(text, voice, rate);
      wave = trim_silence(wave, 0.01f, synthesizer.sample_rate() / 20);
      wave = chord::audio::resample(wave, synthesizer.sample_rate(), sample_rate);
      const float peak = wave.abs().max().item<float>();
      if (peak > 0.95f) wave = wave * (0.95f / peak);
      char name[32];
      std::snprintf(name, sizeof name, "wavs/%05d.wav", i);
      chord::audio::write_audio(out / name, wave, sample_rate);
      chord::data::ManifestItem item;
      item.audio = std::filesystem::absolute(out / name);
      item.text = text;
      item.speaker = voice.name;
      item.language = "en";
      item.duration = static_cast<double>(wave.size(0)) / sample_rate;
      item.fields = {{"phonemes", phonemizer.phonemize(text)}, {"words_per_minute", rate}};
      total_seconds += item.duration;
      texts.push_back(text);
      items.push_back(std::move(item));
      if ((i + 1) % 50 == 0 || i + 1 == count) {
        std::cout << "\r[corpus] " << (i + 1) << "/" << count << " utterances" << std::flush;
      }
    }
    std::cout << "\n";
    const auto valid = static_cast<size_t>(std::max(1.0, valid_fraction * count));
    chord::data::Manifest all(items);
    all.write(out / "manifest.jsonl");
    all.slice(0, items.size() - valid).write(out / "manifest_train.jsonl");
    all.slice(items.size() - valid, items.size()).write(out / "manifest_valid.jsonl");
    chord::text::VocabTokenizer::from_texts(texts).save(out / "vocab.txt");
    std::ofstream(stamp) << config.dump(2) << "\n";
    std::cout << "[corpus] " << items.size() << " utterances, " << static_cast<int>(total_seconds / 60) << " min "
              << static_cast<int>(total_seconds) % 60 << " s of audio, " << voices().size() << " voices -> "
              << out.string() << "\n";
  } catch (const std::exception& error) {
    std::cerr << "chord-make-speech-corpus: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
