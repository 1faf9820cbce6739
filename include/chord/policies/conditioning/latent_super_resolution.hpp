#pragma once
/// @file
/// SAGA-SR conditioning: the low-resolution latent enters by input concatenation; text embeddings and
/// the input/output roll-off ratios become cross-attention tokens; the roll-offs (and, for the seed's
/// baseline, seconds_start/seconds_total) form the global vector added to the timestep embedding.
/// `Channels` picks the optional ones at compile time (`sr::text | sr::rolloff | sr::seconds`, or
/// `sr::rolloff_fourier` for the seed's roll-off conditioner: one cross token and one prepended token
/// carrying the timestep embedding, with its own per-row dropout `signal::Rolloff`);
/// `NullLatent` is the value a dropped low-resolution latent takes (the official code: −5; the seed's
/// latent dropout multiplies by 0). Dropped cross-attention tokens are zeros, as in stable-audio-tools;
/// a cross-attention drop also zeroes the prepended token (stable-audio nulls prepend_cond too, with
/// its own mask in training; here it shares the tokens').
/// Works with nn::SuperResolutionDiT.

#include "chord/core/condition_drop.hpp"
#include "chord/nn/super_resolution_dit.hpp"
#include "chord/policies/conditioning/concept.hpp"
#include "chord/policies/signals.hpp"

#include <array>
#include <optional>

namespace chord {

namespace sr {
inline constexpr unsigned text = 1u;     ///< text embeddings as cross-attention tokens
inline constexpr unsigned rolloff = 2u;  ///< input/output roll-off ratios (cross tokens + global vector)
inline constexpr unsigned seconds = 4u;  ///< seconds_start/seconds_total (global vector)
inline constexpr unsigned rolloff_fourier = 8u;  ///< the roll-offs through the seed's RolloffFourierConditioner
}  // namespace sr

namespace cond {

/// The backbone interface LatentSuperResolution drives (nn::SuperResolutionDiT): its conditioners
/// encode the request's inputs, and the Stable Audio DiT inside embeds the conditions and runs.
template <class B>
concept SuperResolutionBackbone = requires(B& b, const nn::SuperResolutionDiTImpl::Inputs& inputs, const nn::StableAudioConditions& c,
                                           const nn::StableAudioEmbedded& e, const torch::Tensor& x, bool features) {
  b->encode_conditions(inputs, int64_t{});
  { b->model->embed(c) } -> std::same_as<nn::StableAudioEmbedded>;
  { b->model->run(x, x, e, features) } -> std::same_as<torch::Tensor>;
};

/// SAGA-SR's conditioning (see the file comment). The low-resolution latent is always a condition.
/// @tparam Channels    the optional conditions, a bit set of `sr::text` (text embeddings as
///                     cross-attention tokens), `sr::rolloff` (the official input/output roll-off
///                     conditioners: cross tokens and the global vector), `sr::rolloff_fourier` (the
///                     seed's RolloffFourierConditioner instead; pick one of the two roll-off
///                     conditioners) and `sr::seconds` (seconds_start/seconds_total in the global
///                     vector). Default `sr::text | sr::rolloff`, the official model; the seed's steps
///                     use `sr::seconds` plus text and `sr::rolloff_fourier` as they add them.
/// @tparam NullLatent  the value a dropped low-resolution latent takes: −5 (the official code's
///                     default), 0 (the seed's latent dropout, which multiplies by 0).
template <unsigned Channels = sr::text | sr::rolloff, int NullLatent = -5>
struct LatentSuperResolution {
  using policy_category = conditioning_policy_tag;
  static constexpr std::string_view name = "latent_super_resolution";
  static constexpr bool uses_text = (Channels & sr::text) != 0;
  static constexpr bool uses_rolloff = (Channels & sr::rolloff) != 0;
  static constexpr bool uses_seconds = (Channels & sr::seconds) != 0;
  static constexpr bool uses_rolloff_fourier = (Channels & sr::rolloff_fourier) != 0;
  static_assert(!(uses_rolloff && uses_rolloff_fourier), "LatentSuperResolution<Channels>: sr::rolloff (the official roll-off conditioners) and sr::rolloff_fourier (the seed's RolloffFourierConditioner) condition on the same roll-offs; pick one. See docs/policies/conditioning.md.");
  static constexpr bool has_cross_attention = uses_text || uses_rolloff || uses_rolloff_fourier;
  using signals = append_signal_t<append_signal_t<Signals<signal::LowResolution>, signal::CrossAttention, has_cross_attention>,
                                  signal::Rolloff, uses_rolloff_fourier>;
  static constexpr double null_latent = NullLatent;

  int64_t latent_channels = 64;

  using Inputs = nn::SuperResolutionDiTImpl::Inputs;

  struct Batch {
    torch::Tensor target;          ///< `[B, T, C]` latent of the high-resolution audio
    torch::Tensor low_resolution;  ///< `[B, T', C]` latent of the low-resolution audio (T' = T normally)
    Inputs inputs;                 ///< text embeddings and numbers

    Batch to(c10::Device device, bool non_blocking = false) const {
      return {moved(target, device, non_blocking), moved(low_resolution, device, non_blocking), inputs.to(device, non_blocking)};
    }
    Batch pin_memory() const { return {pinned(target), pinned(low_resolution), inputs.pin_memory()}; }
  };

  struct Request {
    torch::Tensor low_resolution;  ///< `[B, T, C]`
    Inputs inputs;
    int64_t frames = 0;            ///< output latent frames; 0 = the low-resolution latent's
    /// Negative conditioning (stable-audio's negative prompt): the guidance branches that drop the
    /// cross-attention tokens use these inputs' tokens instead of zeros, where `negative_mask [B, S]`
    /// (optional) is true.
    std::optional<Inputs> negative;
    torch::Tensor negative_mask;
    /// Latents `[B, T, C]` to start sampling from (audio-to-audio, with the objective's sigma_max < 1).
    torch::Tensor init;

    Request to(c10::Device device, bool non_blocking = false) const {
      Request r = *this;
      r.low_resolution = moved(low_resolution, device, non_blocking);
      r.inputs = inputs.to(device, non_blocking);
      if (negative) r.negative = negative->to(device, non_blocking);
      r.negative_mask = moved(negative_mask, device, non_blocking);
      r.init = moved(init, device, non_blocking);
      return r;
    }
  };

  template <class Backbone>
  using Prepared = nn::StableAudioEmbedded;

  int64_t channels() const { return latent_channels; }

  /// The backbone options this conditioning implies (the one place that says which condition
  /// channels exist): the conditioners of `Channels`, the latent as the input-concat condition, and the
  /// DiT's cross-attention, global and prepended widths they give. `text_dim` (the text embeddings'
  /// width) must be set exactly when the channels include text.
  void configure_backbone(nn::SuperResolutionDiTOptions& o) const {
    CHORD_CHECK((o.text_dim() > 0) == uses_text, "LatentSuperResolution: the conditioning ", uses_text ? "takes" : "has no",
                " text, but the backbone options give text_dim ", o.text_dim(), uses_text ? " (set the text embeddings' width)" : " (set 0)");
    o.rolloff(uses_rolloff).seconds(uses_seconds).rolloff_fourier(uses_rolloff_fourier);
    o.dit.io_channels(latent_channels).input_concat_dim(latent_channels).cond_token_dim(o.cross_attention_width())
        .global_cond_dim(o.global_width()).prepend_cond_dim(o.prepend_width()).prepend_adds_timestep(uses_rolloff_fourier);
  }
  torch::Tensor target(const Batch& b) const {
    TORCH_CHECK(b.target.dim() == 3 && b.target.size(2) == latent_channels, "LatentSuperResolution: target [B, T, ",
                latent_channels, "] expected, got ", b.target.sizes());
    return b.target;
  }
  torch::Tensor lengths(const Batch& b) const { return torch::full({b.target.size(0)}, b.target.size(1), torch::kLong); }
  torch::Tensor durations(const Request& r) const {
    TORCH_CHECK(r.low_resolution.dim() == 3, "LatentSuperResolution: low_resolution [B, T, C] expected, got ", r.low_resolution.sizes());
    return torch::full({r.low_resolution.size(0)}, r.frames > 0 ? r.frames : r.low_resolution.size(1), torch::kLong);
  }
  torch::Tensor initial_data(const Request& r) const { return r.init; }

  template <SuperResolutionBackbone Backbone>
  nn::StableAudioEmbedded prepare_training(Backbone& backbone, const Batch& b, const Masks&, const ConditionDrop& drop) const {
    return prepare(backbone, b.low_resolution, b.inputs, drop, 1);
  }

  /// The K branches share one embedding of K·B rows (each branch's rows with its own drops).
  template <SuperResolutionBackbone Backbone>
  nn::StableAudioEmbedded prepare_inference(Backbone& backbone, const Request& r, const Masks&,
                                            const std::vector<ConditionDrop>& branches) const {
    return prepare(backbone, r.low_resolution, r.inputs, ConditionDrop::concat(branches), static_cast<int64_t>(branches.size()),
                   r.negative ? &*r.negative : nullptr, r.negative_mask);
  }

  template <SuperResolutionBackbone Backbone>
  torch::Tensor run(Backbone& backbone, const nn::StableAudioEmbedded& p, const torch::Tensor& x, const torch::Tensor& t,
                    bool features) const {
    return backbone->model->run(x, t, p, features);
  }

 private:
  template <class Backbone>
  nn::StableAudioEmbedded prepare(Backbone& backbone, const torch::Tensor& low_resolution, const Inputs& inputs,
                                  const ConditionDrop& drop, int64_t repeats, const Inputs* negative = nullptr,
                                  const torch::Tensor& negative_mask = {}) const {
    TORCH_CHECK(low_resolution.dim() == 3 && low_resolution.size(2) == latent_channels,
                "LatentSuperResolution: low_resolution [B, T, ", latent_channels, "] expected, got ", low_resolution.sizes());
    const int64_t batch = low_resolution.size(0);
    auto [tokens, global, prepend] = backbone->encode_conditions(inputs, batch);
    auto repeat = [&](const torch::Tensor& t) {
      if (!t.defined() || repeats == 1) return t;
      std::vector<int64_t> times(static_cast<size_t>(t.dim()), 1);
      times[0] = repeats;
      return t.repeat(times);
    };
    nn::StableAudioConditions c;
    const auto device = low_resolution.device();
    auto latent = repeat(low_resolution);
    auto dropped_latent = drop.rows<signal::LowResolution>(device).view({-1, 1, 1});
    c.input_concat = torch::where(dropped_latent, torch::full({}, null_latent, latent.options()), latent);
    const auto dropped_tokens = drop.rows<signal::CrossAttention>(device);
    if (tokens.defined()) {
      tokens = repeat(tokens);
      if constexpr (uses_rolloff_fourier) {
        // The seed's conditioner drops its own outputs (zeros) per row: the last token and the prepended one.
        const auto dropped_rolloff = drop.rows<signal::Rolloff>(device).view({-1, 1, 1});
        const int64_t last = tokens.size(1) - 1;
        tokens = torch::cat({tokens.narrow(1, 0, last), torch::where(dropped_rolloff, torch::zeros({}, tokens.options()),
                                                                     tokens.narrow(1, last, 1))}, 1);
        prepend = torch::where(dropped_rolloff, torch::zeros({}, prepend.options()), repeat(prepend));
        c.prepend = prepend;
        c.prepend_dropped = dropped_tokens;
      }
      auto null_tokens = torch::zeros({}, tokens.options());
      if (negative != nullptr) {
        auto negative_tokens = backbone->encode_conditions(*negative, batch).tokens;
        TORCH_CHECK(negative_tokens.sizes() == tokens.narrow(0, 0, batch).sizes(), "LatentSuperResolution: negative tokens ",
                    negative_tokens.sizes(), " do not match the tokens ", tokens.narrow(0, 0, batch).sizes());
        if (negative_mask.defined()) {
          TORCH_CHECK(negative_mask.dim() == 2 && negative_mask.size(0) == batch && negative_mask.size(1) == negative_tokens.size(1),
                      "LatentSuperResolution: negative_mask [", batch, ", ", negative_tokens.size(1), "] expected, got ", negative_mask.sizes());
          negative_tokens = torch::where(negative_mask.to(torch::kBool).unsqueeze(-1), negative_tokens, torch::zeros({}, tokens.options()));
        }
        null_tokens = repeat(negative_tokens);
      }
      c.cross_attention = torch::where(dropped_tokens.view({-1, 1, 1}), null_tokens, tokens);
    }
    c.global = repeat(global);
    return backbone->model->embed(c);
  }
};

static_assert(ConditioningPolicy<LatentSuperResolution<>>);
static_assert(Conditions<LatentSuperResolution<>, nn::SuperResolutionDiT>);

}  // namespace cond
}  // namespace chord
