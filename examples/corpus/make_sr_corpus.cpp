// chord-make-sr-corpus: a deterministic 44.1 kHz demo corpus for audio super-resolution, with real
// content up to the Nyquist frequency and a caption per clip.
//
// Four kinds of clip, in equal shares: melodies on procedural instruments whose overtones reach 22 kHz
// (band-limited sawtooth and square, inharmonic bells, Karplus–Strong plucks, brass with a brightening
// envelope), noise percussion (hi-hat, shaker, snare, kick), the two mixed, and espeak-ng speech. The
// same arguments always give the same bytes, whatever else the process, its environment or the machine
// do: synthesis is sequential double-precision arithmetic, espeak's noise is seeded per clip, and no
// reduction runs on LibTorch (whose summation order follows the thread count and the CPU's vector
// width). A corpus that is already complete is left alone.
#include <chord/audio/io.hpp>
#include <algorithm>
#include <chord/audio/resample.hpp>
#include <chord/core/allocator.hpp>
#include <chord/data/manifest.hpp>

#include "espeak_speech.hpp"

#include <chord/apps/cli.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>

namespace {

constexpr int kCorpusFormat = 3;  // bump when the generator's output changes (3: per-clip espeak seed, loudness in double)
constexpr double kTargetRms = 0.1;  // -20 dBFS
constexpr double kTwoPi = 2.0 * std::numbers::pi;

using chord::examples::Rng;
using Buffer = std::vector<double>;

struct Timbre {
  const char* name;
  const char* caption;
};
const std::vector<Timbre>& timbres() {
  static const std::vector<Timbre> list{{"saw", "bright sawtooth lead"}, {"square", "hollow square-wave reed"},
                                        {"bell", "ringing bells with inharmonic overtones"},
                                        {"pluck", "plucked string"}, {"brass", "brassy synth horn"}};
  return list;
}

/// Adds one note of `timbre` at `frequency` Hz from `start` for `length` samples, peak about `gain`.
void add_note(Buffer& out, int sample_rate, const std::string& timbre, double frequency, size_t start, size_t length,
              double gain, Rng& rng) {
  const double nyquist = 0.5 * sample_rate;
  const double attack = 0.01 * sample_rate;
  if (timbre == "pluck") {
    // Karplus–Strong: a noise burst in a delay line with a two-tap average; bright, then darker.
    const auto period = std::max<size_t>(2, static_cast<size_t>(sample_rate / frequency));
    Buffer line(period);
    for (auto& v : line) v = rng.uniform(-1.0, 1.0);
    for (size_t i = 0; i < length && start + i < out.size(); ++i) {
      const size_t k = i % period;
      const double value = line[k];
      line[k] = 0.996 * 0.5 * (value + line[(k + 1) % period]);
      out[start + i] += gain * value;
    }
    return;
  }
  std::vector<std::pair<double, double>> partials;  // (frequency ratio, amplitude)
  if (timbre == "bell") {
    for (double r : {0.56, 0.92, 1.19, 1.71, 2.0, 2.74, 3.0, 3.76, 4.07, 5.4, 8.93, 13.34, 18.64}) partials.push_back({r, 1.0 / std::sqrt(r)});
  } else {
    for (int k = 1; k * frequency < nyquist; ++k) {
      if (timbre == "square" && k % 2 == 0) continue;
      partials.push_back({static_cast<double>(k), 1.0 / k});
    }
  }
  const double vibrato = rng.uniform(3.0, 6.0), depth = timbre == "bell" ? 0.0 : 0.004;
  for (size_t i = 0; i < length && start + i < out.size(); ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    const double remaining = static_cast<double>(length - i) / sample_rate;
    double envelope = std::min(1.0, i / attack) * std::min(1.0, remaining / 0.03);
    if (timbre == "bell") envelope *= std::exp(-2.5 * t);
    const double bend = 1.0 + depth * std::sin(kTwoPi * vibrato * t);
    double value = 0.0;
    for (const auto& [ratio, amplitude] : partials) {
      const double f = frequency * ratio * bend;
      if (f >= nyquist) continue;
      // Brass brightens as the note swells: upper partials fade in over the first 150 ms.
      const double brightness = timbre == "brass" ? std::min(1.0, t / 0.15 + 1.0 / ratio) : 1.0;
      // Bells: higher partials die faster.
      const double decay = timbre == "bell" ? std::exp(-0.4 * ratio * t) : 1.0;
      value += amplitude * brightness * decay * std::sin(kTwoPi * f * t);
    }
    out[start + i] += gain * envelope * value;
  }
}

/// The gain that brings `wave` to RMS -20 dBFS (0.1) unless its peak would pass 0.95: loudness as
/// mastered audio, not peak-normalised. Sawtooth leads peak-normalised sit near RMS 0.5, five times the
/// rest, and the latents of a fixed-scale pretransform would then be far from the unit variance the
/// flow's noise has. A sequential sum in double: the same bits on every machine and thread count.
float loudness_gain(const torch::Tensor& wave) {
  const auto samples = wave.contiguous();
  const float* data = samples.data_ptr<float>();
  double energy = 0.0, peak = 0.0;
  for (int64_t i = 0; i < samples.numel(); ++i) {
    energy += static_cast<double>(data[i]) * data[i];
    peak = std::max(peak, std::abs(static_cast<double>(data[i])));
  }
  if (peak == 0.0) return 1.0f;
  const double rms = std::sqrt(energy / static_cast<double>(samples.numel()));
  return static_cast<float>(std::min(kTargetRms / rms, 0.95 / peak));
}

/// Noise percussion on a grid of sixteenth notes.
std::string add_drums(Buffer& out, int sample_rate, double bpm, Rng& rng) {
  const auto step = static_cast<size_t>(sample_rate * 60.0 / bpm / 4.0);
  const bool shaker = rng.below(2) == 0;
  double last_noise = 0.0;
  auto noise_hit = [&](size_t at, double seconds, double gain, bool highpass) {
    const auto n = static_cast<size_t>(seconds * sample_rate);
    for (size_t i = 0; i < n && at + i < out.size(); ++i) {
      const double white = rng.uniform(-1.0, 1.0);
      const double value = highpass ? white - last_noise : white;  // first difference: energy towards Nyquist
      last_noise = white;
      out[at + i] += gain * std::exp(-5.0 * static_cast<double>(i) / n) * value;
    }
  };
  auto kick = [&](size_t at) {
    double phase = 0.0;
    for (size_t i = 0; i < static_cast<size_t>(0.25 * sample_rate) && at + i < out.size(); ++i) {
      const double t = static_cast<double>(i) / sample_rate;
      phase += kTwoPi * (45.0 + 75.0 * std::exp(-t / 0.03)) / sample_rate;
      out[at + i] += 0.8 * std::exp(-t / 0.12) * std::sin(phase);
    }
  };
  for (size_t s = 0, at = 0; at < out.size(); ++s, at += step) {
    if (s % 2 == 0 || shaker) noise_hit(at, shaker ? 0.05 : 0.04, shaker ? 0.12 : 0.25, true);
    if (s % 8 == 4) {
      noise_hit(at, 0.15, 0.35, false);
      for (size_t i = 0; i < static_cast<size_t>(0.1 * sample_rate) && at + i < out.size(); ++i) {
        out[at + i] += 0.3 * std::exp(-30.0 * i / sample_rate) * std::sin(kTwoPi * 180.0 * i / sample_rate);
      }
    }
    if (s % 8 == 0) kick(at);
  }
  return shaker ? "shaker, snare and kick" : "hi-hat, snare and kick";
}

/// A melody of `timbre` in a random key: returns its caption.
std::string add_melody(Buffer& out, int sample_rate, double bpm, Rng& rng, double gain) {
  static const std::vector<int> major{0, 2, 4, 5, 7, 9, 11, 12}, minor{0, 2, 3, 5, 7, 8, 10, 12};
  static const std::vector<std::string> notes{"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
  const auto& timbre = timbres()[rng.below(timbres().size())];
  const int root = static_cast<int>(rng.below(12));
  const bool is_major = rng.below(2) == 0;
  const int octave = 3 + static_cast<int>(rng.below(3));
  const auto beat = static_cast<size_t>(sample_rate * 60.0 / bpm);
  for (size_t at = 0; at < out.size();) {
    const auto length = beat / 2 * (1 + rng.below(3));
    const int degree = (is_major ? major : minor)[rng.below(8)];
    const double frequency = 440.0 * std::pow(2.0, (root + degree + 12 * (octave - 4) - 9) / 12.0);
    add_note(out, sample_rate, timbre.name, frequency, at, length, gain, rng);
    at += length;
  }
  return std::string(timbre.caption) + " melody in " + notes[root] + (is_major ? " major" : " minor");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Synthesise chord's deterministic 44.1 kHz super-resolution demo corpus (instruments, percussion, speech)."};
  std::filesystem::path out = "out/sr_corpus";
  int count = 120;
  double seconds = 3.0;
  uint64_t seed = 2025;
  double valid_fraction = 0.1;
  app.add_option("--out", out, "Output folder (wavs/, manifest_train.jsonl, manifest_valid.jsonl)")->capture_default_str();
  app.add_option("--count", count, "Number of clips")->check(CLI::Range(4, 100000))->capture_default_str();
  app.add_option("--seconds", seconds, "Clip length")->check(CLI::Range(0.5, 60.0))->capture_default_str();
  app.add_option("--seed", seed, "Seed of every choice")->capture_default_str();
  app.add_option("--valid-fraction", valid_fraction, "Share of clips held out")->check(CLI::Range(0.0, 0.5))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  chord::keep_freed_tensor_memory();
  chord::examples::pin_resampler_environment();
  constexpr int sample_rate = 44100;

  try {
    chord::apps::require_output_folder(out, "--out");
    const nlohmann::json config = {{"format", kCorpusFormat}, {"count", count}, {"seconds", seconds}, {"seed", seed},
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
    chord::examples::EspeakSynthesizer synthesizer;
    Rng rng(seed);
    const auto length = static_cast<size_t>(seconds * sample_rate);
    std::vector<chord::data::ManifestItem> items;
    static const std::vector<const char*> kinds{"instrument", "percussion", "mix", "speech"};
    for (int i = 0; i < count; ++i) {
      const std::string kind = kinds[static_cast<size_t>(i) % kinds.size()];
      const double bpm = 80.0 + 10.0 * static_cast<double>(rng.below(9));
      Buffer buffer(length, 0.0);
      std::string caption;
      torch::Tensor wave;
      if (kind == "speech") {
        const std::string sentence = chord::examples::make_sentence(rng);
        const auto& voice = chord::examples::voices()[rng.below(chord::examples::voices().size())];
        const int rate = 150 + static_cast<int>(rng.below(40));
        auto spoken = chord::examples::trim_silence(
            synthesizer.speak(sentence, voice, rate, chord::examples::utterance_noise_seed(seed, static_cast<uint64_t>(i))),
            0.01f, synthesizer.sample_rate() / 20);
        spoken = chord::audio::resample(spoken, synthesizer.sample_rate(), sample_rate);
        wave = torch::zeros({static_cast<int64_t>(length)});
        const auto n = std::min<int64_t>(spoken.size(0), wave.size(0));
        wave.slice(0, 0, n).copy_(spoken.slice(0, 0, n));
        caption = std::string("speech: ") + (voice.pitch >= 55 ? "a higher" : "a lower") + " voice saying \"" + sentence + "\"";
      } else {
        if (kind != "percussion") caption = add_melody(buffer, sample_rate, bpm, rng, kind == "mix" ? 0.25 : 0.4);
        if (kind != "instrument") {
          const auto drums = add_drums(buffer, sample_rate, bpm, rng);
          caption = caption.empty() ? drums : caption + " over " + drums;
        }
        caption += " at " + std::to_string(static_cast<int>(bpm)) + " bpm";
        wave = torch::tensor(buffer, torch::kFloat64).to(torch::kFloat32);
      }
      wave = wave * loudness_gain(wave);
      char name[32];
      std::snprintf(name, sizeof name, "wavs/%05d.wav", i);
      chord::audio::write_audio(out / name, wave, sample_rate);
      chord::data::ManifestItem item;
      item.audio = std::filesystem::absolute(out / name);
      item.text = caption;
      item.duration = seconds;
      item.fields = {{"kind", kind}};
      items.push_back(std::move(item));
      if ((i + 1) % 20 == 0 || i + 1 == count) std::cout << "\r[sr-corpus] " << (i + 1) << "/" << count << " clips" << std::flush;
    }
    std::cout << "\n";
    const auto valid = static_cast<size_t>(std::max(1.0, valid_fraction * count));
    chord::data::Manifest all(items);
    all.write(out / "manifest.jsonl");
    all.slice(0, items.size() - valid).write(out / "manifest_train.jsonl");
    all.slice(items.size() - valid, items.size()).write(out / "manifest_valid.jsonl");
    std::ofstream(stamp) << config.dump(2) << "\n";
    std::cout << "[sr-corpus] " << items.size() << " clips of " << seconds << " s at 44.1 kHz ("
              << items.size() - valid << " train, " << valid << " valid) -> " << out.string() << "\n";
  } catch (const std::exception& error) {
    return chord::apps::report_error("chord-make-sr-corpus", error);
  }
  return 0;
}
