#pragma once
/// @file
/// Bert-VITS2's prior text encoder (`models.TextEncoder`, fishaudio/Bert-VITS2 8f7fbd8;
/// reference/vits2.md §1.2): phone, tone and language embeddings plus three projected BERT feature
/// streams (Chinese, Japanese, English; 1024 channels each), scaled by √hidden, through the
/// speaker-conditioned relative-position transformer (`attentions.Encoder`), then a 1×1 projection to
/// the prior's mean and log-deviation. State-dict keys as the reference (`emb`, `tone_emb`,
/// `language_emb`, `bert_proj`, `ja_bert_proj`, `en_bert_proj`, `encoder.*`, `proj`).

#include "chord/core/error.hpp"
#include "chord/nn/vits/attentions.hpp"
#include "chord/nn/vits/commons.hpp"

#include <torch/arg.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>

namespace chord::nn::vits {

struct TextEncoderOptions {
  TextEncoderOptions(int64_t n_vocab, int64_t out_channels, int64_t hidden_channels, int64_t filter_channels, int64_t n_heads,
                     int64_t n_layers, int64_t kernel_size, double p_dropout)
      : n_vocab_(n_vocab),
        out_channels_(out_channels),
        hidden_channels_(hidden_channels),
        filter_channels_(filter_channels),
        n_heads_(n_heads),
        n_layers_(n_layers),
        kernel_size_(kernel_size),
        p_dropout_(p_dropout) {}
  /// Phone vocabulary. The reference sizes `emb` with `len(symbols)` (112 in 2.3) whatever it is
  /// passed (reference/vits2.md §10); pass that number here.
  TORCH_ARG(int64_t, n_vocab);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, n_heads);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(double, p_dropout);
  TORCH_ARG(int64_t, gin_channels) = 0;
  TORCH_ARG(int64_t, n_tones) = 12;     ///< `num_tones` (ZH 6 + JP 2 + EN 4)
  TORCH_ARG(int64_t, n_languages) = 3;  ///< `num_languages` (ZH, JP, EN)
  TORCH_ARG(int64_t, bert_channels) = 1024;

 public:
  /// Bert-VITS2 2.3's `enc_p` (config.json: inter/hidden 192, filter 768, 2 heads, 6 layers, kernel 3,
  /// dropout 0.1, gin 512, 112 symbols).
  static TextEncoderOptions bert_vits2_v23() { return TextEncoderOptions(112, 192, 192, 768, 2, 6, 3, 0.1).gin_channels(512); }
};

/// What the text encoder returns (the reference's tuple `x, m, logs, x_mask`).
struct TextEncoderOutput {
  torch::Tensor h;       ///< `[B, hidden, T]` encoder output (masked)
  torch::Tensor m;       ///< `[B, out, T]` prior mean (masked)
  torch::Tensor logs;    ///< `[B, out, T]` prior log-deviation (masked)
  torch::Tensor x_mask;  ///< `[B, 1, T]` in h's dtype
};

class TextEncoderImpl : public torch::nn::Module {
 public:
  explicit TextEncoderImpl(TextEncoderOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    const int64_t h = o.hidden_channels();
    const double stddev = 1.0 / std::sqrt(static_cast<double>(h));
    emb = register_module("emb", torch::nn::Embedding(o.n_vocab(), h));
    tone_emb = register_module("tone_emb", torch::nn::Embedding(o.n_tones(), h));
    language_emb = register_module("language_emb", torch::nn::Embedding(o.n_languages(), h));
    {
      torch::NoGradGuard no_grad;
      torch::nn::init::normal_(emb->weight, 0.0, stddev);
      torch::nn::init::normal_(tone_emb->weight, 0.0, stddev);
      torch::nn::init::normal_(language_emb->weight, 0.0, stddev);
    }
    bert_proj = register_module("bert_proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.bert_channels(), h, 1)));
    ja_bert_proj = register_module("ja_bert_proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.bert_channels(), h, 1)));
    en_bert_proj = register_module("en_bert_proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(o.bert_channels(), h, 1)));
    encoder = register_module("encoder", AttentionEncoder(AttentionEncoderOptions(h, o.filter_channels(), o.n_heads(), o.n_layers())
                                                              .kernel_size(o.kernel_size())
                                                              .p_dropout(o.p_dropout())
                                                              .gin_channels(o.gin_channels())));
    proj = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(h, 2 * o.out_channels(), 1)));
  }

  /// `x`, `tone`, `language [B, T]` (long ids), `x_lengths [B]`, `bert`, `ja_bert`, `en_bert
  /// [B, bert_channels, T]`, `g [B, gin, 1]` (or undefined).
  TextEncoderOutput forward(const torch::Tensor& x, const torch::Tensor& x_lengths, const torch::Tensor& tone, const torch::Tensor& language,
                            const torch::Tensor& bert, const torch::Tensor& ja_bert, const torch::Tensor& en_bert,
                            const torch::Tensor& g = {}) {
    const auto& o = options;
    TORCH_CHECK(x.dim() == 2, "TextEncoder: x [B, T] expected, got ", x.sizes());
    const int64_t b = x.size(0), t = x.size(1);
    TORCH_CHECK(tone.sizes() == x.sizes(), "TextEncoder: tone [", b, ", ", t, "] expected, got ", tone.sizes());
    TORCH_CHECK(language.sizes() == x.sizes(), "TextEncoder: language [", b, ", ", t, "] expected, got ", language.sizes());
    TORCH_CHECK(x_lengths.dim() == 1 && x_lengths.size(0) == b, "TextEncoder: x_lengths [", b, "] expected, got ", x_lengths.sizes());
    for (const auto* stream : {&bert, &ja_bert, &en_bert}) {
      TORCH_CHECK(stream->dim() == 3 && stream->size(0) == b && stream->size(1) == o.bert_channels() && stream->size(2) == t,
                  "TextEncoder: BERT features [", b, ", ", o.bert_channels(), ", ", t, "] expected, got ", stream->sizes());
    }
    // Same summation order as the reference, so fp32 rounding matches.
    auto h = (emb(x) + tone_emb(tone) + language_emb(language) + bert_proj(bert).transpose(1, 2) + ja_bert_proj(ja_bert).transpose(1, 2) +
              en_bert_proj(en_bert).transpose(1, 2)) *
             std::sqrt(static_cast<double>(o.hidden_channels()));
    h = h.transpose(1, -1);
    auto x_mask = sequence_mask(x_lengths.to(h.device()), t, h.scalar_type());
    h = encoder(h * x_mask, x_mask, g);
    const auto stats = proj(h) * x_mask;
    return {h, stats.narrow(1, 0, o.out_channels()), stats.narrow(1, o.out_channels(), o.out_channels()), x_mask};
  }

  TextEncoderOptions options;
  torch::nn::Embedding emb{nullptr}, tone_emb{nullptr}, language_emb{nullptr};
  torch::nn::Conv1d bert_proj{nullptr}, ja_bert_proj{nullptr}, en_bert_proj{nullptr}, proj{nullptr};
  AttentionEncoder encoder{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace chord::nn::vits
