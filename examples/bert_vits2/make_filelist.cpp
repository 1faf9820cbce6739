// chord-vits-make-filelist: turns chord's demo speech corpus (chord-make-speech-corpus) into Bert-VITS2
// training filelists.
//
// For each utterance of the corpus' manifest_train.jsonl / manifest_valid.jsonl: the text goes through
// the English front end (espeak-ng en-us IPA → ARPAbet phones, tones, word2ph; chord/text/arpabet.hpp),
// the WAV is resampled to the model's rate into CORPUS/vits_wavs/, and a cleaned line
// `wav|speaker|EN|text|phones|tones|word2ph` is written (the format preprocess_text.py writes, checked
// by chord's own filelist parser before it is written). The speaker map the trainer's config needs
// goes to CORPUS/vits_speakers.json as {"n_speakers": N, "spk2id": {...}} (speakers numbered in sorted
// order, as chord-vits-train numbers them without a config). The same inputs always give the same bytes.
#include <chord/core/allocator.hpp>
#include <chord/audio/io.hpp>
#include <chord/audio/resample.hpp>
#include <chord/data/manifest.hpp>
#include <chord/systems/bert_vits2/filelist.hpp>
#include <chord/text/arpabet.hpp>
#include <chord/text/phonemizer.hpp>

#include <chord/apps/cli.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace bv2 = chord::systems::bert_vits2;

template <class T>
std::string join(const std::vector<T>& values) {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i) out << (i ? " " : "") << values[i];
  return out.str();
}

struct Split {
  std::filesystem::path manifest, filelist;
  std::vector<std::string> lines;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write Bert-VITS2 filelists (English, espeak-ng front end) for chord's demo speech corpus."};
  std::filesystem::path corpus = "out/corpus";
  std::filesystem::path out_train, out_valid;
  int sample_rate = 22050;
  std::string voice = "en-us";
  chord::apps::take_last_of_repeated_options(app);
  app.add_option("--corpus", corpus, "Corpus folder of chord-make-speech-corpus (manifest_train/valid.jsonl)")
      ->capture_default_str();
  app.add_option("--out-train", out_train, "Training filelist to write (default: CORPUS/vits_train.txt)");
  app.add_option("--out-valid", out_valid, "Validation filelist to write (default: CORPUS/vits_valid.txt)");
  app.add_option("--sample-rate", sample_rate, "Sample rate of the model (data.sampling_rate); WAVs are resampled to it")
      ->check(CLI::Range(8000, 96000))
      ->capture_default_str();
  app.add_option("--voice", voice, "espeak-ng voice of the phonemizer (the IPA mapping covers en-us)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  chord::keep_freed_tensor_memory();
  // libsoxr reads these at run time; unset, the resampled bytes depend on the inputs alone.
  for (const char* name : {"SOXR_USE_SIMD", "SOXR_USE_SIMD32", "SOXR_USE_SIMD64", "SOXR_MIN_DFT_SIZE",
                           "SOXR_LARGE_DFT_SIZE", "SOXR_COEFS_SIZE", "SOXR_COEF_INTERP", "SOXR_NUM_THREADS",
                           "SOXR_STRICT_BUF", "SOXR_NOSMALLINTOPT"}) {
    ::unsetenv(name);
  }

  try {
    if (out_train.empty()) out_train = corpus / "vits_train.txt";
    if (out_valid.empty()) out_valid = corpus / "vits_valid.txt";
    std::vector<Split> splits{{corpus / "manifest_train.jsonl", out_train, {}},
                              {corpus / "manifest_valid.jsonl", out_valid, {}}};
    for (const auto& split : splits) {
      CHORD_CHECK(std::filesystem::exists(split.manifest), "no manifest '", split.manifest.string(),
                  "' (make the corpus with chord-make-speech-corpus --out ", corpus.string(), ")");
    }
    const auto wav_dir = std::filesystem::absolute(corpus / "vits_wavs").lexically_normal();
    std::filesystem::create_directories(wav_dir);
    chord::text::EspeakPhonemizer phonemizer(voice);
    std::set<std::string> speakers, written;
    size_t utterances = 0;
    std::string example;
    for (auto& split : splits) {
      const auto manifest = chord::data::Manifest::read(split.manifest);
      for (const auto& item : manifest.items()) {
        const std::string where = c10::str("manifest '", split.manifest.string(), "' line ", item.line);
        CHORD_CHECK(!item.speaker.empty(), where, ": no \"speaker\" (a Bert-VITS2 filelist needs one per line)");
        CHORD_CHECK(item.speaker.find('|') == std::string::npos && item.text.find('|') == std::string::npos, where,
                    ": '|' in the speaker or text would break the filelist's fields");
        chord::text::BertVits2English cleaned;
        try {
          cleaned = chord::text::english_g2p(item.text, phonemizer);
        } catch (const std::exception& error) {
          CHORD_FAIL(where, ": ", chord::apps::error_message(error));
        }

        const auto wav = wav_dir / item.audio.filename().replace_extension(".wav");
        CHORD_CHECK(written.insert(wav.string()).second, where, ": a second utterance would write '", wav.string(),
                    "' (audio file names must be unique across the manifests)");
        auto audio = chord::audio::read_audio(item.audio);
        auto samples = audio.channels() == 1 ? audio.samples : audio.samples.mean(0, /*keepdim=*/true);
        samples = chord::audio::resample(samples, audio.sample_rate, sample_rate);
        chord::audio::write_audio(wav, samples, sample_rate);

        const std::string line = c10::str(wav.string(), "|", item.speaker, "|", bv2::language_name(bv2::Language::en),
                                          "|", cleaned.normalized_text, "|", join(cleaned.phones), "|",
                                          join(cleaned.tones), "|", join(cleaned.word2ph));
        try {
          (void)bv2::parse_filelist_line(line, split.filelist, split.lines.size() + 1);
        } catch (const std::exception& error) {
          CHORD_FAIL(where, ": the cleaned line is not a valid filelist line: ", chord::apps::error_message(error));
        }
        if (example.empty()) example = line;
        split.lines.push_back(line);
        speakers.insert(item.speaker);
        ++utterances;
        if (utterances % 50 == 0) std::cout << "\r[filelist] " << utterances << " utterances" << std::flush;
      }
    }
    std::cout << "\r[filelist] " << utterances << " utterances\n";

    for (const auto& split : splits) {
      if (!split.filelist.parent_path().empty()) std::filesystem::create_directories(split.filelist.parent_path());
      std::ofstream out(split.filelist, std::ios::binary);
      CHORD_CHECK(out, "cannot write filelist '", split.filelist.string(), "'");
      for (const auto& line : split.lines) out << line << '\n';
      CHORD_CHECK(out.good(), "writing filelist '", split.filelist.string(), "' failed");
    }
    nlohmann::json spk2id = nlohmann::json::object();
    int64_t id = 0;
    for (const auto& speaker : speakers) spk2id[speaker] = id++;
    const nlohmann::json snippet = {{"n_speakers", static_cast<int64_t>(speakers.size())}, {"spk2id", spk2id}};
    const auto speakers_path = corpus / "vits_speakers.json";
    std::ofstream(speakers_path, std::ios::binary) << snippet.dump(2) << "\n";

    std::cout << "[filelist] " << splits[0].lines.size() << " train + " << splits[1].lines.size()
              << " valid utterances, " << speakers.size() << " speakers, " << sample_rate << " Hz WAVs in "
              << wav_dir.string() << "\n"
              << "[filelist] " << out_train.string() << ", " << out_valid.string() << ", " << speakers_path.string()
              << " (data.spk2id)\n"
              << "[filelist] e.g. " << example << "\n";
  } catch (const std::exception& error) {
    return chord::apps::report_error("chord-vits-make-filelist", error);
  }
  return 0;
}
