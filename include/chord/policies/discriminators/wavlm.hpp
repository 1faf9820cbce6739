#pragma once
/// @file
/// `disc::WavLM`: the StyleTTS2 / Bert-VITS2 WavLM discriminator (reference/vits2.md §2.3–2.4): a frozen
/// WavLM encoder (wavlm-base-plus in the Hugging Face key layout) reads both waveforms resampled to
/// 16 kHz; a small convolutional discriminator scores its stacked hidden states. Generator terms: the
/// LSGAN term (`loss_lm_gen`) and the L1 distance of the hidden states (`loss_lm`, reported as feature
/// matching). Checkpoint prefix "WD"; only the discriminator trains (the WavLM's parameters do not
/// require gradients and are left out of its optimiser).

#include "chord/core/error.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/nn/vits/wavlm_discriminator.hpp"
#include "chord/nn/wavlm.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/discriminators/outputs.hpp"
#include "chord/policies/discriminators/vits_defaults.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace chord::disc {

struct WavLM : VitsOptimiser {
  static constexpr std::string_view name = "wavlm";
  static constexpr std::string_view prefix = "WD";
  using consumes = Signals<out::Audio, out::RealAudio>;
  using Module = nn::vits::WavLMLoss;

  nn::WavLMOptions wavlm = nn::WavLMOptions::base_plus();
  nn::vits::WavLMDiscriminatorOptions discriminator{};
  int64_t model_sample_rate = 44100;  ///< the generator's
  int64_t slm_sample_rate = 16000;    ///< WavLM's
  /// A safetensors file of the WavLM's weights in the Hugging Face layout (microsoft/wavlm-base-plus);
  /// empty: random weights (tests only — the features of an untrained WavLM mean nothing).
  std::string weights;
  /// The frozen encoder, under the prefix: loaded from `weights` at every start, so trainer checkpoints
  /// keep only its digest (train::add_gan).
  static constexpr std::string_view pretrained_submodule = "wavlm";

  Module make_module() const {
    nn::WavLMModel encoder(wavlm);
    if (!weights.empty()) {
      io::LoadOptions load;
      load.source_name = weights;
      // Either layout: the published checkpoint's weight_g/weight_v or newer transformers' parametrizations.
      io::load_state_dict(*encoder, nn::wavlm_state_dict_from_transformers(io::load_safetensors(weights)), load);
    }
    return Module(encoder, nn::vits::WavLMDiscriminator(discriminator), model_sample_rate, slm_sample_rate);
  }

  torch::Tensor discriminator_loss(Module& d, const GeneratorOutputs& o) const {
    return d->discriminator(flat(o.get<out::RealAudio>()), flat(o.get<out::Audio>()));
  }
  GeneratorTerms generator_terms(Module& d, const GeneratorOutputs& o) const {
    const auto generated = flat(o.get<out::Audio>());
    return {d->generator(generated), d->forward(flat(o.get<out::RealAudio>()), generated)};
  }

 private:
  static torch::Tensor flat(const torch::Tensor& audio) { return audio.dim() == 3 ? audio.squeeze(1) : audio; }
};

}  // namespace chord::disc
