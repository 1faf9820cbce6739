#pragma once
/// @file
/// `FlowModel<Spec>`: a flow-based generative model composed from a spec struct that names a backbone
/// and one policy per family.
///
/// @code
/// struct MySpec {
///   using backbone     = chord::nn::F5DiT;
///   using conditioning = chord::cond::F5TextAudio;
///   using masking      = chord::mask::RandomSpan;
///   using guidance     = chord::guide::JointDropout;
///   using sequence     = chord::seq::Native;
///   using objective    = chord::obj::CondFlowMatching<chord::ode::Euler, chord::grid::Sway<chord::grid::Epss>>;
/// };
/// chord::FlowModel<MySpec> model(chord::FlowModelOptions<MySpec>(chord::nn::F5DiTOptions(256, 4, 4)));
/// auto losses = model->loss(batch, generator);
/// auto result = model->sample(request, options, generator);
/// @endcode
///
/// Every member is checked with its family's concept and every pairing that must fit (conditioning ×
/// backbone, guidance × conditioning, sequence × conditioning) is checked too, each with a
/// static_assert that says what is wrong and where to read about it.

#include "chord/core/condition_drop.hpp"
#include "chord/core/random.hpp"
#include "chord/models/spec_checks.hpp"
#include "chord/policies/conditioning/concept.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/guidance/concept.hpp"
#include "chord/policies/masking/concept.hpp"
#include "chord/policies/objective/concept.hpp"
#include "chord/policies/sequence/concept.hpp"

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace chord {


/// The runtime half of a spec: backbone hyperparameters and one value per policy (each defaults to
/// the reference's defaults).
/// @tparam Spec  the spec struct (see FlowModelImpl); its backbone's `Impl::options` type is the
///               constructor's argument.
template <class Spec>
struct FlowModelOptions {
  using backbone_options = std::remove_cvref_t<decltype(std::declval<typename Spec::backbone::Impl&>().options)>;
  explicit FlowModelOptions(backbone_options backbone_) : backbone(std::move(backbone_)) {}
  backbone_options backbone;
  typename Spec::conditioning conditioning{};
  typename Spec::masking masking{};
  typename Spec::guidance guidance{};
  typename Spec::sequence sequence{};
  typename Spec::objective objective{};
};

namespace detail {
/// Stands in for the model when a spec fails its checks, so the static_assert messages are all the
/// compiler reports.
class RejectedFlowModel : public torch::nn::Module {};

template <class Spec>
class FlowModelCore : public torch::nn::Module {
 public:
  using spec_type = Spec;
  using backbone_type = typename Spec::backbone;
  using conditioning_policy = typename Spec::conditioning;
  using masking_policy = typename Spec::masking;
  using guidance_policy = typename Spec::guidance;
  using sequence_policy = typename Spec::sequence;
  using objective_policy = typename Spec::objective;
  using Batch = typename conditioning_policy::Batch;
  using Request = typename conditioning_policy::Request;
  using Options = FlowModelOptions<Spec>;

  /// What one training step computed (the loss, plus what tests and diagnostics inspect).
  struct Losses {
    torch::Tensor loss;
    torch::Tensor prediction;
    Masks masks;
    ConditionDrop drop;
    typename objective_policy::Pair pair;
  };

  struct SampleOptions {
    typename objective_policy::SamplerOptions sampler{};
    /// Guidance strength; nullopt = the guidance policy's default (F5-TTS: 2).
    std::optional<double> guidance_strength;
    /// One seed per item: item i's noise depends only on seeds[i] and its length. Empty = draw from
    /// the generator passed to sample().
    std::vector<uint64_t> seeds;
    /// Called after every backbone pass with (passes done, passes in all; 0 when the objective does
    /// not say): for progress output on long work. The library itself never prints.
    std::function<void(int64_t done, int64_t total)> progress;
  };

  /// Backbone passes of one sample() call with these sampler options (guidance branches share each
  /// pass); 0 when the objective does not say.
  static int64_t backbone_passes(const typename objective_policy::SamplerOptions& sampler) {
    if constexpr (requires { objective_policy::evaluations(sampler).first; }) {
      return objective_policy::evaluations(sampler).first;
    } else if constexpr (requires { objective_policy::evaluations(sampler); }) {
      return objective_policy::evaluations(sampler);
    } else {
      return 0;
    }
  }

  struct SampleResult {
    torch::Tensor output;     ///< `[B, N, D]`; item b is valid for its first `durations[b]` frames
    torch::Tensor durations;  ///< `[B]`
    torch::Tensor prompt_lengths;  ///< `[B]` (the prompt frames are restored exactly)
  };

  /// The backbone's registration name: `Spec::backbone_name` when the spec gives one (so the whole
  /// model's state dict follows the reference's layout), else F5-TTS's "transformer".
  static constexpr std::string_view backbone_name = [] {
    if constexpr (requires { { Spec::backbone_name } -> std::convertible_to<std::string_view>; }) return std::string_view(Spec::backbone_name);
    else return std::string_view("transformer");
  }();

  explicit FlowModelCore(Options options) : options(std::move(options)) {
    if constexpr (ConfiguresItsBackbone<conditioning_policy, typename Options::backbone_options>) {
      this->options.conditioning.configure_backbone(this->options.backbone);
    }
    if constexpr (ConfiguresBackbone<sequence_policy, typename Options::backbone_options>) {
      this->options.sequence.configure_backbone(this->options.backbone);
    }
    backbone = this->register_module(std::string(backbone_name), backbone_type(this->options.backbone));
    if constexpr (OwnsModule<objective_policy>) {
      head = this->register_module(
          "head", this->options.objective.make_module(this->options.backbone.dim(), this->options.conditioning.channels()));
    }
  }

  /// Freezes the backbone: no gradients, and eval mode (no dropout) even when the model is put in
  /// training mode — for training an objective's head on a pretrained backbone.
  void freeze_backbone(bool frozen = true) {
    frozen_ = frozen;
    for (auto& p : backbone->parameters()) p.set_requires_grad(!frozen);
    if (frozen) backbone->eval();
    else backbone->train(this->is_training());
  }

  void train(bool on = true) override {
    torch::nn::Module::train(on);
    if (frozen_) backbone->eval();
  }

  /// The learning rate of update `step` given the base rate: the sequence policy's rule (a stage
  /// of its own) when it has one, else `base`.
  double learning_rate(int64_t step, double base) const {
    if constexpr (SchedulesLearningRate<sequence_policy>) return options.sequence.learning_rate(step, base);
    else return base;
  }

  /// The parameters an optimiser should update (all, or the head's alone when the backbone is frozen).
  std::vector<torch::Tensor> trainable_parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : this->parameters()) {
      if (p.requires_grad()) out.push_back(p);
    }
    return out;
  }

  /// One training step's loss. Draws, in order: the masks, the objective's pair, the guidance drops.
  Losses loss(Batch batch, torch::Generator& gen, int64_t step = 0) {
    const auto& o = options;
    if constexpr (DeviceMovable<Batch>) batch = batch.to(device());
    o.sequence.adapt_training(batch, step, gen);
    auto x1 = o.conditioning.target(batch);
    Losses out;
    out.masks = o.masking.training_masks(o.conditioning.lengths(batch).to(x1.device()), x1.size(1), gen);
    out.pair = o.objective.draw(x1, gen);
    out.drop = o.guidance.training_drop(x1.size(0), gen);
    auto prepared = o.conditioning.prepare_training(backbone, batch, out.masks, out.drop);
    TrainingNet net{
        [&](const torch::Tensor& x, const torch::Tensor& t) { return o.conditioning.run(backbone, prepared, x, t, false); },
        [&](const torch::Tensor& x, const torch::Tensor& t) {
          std::optional<torch::NoGradGuard> no_grad;
          if (frozen_) no_grad.emplace();  // a frozen backbone's graph is never needed
          return o.conditioning.run(backbone, prepared, x, t, true);
        }};
    if constexpr (OwnsModule<objective_policy>) out.prediction = o.objective.predict(net, out.pair, head);
    else out.prediction = o.objective.predict(net, out.pair);
    out.loss = o.objective.loss(out.prediction, out.pair, out.masks.loss);
    return out;
  }

  /// Generates from a request. Runs in eval mode under InferenceMode (the module's mode is restored
  /// after); the results are inference tensors, so copy them (`.clone()` outside InferenceMode) before
  /// using them in autograd.
  SampleResult sample(const Request& original_request, const SampleOptions& sample_options, torch::Generator& gen) {
    const auto& o = options;
    Request request = original_request;
    if constexpr (DeviceMovable<Request>) request = request.to(device());
    if constexpr (AdaptsRequest<sequence_policy, Request>) o.sequence.adapt_inference(request);
    c10::InferenceMode inference;
    const bool was_training = this->is_training();
    this->eval();
    struct Restore {
      FlowModelCore* self;
      bool training;
      ~Restore() { self->train(training); }
    } restore{this, was_training};

    // Lengths stay on the CPU (they size tensors); masks and everything else live on the model's device.
    const auto device = this->device();
    SampleResult result;
    result.durations = o.conditioning.durations(request).to(c10::kCPU);
    torch::Tensor edit_mask;
    if constexpr (ProvidesPrompt<conditioning_policy>) {
      result.prompt_lengths = o.conditioning.prompt_lengths(request).to(c10::kCPU);
      edit_mask = o.conditioning.edit_mask(request);
      if (edit_mask.defined()) edit_mask = edit_mask.to(c10::kCPU);
    } else {
      result.prompt_lengths = torch::zeros_like(result.durations);
    }
    auto masks = o.masking.inference_masks(result.prompt_lengths, edit_mask, result.durations).to(device);
    const int64_t batch = result.durations.size(0);
    const int64_t frames = masks.cond.size(1);
    const double strength = sample_options.guidance_strength.value_or(o.guidance.default_strength());
    const auto branches = o.guidance.branches(batch, strength);
    const auto k = static_cast<int64_t>(branches.size());
    auto prepared = o.conditioning.prepare_inference(backbone, request, masks, branches);

    // Every guidance branch in one backbone pass over the input repeated K times.
    const int64_t total_passes = backbone_passes(sample_options.sampler);
    int64_t passes = 0;
    auto stacked_pass = [&](const torch::Tensor& x, const torch::Tensor& t, bool features) {
      auto out = o.conditioning.run(backbone, prepared, k == 1 ? x : x.repeat({k, 1, 1}), t, features);
      if (sample_options.progress) sample_options.progress(++passes, total_passes);
      return out;
    };
    GuidedNet net{[&](const torch::Tensor& x, const torch::Tensor& t) { return stacked_pass(x, t, false).chunk(k, 0); },
                  [&](const torch::Tensor& x, const torch::Tensor& t) { return stacked_pass(x, t, true); }, k,
                  [&](const std::vector<torch::Tensor>& outputs) { return o.guidance.combine(outputs, strength); }, {}};
    if constexpr (requires(const torch::Tensor& t) { { o.guidance.guides_at(t) } -> std::convertible_to<bool>; }) {
      net.guided_at = [&](const torch::Tensor& t) { return o.guidance.guides_at(t); };
    }

    auto x0 = initial_noise(result.durations, frames, sample_options.seeds, gen);
    // Audio-to-audio: a request that carries data starts the sampler from it (e.g. sigma_max < 1).
    if constexpr (StartsFromData<objective_policy> && requires { o.conditioning.initial_data(request); }) {
      if (const auto data = o.conditioning.initial_data(request); data.defined()) x0 = o.objective.start(x0, data, sample_options.sampler);
    }
    torch::Tensor generated;
    if constexpr (OwnsModule<objective_policy>) generated = o.objective.sample(net, x0, sample_options.sampler, gen, head);
    else generated = o.objective.sample(net, x0, sample_options.sampler, gen);
    if constexpr (ProvidesPrompt<conditioning_policy>) {
      result.output = torch::where(masks.cond.unsqueeze(-1), o.conditioning.prompt(request, frames).to(device), generated);
    } else {
      result.output = generated;
    }
    return result;
  }

  /// Where the model's parameters are (the CPU for a model without any).
  c10::Device device() const {
    const auto parameters = this->parameters();
    return parameters.empty() ? c10::Device(c10::kCPU) : parameters.front().device();
  }

  Options options;
  backbone_type backbone{nullptr};
  /// Whether the objective has a module of its own (DTM's head).
  static constexpr bool has_head = OwnsModule<objective_policy>;
  /// The objective's own module (DTM's head), registered as "head" and typed; `nullptr` (of type
  /// std::nullptr_t) for objectives without one.
  ObjectiveModuleOf<objective_policy> head{nullptr};

 private:
  bool frozen_ = false;

  torch::Tensor initial_noise(const torch::Tensor& durations, int64_t frames, const std::vector<uint64_t>& seeds,
                              torch::Generator& gen) const {
    const int64_t batch = durations.size(0);
    const int64_t channels = options.conditioning.channels();
    const auto device = this->device();
    const auto cpu_durations = durations.to(c10::kCPU, torch::kLong).contiguous();
    std::vector<int64_t> lengths(cpu_durations.data_ptr<int64_t>(), cpu_durations.data_ptr<int64_t>() + batch);
    if (!seeds.empty()) {
      TORCH_CHECK(static_cast<int64_t>(seeds.size()) == batch, "FlowModel::sample: ", seeds.size(), " seeds for ",
                  batch, " items");
      return seeded_noise(lengths, channels, seeds, torch::TensorOptions().device(device));
    }
    auto noise = torch::zeros({batch, frames, channels}, torch::TensorOptions().device(device));
    for (int64_t b = 0; b < batch; ++b) {
      noise[b].narrow(0, 0, lengths[b]).copy_(torch::randn({lengths[b], channels}, gen, noise.options()));
    }
    return noise;
  }
};
}  // namespace detail

/// The model for `Spec` (see the file comment). A spec that fails a check is a compile error with
/// the failed check's message.
/// @tparam Spec  a struct of member types, one per family: `backbone` (a LibTorch module holder whose
///               `Impl` has `options`), and the policies `conditioning`, `masking`, `guidance`,
///               `sequence` and `objective` (docs/policies/). Optional: `discriminators` (absent or
///               `disc::NoDiscriminators`; a set with members is GanModel's) and
///               `static constexpr std::string_view backbone_name` (the backbone's registration
///               name, default "transformer"). The checks are models/spec_checks.hpp's; the table of
///               what each model kind needs is in docs/architecture.md.
template <class Spec>
class FlowModelImpl
    : public std::conditional_t<detail::check_flow_spec<Spec>(), detail::FlowModelCore<Spec>, detail::RejectedFlowModel> {
  using Base =
      std::conditional_t<detail::check_flow_spec<Spec>(), detail::FlowModelCore<Spec>, detail::RejectedFlowModel>;

 public:
  using Base::Base;
};

/// The options of `FlowModel<Spec>::sample` (solver steps, guidance strength, seeds, progress).
template <class Spec>
using SampleOptionsOf = typename detail::FlowModelCore<Spec>::SampleOptions;

/// Holder for FlowModelImpl (TORCH_MODULE cannot take templates).
/// @tparam Spec  the spec struct, as for FlowModelImpl.
template <class Spec>
class FlowModel : public torch::nn::ModuleHolder<FlowModelImpl<Spec>> {
 public:
  using torch::nn::ModuleHolder<FlowModelImpl<Spec>>::ModuleHolder;
  using Impl = FlowModelImpl<Spec>;
  using Batch = BatchOf<Spec>;
  using Request = RequestOf<Spec>;
  using SampleOptions = SampleOptionsOf<Spec>;
};

}  // namespace chord
