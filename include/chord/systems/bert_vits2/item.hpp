#pragma once
/// @file
/// Bert-VITS2 training items and batches: `data_utils.TextAudioSpeakerLoader.get_text` / `get_audio` /
/// `get_audio_text_speaker_pair` and `TextAudioSpeakerCollate` (fishaudio/Bert-VITS2 8f7fbd8;
/// reference/vits2.md §5.1–5.2).
///
/// BERT features: the reference loads `<wav stem>.bert.pt` (torch.save of a `[1024, n]` tensor, n = the
/// phone count after blanks). chord reads `<wav stem>.bert.safetensors` holding that tensor under the
/// key `bert` (float, `[1024, n]`), or else the reference's `.bert.pt` itself. The tensor fills its language's slot; the two other slots are
/// `randn(1024, n)` drawn from the caller's generator in the reference's order (ZH: ja, en; JP: zh, en;
/// EN: zh, ja). The reference crashes when the file is missing; chord uses zeros or refuses, as
/// ItemOptions::missing_bert says.

#include "chord/audio/io.hpp"
#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/data/feature_cache.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/systems/bert_vits2/filelist.hpp"
#include "chord/systems/bert_vits2/spectrogram.hpp"
#include "chord/systems/bert_vits2/symbols.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/types.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chord::systems::bert_vits2 {

/// Width of every BERT feature stream in Bert-VITS2 2.x (the collate hard-codes 1024).
inline constexpr int64_t bert_feature_dim = 1024;

/// `get_text`'s outputs: id sequences `[n]` (int64) and BERT streams `[1024, n]` (float32), where n is
/// the phone count after blanks (2·phones + 1 with add_blank).
struct TextFeatures {
  torch::Tensor phones, tones, languages;
  torch::Tensor bert, ja_bert, en_bert;
  std::vector<int64_t> word2ph;  ///< ×2 and +1 on the first when blanks are added
};

/// Ids, blanks and word2ph of `get_text`, without the BERT streams.
inline TextFeatures text_ids(const std::vector<std::string>& phones, const std::vector<int64_t>& tones,
                             std::vector<int64_t> word2ph, Language language, bool add_blank) {
  auto sequence = cleaned_text_to_sequence(phones, tones, language);
  if (add_blank) {
    sequence.phones = intersperse(sequence.phones, 0);
    sequence.tones = intersperse(sequence.tones, 0);
    sequence.languages = intersperse(sequence.languages, 0);
    for (auto& n : word2ph) n *= 2;
    if (!word2ph.empty()) word2ph[0] += 1;
  }
  TextFeatures out;
  out.phones = torch::tensor(sequence.phones, torch::kLong);
  out.tones = torch::tensor(sequence.tones, torch::kLong);
  out.languages = torch::tensor(sequence.languages, torch::kLong);
  out.word2ph = std::move(word2ph);
  return out;
}

/// `get_text` with the two inactive BERT streams given (`noise_first`, `noise_second`: `[1024, n]`, in
/// slot order zh, ja, en skipping the active one). `bert`: the utterance's features `[1024, n]`.
inline TextFeatures get_text(const std::vector<std::string>& phones, const std::vector<int64_t>& tones,
                             std::vector<int64_t> word2ph, Language language, const torch::Tensor& bert,
                             bool add_blank, const torch::Tensor& noise_first, const torch::Tensor& noise_second) {
  auto out = text_ids(phones, tones, std::move(word2ph), language, add_blank);
  const int64_t n = out.phones.size(0);
  for (const auto* t : {&bert, &noise_first, &noise_second}) {
    TORCH_CHECK(t->defined() && t->dim() == 2 && t->size(0) == bert.size(0) && t->size(1) == n &&
                    t->is_floating_point(),
                "get_text: BERT features [D, n] with n = ", n, " (phones after blanks) and one D for all three "
                "streams expected, got ", t->defined() ? t->sizes() : torch::IntArrayRef{});
  }
  // The loaded features take the language's slot; the draws fill the others in slot order.
  if (language == Language::zh) {
    out.bert = bert;
    out.ja_bert = noise_first;
    out.en_bert = noise_second;
  } else if (language == Language::jp) {
    out.bert = noise_first;
    out.ja_bert = bert;
    out.en_bert = noise_second;
  } else {
    out.bert = noise_first;
    out.ja_bert = noise_second;
    out.en_bert = bert;
  }
  out.bert = out.bert.to(torch::kFloat32);
  out.ja_bert = out.ja_bert.to(torch::kFloat32);
  out.en_bert = out.en_bert.to(torch::kFloat32);
  return out;
}

/// `get_text`: the inactive streams are `randn(dim, n)` from `gen` (CPU generator: the reference's
/// stream for the same seed), drawn after the ids are built, first slot first.
inline TextFeatures get_text(const std::vector<std::string>& phones, const std::vector<int64_t>& tones,
                             std::vector<int64_t> word2ph, Language language, const torch::Tensor& bert,
                             bool add_blank, torch::Generator& gen) {
  const int64_t n = add_blank ? 2 * static_cast<int64_t>(phones.size()) + 1 : static_cast<int64_t>(phones.size());
  TORCH_CHECK(bert.defined() && bert.dim() == 2, "get_text: BERT features [D, n] expected, got ",
              bert.defined() ? bert.sizes() : torch::IntArrayRef{});
  const int64_t dim = bert.size(0);
  auto first = torch::randn({dim, n}, gen, options_on(gen)).cpu();
  auto second = torch::randn({dim, n}, gen, options_on(gen)).cpu();
  return get_text(phones, tones, std::move(word2ph), language, bert, add_blank, first, second);
}

/// chord's file for an utterance's BERT features: the WAV path with its extension replaced by
/// `.bert.safetensors`, holding `bert` `[1024, n]`.
inline std::filesystem::path bert_path(const std::filesystem::path& wav) {
  auto path = wav;
  path.replace_extension(".bert.safetensors");
  return path;
}

/// The reference's file (`bert_gen.py` writes it with torch.save): the WAV path with `.bert.pt` for
/// its extension (the reference replaces every ".wav" in the path; only the extension here).
inline std::filesystem::path reference_bert_path(const std::filesystem::path& wav) {
  auto path = wav;
  path.replace_extension(".bert.pt");
  return path;
}

/// A tensor written by Python's `torch.save(tensor, path)` (zip format, torch >= 1.6), read through
/// LibTorch's unpickler, which builds tensors and containers only (no Python code runs).
///
/// The archive is read from the file, not from memory: `torch::jit::pickle_load(bytes)` reads through
/// LibTorch's VectorReader, which does not bound its reads, and a zip whose central directory points
/// past the end made it read out of bounds (fuzzing: tests/fuzz/regressions/bert_features). The file
/// reader clamps every read to the file's size, so such a file is refused instead.
inline torch::Tensor load_torch_saved_tensor(const std::filesystem::path& path) {
  CHORD_CHECK(std::filesystem::is_regular_file(path), "cannot open '", path.string(), "'");
  torch::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path.string());
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", /*type_resolver=*/std::nullopt,
                                              /*obj_loader=*/std::nullopt, /*device=*/std::nullopt, reader);
  } catch (const c10::Error& error) {
    CHORD_FAIL("'", path.string(), "' is not a file written by torch.save: ", error.what_without_backtrace());
  }
  CHORD_CHECK(value.isTensor(), "'", path.string(), "' holds a ", value.tagKind(), ", expected one tensor");
  return value.toTensor();
}

/// Reads BERT features `[dim, n]` from `path`: `.safetensors` (tensor `bert`) or, for any other
/// extension, a torch.save'd tensor (the reference's `.bert.pt`). nullopt when the file does not
/// exist; another shape or a missing key is refused by name.
inline std::optional<torch::Tensor> load_bert(const std::filesystem::path& path, int64_t n,
                                              int64_t dim = bert_feature_dim) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  torch::Tensor bert;
  if (path.extension() == ".safetensors") {
    auto tensors = io::load_safetensors(path);
    auto it = tensors.find("bert");
    CHORD_CHECK(it != tensors.end(), "BERT features '", path.string(), "' have no tensor 'bert'");
    bert = it->second;
  } else {
    bert = load_torch_saved_tensor(path);
  }
  CHORD_CHECK(bert.is_floating_point() && bert.dim() == 2 && bert.size(0) == dim && bert.size(1) == n,
              "BERT features '", path.string(), "': bert [", dim, ", ", n, "] (float; n = phones after blanks) "
              "expected, got ", bert.sizes(), " ", bert.scalar_type());
  return bert.to(torch::kCPU, torch::kFloat32).contiguous();
}

/// An utterance's BERT features: chord's `.bert.safetensors` first, then the reference's `.bert.pt`.
inline std::optional<torch::Tensor> find_bert(const std::filesystem::path& wav, int64_t n,
                                              int64_t dim = bert_feature_dim) {
  if (auto bert = load_bert(bert_path(wav), n, dim)) return bert;
  return load_bert(reference_bert_path(wav), n, dim);
}

/// What to do when an utterance has no BERT file.
enum class MissingBert { zeros, error };

struct ItemOptions {
  bool add_blank = true;               ///< hps.data.add_blank
  int64_t bert_dim = bert_feature_dim;
  MissingBert missing_bert = MissingBert::zeros;
  /// Where linear spectrograms are kept between epochs (the reference's `.spec.pt` beside each WAV;
  /// here a folder of safetensors keyed by the WAV's path, size, time and the STFT settings, so read-only
  /// data folders work and a changed file or setting is recomputed). Null: computed on every load.
  std::shared_ptr<const data::FeatureCache> spectrogram_cache;
};

/// The cache key of `config`'s linear spectrogram: everything that changes its values.
inline std::string spectrogram_cache_key(const SpectrogramConfig& config) {
  return c10::str("bert_vits2 linear spectrogram v1: rate ", config.sampling_rate, ", n_fft ", config.filter_length, ", hop ",
                  config.hop_length, ", win ", config.win_length, ", hann, reflect pad, not centred, magnitude");
}

/// One training item in the reference's tuple order
/// `(phones, spec, wav, sid, tone, language, bert, ja_bert, en_bert)`.
struct Item {
  torch::Tensor phones;     ///< [n] int64
  torch::Tensor spec;       ///< [n_fft/2+1, T] float32
  torch::Tensor wav;        ///< [1, L] float32 in [-1, 1]
  torch::Tensor sid;        ///< [1] int64
  torch::Tensor tones;      ///< [n] int64
  torch::Tensor languages;  ///< [n] int64
  torch::Tensor bert, ja_bert, en_bert;  ///< [1024, n] float32
};

/// `get_audio`: `wav [1, L]` and its linear spectrogram `[n_fft/2+1, floor(L/hop)]`. The file must be
/// mono at the configured rate. (The reference divides scipy's int16 samples by 32768; libsndfile's
/// float reading does the same for 16-bit PCM, and reads float WAVs as they are.)
inline std::pair<torch::Tensor, torch::Tensor> get_audio(const std::filesystem::path& path, const MelProcessing& processing,
                                                         const data::FeatureCache* spectrogram_cache = nullptr) {
  auto decoded = audio::read_audio(path);
  CHORD_CHECK(decoded.sample_rate == processing.config().sampling_rate, "'", path.string(), "' is sampled at ",
              decoded.sample_rate, " Hz, the config expects ", processing.config().sampling_rate, " Hz");
  CHORD_CHECK(decoded.channels() == 1, "'", path.string(), "' has ", decoded.channels(), " channels, expected mono");
  const int64_t pad = (processing.config().filter_length - processing.config().hop_length) / 2;
  CHORD_CHECK(decoded.frames() > pad, "'", path.string(), "' has ", decoded.frames(),
              " samples, too short for one spectrogram frame (needs more than ", pad, ")");
  auto wav = decoded.samples;  // [1, L]
  const auto compute = [&] { return processing.spectrogram(wav).squeeze(0).contiguous(); };
  auto spec = spectrogram_cache ? spectrogram_cache->get(path, compute) : compute();
  const int64_t frames = (decoded.frames() + 2 * pad - processing.config().filter_length) / processing.config().hop_length + 1;
  CHORD_CHECK(spec.dim() == 2 && spec.size(0) == processing.config().filter_length / 2 + 1 && spec.size(1) == frames,
              "the cached spectrogram of '", path.string(), "' is [", spec.sizes(), "], expected [",
              processing.config().filter_length / 2 + 1, ", ", frames, "]: remove ",
              spectrogram_cache ? spectrogram_cache->cache_path(path).string() : std::string("it"));
  return {wav, spec};
}

/// `get_audio_text_speaker_pair` for one prepared entry.
inline Item load_item(const FilelistEntry& entry, const SpeakerMap& speakers, const MelProcessing& processing,
                      const ItemOptions& options, torch::Generator& gen) {
  auto speaker = speakers.find(entry.speaker);
  CHORD_CHECK(speaker != speakers.end(), entry.where(), ": speaker '", entry.speaker,
              "' is not in the config's data.spk2id");
  const int64_t n = options.add_blank ? 2 * static_cast<int64_t>(entry.phones.size()) + 1
                                      : static_cast<int64_t>(entry.phones.size());
  auto bert = find_bert(entry.wav, n, options.bert_dim);
  if (!bert) {
    CHORD_CHECK(options.missing_bert == MissingBert::zeros, entry.where(), ": no BERT features '",
                bert_path(entry.wav).string(), "' or '", reference_bert_path(entry.wav).string(),
                "' (write them with the BERT extraction step, or allow zeros)");
    bert = torch::zeros({options.bert_dim, n});
  }
  auto text = get_text(entry.phones, entry.tones, entry.word2ph, entry.language, *bert, options.add_blank, gen);
  auto [wav, spec] = get_audio(entry.wav, processing, options.spectrogram_cache.get());
  Item item;
  item.phones = text.phones;
  item.spec = spec;
  item.wav = wav;
  item.sid = torch::tensor({speaker->second}, torch::kLong);
  item.tones = text.tones;
  item.languages = text.languages;
  item.bert = text.bert;
  item.ja_bert = text.ja_bert;
  item.en_bert = text.en_bert;
  return item;
}

/// `TextAudioSpeakerLoader`: a prepared filelist (reference order and bucketing lengths) plus what its
/// items need. Items are built on demand; the generator supplies the inactive BERT streams.
class TextAudioSpeakerDataset {
 public:
  TextAudioSpeakerDataset(PreparedFilelist prepared, SpeakerMap speakers, SpectrogramConfig config = {},
                          ItemOptions options = {})
      : prepared_(std::move(prepared)), speakers_(std::move(speakers)), processing_(config), options_(options) {}

  size_t size() const noexcept { return prepared_.entries.size(); }
  /// Bucketing lengths for DistributedBucketSampler (`dataset.lengths`).
  const std::vector<int64_t>& lengths() const noexcept { return prepared_.lengths; }
  const FilelistReport& report() const noexcept { return prepared_.report; }
  const FilelistEntry& entry(size_t index) const { return prepared_.entries.at(index); }
  const MelProcessing& processing() const noexcept { return processing_; }

  Item get(size_t index, torch::Generator& gen) const {
    return load_item(entry(index), speakers_, processing_, options_, gen);
  }

 private:
  PreparedFilelist prepared_;
  SpeakerMap speakers_;
  MelProcessing processing_;
  ItemOptions options_;
};

/// `TextAudioSpeakerCollate()(batch)`: the reference's 12 tensors, rows sorted by spectrogram length
/// (descending, through torch::sort like the reference, so ties fall the same way), zero-padded.
struct Batch {
  torch::Tensor text_padded;      ///< [B, Tx] int64
  torch::Tensor text_lengths;     ///< [B]
  torch::Tensor spec_padded;      ///< [B, n_fft/2+1, Tspec] float32
  torch::Tensor spec_lengths;     ///< [B]
  torch::Tensor wav_padded;       ///< [B, 1, Twav] float32
  torch::Tensor wav_lengths;      ///< [B]
  torch::Tensor sid;              ///< [B]
  torch::Tensor tone_padded;      ///< [B, Tx]
  torch::Tensor language_padded;  ///< [B, Tx]
  torch::Tensor bert_padded;      ///< [B, 1024, Tx]
  torch::Tensor ja_bert_padded;   ///< [B, 1024, Tx]
  torch::Tensor en_bert_padded;   ///< [B, 1024, Tx]
  torch::Tensor order;            ///< [B]: input index of each row (not part of the reference's tuple)

  /// Every tensor on `device` (the trainer calls it: pinned, non-blocking copies to CUDA).
  Batch to(c10::Device device, bool non_blocking = false) const {
    Batch out = *this;
    for (auto* t : {&out.text_padded, &out.text_lengths, &out.spec_padded, &out.spec_lengths, &out.wav_padded, &out.wav_lengths, &out.sid,
                    &out.tone_padded, &out.language_padded, &out.bert_padded, &out.ja_bert_padded, &out.en_bert_padded, &out.order}) {
      if (t->defined()) *t = t->to(device, non_blocking);
    }
    return out;
  }

  /// The reference's return tuple, in order.
  std::vector<torch::Tensor> tensors() const {
    return {text_padded, text_lengths, spec_padded,    spec_lengths,  wav_padded,    wav_lengths,
            sid,         tone_padded,  language_padded, bert_padded, ja_bert_padded, en_bert_padded};
  }
};

inline Batch collate(const std::vector<Item>& items) {
  TORCH_CHECK(!items.empty(), "collate: empty batch");
  const auto B = static_cast<int64_t>(items.size());
  const int64_t n_freqs = items.front().spec.size(0), dim = items.front().bert.size(0);
  int64_t max_text = 0, max_spec = 0, max_wav = 0;
  std::vector<int64_t> spec_lengths;
  for (const auto& item : items) {
    const int64_t n = item.phones.size(0);
    TORCH_CHECK(item.phones.dim() == 1 && item.tones.sizes() == item.phones.sizes() &&
                    item.languages.sizes() == item.phones.sizes(),
                "collate: phones/tones/languages [n] of equal length expected, got ", item.phones.sizes(), ", ",
                item.tones.sizes(), ", ", item.languages.sizes());
    for (const auto* bert : {&item.bert, &item.ja_bert, &item.en_bert}) {
      TORCH_CHECK(bert->dim() == 2 && bert->size(0) == dim && bert->size(1) == n, "collate: bert [", dim, ", ", n,
                  "] expected, got ", bert->sizes());
    }
    TORCH_CHECK(item.spec.dim() == 2 && item.spec.size(0) == n_freqs, "collate: spec [", n_freqs,
                ", T] expected, got ", item.spec.sizes());
    TORCH_CHECK(item.wav.dim() == 2 && item.wav.size(0) == 1, "collate: wav [1, L] expected, got ", item.wav.sizes());
    TORCH_CHECK(item.sid.numel() == 1, "collate: sid [1] expected, got ", item.sid.sizes());
    max_text = std::max(max_text, n);
    max_spec = std::max(max_spec, item.spec.size(1));
    max_wav = std::max(max_wav, item.wav.size(1));
    spec_lengths.push_back(item.spec.size(1));
  }
  const auto order = std::get<1>(torch::sort(torch::tensor(spec_lengths, torch::kLong), 0, /*descending=*/true));

  const auto longs = torch::TensorOptions().dtype(torch::kLong);
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32);
  Batch batch;
  batch.text_padded = torch::zeros({B, max_text}, longs);
  batch.tone_padded = torch::zeros({B, max_text}, longs);
  batch.language_padded = torch::zeros({B, max_text}, longs);
  batch.text_lengths = torch::zeros({B}, longs);
  batch.spec_lengths = torch::zeros({B}, longs);
  batch.wav_lengths = torch::zeros({B}, longs);
  batch.sid = torch::zeros({B}, longs);
  batch.spec_padded = torch::zeros({B, n_freqs, max_spec}, floats);
  batch.wav_padded = torch::zeros({B, 1, max_wav}, floats);
  batch.bert_padded = torch::zeros({B, dim, max_text}, floats);
  batch.ja_bert_padded = torch::zeros({B, dim, max_text}, floats);
  batch.en_bert_padded = torch::zeros({B, dim, max_text}, floats);
  batch.order = order;
  for (int64_t i = 0; i < B; ++i) {
    const auto& row = items[static_cast<size_t>(order[i].item<int64_t>())];
    const int64_t n = row.phones.size(0), frames = row.spec.size(1), samples = row.wav.size(1);
    batch.text_padded[i].narrow(0, 0, n).copy_(row.phones);
    batch.tone_padded[i].narrow(0, 0, n).copy_(row.tones);
    batch.language_padded[i].narrow(0, 0, n).copy_(row.languages);
    batch.text_lengths[i] = n;
    batch.spec_padded[i].narrow(1, 0, frames).copy_(row.spec);
    batch.spec_lengths[i] = frames;
    batch.wav_padded[i].narrow(1, 0, samples).copy_(row.wav);
    batch.wav_lengths[i] = samples;
    batch.sid[i] = row.sid.reshape({}).item<int64_t>();
    batch.bert_padded[i].narrow(1, 0, n).copy_(row.bert);
    batch.ja_bert_padded[i].narrow(1, 0, n).copy_(row.ja_bert);
    batch.en_bert_padded[i].narrow(1, 0, n).copy_(row.en_bert);
  }
  return batch;
}

}  // namespace chord::systems::bert_vits2
