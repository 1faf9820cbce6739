#pragma once
/// @file
/// What the trainer needs from a group of processes that train one model together (data
/// parallelism), as an interface: the trainer stays free of c10d's headers, and a single-process run
/// pays nothing. `chord/distributed.hpp` implements it on PyTorch's c10d (NCCL on CUDA, Gloo on CPU)
/// with one `c10d::Reducer` per optimiser slot, as `torch.nn.parallel.DistributedDataParallel` does.

#include "chord/core/error.hpp"

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace chord::train {

/// 64-bit FNV-1a: a hash that is the same on every build and machine (std::hash is not). Pass the
/// previous result as `hash` to continue over several pieces.
inline uint64_t fnv1a_hash(const void* data, size_t size, uint64_t hash = 14695981039346656037ull) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  return hash;
}
inline uint64_t fnv1a_hash(const std::string& text, uint64_t hash = 14695981039346656037ull) {
  return fnv1a_hash(text.data(), text.size(), hash);
}

/// `text`'s hash as two 40-bit pieces held in doubles: a sum of up to 2^13 copies stays exact, so after an
/// all-reduce the sums equal world_size × one rank's pieces only when every rank hashed the same text.
inline std::array<double, 2> summable_digest(const std::string& text) {
  const uint64_t hash = fnv1a_hash(text);
  return {static_cast<double>(hash & ((uint64_t{1} << 40) - 1)), static_cast<double>(hash >> 24)};
}

class DataParallelism {
 public:
  virtual ~DataParallelism() = default;

  virtual int rank() const noexcept = 0;
  virtual int world_size() const noexcept = 0;
  bool is_main() const noexcept { return rank() == 0; }

  /// Registers the trainable parameters of optimiser slot `slot`: their gradients are averaged over
  /// the processes during the backward that follows prepare_synchronised_backward(). With
  /// `find_unused_parameters`, parameters the loss does not reach are reduced as zeros instead of
  /// being waited for (an adversarial step reads only part of a model).
  virtual void add_parameters(const std::string& slot, const std::vector<torch::Tensor>& parameters,
                              bool find_unused_parameters) = 0;
  /// Forgets `slot`'s parameters (their trainer is gone), so a later trainer of the same processes may
  /// register the name again (an experiment trains its arms one after another). Unknown slots: no-op.
  virtual void remove_parameters(const std::string& slot) = 0;
  /// The next backward of `loss` into `slot`'s parameters averages their gradients (bucketed, overlapping
  /// the backward). Without this call a backward accumulates locally (the accumulation micro-steps).
  virtual void prepare_synchronised_backward(const std::string& slot, const torch::Tensor& loss) = 0;
  /// Rank 0's values, copied in place into `tensors` on every rank.
  virtual void broadcast_from_main(const std::vector<torch::Tensor>& tensors) = 0;
  /// Element-wise sum over the processes, in place (a small CPU tensor of any floating dtype).
  virtual void sum(torch::Tensor& values) = 0;
  virtual void barrier() = 0;
  /// `error` (a failed collective, typically) with what the group knows about why: which rank is gone.
  virtual std::string explain_failure(const std::string& error) const { return error; }

  /// True on every rank when `value` is true on every rank.
  bool all(bool value) {
    auto flag = torch::full({1}, value ? 1.0 : 0.0, torch::kFloat64);
    sum(flag);
    return flag.item<double>() == static_cast<double>(world_size());
  }
  /// True on every rank when `value` is true on any rank.
  bool any(bool value) { return !all(!value); }

  /// Throws on every rank, naming `what`, when the ranks disagree about `value` (a configuration, a
  /// resumed step): a run whose processes differ silently trains something nobody asked for.
  void require_same(const std::string& what, const std::string& value) {
    const auto digest = summable_digest(value);
    auto values = torch::tensor({digest[0], digest[1]}, torch::kFloat64);
    const auto expected = values * static_cast<double>(world_size());
    sum(values);
    CHORD_CHECK(torch::equal(values, expected), "the ", world_size(), " processes disagree about ", what,
                " (rank ", rank(), " has '", value.size() > 200 ? value.substr(0, 200) + "…" : value,
                "'); every rank must run the same command on the same data");
  }
};

}  // namespace chord::train
