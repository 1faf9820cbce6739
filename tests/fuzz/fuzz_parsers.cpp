// libFuzzer targets for every parser of outside input, in one binary (one LibTorch-heavy compile): the
// target is chosen with CHORD_FUZZ_TARGET (scripts/fuzz.sh sets it, with the matching corpus):
//
//   safetensors  io::SafetensorsReader + load_safetensors: header JSON, dtypes, offsets, shapes
//   checkpoint   an F5-TTS checkpoint's metadata: the flags read back into the model options
//   audio        audio::audio_info + read_audio (WAV/FLAC/… through libsndfile, chord's checks)
//   manifest     data::Manifest::read (JSONL)
//   vocab        text::VocabTokenizer::from_file + encode
//   tokenizer    text::UnigramTokenizer::from_file (tokenizer.json) + encode
//   filelist     Bert-VITS2 filelist lines (parse_filelist_line, read_filelist) and the English front end
//   utf8         text::utf8_characters, the F5 front end's tokens and normalisation, ByT5 bytes
//   vits_config  a Bert-VITS2 config.json (bert_vits2::read_vits_config)
//   bert_features  BERT features as the reference's bert_gen.py writes them (torch.save: a zip holding a
//                pickle), read by LibTorch's unpickler and checked by bert_vits2::load_bert
//   model_config the other JSON configs chord reads: stable-audio-tools model_config.json and its DiT
//                "config", Hugging Face T5 and WavLM config.json, the F5-TTS and SAGA-SR trainers'
//                --config / run-folder config.json
//
// A parser may refuse an input with chord::Error, c10::Error or nlohmann's exceptions (a clear message
// is the correct answer to bad input); anything else — a crash, a sanitizer report, an unexpected
// exception type, a hang — is a finding.
#include <chord/apps/tts_trainer.hpp>
#include <chord/audio/io.hpp>
#include <chord/data/manifest.hpp>
#include <chord/io/json_config.hpp>
#include <chord/io/safetensors.hpp>
#include <chord/nn/stable_audio_config.hpp>
#include <chord/nn/t5_encoder.hpp>
#include <chord/nn/wavlm.hpp>
#include <chord/systems/bert_vits2/filelist.hpp>
#include <chord/systems/bert_vits2/item.hpp>
#include <chord/systems/bert_vits2/run_config.hpp>
#include <chord/systems/saga_sr/config.hpp>
#include <chord/systems/f5tts/checkpoint.hpp>
#include <chord/systems/f5tts/presets.hpp>
#include <chord/text/f5_frontend.hpp>
#include <chord/text/tokenizer.hpp>
#include <chord/text/unigram_tokenizer.hpp>
#include <chord/text/utf8.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>

namespace {

using Target = std::function<void(const std::filesystem::path& file, std::string_view bytes)>;

bool refused_cleanly(const std::exception& error) {
  return dynamic_cast<const chord::Error*>(&error) != nullptr || dynamic_cast<const c10::Error*>(&error) != nullptr ||
         dynamic_cast<const nlohmann::json::exception*>(&error) != nullptr;
}

/// Runs one reader of a target that tries several on the same input: a clean refusal goes on to the
/// next reader, anything else propagates.
template <class Read>
void each_reader(Read&& read) {
  try {
    read();
  } catch (const std::exception& error) {
    if (!refused_cleanly(error)) throw;
  }
}

/// A config read the way the programs read theirs: keys and types checked against the defaults, then converted.
template <class Config>
void read_checked_config(const nlohmann::json& config) {
  chord::io::check_config_json(nlohmann::json(Config{}), config, "fuzz");
  (void)config.get<Config>();
}

const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> all = {
      {"safetensors",
       [](const std::filesystem::path& file, std::string_view) {
         chord::io::SafetensorsReader reader(file);
         for (const auto& key : reader.keys()) (void)reader.contains(key);
         for (const auto& [name, tensor] : chord::io::load_safetensors(file)) (void)tensor.sum();
       }},
      {"checkpoint",
       [](const std::filesystem::path& file, std::string_view) {
         auto options = chord::systems::f5tts::preset_options(chord::systems::f5tts::Preset::tiny, 32);
         chord::systems::f5tts::apply_invisible_flags(options, chord::io::SafetensorsReader(file).metadata());
       }},
      {"audio",
       [](const std::filesystem::path& file, std::string_view) {
         (void)chord::audio::audio_info(file);
         (void)chord::audio::read_audio(file);
       }},
      {"manifest", [](const std::filesystem::path& file, std::string_view) { (void)chord::data::Manifest::read(file); }},
      {"vocab",
       [](const std::filesystem::path& file, std::string_view bytes) {
         const auto vocab = chord::text::VocabTokenizer::from_file(file);
         (void)vocab.encode(bytes.substr(0, 64));
       }},
      {"tokenizer",
       [](const std::filesystem::path& file, std::string_view bytes) {
         const auto tokenizer = chord::text::UnigramTokenizer::from_file(file);
         (void)tokenizer.encode(bytes.substr(0, 64));
       }},
      {"filelist",
       [](const std::filesystem::path& file, std::string_view bytes) {
         (void)chord::systems::bert_vits2::read_filelist(file);
         (void)chord::systems::bert_vits2::parse_filelist_line(bytes, file, 1);
       }},
      {"utf8",
       [](const std::filesystem::path&, std::string_view bytes) {
         (void)chord::text::utf8_characters(bytes);
         (void)chord::text::f5tts::text_tokens(bytes);
         (void)chord::text::f5tts::normalize_reference_text(std::string(bytes));
         (void)chord::text::f5tts::chunk_text(std::string(bytes));
         (void)chord::text::ByT5Tokenizer{}.encode(bytes);
       }},
      {"vits_config", [](const std::filesystem::path& file, std::string_view) { (void)chord::systems::bert_vits2::read_vits_config(file); }},
      {"bert_features",
       [](const std::filesystem::path& file, std::string_view) {
         (void)chord::systems::bert_vits2::load_bert(file, /*n=*/4, /*dim=*/8);  // not .safetensors: the torch.save path
       }},
      {"model_config",
       [](const std::filesystem::path&, std::string_view bytes) {
         const auto config = nlohmann::json::parse(bytes);
         each_reader([&] { (void)chord::nn::stable_audio_model_dit_options(config); });
         each_reader([&] { (void)chord::nn::stable_audio_dit_options(config); });
         each_reader([&] { (void)chord::nn::T5EncoderOptions::from_config(config); });
         each_reader([&] { (void)chord::nn::WavLMOptions::from_config(config); });
         each_reader([&] { read_checked_config<chord::systems::saga_sr::SrConfig>(config); });
         each_reader([&] { read_checked_config<chord::apps::TtsTrainerConfig>(config); });
       }},
  };
  return all;
}

const Target* selected = nullptr;
std::filesystem::path scratch;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("CHORD_FUZZ_TARGET");
  if (name == nullptr || targets().count(name) == 0) {
    std::cerr << "chord_fuzz: set CHORD_FUZZ_TARGET to one of:";
    for (const auto& [target, run] : targets()) std::cerr << " " << target;
    std::cerr << "\n";
    std::exit(2);
  }
  selected = &targets().at(name);
  // Parsers read files: each input goes to one file in memory-backed storage, unique per process.
  const std::filesystem::path shm = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  scratch = shm / ("chord_fuzz_" + std::string(name) + "_" + std::to_string(::getpid()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (*selected)(scratch, std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& error) {
    if (!refused_cleanly(error)) {
      std::cerr << "chord_fuzz: unexpected exception type: " << error.what() << "\n";
      std::abort();
    }
  }
  return 0;
}
