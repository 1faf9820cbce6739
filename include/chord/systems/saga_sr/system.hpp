#pragma once
/// @file
/// A SAGA-SR system as one module: the flow model of a spec and, when the spec conditions on text, its
/// text encoder (so EMA, checkpoints and exported weights cover both); and the model's batch made from
/// an `SrExample` through the pretransform.

#include "chord/core/error.hpp"
#include "chord/models/flow_model.hpp"
#include "chord/nn/pretransform.hpp"
#include "chord/nn/text_conditioner.hpp"
#include "chord/systems/saga_sr/config.hpp"
#include "chord/systems/saga_sr/data.hpp"
#include "chord/systems/saga_sr/presets.hpp"

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace chord::systems::saga_sr {

/// A SAGA-SR system: the flow model of `Spec` and, when the spec conditions on text, the text encoder.
/// Registered together so that EMA, checkpoints and the exported weights cover both.
template <class Spec>
class SuperResolutionSystemImpl : public torch::nn::Module {
 public:
  using Model = FlowModel<Spec>;
  using Batch = typename Model::Batch;
  static constexpr bool uses_text = Spec::conditioning::uses_text;

  SuperResolutionSystemImpl(const SrConfig& cfg, int64_t latent_channels) {
    int64_t text_dim = 0;
    if constexpr (uses_text) {
      if (cfg.text_encoder == "bytes") {
        text = nn::TextConditioner(nn::TextConditionerImpl::byte_level(cfg.text_width, cfg.text_length));
      } else {
        CHORD_CHECK(cfg.text_encoder.rfind("t5:", 0) == 0, "text encoder '", cfg.text_encoder,
                    "' is neither \"bytes\" nor \"t5:<Hugging Face T5 folder>\"");
        text = nn::TextConditioner(nn::TextConditionerImpl::t5_folder(cfg.text_encoder.substr(3), cfg.text_length));
      }
      register_module("text", text.ptr());
      text_dim = text->width();
    }
    model = register_module("model", Model(model_options<Spec>(parse_preset(cfg.preset), text_dim, latent_channels)));
  }

  /// Text embeddings for captions (undefined when the spec takes no text).
  torch::Tensor embed_text(const std::vector<std::string>& captions) {
    if constexpr (uses_text) return text->forward(captions).first;
    return {};
  }

  Model model{nullptr};
  nn::TextConditioner text{nullptr};
};
template <class Spec>
class SuperResolutionSystem : public torch::nn::ModuleHolder<SuperResolutionSystemImpl<Spec>> {
 public:
  using torch::nn::ModuleHolder<SuperResolutionSystemImpl<Spec>>::ModuleHolder;
};

/// The model's batch: both waveforms encoded (`[B, T, C]`), the text embedded, the numbers attached.
template <class Spec>
typename SuperResolutionSystemImpl<Spec>::Batch model_batch(SuperResolutionSystemImpl<Spec>& system, nn::PretransformImpl& pretransform,
                                                            const SrExample& e, torch::Generator& gen) {
  typename SuperResolutionSystemImpl<Spec>::Batch b;
  {
    torch::NoGradGuard no_grad;
    b.target = pretransform.encode(e.high, &gen).transpose(1, 2).contiguous();
    b.low_resolution = pretransform.encode(e.low, &gen).transpose(1, 2).contiguous();
  }
  b.inputs.text = system.embed_text(e.captions);
  b.inputs.input_rolloff = e.input_rolloff;
  b.inputs.output_rolloff = e.output_rolloff;
  b.inputs.seconds_start = e.seconds_start;
  b.inputs.seconds_total = e.seconds_total;
  return b;
}

}  // namespace chord::systems::saga_sr
