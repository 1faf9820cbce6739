#pragma once
/// @file
/// The published models chord's systems load, by name: where each is on the Hugging Face Hub, which
/// files, and what (if anything) turns them into what chord reads. chord reads no pickled checkpoint:
/// a `pytorch_model.bin` needs its conversion script once; `.safetensors` files load as downloaded.
///
/// Revisions: "main" throughout. Pinning a commit needs the Hub's commit ids, which could not be read
/// where this table was written (no network); once downloaded, `refs/main` in the cache records the
/// commit, and `--revision <commit>` (chord-fetch, --model-revision) pins it for a reproducible setup.

#include "chord/core/error.hpp"

#include <string>
#include <vector>

namespace chord::hub {

struct PublishedFile {
  std::string path;  ///< inside the repository
  std::string role;  ///< checkpoint, vocab, config, weights, tokenizer
};

struct PublishedModel {
  std::string name;        ///< what --model and chord-fetch take
  std::string system;      ///< the chord system or part that reads it
  std::string repo;        ///< org/name on the Hub
  std::string revision;    ///< a branch, tag or commit
  bool gated = false;      ///< the licence must be accepted on the model page; needs a token
  std::vector<PublishedFile> files;
  std::string conversion;  ///< empty: used as downloaded; else a command ({snapshot}: the downloaded folder)
  std::string usage;       ///< how a chord program takes it ({snapshot}, {<role>}: paths)
  std::string note;
  std::string preset;      ///< the chord preset the weights are (checked when loaded), if any

  const PublishedFile* file_with_role(const std::string& role) const {
    for (const auto& file : files)
      if (file.role == role) return &file;
    return nullptr;
  }
};

/// Every registered model. Repository paths are those the reference implementations download
/// (f5-tts 1.1.20's infer_cli.py / infer_gradio.py, its load_vocoder, stable-audio-tools' T5Conditioner).
inline const std::vector<PublishedModel>& published_models() {
  static const std::vector<PublishedModel> models = {
      {"F5TTS_v1_Base", "F5-TTS (chord-f5tts-infer)", "SWivid/F5-TTS", "main", false,
       {{"F5TTS_v1_Base/model_1250000.safetensors", "checkpoint"}, {"F5TTS_v1_Base/vocab.txt", "vocab"}},
       "",
       "chord-f5tts-infer --model F5TTS_v1_Base ...   (= --checkpoint {checkpoint} --vocab {vocab})",
       "weights under CC-BY-NC-4.0 (trained on Emilia)", "F5TTS_v1_Base"},
      {"F5TTS_Base", "F5-TTS v0 (chord-f5tts-infer)", "SWivid/F5-TTS", "main", false,
       {{"F5TTS_Base/model_1200000.safetensors", "checkpoint"}, {"F5TTS_Base/vocab.txt", "vocab"}},
       "",
       "chord-f5tts-infer --model F5TTS_Base ...   (= --checkpoint {checkpoint} --vocab {vocab} --preset F5TTS_Base)",
       "the first release (v0 architecture); weights under CC-BY-NC-4.0", "F5TTS_Base"},
      {"vocos-mel-24khz", "Vocos vocoder (--vocoder vocos)", "charactr/vocos-mel-24khz", "main", false,
       {{"config.yaml", "config"}, {"pytorch_model.bin", "weights"}},
       "python scripts/convert_vocos.py --local-dir {snapshot} --out vocos-mel-24khz.safetensors   (needs `pip install vocos`)",
       "chord-f5tts-infer ... --vocoder vocos --vocos vocos-mel-24khz.safetensors",
       "published as a pickle (pytorch_model.bin): chord never unpickles, convert it once", ""},
      {"stable-audio-open-1.0", "SAGA-SR latent space (--pretransform oobleck:)", "stabilityai/stable-audio-open-1.0", "main", true,
       {{"model.safetensors", "weights"}, {"model_config.json", "config"}},
       "",
       "chord-saga-sr-train ... --pretransform oobleck:{weights}",
       "gated: accept the Stability AI Community License on the model page and set HF_TOKEN", ""},
      {"t5-base", "SAGA-SR / Stable Audio Open text encoder (--text-encoder t5:)", "t5-base", "main", false,
       {{"config.json", "config"}, {"model.safetensors", "weights"}, {"tokenizer.json", "tokenizer"}},
       "",
       "chord-saga-sr-train ... --text-encoder t5:{snapshot}",
       "the Hub redirects t5-base to google-t5/t5-base; the cache keeps the name asked for, as transformers does", ""},
      {"wavlm-base-plus", "Bert-VITS2 WavLM discriminator (--wavlm-weights)", "microsoft/wavlm-base-plus", "main", false,
       {{"config.json", "config"}, {"pytorch_model.bin", "weights"}},
       "python -c \"import torch; from safetensors.torch import save_file; "
       "s = torch.load('{snapshot}/pytorch_model.bin', map_location='cpu', weights_only=True); "
       "save_file({k: v.contiguous() for k, v in s.items()}, 'wavlm-base-plus.safetensors')\"",
       "chord-vits-train ... --wavlm-weights wavlm-base-plus.safetensors",
       "published as a pickle (pytorch_model.bin): chord never unpickles, convert it once (same keys)", ""},
  };
  return models;
}

/// The registered model called `name`; the error lists the names there are.
inline const PublishedModel& find_published_model(const std::string& name) {
  std::string names;
  for (const auto& model : published_models()) {
    if (model.name == name) return model;
    names += (names.empty() ? "" : ", ") + model.name;
  }
  CHORD_FAIL("no published model called '", name, "' (known: ", names, "; `chord-fetch --list` describes them)");
}

}  // namespace chord::hub
