#pragma once
/// @file
/// The published models chord's systems load, by name: where each is on the Hugging Face Hub, which
/// files, and what (if anything) turns them into what chord reads. chord reads no pickled checkpoint:
/// a `pytorch_model.bin` needs its conversion script once; `.safetensors` files load as downloaded.
///
/// Revisions are pinned to commits, and the files whose content is known carry its sha256 (an LFS
/// file's sha256 is also its blob name in the cache): `--model` fetches exactly these bytes, and a copy
/// the user's Python tools downloaded at another revision is found by its content (hub/published.hpp).
/// Where the numbers come from (this table was written without network access): the commits are the
/// snapshot folders of those repositories in users' Hugging Face caches and the pins of published
/// installers, each seen in several independent sources; the sha256 values are the LFS object ids the
/// Hub shows, likewise seen in several (the F5-TTS v1 checkpoint's also as the hash of a byte-identical
/// copy in another repository). `--model-revision main` (chord-fetch --revision main) takes whatever
/// the repository has now instead, without the content check.

#include "chord/core/error.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace chord::hub {

struct PublishedFile {
  std::string path;    ///< inside the repository
  std::string role;    ///< checkpoint, vocab, config, weights, tokenizer
  std::string sha256;  ///< the content at the pinned revision, where known (lower-case hex)
};

struct PublishedModel {
  std::string name;        ///< what --model and chord-fetch take
  std::string system;      ///< the chord system or part that reads it
  std::string flag;        ///< the program option that takes it by name (--model, --vocos, --pretransform oobleck:, ...)
  std::string repo;        ///< org/name on the Hub
  std::string revision;    ///< the pinned commit
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

/// A published model's files on disk, by role (checkpoint, vocab, config, weights, tokenizer).
struct ModelFiles {
  const PublishedModel* model = nullptr;
  std::filesystem::path snapshot;  ///< the repository's folder at the commit the files came from
  std::map<std::string, std::filesystem::path> files;

  const std::filesystem::path& file(const std::string& role) const {
    const auto found = files.find(role);
    CHORD_CHECK(found != files.end(), "the published model '", model->name, "' has no ", role, " file");
    return found->second;
  }
};

/// Every registered model. Repository paths are those the reference implementations download
/// (f5-tts 1.1.20's infer_cli.py / infer_gradio.py, its load_vocoder, stable-audio-tools' T5Conditioner).
inline const std::vector<PublishedModel>& published_models() {
  static const std::string kF5TtsCommit = "84e5a410d9cead4de2f847e7c9369a6440bdfaca";
  static const std::vector<PublishedModel> models = {
      {"F5TTS_v1_Base", "F5-TTS (chord-f5tts-infer)", "--model", "SWivid/F5-TTS", kF5TtsCommit, false,
       {{"F5TTS_v1_Base/model_1250000.safetensors", "checkpoint", "670900fd14e6c458b95da6e9ed317cdb20dbaf7a1c02ac06a05475a9d32b6a38"},
        {"F5TTS_v1_Base/vocab.txt", "vocab", "2a05f992e00af9b0bd3800a8d23e78d520dbd705284ed2eedb5f4bd29398fa3c"}},
       "",
       "chord-f5tts-infer --model F5TTS_v1_Base ...   (= --checkpoint {checkpoint} --vocab {vocab})",
       "weights under CC-BY-NC-4.0 (trained on Emilia)", "F5TTS_v1_Base"},
      {"F5TTS_Base", "F5-TTS v0 (chord-f5tts-infer)", "--model", "SWivid/F5-TTS", kF5TtsCommit, false,
       {{"F5TTS_Base/model_1200000.safetensors", "checkpoint", "4180310f91d592cee4bc14998cd37c781f779cf105e8ca8744d9bd48ca7046ae"},
        {"F5TTS_Base/vocab.txt", "vocab"}},
       "",
       "chord-f5tts-infer --model F5TTS_Base ...   (= --checkpoint {checkpoint} --vocab {vocab} --preset F5TTS_Base)",
       "the first release (v0 architecture); weights under CC-BY-NC-4.0", "F5TTS_Base"},
      {"vocos-mel-24khz", "Vocos vocoder (--vocoder vocos)", "--vocos", "charactr/vocos-mel-24khz", "0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21", false,
       {{"config.yaml", "config", "da9033922f969a47f0c160010226919e59f27761fd5066f3828d46de6650b0fc"},
        {"pytorch_model.bin", "weights", "97ec976ad1fd67a33ab2682d29c0ac7df85234fae875aefcc5fb215681a91b2a"}},
       "python scripts/convert_vocos.py --local-dir {snapshot} --out vocos-mel-24khz.safetensors   (needs `pip install vocos`)",
       "chord-f5tts-infer ... --vocoder vocos --vocos vocos-mel-24khz.safetensors",
       "published as a pickle (pytorch_model.bin): chord never unpickles, convert it once", ""},
      {"stable-audio-open-1.0", "SAGA-SR latent space (--pretransform oobleck:)", "--pretransform oobleck:", "stabilityai/stable-audio-open-1.0",
       "f21265c1e2710b3bd2386596943f0007f55f802e", true,
       {{"model.safetensors", "weights"}, {"model_config.json", "config"}},
       "",
       "chord-saga-sr-train ... --pretransform oobleck:stable-audio-open-1.0   (= oobleck:{weights})",
       "gated: accept the Stability AI Community License on the model page and set HF_TOKEN", ""},
      {"t5-base", "SAGA-SR / Stable Audio Open text encoder (--text-encoder t5:)", "--text-encoder t5:", "t5-base",
       "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1", false,
       {{"config.json", "config"}, {"model.safetensors", "weights"}, {"tokenizer.json", "tokenizer"}},
       "",
       "chord-saga-sr-train ... --text-encoder t5:t5-base   (= t5:{snapshot})",
       "the Hub redirects t5-base to google-t5/t5-base; the cache keeps the name asked for, as transformers does", ""},
      {"wavlm-base-plus", "Bert-VITS2 WavLM discriminator (--wavlm-weights)", "--wavlm-weights", "microsoft/wavlm-base-plus",
       "4c66d4806a428f2e922ccfa1a962776e232d487b", false,
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
