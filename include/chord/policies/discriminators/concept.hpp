#pragma once
/// @file
/// The discriminator-set family: which adversaries train against a generator. Page:
/// docs/policies/discriminators.md.
///
/// A *member* is one adversary: it owns its module, its loss on detached generator outputs, its
/// generator-side terms (adversarial and feature matching), its optimiser and schedule defaults and
/// its checkpoint/optimiser prefix, and it names the generator outputs it reads. `disc::Set<Members...>`
/// composes members (prefixes unique, checked at compile time), as `seq::Compose` composes sequence
/// policies. GanModel (models/gan_model.hpp) checks that its generator provides what every member
/// reads.

#include "chord/core/condition_drop.hpp"
#include "chord/policies/common.hpp"
#include "chord/train/schedulers.hpp"

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace chord {

struct discriminator_set_policy_tag {};

/// What a generator's training forward produced, by output name (e.g. "waveform", "real_waveform",
/// "log_durations"). Output names are types with a `name`, like condition signals, so what a member
/// reads is checked against what the generator provides at compile time.
class GeneratorOutputs {
 public:
  template <ConditionSignal O>
  GeneratorOutputs& set(torch::Tensor value) {
    values_[std::string(O::name)] = std::move(value);
    return *this;
  }
  template <ConditionSignal O>
  const torch::Tensor& get() const {
    auto found = values_.find(std::string(O::name));
    TORCH_CHECK(found != values_.end(), "GeneratorOutputs: the generator set no '", O::name, "'");
    return found->second;
  }
  /// The same outputs cut from the graph: what discriminators train on.
  GeneratorOutputs detached() const {
    GeneratorOutputs out;
    for (const auto& [name, value] : values_) out.values_[name] = value.detach();
    return out;
  }

 private:
  std::map<std::string, torch::Tensor> values_;
};

/// A member's generator-side terms: added to the generator's loss.
struct GeneratorTerms {
  torch::Tensor adversarial;       ///< e.g. LSGAN `mean((D(fake) − 1)²)`
  torch::Tensor feature_matching;  ///< undefined when the member has none
};

/// Names its prefix (`static constexpr std::string_view prefix`, letters/digits/_: a checkpoint and
/// optimiser name such as "D", "DUR", "WD") and the generator outputs it reads (`using consumes = Signals<...>`).
template <class M>
concept NamesMember = requires {
  { M::prefix } -> std::convertible_to<std::string_view>;
  typename M::consumes;
} && SignalList<typename M::consumes>;

/// Owns a module (`typename Module`, a module holder) it makes with `make_module()`.
template <class M>
concept OwnsDiscriminatorModule = requires(const M& m) {
  typename M::Module;
  { m.make_module() } -> std::same_as<typename M::Module>;
};

/// Its losses: the discriminator's on detached outputs, the generator's terms on live ones.
template <class M>
concept ScoresGeneratorOutputs = requires(const M& m, typename M::Module& module, const GeneratorOutputs& outputs) {
  { m.discriminator_loss(module, outputs) } -> std::same_as<torch::Tensor>;
  { m.generator_terms(module, outputs) } -> std::same_as<GeneratorTerms>;
};

/// Its optimiser and learning-rate schedule defaults.
template <class M>
concept ChoosesOptimiser = requires(const M& m, std::vector<torch::Tensor> parameters) {
  { m.make_optimizer(parameters) } -> std::convertible_to<std::shared_ptr<torch::optim::Optimizer>>;
  { m.schedule() } -> std::convertible_to<train::LrSchedule>;
};

/// M satisfies DiscriminatorMember if it is a copyable, default-constructible value with a `name`
/// and 1. names its prefix and what it consumes; 2. owns a module; 3. scores generator outputs on
/// both sides; 4. chooses its optimiser and schedule.
template <class M>
concept DiscriminatorMember =
    PolicyValue<M> && NamedPolicy<M> && NamesMember<M> && OwnsDiscriminatorModule<M> && ScoresGeneratorOutputs<M> && ChoosesOptimiser<M>;

/// Names one checkpoint/optimiser prefix per member (`static constexpr std::array prefixes`).
template <class P>
concept NamesMemberPrefixes = requires {
  { P::prefixes.size() } -> std::convertible_to<std::size_t>;
};

/// P satisfies DiscriminatorSetPolicy if:
/// 1. it opts in with `using policy_category = discriminator_set_policy_tag;`
/// 2. it is a copyable, default-constructible value with a `name`;
/// 3. it lists its members' `prefixes`.
template <class P>
concept DiscriminatorSetPolicy =
    OptsInto<P, discriminator_set_policy_tag> && PolicyValue<P> && NamedPolicy<P> && NamesMemberPrefixes<P>;

namespace detail {
template <size_t N>
constexpr bool unique_prefixes(const std::array<std::string_view, N>& prefixes) {
  for (size_t i = 0; i < N; ++i) {
    for (size_t j = i + 1; j < N; ++j) {
      if (prefixes[i] == prefixes[j]) return false;
    }
  }
  return true;
}
constexpr bool is_archive_key(std::string_view key) {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}
}  // namespace detail

namespace disc {

/// Members composed in order — the order of their discriminator steps in an update (Bert-VITS2:
/// duration, then multi-period, then WavLM; the generator steps last). The empty set is a model
/// trained without adversaries.
/// @tparam Members  the adversaries, each a DiscriminatorMember value type; their `prefix`es must be
///                  unique and letters, digits and '_' (checked here). Adding or removing one is a
///                  one-line spec change; their values (hyperparameters) live in `members`.
template <class... Members>
struct Set {
  static_assert((DiscriminatorMember<Members> && ...),
                "disc::Set<Members...>: every member must satisfy chord::DiscriminatorMember (prefix, consumes, Module, "
                "make_module, discriminator_loss, generator_terms, make_optimizer, schedule). See docs/policies/discriminators.md.");
  using policy_category = discriminator_set_policy_tag;
  static constexpr std::string_view name = "set";
  static constexpr std::array<std::string_view, sizeof...(Members)> prefixes{Members::prefix...};
  static_assert(detail::unique_prefixes(prefixes),
                "disc::Set<Members...>: two members share a prefix; each member's checkpoint and optimiser prefix must be unique.");
  static_assert((detail::is_archive_key(Members::prefix) && ...),
                "disc::Set<Members...>: a member's prefix must be letters, digits and '_' (it names checkpoint entries).");

  std::tuple<Members...> members;

  /// Whether `Member` is in the set.
  template <class Member>
  static constexpr bool has = (std::is_same_v<Member, Members> || ...);
  /// The value of member `Member` (its hyperparameters), e.g. `set.get<disc::WavLM>().weights = ...`.
  template <class Member>
    requires has<Member>
  Member& get() {
    return std::get<Member>(members);
  }

  /// Calls `f(member)` for every member, in order.
  template <class F>
  void for_each(F&& f) const {
    std::apply([&](const auto&... m) { (f(m), ...); }, members);
  }
};

/// The empty set: a model trained without adversaries.
using NoDiscriminators = Set<>;

}  // namespace disc
static_assert(DiscriminatorSetPolicy<disc::NoDiscriminators>);

}  // namespace chord
