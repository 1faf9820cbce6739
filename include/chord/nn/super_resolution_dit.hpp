#pragma once
/// @file
/// The SAGA-SR network: the Stable Audio DiT (`model`) and the conditioners that turn a batch's
/// numbers and text embeddings into its condition channels (`conditioner`), laid out like
/// stable-audio-tools' `ConditionedDiffusionModelWrapper` state dict
/// (`model.*`, `conditioner.conditioners.<id>.*`):
///  - `prompt`: precomputed text embeddings `[B, S, text_dim]` (e.g. T5-base's 768), projected to
///    `cond_dim` by `proj_out` when the widths differ (stable-audio `Conditioner`), cross-attention tokens;
///  - `input_cutoff_ratio`, `output_cutoff_ratio`: NumberConditioners on [0, 1], one cross-attention
///    token each (after the text) and, concatenated, the global vector (SAGA-SR's roll-off condition);
///  - `seconds_start`, `seconds_total`: NumberConditioners on [0, 512] in the global vector (Stable
///    Audio Open's timing condition, the seed's step-0 baseline);
///  - or, instead of the two cutoff-ratio conditioners, `rolloff`: the seed's RolloffFourierConditioner,
///    one cross-attention token after the text and one prepended token (its global embedding plus the
///    timestep embedding, `StableAudioDiTOptions::prepend_adds_timestep`).

#include "chord/core/device.hpp"
#include "chord/nn/number_conditioner.hpp"
#include "chord/nn/stable_audio_dit.hpp"


namespace chord::nn {

struct SuperResolutionDiTOptions {
  explicit SuperResolutionDiTOptions(StableAudioDiTOptions dit_) : dit(std::move(dit_)) {}
  StableAudioDiTOptions dit;
  TORCH_ARG(int64_t, cond_dim) = 768;   ///< conditioner output width
  TORCH_ARG(int64_t, text_dim) = 0;     ///< width of the text embeddings; 0 = no text condition
  TORCH_ARG(bool, rolloff) = false;     ///< the input/output roll-off ratios
  TORCH_ARG(bool, seconds) = false;     ///< seconds_start / seconds_total
  TORCH_ARG(bool, rolloff_fourier) = false;  ///< the roll-offs through the seed's RolloffFourierConditioner

 public:
  int64_t dim() const { return dit.embed_dim(); }
  /// The DiT's condition widths implied by the conditioners (cross tokens and global vector).
  int64_t cross_attention_width() const { return (text_dim_ > 0 || rolloff_ || rolloff_fourier_) ? cond_dim_ : 0; }
  int64_t global_width() const { return cond_dim_ * ((rolloff_ ? 2 : 0) + (seconds_ ? 2 : 0)); }
  /// The DiT's prepended-token width: the seed's roll-off token is as wide as the timestep embedding.
  int64_t prepend_width() const { return rolloff_fourier_ ? dit.embed_dim() : 0; }
};

class SuperResolutionDiTImpl : public torch::nn::Module {
 public:
  explicit SuperResolutionDiTImpl(SuperResolutionDiTOptions options_) : options(std::move(options_)) {
    const auto& o = options;
    CHORD_CHECK(!(o.rolloff() && o.rolloff_fourier()), "SuperResolutionDiT: choose one roll-off conditioner (rolloff: the official "
                "NumberConditioners, rolloff_fourier: the seed's RolloffFourierConditioner)");
    CHORD_CHECK(o.dit.cond_token_dim() == o.cross_attention_width(), "SuperResolutionDiT: the conditioners give ",
                o.cross_attention_width(), "-channel cross-attention tokens but the DiT's cond_token_dim is ", o.dit.cond_token_dim());
    CHORD_CHECK(o.dit.global_cond_dim() == o.global_width(), "SuperResolutionDiT: the conditioners give a ", o.global_width(),
                "-channel global vector but the DiT's global_cond_dim is ", o.dit.global_cond_dim());
    CHORD_CHECK(o.dit.input_concat_dim() == o.dit.io_channels(), "SuperResolutionDiT: the low-resolution latent (",
                o.dit.io_channels(), " channels) is the input-concat condition; input_concat_dim is ", o.dit.input_concat_dim());
    CHORD_CHECK(o.dit.prepend_cond_dim() == o.prepend_width() && o.dit.prepend_adds_timestep() == o.rolloff_fourier(),
                "SuperResolutionDiT: the conditioners give ", o.prepend_width(), "-channel prepended tokens",
                o.rolloff_fourier() ? " with the timestep added" : "", " but the DiT has prepend_cond_dim ", o.dit.prepend_cond_dim(),
                ", prepend_adds_timestep ", o.dit.prepend_adds_timestep());
    model = register_module("model", StableAudioDiT(o.dit));
    conditioners = std::make_shared<torch::nn::Module>();
    if (o.text_dim() > 0) {
      auto prompt = std::make_shared<torch::nn::Module>();
      if (o.text_dim() != o.cond_dim()) text_projection = prompt->register_module("proj_out", torch::nn::Linear(o.text_dim(), o.cond_dim()));
      conditioners->register_module("prompt", prompt);
    }
    auto number = [&](const char* id, double max_value) {
      auto c = NumberConditioner(NumberConditionerOptions(o.cond_dim()).min_value(0.0).max_value(max_value));
      conditioners->register_module(id, c.ptr());
      return c;
    };
    if (o.rolloff()) {
      input_rolloff = number("input_cutoff_ratio", 1.0);
      output_rolloff = number("output_cutoff_ratio", 1.0);
    }
    if (o.rolloff_fourier()) {
      rolloff_fourier = RolloffFourierConditioner(RolloffFourierConditionerOptions(o.cond_dim(), o.dit.embed_dim()));
      conditioners->register_module("rolloff", rolloff_fourier.ptr());
    }
    if (o.seconds()) {
      seconds_start = number("seconds_start", 512.0);
      seconds_total = number("seconds_total", 512.0);
    }
    auto holder = std::make_shared<torch::nn::Module>();
    holder->register_module("conditioners", conditioners);
    register_module("conditioner", holder);
  }

  /// Numbers and text of a batch or request, as given (undefined where unused).
  struct Inputs {
    torch::Tensor text;                           ///< `[B, S, text_dim]`, padded tokens zero
    torch::Tensor input_rolloff, output_rolloff;  ///< `[B]` in [0, 1]
    torch::Tensor seconds_start, seconds_total;   ///< `[B]` seconds

    Inputs to(c10::Device device, bool non_blocking = false) const {
      return {moved(text, device, non_blocking), moved(input_rolloff, device, non_blocking), moved(output_rolloff, device, non_blocking),
              moved(seconds_start, device, non_blocking), moved(seconds_total, device, non_blocking)};
    }
    Inputs pin_memory() const { return {pinned(text), pinned(input_rolloff), pinned(output_rolloff), pinned(seconds_start), pinned(seconds_total)}; }
  };

  /// What the conditioners give a batch; each undefined when unused.
  struct EncodedConditions {
    torch::Tensor tokens;   ///< cross-attention `[B, S(+2 or +1), cond_dim]`: text, then the roll-off token(s)
    torch::Tensor global;   ///< `[B, global_width]`: roll-offs (official), then seconds
    torch::Tensor prepend;  ///< `[B, 1, embed_dim]`: the seed's roll-off global embedding
  };

  EncodedConditions encode_conditions(const Inputs& in, int64_t batch) {
    const auto& o = options;
    auto need = [&](const torch::Tensor& t, const char* what) {
      CHORD_CHECK(t.defined(), "SuperResolutionDiT: the model was built with the ", what, " condition; the batch has none");
      TORCH_CHECK(t.dim() == 1 && t.size(0) == batch, "SuperResolutionDiT: ", what, " [", batch, "] expected, got ", t.sizes());
      return t;
    };
    std::vector<torch::Tensor> tokens, global;
    if (o.text_dim() > 0) {
      CHORD_CHECK(in.text.defined(), "SuperResolutionDiT: the model was built with a text condition; the batch has no text embeddings");
      TORCH_CHECK(in.text.dim() == 3 && in.text.size(0) == batch && in.text.size(2) == o.text_dim(),
                  "SuperResolutionDiT: text embeddings [", batch, ", S, ", o.text_dim(), "] expected, got ", in.text.sizes());
      tokens.push_back(text_projection ? text_projection(in.text) : in.text);
    }
    if (o.rolloff()) {
      auto r_in = input_rolloff(need(in.input_rolloff, "input roll-off")).first;
      auto r_out = output_rolloff(need(in.output_rolloff, "output roll-off")).first;
      tokens.push_back(r_in);
      tokens.push_back(r_out);
      global.push_back(r_in.squeeze(1));
      global.push_back(r_out.squeeze(1));
    }
    torch::Tensor prepend;
    if (o.rolloff_fourier()) {
      auto [token, embedding] = rolloff_fourier(need(in.input_rolloff, "input roll-off"), need(in.output_rolloff, "output roll-off"));
      tokens.push_back(token);
      prepend = embedding.unsqueeze(1);
    }
    if (o.seconds()) {
      global.push_back(seconds_start(need(in.seconds_start, "seconds_start")).first.squeeze(1));
      global.push_back(seconds_total(need(in.seconds_total, "seconds_total")).first.squeeze(1));
    }
    return {tokens.empty() ? torch::Tensor() : torch::cat(tokens, 1), global.empty() ? torch::Tensor() : torch::cat(global, 1), prepend};
  }

  SuperResolutionDiTOptions options;
  StableAudioDiT model{nullptr};
  std::shared_ptr<torch::nn::Module> conditioners;  ///< one child per conditioner id
  torch::nn::Linear text_projection{nullptr};
  NumberConditioner input_rolloff{nullptr}, output_rolloff{nullptr}, seconds_start{nullptr}, seconds_total{nullptr};
  RolloffFourierConditioner rolloff_fourier{nullptr};
};
TORCH_MODULE(SuperResolutionDiT);

}  // namespace chord::nn
