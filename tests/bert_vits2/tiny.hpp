#pragma once
// The tiny Bert-VITS2 GAN configuration shared by the system and checkpoint tests: the tiny
// synthesizer (SynthesizerOptions::tiny()) with discriminator members shrunk to unit-test size.
#include <chord/systems/bert_vits2.hpp>

namespace chord::test {

/// Members small enough for a unit test (the reference's channel counts make MPD alone 41 M parameters).
template <class Spec>
chord::GanModelOptions<Spec> tiny_gan_options(
    chord::systems::bert_vits2::SynthesizerOptions generator = chord::systems::bert_vits2::SynthesizerOptions::tiny()) {
  chord::GanModelOptions<Spec> options(std::move(generator));
  auto& set = options.discriminators;
  using Set = typename Spec::discriminators;
  if constexpr (Set::template has<chord::disc::MultiPeriod>) {
    auto& mpd = set.template get<chord::disc::MultiPeriod>();
    mpd.options.period_channels({4, 8, 16, 32, 32});
    mpd.options.scale(chord::nn::vits::DiscriminatorSOptions().channels({4, 16, 16, 32, 32, 32}).groups({1, 4, 4, 8, 8, 1}));
  }
  if constexpr (Set::template has<chord::disc::Duration>) {
    set.template get<chord::disc::Duration>().options = chord::nn::vits::DurationDiscriminatorOptions(64, 16, 3, 0.1, 32);
  }
  if constexpr (Set::template has<chord::disc::WavLM>) {
    auto& wavlm = set.template get<chord::disc::WavLM>();
    wavlm.wavlm = chord::nn::WavLMOptions()
                      .hidden_size(16)
                      .num_hidden_layers(2)
                      .num_attention_heads(2)
                      .intermediate_size(32)
                      .conv_dim(std::vector<int64_t>(7, 16))
                      .num_conv_pos_embeddings(16)
                      .num_conv_pos_embedding_groups(4)
                      .num_buckets(32)
                      .max_bucket_distance(64);
    wavlm.discriminator = chord::nn::vits::WavLMDiscriminatorOptions().slm_hidden(16).slm_layers(3).initial_channel(8);
    wavlm.model_sample_rate = 22050;
  }
  return options;
}

}  // namespace chord::test
