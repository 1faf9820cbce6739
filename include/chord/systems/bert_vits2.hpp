#pragma once
/// @file
/// Bert-VITS2 (fishaudio/Bert-VITS2, config 2.3): a VITS2-style GAN TTS. The generator
/// (systems/bert_vits2/synthesizer.hpp) trains against a set of discriminators, the sixth policy
/// family: dropping or adding a member is a one-line change of `discriminators`.
///
/// @code
/// chord::GanModelOptions<chord::systems::BertVits2> options(chord::systems::bert_vits2::SynthesizerOptions::v2_3(n_speakers));
/// options.discriminators.get<chord::disc::WavLM>().weights = "wavlm-base-plus.safetensors";
/// chord::GanModel<chord::systems::BertVits2> model(options);
/// @endcode

#include "chord/models/gan_model.hpp"
#include "chord/policies/discriminators/duration.hpp"
#include "chord/policies/discriminators/multi_period.hpp"
#include "chord/policies/discriminators/wavlm.hpp"
#include "chord/systems/bert_vits2/synthesizer.hpp"

#include <string_view>

namespace chord::systems {

/// The 2.3 training configuration: the duration discriminator, then the multi-period one, then the
/// WavLM one (train_ms.py's order of discriminator steps), then the generator.
struct BertVits2 {
  static constexpr std::string_view name = "bert_vits2";
  using generator = bert_vits2::Synthesizer;
  using discriminators = disc::Set<disc::Duration, disc::MultiPeriod, disc::WavLM>;
  static constexpr std::string_view generator_name = "net_g";
};

/// Without the WavLM discriminator (no 16 kHz speech model needed; Bert-VITS2 before 2.3).
struct BertVits2NoWavLM : BertVits2 {
  static constexpr std::string_view name = "bert_vits2_no_wavlm";
  using discriminators = disc::Set<disc::Duration, disc::MultiPeriod>;
};

/// VITS-1's adversaries: the multi-period discriminator alone.
struct BertVits2MultiPeriodOnly : BertVits2 {
  static constexpr std::string_view name = "bert_vits2_mpd_only";
  using discriminators = disc::Set<disc::MultiPeriod>;
};

}  // namespace chord::systems
