#pragma once
/// @file
/// `GanModel<Spec>`: a generator trained against a set of discriminators (the discriminator-set
/// family). The spec names the generator and the set:
///
/// @code
/// struct MyGan {
///   using generator = MyGenerator;                          // module holder, see GanGenerator
///   using discriminators = chord::disc::Set<MultiPeriod, Duration>;  // drop or add a member here
/// };
/// chord::GanModel<MyGan> model(chord::GanModelOptions<MyGan>(generator_options));
/// chord::train::add_gan(trainer, model);                    // train/gan_training.hpp
/// @endcode
///
/// A GanModel has no flow objective, no classifier-free guidance, no masking and no sequence policy
/// (models/spec_checks.hpp has the table). Its spec checks: the generator's contract, the set's, and
/// that the generator provides every output a member reads (a member whose inputs are missing is a
/// compile error naming the member and the generator in the instantiation).

#include "chord/models/spec_checks.hpp"
#include "chord/policies/discriminators/concept.hpp"

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace chord {

/// G (a module holder) satisfies GanGenerator if its Impl has a public `options` member and:
/// 1. `typename Impl::Batch` and `using provides = Signals<...>` (the output names it sets);
/// 2. `GeneratorOutputs generate(const Batch&, torch::Generator&)` — the training forward;
/// 3. `std::map<std::string, torch::Tensor> losses(const Batch&, const GeneratorOutputs&)` — its own
///    terms (reconstruction, KL, duration, ...), summed into the generator's loss.
template <class G>
concept GanGenerator = detail::BackboneHolder<G> && requires {
  typename G::Impl::Batch;
  typename G::Impl::provides;
} && SignalList<typename G::Impl::provides> &&
    requires(typename G::Impl& impl, const typename G::Impl::Batch& batch, torch::Generator& gen, const GeneratorOutputs& outputs) {
      { impl.generate(batch, gen) } -> std::same_as<GeneratorOutputs>;
      { impl.losses(batch, outputs) } -> std::same_as<std::map<std::string, torch::Tensor>>;
    };

namespace detail {
template <class Generator, class Member>
struct member_inputs_provided {
  static constexpr bool value = Member::consumes::template within<typename Generator::Impl::provides>;
};

template <class Generator, class Set>
struct set_inputs_provided;
template <class Generator, class... Members>
struct set_inputs_provided<Generator, disc::Set<Members...>> {
  template <class Member>
  static consteval bool check_one() {
    static_assert(member_inputs_provided<Generator, Member>::value,
                  "GanModel<Spec>: a discriminator member reads a generator output the generator does not provide: compare "
                  "Member::consumes with Generator::Impl::provides (the member and the generator are the template "
                  "arguments of member_inputs_provided in the instantiation above).");
    return member_inputs_provided<Generator, Member>::value;
  }
  static constexpr bool value = (check_one<Members>() && ...);
};

template <class Spec>
consteval bool check_gan_spec() {
  static_assert(spec_has_generator<Spec>, "GanModel<Spec>: Spec names no `generator`. Add `using generator = <module holder>;` (see GanGenerator in models/gan_model.hpp).");
  static_assert(spec_has_discriminators<Spec>, "GanModel<Spec>: Spec names no `discriminators`. Add `using discriminators = chord::disc::Set<Members...>;`.");
  if constexpr (spec_has_generator<Spec> && spec_has_discriminators<Spec>) {
    static_assert(GanGenerator<typename Spec::generator>,
                  "GanModel<Spec>: Spec::generator is not a GAN generator: its Impl needs `options`, `Batch`, `using provides = chord::Signals<...>`, "
                  "generate(batch, gen) -> GeneratorOutputs and losses(batch, outputs). See docs/policies/discriminators.md.");
    if constexpr (GanGenerator<typename Spec::generator> && check_discriminators<typename Spec::discriminators>()) {
      return set_inputs_provided<typename Spec::generator, typename Spec::discriminators>::value;
    }
  }
  return false;
}

/// Stands in for the model when a spec fails its checks, so the static_assert messages are all the
/// compiler reports.
class RejectedGanModel : public torch::nn::Module {};
}  // namespace detail

/// The runtime half of a GAN spec: the generator's options and the discriminator set's value.
/// @tparam Spec  the GAN spec struct (see GanModelImpl); its generator's `Impl::options` type is the
///               constructor's argument.
template <class Spec>
struct GanModelOptions {
  using generator_options = std::remove_cvref_t<decltype(std::declval<typename Spec::generator::Impl&>().options)>;
  explicit GanModelOptions(generator_options generator_) : generator(std::move(generator_)) {}
  generator_options generator;
  typename Spec::discriminators discriminators{};
};

namespace detail {
template <class Spec>
class GanModelCore : public torch::nn::Module {
 public:
  using spec_type = Spec;
  using generator_type = typename Spec::generator;
  using discriminator_set = typename Spec::discriminators;
  using Batch = typename generator_type::Impl::Batch;
  using Options = GanModelOptions<Spec>;

  /// The generator's registration name: `Spec::generator_name` when given (Bert-VITS2: "net_g" files
  /// hold `enc_p.*`, `dec.*`, ... at the top level of their own checkpoint), else "generator".
  static constexpr std::string_view generator_name = [] {
    if constexpr (requires { { Spec::generator_name } -> std::convertible_to<std::string_view>; }) return std::string_view(Spec::generator_name);
    else return std::string_view("generator");
  }();

  explicit GanModelCore(Options options) : options(std::move(options)) {
    generator = register_module(std::string(generator_name), generator_type(this->options.generator));
    this->options.discriminators.for_each([&](const auto& member) {
      auto module = member.make_module();
      discriminators.emplace(std::string(member.prefix), module.ptr());
      register_module(std::string(member.prefix), module.ptr());
    });
  }

  /// The generator's training forward. `step` (the global step) reaches a generator that follows it
  /// (`begin_step(step)`: Bert-VITS2's MAS noise schedule) and decides which members are active.
  GeneratorOutputs generate(const Batch& batch, torch::Generator& gen, std::optional<int64_t> step = std::nullopt) {
    step_ = step;
    if constexpr (requires(typename generator_type::Impl& g) { g.begin_step(int64_t{}); }) {
      if (step) generator->begin_step(*step);
    }
    return generator->generate(batch, gen);
  }

  /// Whether `member` trains at the step of the last generate() (a member with `bool active(step)`
  /// may start late, e.g. the duration discriminator; without a step every member is active).
  template <class Member>
  bool is_active(const Member& member) const {
    if constexpr (requires { { member.active(int64_t{}) } -> std::convertible_to<bool>; }) {
      return !step_ || member.active(*step_);
    } else {
      return true;
    }
  }

  /// Each active member's discriminator loss on the detached outputs, by prefix.
  std::map<std::string, torch::Tensor> discriminator_losses(const GeneratorOutputs& outputs) {
    const auto detached = outputs.detached();
    std::map<std::string, torch::Tensor> losses;
    options.discriminators.for_each([&](const auto& member) {
      if (!is_active(member)) return;
      auto module = module_of(member);
      losses.emplace(std::string(member.prefix), member.discriminator_loss(module, detached));
    });
    return losses;
  }

  /// The generator's loss: its own terms plus every member's adversarial and feature-matching terms.
  /// `terms` (optional) receives each piece by name (`<prefix>/adversarial`, `<prefix>/feature_matching`, the
  /// generator's own names) for logging.
  torch::Tensor generator_loss(const Batch& batch, const GeneratorOutputs& outputs, std::map<std::string, torch::Tensor>* terms = nullptr) {
    auto own = generator->losses(batch, outputs);
    torch::Tensor total;
    auto add = [&](const std::string& name, const torch::Tensor& term) {
      if (!term.defined()) return;
      total = total.defined() ? total + term : term;
      if (terms) terms->emplace(name, term.detach());
    };
    for (const auto& [name, term] : own) add(name, term);
    options.discriminators.for_each([&](const auto& member) {
      if (!is_active(member)) return;
      auto module = module_of(member);
      const auto parts = member.generator_terms(module, outputs);
      add(std::string(member.prefix) + "/adversarial", parts.adversarial);
      add(std::string(member.prefix) + "/feature_matching", parts.feature_matching);
    });
    TORCH_CHECK(total.defined(), "GanModel: the generator's loss has no term");
    return total;
  }

  /// The module of a member, typed (its holder).
  template <class Member>
  typename Member::Module module_of(const Member& member) {
    return typename Member::Module(std::static_pointer_cast<typename Member::Module::Impl>(discriminators.at(std::string(member.prefix))));
  }

  Options options;
  generator_type generator{nullptr};
  std::map<std::string, std::shared_ptr<torch::nn::Module>> discriminators;  ///< by prefix

 private:
  std::optional<int64_t> step_;
};
}  // namespace detail

/// The model for `Spec` (see the file comment). A spec that fails a check is a compile error with the
/// failed check's message.
/// @tparam Spec  a struct with `generator` (a module holder satisfying GanGenerator) and
///               `discriminators` (`disc::Set<Members...>`, policies/discriminators/concept.hpp; every
///               member's `consumes` must be among the generator's `provides`). Optional:
///               `static constexpr std::string_view generator_name` (the generator's registration
///               name, default "generator"). The flow families (conditioning, masking, guidance,
///               sequence, objective) are not consumed.
template <class Spec>
class GanModelImpl : public std::conditional_t<detail::check_gan_spec<Spec>(), detail::GanModelCore<Spec>, detail::RejectedGanModel> {
  using Base = std::conditional_t<detail::check_gan_spec<Spec>(), detail::GanModelCore<Spec>, detail::RejectedGanModel>;

 public:
  using Base::Base;
};

/// Holder for GanModelImpl (TORCH_MODULE cannot take templates).
/// @tparam Spec  the GAN spec struct, as for GanModelImpl.
template <class Spec>
class GanModel : public torch::nn::ModuleHolder<GanModelImpl<Spec>> {
 public:
  using torch::nn::ModuleHolder<GanModelImpl<Spec>>::ModuleHolder;
  using Impl = GanModelImpl<Spec>;
  using Batch = BatchOf<Spec>;
};

}  // namespace chord
