#pragma once
/// @file
/// Bert-VITS2's generator, `SynthesizerTrn` (fishaudio/Bert-VITS2 8f7fbd8 `models.py`, config 2.3;
/// reference/vits2.md §1): text encoder `enc_p`, posterior encoder `enc_q`, normalising flow `flow`
/// (transformer coupling, or VITS-1's residual coupling), stochastic and deterministic duration
/// predictors `sdp`/`dp`, HiFi-GAN decoder `dec` and speaker table `emb_g`, with the reference's
/// registration names so a converted `G_<step>` checkpoint loads key for key.
///
/// As a GanModel generator (models/gan_model.hpp) it provides the outputs of `outputs.hpp`; its own
/// loss terms are `train_ms.py`'s: mel L1 × c_mel, KL × c_kl and the duration losses. The training
/// forward draws, in the reference's order and all from the step's generator: the posterior's ε, the
/// MAS noise (noise-scaled MAS only), the SDP posterior noise, the SDP reverse noise, the segment starts.
/// `ForwardNoise` injects any of them instead (parity with a reference run).

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/nn/vits/commons.hpp"
#include "chord/nn/vits/duration_predictors.hpp"
#include "chord/nn/vits/flows.hpp"
#include "chord/nn/vits/hifigan.hpp"
#include "chord/nn/vits/losses.hpp"
#include "chord/nn/vits/posterior_encoder.hpp"
#include "chord/nn/vits/text_encoder.hpp"
#include "chord/ops/monotonic_alignment.hpp"
#include "chord/policies/discriminators/concept.hpp"
#include "chord/policies/signals.hpp"
#include "chord/systems/bert_vits2/item.hpp"
#include "chord/systems/bert_vits2/outputs.hpp"
#include "chord/systems/bert_vits2/spectrogram.hpp"

#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chord::systems::bert_vits2 {

/// `SynthesizerTrn`'s hyperparameters (`hps.model` plus what train_ms.py derives from `hps.data`).
/// Defaults: config 2.3.
struct SynthesizerOptions {
  TORCH_ARG(int64_t, n_vocab) = 112;         ///< len(symbols)
  TORCH_ARG(int64_t, spec_channels) = 1025;  ///< filter_length / 2 + 1
  TORCH_ARG(int64_t, segment_frames) = 32;   ///< segment_size / hop_length
  TORCH_ARG(int64_t, inter_channels) = 192;
  TORCH_ARG(int64_t, hidden_channels) = 192;
  TORCH_ARG(int64_t, filter_channels) = 768;
  TORCH_ARG(int64_t, n_heads) = 2;
  TORCH_ARG(int64_t, n_layers) = 6;
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(double, p_dropout) = 0.1;
  TORCH_ARG(nn::vits::GeneratorOptions, decoder) = nn::vits::GeneratorOptions{};  ///< resblocks and upsampling
  TORCH_ARG(int64_t, n_speakers) = 850;
  TORCH_ARG(int64_t, gin_channels) = 512;
  TORCH_ARG(int64_t, posterior_layers) = 16;  ///< enc_q's WN layers (kernel 5, dilation 1)
  TORCH_ARG(bool, use_transformer_flow) = true;
  TORCH_ARG(int64_t, n_flow_layer) = 4;        ///< coupling layers
  TORCH_ARG(int64_t, n_layers_trans_flow) = 4; ///< transformer layers per coupling layer
  TORCH_ARG(int64_t, duration_filter_channels) = 256;  ///< dp's
  TORCH_ARG(bool, use_noise_scaled_mas) = true;
  TORCH_ARG(double, mas_noise_scale_initial) = 0.01;
  TORCH_ARG(double, noise_scale_delta) = 2e-6;
  TORCH_ARG(int64_t, n_tones) = 12;
  TORCH_ARG(int64_t, n_languages) = 3;
  TORCH_ARG(int64_t, bert_channels) = 1024;
  TORCH_ARG(SpectrogramConfig, spectrogram) = SpectrogramConfig{};  ///< for the mel loss
  TORCH_ARG(double, c_mel) = 45.0;
  TORCH_ARG(double, c_kl) = 1.0;

 public:
  /// Bert-VITS2 2.3 (`configs/config.json`) with `n_speakers` speakers.
  static SynthesizerOptions v2_3(int64_t n_speakers = 850) { return SynthesizerOptions().n_speakers(n_speakers); }

  /// A model small enough to train on two CPU cores (tests, the demo): 22.05 kHz, hop 256 (n_fft 1024,
  /// 513 bins), 64 channels, 3 encoder layers, a 4-stage ×256 decoder from 128 channels with ResBlock2, gin 32,
  /// segments of 32 frames (8192 samples).
  static SynthesizerOptions tiny(int64_t n_speakers = 4) {
    SpectrogramConfig spectrogram;
    spectrogram.sampling_rate = 22050;
    spectrogram.filter_length = 1024;
    spectrogram.hop_length = 256;
    spectrogram.win_length = 1024;
    spectrogram.n_mel_channels = 80;
    return SynthesizerOptions()
        .spec_channels(513)
        .segment_frames(32)
        .inter_channels(64)
        .hidden_channels(64)
        .filter_channels(128)
        .n_layers(3)  // the speaker embedding joins before layer 2 (cond_layer_idx), so 3 at least
        .decoder(nn::vits::GeneratorOptions()
                     .initial_channel(64)
                     .resblock("2")
                     .resblock_kernel_sizes({3, 7})
                     .resblock_dilation_sizes({{1, 3}, {1, 3}})
                     .upsample_rates({8, 8, 2, 2})
                     .upsample_initial_channel(128)
                     .upsample_kernel_sizes({16, 16, 4, 4})
                     .gin_channels(32))
        .n_speakers(n_speakers)
        .gin_channels(32)
        .posterior_layers(4)
        .n_flow_layer(2)
        .n_layers_trans_flow(3)
        .duration_filter_channels(64)
        .spectrogram(spectrogram);
  }

  /// Samples per segment (`segment_size`).
  int64_t segment_samples() const { return segment_frames_ * spectrogram_.hop_length; }

  void validate() const {
    CHORD_CHECK(spec_channels_ == spectrogram_.n_freqs(), "SynthesizerOptions: spec_channels ", spec_channels_,
                " does not match the spectrogram's ", spectrogram_.n_freqs(), " bins (filter_length ", spectrogram_.filter_length, ")");
    CHORD_CHECK(decoder_.upsample_factor() == spectrogram_.hop_length, "SynthesizerOptions: the decoder upsamples ×",
                decoder_.upsample_factor(), " but a frame is ", spectrogram_.hop_length, " samples (hop_length)");
    CHORD_CHECK(decoder_.initial_channel() == inter_channels_, "SynthesizerOptions: the decoder reads ", decoder_.initial_channel(),
                " channels, the latent has ", inter_channels_, " (inter_channels)");
    CHORD_CHECK(decoder_.gin_channels() == gin_channels_, "SynthesizerOptions: decoder gin_channels ", decoder_.gin_channels(),
                " differs from gin_channels ", gin_channels_);
    CHORD_CHECK(n_speakers_ >= 1, "SynthesizerOptions: n_speakers must be at least 1 (the reference's reference encoder for 0 "
                "speakers is not implemented)");
    CHORD_CHECK(gin_channels_ > 0, "SynthesizerOptions: gin_channels must be positive (the speaker-conditioned encoder needs it)");
    CHORD_CHECK(inter_channels_ % 2 == 0, "SynthesizerOptions: inter_channels must be even (the flow splits it in halves)");
  }
};

/// Noise for one training forward, each optional (drawn from the step's generator when absent).
struct ForwardNoise {
  torch::Tensor posterior;    ///< ε of z = m_q + ε·exp(logs_q) `[B, inter, T_y]`
  torch::Tensor mas;          ///< ε of the MAS noise `[B, T_y, T_x]` (noise-scaled MAS)
  torch::Tensor segment_starts;  ///< `ids_slice [B]` (long)
  torch::Tensor sdp_posterior;   ///< the SDP training pass's `e_q [B, 2, T_x]`
  torch::Tensor sdp_reverse;     ///< the SDP reverse pass's noise `[B, 2, T_x]`
};

/// Everything `SynthesizerTrn.forward` returns (reference/vits2.md §1.11), by its names.
struct ForwardOutput {
  torch::Tensor o, l_length, attn, ids_slice, x_mask, y_mask;
  torch::Tensor z, z_p, m_p, logs_p, m_q, logs_q;
  torch::Tensor hidden_x, logw, logw_, logw_sdp;
  torch::Tensor g;
};

/// `infer()`'s controls (its defaults; the WebUI uses sdp_ratio 0.5, noise 0.6, noise_w 0.9).
struct InferOptions {
  TORCH_ARG(double, noise_scale) = 0.667;
  TORCH_ARG(double, length_scale) = 1.0;
  TORCH_ARG(double, noise_scale_w) = 0.8;
  TORCH_ARG(double, sdp_ratio) = 0.0;
  TORCH_ARG(std::optional<int64_t>, max_len) = std::nullopt;  ///< frames decoded at most
};

/// What `infer()` returns.
struct InferOutput {
  torch::Tensor audio;   ///< `[B, 1, T_y·hop]`
  torch::Tensor attn;    ///< `[B, 1, T_y, T_x]`
  torch::Tensor y_mask;  ///< `[B, 1, T_y]`
};

/// Noise for one inference call, each optional.
struct InferNoise {
  torch::Tensor sdp_reverse;  ///< `[B, 2, T_x]`
  torch::Tensor prior;        ///< ε of z_p = m_p + ε·exp(logs_p)·noise_scale `[B, inter, T_y]`
};

class SynthesizerImpl : public torch::nn::Module {
 public:
  using Batch = bert_vits2::Batch;
  using provides = Signals<out::Audio, out::RealAudio, out::TextHidden, out::TextMask, out::TargetLogDurations,
                           out::PredictedLogDurations, out::SampledLogDurations, out::Speaker, out::DurationLoss, out::FlowLatent,
                           out::PosteriorLogScale, out::PriorMean, out::PriorLogScale, out::FrameMask, out::SegmentStarts,
                           out::Alignment>;

  explicit SynthesizerImpl(SynthesizerOptions options_ = {}) : options(std::move(options_)), mel_(options.spectrogram()) {
    namespace v = nn::vits;
    const auto& o = options;
    o.validate();
    enc_p = register_module("enc_p", v::TextEncoder(v::TextEncoderOptions(o.n_vocab(), o.inter_channels(), o.hidden_channels(),
                                                                           o.filter_channels(), o.n_heads(), o.n_layers(),
                                                                           o.kernel_size(), o.p_dropout())
                                                         .gin_channels(o.gin_channels())
                                                         .n_tones(o.n_tones())
                                                         .n_languages(o.n_languages())
                                                         .bert_channels(o.bert_channels())));
    dec = register_module("dec", v::Generator(o.decoder()));
    enc_q = register_module("enc_q", v::PosteriorEncoder(v::PosteriorEncoderOptions(o.spec_channels(), o.inter_channels(),
                                                                                     o.hidden_channels(), 5, 1, o.posterior_layers())
                                                               .gin_channels(o.gin_channels())));
    if (o.use_transformer_flow()) {
      transformer_flow = register_module(
          "flow", v::TransformerCouplingBlock(v::TransformerCouplingBlockOptions(o.inter_channels(), o.hidden_channels(),
                                                                                 o.filter_channels(), o.n_heads(),
                                                                                 o.n_layers_trans_flow(), 5, o.p_dropout())
                                                  .n_flows(o.n_flow_layer())
                                                  .gin_channels(o.gin_channels())));
    } else {
      residual_flow = register_module("flow", v::ResidualCouplingBlock(v::ResidualCouplingBlockOptions(
                                                                           o.inter_channels(), o.hidden_channels(), 5, 1, o.n_flow_layer())
                                                                           .gin_channels(o.gin_channels())));
    }
    sdp = register_module("sdp", v::StochasticDurationPredictor(
                                     v::StochasticDurationPredictorOptions(o.hidden_channels(), 3, 0.5).n_flows(4).gin_channels(o.gin_channels())));
    dp = register_module("dp", v::DurationPredictor(
                                   v::DurationPredictorOptions(o.hidden_channels(), o.duration_filter_channels(), 3, 0.5).gin_channels(o.gin_channels())));
    emb_g = register_module("emb_g", torch::nn::Embedding(o.n_speakers(), o.gin_channels()));
  }

  /// The global step the MAS noise scale follows (`max(initial − delta·step, 0)`); the GAN trainer sets it
  /// before every batch, as train_ms.py does.
  void begin_step(int64_t step) { step_ = step; }
  double mas_noise_scale() const {
    return options.use_noise_scaled_mas() ? ops::mas_noise_scale(step_, options.mas_noise_scale_initial(), options.noise_scale_delta()) : 0.0;
  }

  /// `SynthesizerTrn.forward` on a collated batch (reference/vits2.md §1.7–1.11).
  ForwardOutput forward(const Batch& batch, torch::Generator& gen, const ForwardNoise& noise = {}) {
    namespace v = nn::vits;
    check_batch(batch);
    ForwardOutput r;
    r.g = emb_g(batch.sid).unsqueeze(-1);
    auto text = enc_p(batch.text_padded, batch.text_lengths, batch.tone_padded, batch.language_padded, batch.bert_padded,
                      batch.ja_bert_padded, batch.en_bert_padded, r.g);
    r.hidden_x = text.h;
    r.x_mask = text.x_mask;
    auto posterior = noise.posterior.defined() ? enc_q->forward_with_noise(batch.spec_padded, batch.spec_lengths, noise.posterior, r.g)
                                               : enc_q->forward(batch.spec_padded, batch.spec_lengths, gen, r.g);
    r.z = posterior.z;
    r.m_q = posterior.m;
    r.logs_q = posterior.logs;
    r.y_mask = posterior.y_mask;
    r.z_p = run_flow(r.z, r.y_mask, r.g, false);

    r.attn = align(r.z_p, text.m, text.logs, r.x_mask, r.y_mask, gen, noise.mas);

    const auto w = r.attn.sum(2);
    const auto sdp_nll = noise.sdp_posterior.defined() ? sdp->nll_with_noise(r.hidden_x, r.x_mask, w, noise.sdp_posterior, r.g)
                                                       : sdp->nll(r.hidden_x, r.x_mask, w, gen, r.g);
    r.logw = dp(r.hidden_x, r.x_mask, r.g);
    r.logw_sdp = noise.sdp_reverse.defined() ? sdp->reverse_with_noise(r.hidden_x, r.x_mask, noise.sdp_reverse, r.g, 1.0)
                                             : sdp->reverse(r.hidden_x, r.x_mask, gen, r.g, 1.0);
    const auto durations = v::duration_losses(sdp_nll, r.logw, r.logw_sdp, w, r.x_mask);
    r.logw_ = durations.logw_target;
    r.l_length = durations.l_length;

    const auto path = r.attn.squeeze(1);
    r.m_p = torch::matmul(path, text.m.transpose(1, 2)).transpose(1, 2);
    r.logs_p = torch::matmul(path, text.logs.transpose(1, 2)).transpose(1, 2);

    torch::Tensor z_slice;
    if (noise.segment_starts.defined()) {
      r.ids_slice = noise.segment_starts.to(r.z.device(), torch::kLong);
      z_slice = v::slice_segments(r.z, r.ids_slice, options.segment_frames());
    } else {
      std::tie(z_slice, r.ids_slice) = v::rand_slice_segments(r.z, batch.spec_lengths, options.segment_frames(), gen);
    }
    r.o = dec(z_slice, r.g);
    return r;
  }

  /// The training forward as a GanModel generator: every output of `outputs.hpp`.
  GeneratorOutputs generate(const Batch& batch, torch::Generator& gen) {
    const auto r = forward(batch, gen);
    const auto hop = options.spectrogram().hop_length;
    const auto real = nn::vits::slice_segments(batch.wav_padded, r.ids_slice * hop, options.segment_samples());
    GeneratorOutputs outputs;
    outputs.set<out::Audio>(r.o)
        .set<out::RealAudio>(real)
        .set<out::TextHidden>(r.hidden_x)
        .set<out::TextMask>(r.x_mask)
        .set<out::TargetLogDurations>(r.logw_)
        .set<out::PredictedLogDurations>(r.logw)
        .set<out::SampledLogDurations>(r.logw_sdp)
        .set<out::Speaker>(r.g)
        .set<out::DurationLoss>(r.l_length)
        .set<out::FlowLatent>(r.z_p)
        .set<out::PosteriorLogScale>(r.logs_q)
        .set<out::PriorMean>(r.m_p)
        .set<out::PriorLogScale>(r.logs_p)
        .set<out::FrameMask>(r.y_mask)
        .set<out::SegmentStarts>(r.ids_slice)
        .set<out::Alignment>(r.attn);
    return outputs;
  }

  /// The generator's own terms (train_ms.py): `mel` = c_mel · L1(mel of the target segment, mel of
  /// y_hat), `kl` = c_kl · kl_loss, `duration` = Σ l_length.
  std::map<std::string, torch::Tensor> losses(const Batch& batch, const GeneratorOutputs& outputs) {
    namespace v = nn::vits;
    const auto target_mel = v::slice_segments(mel_.spec_to_mel(batch.spec_padded), outputs.get<out::SegmentStarts>(), options.segment_frames());
    const auto generated_mel = mel_.mel_spectrogram(outputs.get<out::Audio>().squeeze(1).to(torch::kFloat32));
    std::map<std::string, torch::Tensor> terms;
    terms["mel"] = torch::nn::functional::l1_loss(target_mel, generated_mel) * options.c_mel();
    terms["kl"] = v::kl_loss(outputs.get<out::FlowLatent>(), outputs.get<out::PosteriorLogScale>(), outputs.get<out::PriorMean>(),
                             outputs.get<out::PriorLogScale>(), outputs.get<out::FrameMask>()) *
                  options.c_kl();
    terms["duration"] = v::duration_loss(outputs.get<out::DurationLoss>());
    return terms;
  }

  /// The generator's own terms averaged over `items` (weighted by item), in eval mode and without
  /// gradients, batches of `batch_size` on `device`; segment slices and posterior noise come from one
  /// fixed seed, so the same weights always score the same. What a best-validation checkpoint compares.
  std::map<std::string, double> validation_losses(const std::vector<Item>& items, int64_t batch_size, c10::Device device) {
    CHORD_CHECK(!items.empty() && batch_size > 0, "validation_losses: items and a positive batch size are needed");
    torch::NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    auto gen = make_generator(1234, device);
    std::map<std::string, double> sums;
    for (size_t first = 0; first < items.size(); first += static_cast<size_t>(batch_size)) {
      const auto end = std::min(items.size(), first + static_cast<size_t>(batch_size));
      const std::vector<Item> chunk(items.begin() + static_cast<std::ptrdiff_t>(first), items.begin() + static_cast<std::ptrdiff_t>(end));
      const auto batch = collate(chunk).to(device);
      for (const auto& [name, term] : losses(batch, generate(batch, gen))) sums[name] += term.item<double>() * static_cast<double>(end - first);
    }
    train(was_training);
    for (auto& [name, sum] : sums) sum /= static_cast<double>(items.size());
    return sums;
  }

  /// `SynthesizerTrn.infer` (reference/vits2.md §1.12): phones, tones, languages `[B, T_x]`, lengths `[B]`,
  /// speaker ids `[B]`, BERT features `[B, 1024, T_x]` ×3.
  InferOutput infer(const torch::Tensor& x, const torch::Tensor& x_lengths, const torch::Tensor& sid, const torch::Tensor& tone,
                    const torch::Tensor& language, const torch::Tensor& bert, const torch::Tensor& ja_bert, const torch::Tensor& en_bert,
                    const InferOptions& controls, torch::Generator& gen, const InferNoise& noise = {}) {
    namespace v = nn::vits;
    CHORD_CHECK(sid.dim() == 1 && sid.size(0) == x.size(0), "infer: speaker ids [", x.size(0), "] expected, got ", sid.sizes());
    CHORD_CHECK((sid >= 0).all().item<bool>() && (sid < options.n_speakers()).all().item<bool>(), "infer: speaker id outside [0, ",
                options.n_speakers(), ")");
    const auto g = emb_g(sid).unsqueeze(-1);
    auto text = enc_p(x, x_lengths, tone, language, bert, ja_bert, en_bert, g);
    const auto logw_sdp = noise.sdp_reverse.defined()
                              ? sdp->reverse_with_noise(text.h, text.x_mask, noise.sdp_reverse, g, controls.noise_scale_w())
                              : sdp->reverse(text.h, text.x_mask, gen, g, controls.noise_scale_w());
    const auto logw = logw_sdp * controls.sdp_ratio() + dp(text.h, text.x_mask, g) * (1.0 - controls.sdp_ratio());
    const auto w = torch::exp(logw) * text.x_mask * controls.length_scale();
    const auto w_ceil = torch::ceil(w);
    const auto y_lengths = torch::clamp_min(torch::sum(w_ceil, {1, 2}), 1).to(torch::kLong);
    const int64_t frames = y_lengths.max().item<int64_t>();
    const auto y_mask = v::sequence_mask(y_lengths, frames, text.x_mask.scalar_type());  // [B, 1, T_y]
    const auto attn_mask = text.x_mask.unsqueeze(2) * y_mask.unsqueeze(-1);
    const auto attn = v::generate_path(w_ceil, attn_mask);
    const auto path = attn.squeeze(1);
    const auto m_p = torch::matmul(path, text.m.transpose(1, 2)).transpose(1, 2);
    const auto logs_p = torch::matmul(path, text.logs.transpose(1, 2)).transpose(1, 2);
    auto eps = noise.prior;
    if (!eps.defined()) {
      // The reference's randn_like(m_p) keeps m_p's strides (a transposed product). CPU normal_ fills such a
      // tensor element by element in memory order, a contiguous one of 16+ elements with its vectorised
      // sampler: the same seed gives other values unless the draw has m_p's strides too.
      eps = torch::empty_strided(m_p.sizes(), m_p.strides(), options_on(gen, m_p.scalar_type())).normal_(0.0, 1.0, gen).to(m_p.device());
    }
    const auto z_p = m_p + eps * torch::exp(logs_p) * controls.noise_scale();
    auto z = run_flow(z_p, y_mask, g, true) * y_mask;
    if (controls.max_len()) z = z.narrow(2, 0, std::min<int64_t>(*controls.max_len(), z.size(2)));
    return {dec(z, g), attn, y_mask};
  }

  /// The flow in either direction (whichever kind the options chose).
  torch::Tensor run_flow(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& g, bool reverse) {
    return transformer_flow ? transformer_flow(x, mask, g, reverse) : residual_flow(x, mask, g, reverse);
  }

  SynthesizerOptions options;
  nn::vits::TextEncoder enc_p{nullptr};
  nn::vits::Generator dec{nullptr};
  nn::vits::PosteriorEncoder enc_q{nullptr};
  nn::vits::TransformerCouplingBlock transformer_flow{nullptr};  ///< "flow" when use_transformer_flow
  nn::vits::ResidualCouplingBlock residual_flow{nullptr};        ///< "flow" otherwise
  nn::vits::StochasticDurationPredictor sdp{nullptr};
  nn::vits::DurationPredictor dp{nullptr};
  torch::nn::Embedding emb_g{nullptr};

 private:
  /// MAS on the log-likelihood of every frame under every token's prior (§1.7), without gradient.
  torch::Tensor align(const torch::Tensor& z_p, const torch::Tensor& m_p, const torch::Tensor& logs_p, const torch::Tensor& x_mask,
                      const torch::Tensor& y_mask, torch::Generator& gen, const torch::Tensor& injected_noise) {
    torch::NoGradGuard no_grad;
    constexpr double half_log_2pi = 0.91893853320467274178;  // 0.5·log(2π)
    const auto s_p_sq_r = torch::exp(-2 * logs_p);
    const auto neg_cent1 = torch::sum(-half_log_2pi - logs_p, {1}, true);
    const auto neg_cent2 = torch::matmul(-0.5 * z_p.pow(2).transpose(1, 2), s_p_sq_r);
    const auto neg_cent3 = torch::matmul(z_p.transpose(1, 2), m_p * s_p_sq_r);
    const auto neg_cent4 = torch::sum(-0.5 * m_p.pow(2) * s_p_sq_r, {1}, true);
    auto neg_cent = neg_cent1 + neg_cent2 + neg_cent3 + neg_cent4;
    const double scale = mas_noise_scale();
    if (options.use_noise_scaled_mas()) {
      if (injected_noise.defined()) {
        neg_cent = neg_cent + torch::std(neg_cent) * injected_noise.to(neg_cent.device(), neg_cent.scalar_type()) * scale;
      } else {
        neg_cent = ops::add_mas_noise(neg_cent, scale, gen);
      }
    }
    const auto attn_mask = x_mask.unsqueeze(2) * y_mask.unsqueeze(-1);
    return ops::maximum_path(neg_cent, attn_mask.squeeze(1)).unsqueeze(1).to(z_p.scalar_type()).detach();
  }

  void check_batch(const Batch& batch) const {
    const auto b = batch.text_padded.size(0);
    CHORD_CHECK(batch.spec_padded.dim() == 3 && batch.spec_padded.size(1) == options.spec_channels(), "Bert-VITS2 batch: spec [B, ",
                options.spec_channels(), ", T] expected, got ", batch.spec_padded.sizes());
    CHORD_CHECK(batch.spec_padded.size(0) == b && batch.sid.size(0) == b, "Bert-VITS2 batch: ", b, " texts but ",
                batch.spec_padded.size(0), " spectrograms and ", batch.sid.size(0), " speakers");
    CHORD_CHECK(batch.spec_lengths.min().item<int64_t>() >= 1, "Bert-VITS2 batch: an item has no spectrogram frame");
  }

  MelProcessing mel_;
  int64_t step_ = 0;
};
TORCH_MODULE(Synthesizer);

}  // namespace chord::systems::bert_vits2
