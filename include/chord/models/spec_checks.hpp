#pragma once
/// @file
/// The compile-time checks of a spec, one family at a time, shared by the model kinds. Each unmet
/// requirement is one `static_assert` whose message says what is missing and how to fix it; a check
/// returns whether the family is usable so that a model can stop before cascading errors.
///
/// Which families each model kind consumes (docs/architecture.md):
///
/// | family          | FlowModel | GanModel |
/// |-----------------|-----------|----------|
/// | backbone        | required  | `generator` instead |
/// | conditioning    | required  | — (the generator reads its batch) |
/// | masking         | required  | — |
/// | guidance        | required  | — (no classifier-free guidance) |
/// | sequence        | required  | — |
/// | objective       | required  | — (no flow objective) |
/// | discriminators  | absent or `disc::NoDiscriminators`: adversarial fine-tuning of a flow model is not implemented | required |

#include "chord/policies/conditioning/concept.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/masking/concept.hpp"
#include "chord/policies/objective/concept.hpp"
#include "chord/policies/sequence/concept.hpp"

#include <torch/nn/module.h>

#include <concepts>

namespace chord::detail {

template <class S> concept spec_has_backbone = requires { typename S::backbone; };
template <class S> concept spec_has_conditioning = requires { typename S::conditioning; };
template <class S> concept spec_has_masking = requires { typename S::masking; };
template <class S> concept spec_has_guidance = requires { typename S::guidance; };
template <class S> concept spec_has_sequence = requires { typename S::sequence; };
template <class S> concept spec_has_objective = requires { typename S::objective; };
template <class S> concept spec_has_discriminators = requires { typename S::discriminators; };
template <class S> concept spec_has_generator = requires { typename S::generator; };

/// A LibTorch module holder whose Impl keeps its options in a public `options` member.
template <class B>
concept BackboneHolder = requires { typename B::Impl; } && std::derived_from<typename B::Impl, torch::nn::Module> &&
                         requires(typename B::Impl& impl) { impl.options; };

template <class B>
consteval bool check_backbone() {
  static_assert(requires { typename B::Impl; },
                "Spec::backbone must be a LibTorch module holder (TORCH_MODULE(Name) or a ModuleHolder subclass) whose Impl derives from torch::nn::Module.");
  if constexpr (requires { typename B::Impl; }) {
    static_assert(std::derived_from<typename B::Impl, torch::nn::Module>,
                  "Spec::backbone must be a LibTorch module holder whose Impl derives from torch::nn::Module.");
    static_assert(requires(typename B::Impl& impl) { impl.options; },
                  "Spec::backbone's Impl must keep its options in a public `options` member (the model builds it from FlowModelOptions::backbone).");
  }
  return BackboneHolder<B>;
}

template <class C>
consteval bool check_conditioning() {
  static_assert(OptsInto<C, conditioning_policy_tag>, "Spec::conditioning is not a conditioning policy: it does not opt in with `using policy_category = chord::conditioning_policy_tag;`. See docs/policies/conditioning.md.");
  static_assert(PolicyValue<C>, "Spec::conditioning must be a copyable, default-constructible value (hyperparameters as members).");
  static_assert(NamedPolicy<C>, "Spec::conditioning needs `static constexpr std::string_view name`.");
  static_assert(DeclaresConditionData<C>, "Spec::conditioning must declare `using signals = chord::Signals<...>;` and its `Batch` and `Request` types.");
  if constexpr (DeclaresConditionData<C>) {
    static_assert(ReadsConditionData<C>, "Spec::conditioning must read target(batch), lengths(batch), durations(request) and give channels().");
  }
  return ConditioningPolicy<C>;
}

template <class M>
consteval bool check_masking() {
  static_assert(OptsInto<M, masking_policy_tag>, "Spec::masking is not a masking policy: it does not opt in with `using policy_category = chord::masking_policy_tag;`. See docs/policies/masking.md.");
  static_assert(PolicyValue<M>, "Spec::masking must be a copyable, default-constructible value.");
  static_assert(NamedPolicy<M>, "Spec::masking needs `static constexpr std::string_view name`.");
  static_assert(ProducesTrainingMasks<M>, "Spec::masking needs `Masks training_masks(lens, frames, gen) const`.");
  static_assert(ProducesInferenceMasks<M>, "Spec::masking needs `Masks inference_masks(prompt_lengths, edit_mask, durations) const`.");
  return MaskingPolicy<M>;
}

template <class G>
consteval bool check_guidance() {
  static_assert(OptsInto<G, guidance_policy_tag>, "Spec::guidance is not a guidance policy: it does not opt in with `using policy_category = chord::guidance_policy_tag;` (chord::guide::NoGuidance for none). See docs/policies/guidance.md.");
  static_assert(PolicyValue<G>, "Spec::guidance must be a copyable, default-constructible value.");
  static_assert(NamedPolicy<G>, "Spec::guidance needs `static constexpr std::string_view name`.");
  static_assert(DeclaresDroppedSignals<G>, "Spec::guidance must declare `using dropped_signals = chord::Signals<...>;` (the condition signals it may drop).");
  static_assert(DropsConditionsInTraining<G>, "Spec::guidance needs `ConditionDrop training_drop(batch_size, gen) const`.");
  static_assert(CombinesBranches<G>, "Spec::guidance needs branches(batch, strength), combine(outputs, strength) and default_strength().");
  return GuidancePolicy<G>;
}

template <class Q>
consteval bool check_sequence() {
  static_assert(OptsInto<Q, sequence_policy_tag>, "Spec::sequence is not a sequence-length policy: it does not opt in with `using policy_category = chord::sequence_policy_tag;` (chord::seq::Native for variable-length data). See docs/policies/sequence.md.");
  static_assert(PolicyValue<Q>, "Spec::sequence must be a copyable, default-constructible value.");
  static_assert(NamedPolicy<Q>, "Spec::sequence needs `static constexpr std::string_view name`.");
  return SequencePolicy<Q>;
}

template <class O>
consteval bool check_objective() {
  static_assert(OptsInto<O, objective_policy_tag>, "Spec::objective is not a flow-objective policy: it does not opt in with `using policy_category = chord::objective_policy_tag;`. See docs/policies/objective.md.");
  static_assert(PolicyValue<O>, "Spec::objective must be a copyable, default-constructible value.");
  static_assert(NamedPolicy<O>, "Spec::objective needs `static constexpr std::string_view name`.");
  static_assert(TrainsWithPairs<O>, "Spec::objective needs a `Pair` type, draw(x1, gen), predict(net, pair) and loss(prediction, pair, loss_mask).");
  static_assert(SamplesWithGuidedNet<O>, "Spec::objective needs a `SamplerOptions` type and sample(guided_net, x0, options, gen).");
  return ObjectivePolicy<O>;
}

template <class D>
consteval bool check_discriminators() {
  static_assert(OptsInto<D, discriminator_set_policy_tag>, "Spec::discriminators is not a discriminator set: it does not opt in with `using policy_category = chord::discriminator_set_policy_tag;` (use chord::disc::Set<Members...>). See docs/policies/discriminators.md.");
  static_assert(PolicyValue<D>, "Spec::discriminators must be a copyable, default-constructible value.");
  static_assert(NamedPolicy<D>, "Spec::discriminators needs `static constexpr std::string_view name`.");
  static_assert(NamesMemberPrefixes<D>, "Spec::discriminators must list its members' checkpoint/optimiser `prefixes`.");
  return DiscriminatorSetPolicy<D>;
}

/// One dropped signal: provided, or a compile error whose instantiation names it (`Dropped = ...`).
template <class Provided, class Dropped>
consteval bool dropped_signal_is_provided() {
  static_assert(Provided::template contains<Dropped>,
                "FlowModel<Spec>: unsupported combination: Spec::guidance drops a condition signal that Spec::conditioning does not provide: "
                "the signal `Dropped` of this instantiation (the conditioning's `signals` list what it provides). See docs/policies/guidance.md.");
  return Provided::template contains<Dropped>;
}

template <class Provided, class... Dropped>
consteval bool dropped_signals_provided(const Signals<Dropped...>*) {
  return (dropped_signal_is_provided<Provided, Dropped>() && ...);
}

/// Every family of a FlowModel spec, then the pairings that must fit.
template <class Spec>
consteval bool check_flow_spec() {
  static_assert(spec_has_backbone<Spec>, "FlowModel<Spec>: Spec names no `backbone`. Add `using backbone = <module holder>;` (e.g. chord::nn::F5DiT).");
  static_assert(spec_has_conditioning<Spec>, "FlowModel<Spec>: Spec names no `conditioning` policy. Every spec names one policy per family; see docs/policies/conditioning.md.");
  static_assert(spec_has_masking<Spec>, "FlowModel<Spec>: Spec names no `masking` policy. Every spec names one policy per family; see docs/policies/masking.md.");
  static_assert(spec_has_guidance<Spec>, "FlowModel<Spec>: Spec names no `guidance` policy (use chord::guide::NoGuidance for none). See docs/policies/guidance.md.");
  static_assert(spec_has_sequence<Spec>, "FlowModel<Spec>: Spec names no `sequence` policy (use chord::seq::Native for variable-length data). See docs/policies/sequence.md.");
  static_assert(spec_has_objective<Spec>, "FlowModel<Spec>: Spec names no `objective` policy. See docs/policies/objective.md.");
  if constexpr (spec_has_backbone<Spec> && spec_has_conditioning<Spec> && spec_has_masking<Spec> && spec_has_guidance<Spec> &&
                spec_has_sequence<Spec> && spec_has_objective<Spec>) {
    using B = typename Spec::backbone;
    using C = typename Spec::conditioning;
    using G = typename Spec::guidance;
    using Q = typename Spec::sequence;
    constexpr bool families = check_backbone<B>() & check_conditioning<C>() & check_masking<typename Spec::masking>() &
                              check_guidance<G>() & check_sequence<Q>() & check_objective<typename Spec::objective>();
    bool adversaries_ok = true;
    if constexpr (spec_has_discriminators<Spec>) {
      if constexpr (check_discriminators<typename Spec::discriminators>()) {
        static_assert(Spec::discriminators::prefixes.size() == 0,
                      "FlowModel<Spec>: unsupported combination: a FlowModel trains without adversaries (adversarial fine-tuning of a flow model is not implemented); train a spec with discriminators with GanModel (models/gan_model.hpp).");
        adversaries_ok = Spec::discriminators::prefixes.size() == 0;
      } else {
        adversaries_ok = false;
      }
    }
    if constexpr (families) {
      static_assert(Conditions<C, B>, "FlowModel<Spec>: unsupported combination: Spec::conditioning cannot drive Spec::backbone (it needs prepare_training/prepare_inference/run for that backbone). See docs/policies/conditioning.md for which backbones each conditioning policy supports.");
      constexpr bool signals_provided =
          dropped_signals_provided<typename C::signals>(static_cast<const typename G::dropped_signals*>(nullptr));
      static_assert(AdaptsTrainingBatch<Q, typename C::Batch>, "FlowModel<Spec>: unsupported combination: Spec::sequence cannot adapt Spec::conditioning's Batch type. See docs/policies/sequence.md.");
      return adversaries_ok && Conditions<C, B> && signals_provided && AdaptsTrainingBatch<Q, typename C::Batch>;
    }
  }
  return false;
}

template <class Spec>
struct batch_of {
  using type = typename Spec::conditioning::Batch;
};
template <class Spec>
  requires spec_has_generator<Spec>
struct batch_of<Spec> {
  using type = typename Spec::generator::Impl::Batch;
};

}  // namespace chord::detail

namespace chord {
/// The training batch type of a spec: its conditioning's `Batch` (flow models) or its generator's (GAN models).
template <class Spec>
using BatchOf = typename detail::batch_of<Spec>::type;
/// The generation request type of a flow-model spec (its conditioning's `Request`).
template <class Spec>
using RequestOf = typename Spec::conditioning::Request;
}  // namespace chord
