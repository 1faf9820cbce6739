// chord-make-speech-corpus: a small, deterministic English speech corpus synthesised with espeak-ng.
//
// Several voices and speaking rates, a few hundred sentences from a seeded grammar, 24 kHz mono WAV,
// transcripts with IPA, a JSONL manifest split into train/valid, and a character vocab. The same
// arguments always give the same bytes, whatever else the process, its environment or the machine do
// (tested in a perturbed environment: see tests/CMakeLists.txt); a corpus that is already complete is
// left alone.
#include <chord/core/allocator.hpp>
#include <chord/audio/io.hpp>
#include <chord/audio/resample.hpp>
#include <chord/data/manifest.hpp>
#include <chord/text/phonemizer.hpp>
#include <chord/text/tokenizer.hpp>

#include "espeak_speech.hpp"

#include <chord/apps/cli.hpp>
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
constexpr int kCorpusFormat = 2;  // bump when the generator's output changes (2: espeak noise seeded per utterance)
}  // namespace

using namespace chord::examples;

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
  pin_resampler_environment();

  try {
    chord::apps::require_output_folder(out, "--out");
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
      auto wave = synthesizer.speak(text, voice, rate, utterance_noise_seed(seed, static_cast<uint64_t>(i)));
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
    return chord::apps::report_error("chord-make-speech-corpus", error);
  }
  return 0;
}
