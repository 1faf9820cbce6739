#pragma once
/// @file
/// Batch samplers with the references' exact semantics, seeded per epoch:
///  - DynamicBatchSampler: F5-TTS frame-budget batches;
///  - DistributedBucketSampler: VITS / Bert-VITS2 length buckets with replicas and rank.
/// Both draw their permutations with `torch::randperm` on a CPU generator seeded like the Python
/// code, so the batch order matches the reference for the same seed.

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"

#include <torch/types.h>

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

namespace chord::train {

using Batch = std::vector<int64_t>;

namespace detail {
inline std::vector<int64_t> randperm(int64_t n, torch::Generator& gen) {
  auto perm = torch::randperm(n, gen, torch::kLong);
  return std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
}
}  // namespace detail

/// F5-TTS `DynamicBatchSampler`: items sorted by frame length (stable), packed greedily while the
/// batch's total real frames stay within `frames_threshold` (and below `max_samples` items when
/// > 0). An item longer than the threshold is dropped. Each epoch the batches are shuffled with a
/// generator seeded `seed + epoch` (no shuffle without a seed).
class DynamicBatchSampler {
 public:
  DynamicBatchSampler(const std::vector<double>& frame_lengths, double frames_threshold, int64_t max_samples = 0,
                      std::optional<uint64_t> seed = std::nullopt, bool drop_residual = false)
      : seed_(seed) {
    CHORD_CHECK(frames_threshold > 0, "DynamicBatchSampler: frames_threshold must be > 0, got ", frames_threshold);
    std::vector<int64_t> order(frame_lengths.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return frame_lengths[a] < frame_lengths[b]; });
    Batch batch;
    double batch_frames = 0.0;
    for (int64_t index : order) {
      const double frames = frame_lengths[index];
      if (batch_frames + frames <= frames_threshold &&
          (max_samples == 0 || static_cast<int64_t>(batch.size()) < max_samples)) {
        batch.push_back(index);
        batch_frames += frames;
        continue;
      }
      if (!batch.empty()) batches_.push_back(batch);
      if (frames <= frames_threshold) {
        batch = {index};
        batch_frames = frames;
      } else {
        batch.clear();
        batch_frames = 0.0;
      }
    }
    if (!drop_residual && !batch.empty()) batches_.push_back(batch);
  }

  /// Batches of `epoch`, in that epoch's order.
  std::vector<Batch> batches(int64_t epoch) const {
    if (!seed_) return batches_;
    auto gen = make_generator(*seed_ + static_cast<uint64_t>(epoch));
    std::vector<Batch> out;
    out.reserve(batches_.size());
    for (int64_t i : detail::randperm(static_cast<int64_t>(batches_.size()), gen)) out.push_back(batches_[i]);
    return out;
  }

  size_t size() const noexcept { return batches_.size(); }

 private:
  std::optional<uint64_t> seed_;
  std::vector<Batch> batches_;
};

/// VITS `DistributedBucketSampler`: items bucketed by length into `(boundaries[i], boundaries[i+1]]`
/// (others dropped, empty buckets removed), each bucket padded by repetition to a multiple of
/// `num_replicas · batch_size`, subsampled for `rank`, cut into batches; the batch list is then
/// shuffled. The generator is seeded with the epoch alone, as in the reference.
class DistributedBucketSampler {
 public:
  DistributedBucketSampler(const std::vector<int64_t>& lengths, int64_t batch_size, std::vector<int64_t> boundaries,
                           int64_t num_replicas = 1, int64_t rank = 0, bool shuffle = true)
      : batch_size_(batch_size), num_replicas_(num_replicas), rank_(rank), shuffle_(shuffle),
        boundaries_(std::move(boundaries)) {
    CHORD_CHECK(batch_size > 0, "DistributedBucketSampler: batch_size must be > 0");
    CHORD_CHECK(num_replicas > 0 && rank >= 0 && rank < num_replicas, "DistributedBucketSampler: rank ", rank,
                " is outside [0, ", num_replicas, ")");
    CHORD_CHECK(boundaries_.size() >= 2 && std::is_sorted(boundaries_.begin(), boundaries_.end()),
                "DistributedBucketSampler: boundaries must be ascending with at least two entries");
    buckets_.resize(boundaries_.size() - 1);
    for (size_t i = 0; i < lengths.size(); ++i) {
      const int64_t bucket = bisect(lengths[i]);
      if (bucket != -1) buckets_[bucket].push_back(static_cast<int64_t>(i));
    }
    for (int64_t i = static_cast<int64_t>(buckets_.size()) - 1; i >= 0; --i) {
      if (buckets_[i].empty()) {
        buckets_.erase(buckets_.begin() + i);
        boundaries_.erase(boundaries_.begin() + i + 1);
      }
    }
    CHORD_CHECK(!buckets_.empty(), "DistributedBucketSampler: no item length falls inside the boundaries");
    const int64_t total_batch = num_replicas_ * batch_size_;
    for (const auto& bucket : buckets_) {
      const auto length = static_cast<int64_t>(bucket.size());
      samples_per_bucket_.push_back(length + (total_batch - length % total_batch) % total_batch);
    }
  }

  /// Batches of `epoch` for this rank.
  std::vector<Batch> batches(int64_t epoch) const {
    auto gen = make_generator(static_cast<uint64_t>(epoch));
    std::vector<std::vector<int64_t>> orders;
    for (const auto& bucket : buckets_) {
      if (shuffle_) {
        orders.push_back(detail::randperm(static_cast<int64_t>(bucket.size()), gen));
      } else {
        std::vector<int64_t> order(bucket.size());
        std::iota(order.begin(), order.end(), 0);
        orders.push_back(order);
      }
    }
    std::vector<Batch> out;
    for (size_t b = 0; b < buckets_.size(); ++b) {
      const auto& bucket = buckets_[b];
      const auto& order = orders[b];
      const auto length = static_cast<int64_t>(bucket.size());
      const int64_t remainder = samples_per_bucket_[b] - length;
      std::vector<int64_t> ids = order;
      for (int64_t r = 0; r < remainder / length; ++r) ids.insert(ids.end(), order.begin(), order.end());
      ids.insert(ids.end(), order.begin(), order.begin() + remainder % length);
      std::vector<int64_t> mine;
      for (size_t k = static_cast<size_t>(rank_); k < ids.size(); k += static_cast<size_t>(num_replicas_)) mine.push_back(ids[k]);
      for (size_t j = 0; j + static_cast<size_t>(batch_size_) <= mine.size(); j += static_cast<size_t>(batch_size_)) {
        Batch batch;
        for (size_t k = j; k < j + static_cast<size_t>(batch_size_); ++k) batch.push_back(bucket[mine[k]]);
        out.push_back(std::move(batch));
      }
    }
    if (shuffle_) {
      std::vector<Batch> shuffled;
      for (int64_t i : detail::randperm(static_cast<int64_t>(out.size()), gen)) shuffled.push_back(out[i]);
      out = std::move(shuffled);
    }
    return out;
  }

  /// Batches per epoch for this rank.
  size_t size() const {
    int64_t total = 0;
    for (auto n : samples_per_bucket_) total += n;
    return static_cast<size_t>(total / num_replicas_ / batch_size_);
  }

  const std::vector<std::vector<int64_t>>& buckets() const noexcept { return buckets_; }
  const std::vector<int64_t>& boundaries() const noexcept { return boundaries_; }

 private:
  /// The reference's recursive binary search: bucket i with boundaries[i] < x <= boundaries[i+1], else -1.
  int64_t bisect(int64_t x) const {
    int64_t lo = 0, hi = static_cast<int64_t>(boundaries_.size()) - 1;
    while (hi > lo) {
      const int64_t mid = (hi + lo) / 2;
      if (boundaries_[mid] < x && x <= boundaries_[mid + 1]) return mid;
      if (x <= boundaries_[mid]) hi = mid;
      else lo = mid + 1;
    }
    return -1;
  }

  int64_t batch_size_, num_replicas_, rank_;
  bool shuffle_;
  std::vector<int64_t> boundaries_;
  std::vector<std::vector<int64_t>> buckets_;
  std::vector<int64_t> samples_per_bucket_;
};

}  // namespace chord::train
