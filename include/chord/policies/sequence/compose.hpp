#pragma once
/// @file
/// Several sequence-length policies as one (the seed's recommendation is `Compose<TwoStage,
/// DummyCondition>`: unconditional pre-training with occasional dummy conditions, then conditional
/// fine-tuning at its own rate). Batches and requests pass through the members in order; each
/// member configures the backbone if it wants to; learning rates chain (each member's rule applied
/// to the previous member's result).

#include "chord/policies/sequence/concept.hpp"
#include "chord/policies/sequence/native.hpp"

#include <tuple>

namespace chord::seq {

/// Several sequence-length policies applied as one (see the file comment).
/// @tparam Policies  the members, each a SequencePolicy, in the order they adapt batches and requests,
///                   configure the backbone and chain the learning rate (the seed's recommendation:
///                   `Compose<TwoStage, DummyCondition>`). Their values live in `members` (`get<I>()`).
template <SequencePolicy... Policies>
struct Compose {
  using policy_category = sequence_policy_tag;
  static constexpr std::string_view name = "compose";

  std::tuple<Policies...> members{};

  template <std::size_t I>
  auto& get() { return std::get<I>(members); }
  template <std::size_t I>
  const auto& get() const { return std::get<I>(members); }

  template <class Batch>
    requires(AdaptsTrainingBatch<Policies, Batch> && ...)
  void adapt_training(Batch& batch, int64_t step, torch::Generator& gen) const {
    std::apply([&](const auto&... p) { (p.adapt_training(batch, step, gen), ...); }, members);
  }

  template <class Request>
  void adapt_inference(Request& request) const {
    std::apply([&](const auto&... p) { (adapt_one(p, request), ...); }, members);
  }

  template <class BackboneOptions>
  void configure_backbone(BackboneOptions& options) const {
    std::apply([&](const auto&... p) { (configure_one(p, options), ...); }, members);
  }

  double learning_rate(int64_t step, double base) const {
    double rate = base;
    std::apply([&](const auto&... p) { ((rate = rate_of(p, step, rate)), ...); }, members);
    return rate;
  }

 private:
  template <class P, class Request>
  static void adapt_one(const P& p, Request& request) {
    if constexpr (AdaptsRequest<P, Request>) p.adapt_inference(request);
  }
  template <class P, class BackboneOptions>
  static void configure_one(const P& p, BackboneOptions& options) {
    if constexpr (ConfiguresBackbone<P, BackboneOptions>) p.configure_backbone(options);
  }
  template <class P>
  static double rate_of(const P& p, int64_t step, double rate) {
    if constexpr (SchedulesLearningRate<P>) return p.learning_rate(step, rate);
    else return rate;
  }
};
static_assert(SequencePolicy<Compose<Native, Native>>);

}  // namespace chord::seq
