#pragma once
/// @file
/// Conditioning by prepended tokens (seed 003): the condition is a sequence of patch tokens that the
/// backbone embeds with its own table and places before the target tokens; attention is joint and
/// the output is read from the target tokens. A batch without a condition trains the same weights
/// unconditionally. Works with nn::PatchDiT.

#include "chord/core/condition_drop.hpp"
#include "chord/nn/patch_dit.hpp"
#include "chord/policies/conditioning/concept.hpp"
#include "chord/policies/signals.hpp"

#include <array>

namespace chord::cond {

/// The backbone interface PrependedTokens drives (nn::PatchDiT): condition tokens embedded, then the
/// denoiser run after them.
template <class B>
concept PrependingBackbone = requires(B& b, const torch::Tensor& x, bool features) {
  { b->embed_condition(x) } -> std::same_as<torch::Tensor>;
  { b->run(x, x, x, x, features) } -> std::same_as<torch::Tensor>;
};

struct PrependedTokens {
  using policy_category = conditioning_policy_tag;
  static constexpr std::string_view name = "prepended_tokens";
  using signals = Signals<signal::PrependedTokens>;

  int64_t token_channels = 16;  ///< patch_dim of target and condition tokens (patch 4, one channel)

  /// A training batch. No condition (undefined) = an unconditional batch.
  struct Batch {
    torch::Tensor target;          ///< `[B, N, token_channels]` patch tokens of the clean target
    torch::Tensor condition;       ///< `[B, Lc, token_channels]` or undefined
    torch::Tensor condition_mask;  ///< `[B, Lc]` bool, true = real token; undefined = all real

    Batch to(c10::Device device, bool non_blocking = false) const {
      return {moved(target, device, non_blocking), moved(condition, device, non_blocking), moved(condition_mask, device, non_blocking)};
    }
    Batch pin_memory() const { return {pinned(target), pinned(condition), pinned(condition_mask)}; }
  };

  /// A generation request: `count` targets of `tokens` tokens, with or without a condition.
  struct Request {
    torch::Tensor condition;       ///< `[B, Lc, token_channels]` or undefined
    torch::Tensor condition_mask;  ///< `[B, Lc]` or undefined
    int64_t count = 1;             ///< B when there is no condition
    int64_t tokens = 256;          ///< N

    Request to(c10::Device device, bool non_blocking = false) const {
      return {moved(condition, device, non_blocking), moved(condition_mask, device, non_blocking), count, tokens};
    }
  };

  template <class Backbone>
  struct Prepared {
    torch::Tensor condition;  ///< `[K·B, Lc, dim]` embedded, or undefined
    torch::Tensor mask;       ///< `[K·B, Lc]` or undefined
  };

  int64_t channels() const { return token_channels; }
  torch::Tensor target(const Batch& batch) const {
    TORCH_CHECK(batch.target.dim() == 3 && batch.target.size(2) == token_channels, "PrependedTokens: target [B, N, ",
                token_channels, "] expected, got ", batch.target.sizes());
    return batch.target;
  }
  torch::Tensor lengths(const Batch& batch) const {
    return torch::full({batch.target.size(0)}, batch.target.size(1), torch::kLong);
  }
  int64_t batch_size(const Request& r) const { return r.condition.defined() ? r.condition.size(0) : r.count; }
  torch::Tensor durations(const Request& r) const { return torch::full({batch_size(r)}, r.tokens, torch::kLong); }

  /// Embeds the condition; rows whose condition the guidance family dropped see no condition token
  /// (all keys hidden), exactly as an unconditional input.
  template <PrependingBackbone Backbone>
  Prepared<Backbone> prepare_training(Backbone& backbone, const Batch& batch, const Masks&, const ConditionDrop& drop) const {
    return prepare(backbone, batch.condition, batch.condition_mask, drop);
  }

  template <PrependingBackbone Backbone>
  Prepared<Backbone> prepare_inference(Backbone& backbone, const Request& r, const Masks&,
                                       const std::vector<ConditionDrop>& branches) const {
    const auto k = static_cast<int64_t>(branches.size());
    if (!r.condition.defined()) return {};
    auto mask = r.condition_mask.defined() ? r.condition_mask.repeat({k, 1}) : torch::Tensor();
    return prepare(backbone, r.condition.repeat({k, 1, 1}), mask, ConditionDrop::concat(branches));
  }

  template <PrependingBackbone Backbone>
  torch::Tensor run(Backbone& backbone, const Prepared<Backbone>& p, const torch::Tensor& x, const torch::Tensor& t,
                    bool features) const {
    return backbone->run(x, t, p.condition, p.mask, features);
  }

 private:
  template <class Backbone>
  static Prepared<Backbone> prepare(Backbone& backbone, const torch::Tensor& condition, const torch::Tensor& mask,
                                    const ConditionDrop& drop) {
    Prepared<Backbone> p;
    if (!condition.defined()) return p;
    p.condition = backbone->embed_condition(condition);
    auto dropped = drop.rows<signal::PrependedTokens>(condition.device());
    if (mask.defined() || dropped.any().template item<bool>()) {
      auto keep = mask.defined() ? mask.to(torch::kBool)
                                 : torch::ones({condition.size(0), condition.size(1)}, condition.options().dtype(torch::kBool));
      p.mask = keep & ~dropped.unsqueeze(1);
    }
    return p;
  }
};
static_assert(ConditioningPolicy<PrependedTokens>);
static_assert(Conditions<PrependedTokens, nn::PatchDiT>);

}  // namespace chord::cond
