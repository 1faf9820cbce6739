#pragma once
/// @file
/// Bert-VITS2's training data as chord-vits-train uses it, for any program that trains a Bert-VITS2
/// spec: filelists read whole and checked item by item before any model runs (speaker, audio header,
/// every sample), the reference's loader filters with a count per filter, and the batch source over
/// `DistributedBucketSampler` (each rank its share, items built on demand, the linear spectrograms
/// cached, items that fail to load skipped and collected).

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/audio/io.hpp"
#include "chord/data/feature_cache.hpp"
#include "chord/data/validation.hpp"
#include "chord/io/console.hpp"
#include "chord/systems/bert_vits2/filelist.hpp"
#include "chord/systems/bert_vits2/item.hpp"
#include "chord/systems/bert_vits2/run_config.hpp"
#include "chord/train/samplers.hpp"
#include "chord/train/trainer.hpp"

#include <c10/util/Exception.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace chord::systems::bert_vits2 {

/// One filelist read, prepared like the reference's loader and checked item by item.
struct CheckedFilelist {
  std::filesystem::path path;
  PreparedFilelist prepared;
  std::vector<std::string> bad;  ///< "file:line: wav: problem"
};

/// What the audio of an entry must be for training: readable, mono, at the config's rate, at least one
/// segment long, every sample present and finite (the whole file is decoded, so that a bad clip is
/// named now rather than when its batch comes). Returns the problem, or empty.
inline std::string training_audio_problem(const FilelistEntry& entry, const VitsRunConfig& config) {
  audio::AudioInfo info;
  try {
    info = audio::audio_info(entry.wav);
  } catch (const c10::Error& error) {
    return error.what_without_backtrace();
  } catch (const std::exception& error) {
    return error.what();
  }
  if (info.sample_rate != config.sampling_rate()) {
    return "sampled at " + std::to_string(info.sample_rate) + " Hz, the config expects " + std::to_string(config.sampling_rate());
  }
  if (info.channels != 1) return std::to_string(info.channels) + " channels, expected mono";
  const int64_t segment = config.synthesizer.segment_samples();
  if (info.frames < segment) {
    return std::to_string(info.frames) + " samples, shorter than one training segment (" + std::to_string(segment) + ")";
  }
  return data::sample_problem(entry.wav);
}

/// Reads, prepares (shuffle and text filter of the reference) and checks a filelist; progress on
/// stderr under `label` for long ones. Entries whose WAV does not exist are checked here, before
/// prepare_filelist (which would stop at the first one).
inline CheckedFilelist read_checked_filelist(const std::filesystem::path& path, const VitsRunConfig& config, const SpeakerMap& speakers,
                                             const std::string& label) {
  CheckedFilelist data;
  data.path = path;
  auto entries = read_filelist(path);  // whole-file checks: every problem names file and line
  std::vector<FilelistEntry> usable;
  io::ProgressLine progress_line(label);
  auto progress = progress_line.task("checking " + path.filename().string(), "items");
  const bool show = entries.size() >= 500;
  int64_t done = 0;
  for (auto& entry : entries) {
    if (!speakers.count(entry.speaker)) {
      CHORD_FAIL(entry.where(), ": speaker '", entry.speaker, "' is not in the config's data.spk2id");
    }
    const auto problem = training_audio_problem(entry, config);
    if (show) progress(++done, static_cast<int64_t>(entries.size()));
    if (problem.empty()) usable.push_back(std::move(entry));
    else data.bad.push_back(entry.where() + ": " + entry.wav.string() + ": " + problem);
  }
  FilelistOptions options;
  options.hop_length = config.hop_length();
  options.min_text_len = config.min_text_len;
  options.max_text_len = config.max_text_len;
  data.prepared = prepare_filelist(std::move(usable), options, &speakers);
  data.prepared.report.read += data.bad.size();
  return data;
}

/// Every speaker of the filelists, numbered in sorted order (a run without a config's spk2id).
inline SpeakerMap speakers_of(const std::vector<std::filesystem::path>& filelists) {
  std::set<std::string> names;
  for (const auto& path : filelists) {
    for (const auto& entry : read_filelist(path)) names.insert(entry.speaker);
  }
  SpeakerMap map;
  for (const auto& name : names) map.emplace(name, static_cast<int64_t>(map.size()));
  return map;
}

/// Items that failed to load during training (after the up-front checks): skipped, counted, reported.
struct SkippedItems {
  std::mutex mutex;
  std::vector<std::string> messages;
};

/// The training batches: DistributedBucketSampler over the reference's lengths (each rank its share of
/// every epoch's buckets), items built on demand; items that fail to load are skipped and collected.
struct TrainingBatches {
  std::shared_ptr<const TextAudioSpeakerDataset> dataset;
  std::shared_ptr<const train::DistributedBucketSampler> sampler;
  std::shared_ptr<SkippedItems> skipped = std::make_shared<SkippedItems>();
  train::BatchSource<Batch> source;
  BucketDrops drops;  ///< items outside the bucket boundaries (the filelist's own drops are in its report)
};

/// Where the items of a training filelist go, for the report every user should see.
struct DataSplit {
  int64_t read = 0, unusable_audio = 0, text_too_short = 0, text_too_long = 0, below_first_boundary = 0, above_last_boundary = 0,
          trained = 0;
};

/// Builds the batches of `data` for rank `rank` of `world_size`, the linear spectrograms cached in
/// `spectrogram_cache` (the reference's `.spec.pt`, here keyed by file and STFT setting). Refuses a
/// filelist of which the filters leave nothing.
inline TrainingBatches training_batches(const VitsRunConfig& config, const CheckedFilelist& data, int64_t batch_size, int64_t seed,
                                        const std::vector<int64_t>& boundaries, const std::filesystem::path& spectrogram_cache,
                                        int world_size, int rank) {
  TrainingBatches b;
  ItemOptions item_options;
  item_options.add_blank = config.add_blank;
  item_options.spectrogram_cache =
      std::make_shared<const data::FeatureCache>(spectrogram_cache, spectrogram_cache_key(config.synthesizer.spectrogram()));
  b.dataset = std::make_shared<const TextAudioSpeakerDataset>(data.prepared, config.speakers, config.synthesizer.spectrogram(), item_options);
  b.drops = count_bucket_drops(b.dataset->lengths(), boundaries);
  const auto& report = data.prepared.report;
  CHORD_CHECK(report.kept > b.drops.too_short + b.drops.too_long, "no training item is left of '", data.path.string(), "': of ",
              report.read, " lines, ", data.bad.size(), " have unusable audio, ", report.too_short, " a phone field shorter than ",
              config.min_text_len, ", ", report.too_long, " one longer than ", config.max_text_len, " characters, ", b.drops.too_short,
              " lie at or below the first bucket boundary (", boundaries.front(), ") and ", b.drops.too_long, " above the last (",
              boundaries.back(), "); lower the first --boundaries value or check the filelist");
  b.sampler = std::make_shared<const train::DistributedBucketSampler>(b.dataset->lengths(), batch_size, boundaries, world_size, rank);
  struct EpochOrder {
    std::mutex mutex;
    int64_t epoch = -1;
    std::vector<std::vector<int64_t>> batches;
  };
  auto order = std::make_shared<EpochOrder>();
  b.source = train::BatchSource<Batch>{
      [sampler = b.sampler](int64_t) { return sampler->size(); },
      [sampler = b.sampler, dataset = b.dataset, order, skipped = b.skipped, seed](int64_t epoch, size_t index) {
        std::vector<int64_t> indices;
        {
          std::lock_guard<std::mutex> lock(order->mutex);
          if (order->epoch != epoch) {
            order->batches = sampler->batches(epoch);
            order->epoch = epoch;
          }
          indices = order->batches.at(index);
        }
        // The inactive BERT streams' noise: a pure function of (seed, epoch, batch), so resume is exact.
        auto gen = make_generator(static_cast<uint64_t>(seed) * 1000003ULL + static_cast<uint64_t>(epoch) * 100003ULL + index);
        std::vector<Item> items;
        for (auto i : indices) {
          try {
            items.push_back(dataset->get(static_cast<size_t>(i), gen));
          } catch (const std::exception& error) {
            const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
            std::lock_guard<std::mutex> lock(skipped->mutex);
            skipped->messages.push_back(torch_error ? torch_error->what_without_backtrace() : error.what());
          }
        }
        CHORD_CHECK(!items.empty(), "every item of a batch failed to load; the first: ", skipped->messages.back());
        return collate(items);
      },
      /*per_rank=*/true,
      [sampler = b.sampler, dataset = b.dataset](int64_t epoch, size_t index) {  // names a bad batch's files
        std::string files;
        for (auto i : sampler->batches(epoch).at(index)) files += (files.empty() ? "" : ", ") + dataset->entry(static_cast<size_t>(i)).wav.string();
        return files;
      }};
  return b;
}

/// The drop report of `data` once batched: how many lines each filter of the reference removed.
inline DataSplit data_split(const CheckedFilelist& data, const TrainingBatches& batches) {
  const auto& report = data.prepared.report;
  DataSplit split;
  split.read = static_cast<int64_t>(report.read);
  split.unusable_audio = static_cast<int64_t>(data.bad.size());
  split.text_too_short = static_cast<int64_t>(report.too_short);
  split.text_too_long = static_cast<int64_t>(report.too_long);
  split.below_first_boundary = static_cast<int64_t>(batches.drops.too_short);
  split.above_last_boundary = static_cast<int64_t>(batches.drops.too_long);
  split.trained = static_cast<int64_t>(report.kept) - split.below_first_boundary - split.above_last_boundary;
  return split;
}

}  // namespace chord::systems::bert_vits2
