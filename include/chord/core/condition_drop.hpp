#pragma once
/// @file
/// Which rows of a batch have which condition signals dropped: the message from the guidance family
/// (which decides) to the conditioning family (which applies it).

#include <torch/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace chord {

/// Condition-signal names shared by policies. A conditioning policy lists the signals it provides;
/// a guidance policy lists the signals it may drop; FlowModel checks the second is a subset.
namespace signal {
inline constexpr std::string_view audio_prompt = "audio_prompt";  ///< the masked mel / latent prompt (F5-TTS cond)
inline constexpr std::string_view text = "text";                  ///< text tokens
inline constexpr std::string_view prepended_tokens = "prepended_tokens";  ///< condition tokens before the target (seed 003)
inline constexpr std::string_view low_resolution = "low_resolution";  ///< the low-resolution latent (SAGA-SR input concat)
inline constexpr std::string_view cross_attention = "cross_attention";  ///< all cross-attention tokens (text, roll-offs)
inline constexpr std::string_view rolloff = "rolloff";  ///< the seed's roll-off conditioner's outputs (SAGA-SR step 2)
}  // namespace signal

/// Per-signal, per-row drop flags: `rows(signal)` is bool `[B]`, all false for a signal nobody set.
class ConditionDrop {
 public:
  explicit ConditionDrop(int64_t batch = 0) : batch_(batch) {}

  int64_t batch() const noexcept { return batch_; }

  /// Drops `signal` on the rows where `rows [B]` is true.
  ConditionDrop& set(std::string_view signal, const torch::Tensor& rows) {
    TORCH_CHECK(rows.dim() == 1 && rows.size(0) == batch_, "ConditionDrop: rows [", batch_, "] expected for '",
                signal, "', got ", rows.sizes());
    rows_[std::string(signal)] = rows.to(torch::kBool);
    return *this;
  }

  /// Drops `signal` on every row (or none).
  ConditionDrop& set_all(std::string_view signal, bool dropped) {
    return set(signal, torch::full({batch_}, dropped, torch::kBool));
  }

  /// bool `[B]` on `device`.
  torch::Tensor rows(std::string_view signal, c10::Device device = c10::kCPU) const {
    auto found = rows_.find(std::string(signal));
    return found == rows_.end() ? torch::zeros({batch_}, torch::TensorOptions(torch::kBool).device(device))
                                : found->second.to(device);
  }

  bool any(std::string_view signal) const {
    auto found = rows_.find(std::string(signal));
    return found != rows_.end() && found->second.any().item<bool>();
  }

  /// The drops of several row groups one after another (how guidance branches share a batch).
  static ConditionDrop concat(const std::vector<ConditionDrop>& parts) {
    int64_t total = 0;
    std::map<std::string, bool> names;
    for (const auto& p : parts) {
      total += p.batch_;
      for (const auto& [name, rows] : p.rows_) names[name] = true;
    }
    ConditionDrop out(total);
    for (const auto& [name, unused] : names) {
      std::vector<torch::Tensor> pieces;
      for (const auto& p : parts) pieces.push_back(p.rows(name));
      out.set(name, torch::cat(pieces));
    }
    return out;
  }

 private:
  int64_t batch_;
  std::map<std::string, torch::Tensor> rows_;
};

}  // namespace chord
