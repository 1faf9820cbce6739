#pragma once
/// @file
/// Padding variable-length sequences into batches (LibTorch has no collate_fn, and Stack<> refuses
/// ragged tensors).

#include <torch/types.h>

#include <vector>

namespace chord::data {

struct PaddedSequences {
  torch::Tensor values;   ///< `[B, T_max, ...]`
  torch::Tensor lengths;  ///< `[B]` int64
};

/// Pads `sequences` (each `[T_i, ...]`, same trailing shape and dtype) along the first axis.
inline PaddedSequences pad_sequences(const std::vector<torch::Tensor>& sequences, double pad_value = 0.0) {
  TORCH_CHECK(!sequences.empty(), "pad_sequences: empty batch");
  const auto trailing = sequences.front().sizes().slice(1);
  int64_t longest = 0;
  std::vector<int64_t> lengths;
  for (const auto& s : sequences) {
    TORCH_CHECK(s.dim() >= 1 && s.sizes().slice(1) == trailing, "pad_sequences: item [T, ...] shapes differ: ",
                sequences.front().sizes(), " vs ", s.sizes());
    longest = std::max(longest, s.size(0));
    lengths.push_back(s.size(0));
  }
  std::vector<int64_t> shape{static_cast<int64_t>(sequences.size()), longest};
  shape.insert(shape.end(), trailing.begin(), trailing.end());
  auto values = torch::full(shape, pad_value, sequences.front().options());
  for (size_t b = 0; b < sequences.size(); ++b) {
    values[static_cast<int64_t>(b)].narrow(0, 0, lengths[b]).copy_(sequences[b]);
  }
  return {values, torch::tensor(lengths, torch::kLong)};
}

}  // namespace chord::data
