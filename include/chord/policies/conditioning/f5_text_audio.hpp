#pragma once
/// @file
/// F5-TTS conditioning: text tokens stretched to the mel length, and the masked mel as an audio
/// prompt, concatenated with the noisy input (`Linear(cat(x, cond, text))`). Works with nn::F5DiT.

#include "chord/core/condition_drop.hpp"
#include "chord/nn/f5_dit.hpp"
#include "chord/policies/conditioning/concept.hpp"
#include "chord/policies/signals.hpp"

#include <array>

namespace chord::cond {

/// The backbone interface F5TextAudio drives (nn::F5DiT): the text embedding, the conditions' share
/// of the input projection, the noisy input, the time embedding, the transformer and the output.
template <class B>
concept TextAudioBackbone = requires(B& b, const torch::Tensor& x, int64_t n) {
  { b->embed_text(x, n, x, x) } -> std::same_as<torch::Tensor>;
  { b->embed_condition(x, x, x) } -> std::same_as<torch::Tensor>;
  { b->embed_noisy(x, x, x) } -> std::same_as<torch::Tensor>;
  { b->embed_time(x, n) } -> std::same_as<torch::Tensor>;
  { b->transform(x, x, x) } -> std::same_as<torch::Tensor>;
  { b->project(x) } -> std::same_as<torch::Tensor>;
};

struct F5TextAudio {
  using policy_category = conditioning_policy_tag;
  static constexpr std::string_view name = "f5_text_audio";
  using signals = Signals<signal::AudioPrompt, signal::Text>;

  int64_t mel_channels = 100;
  int64_t max_duration = 65536;  ///< frames; the reference's `max_duration`

  /// A training batch: mels, their lengths, token ids (−1 padding).
  struct Batch {
    torch::Tensor mel;      ///< `[B, N, mel_channels]`
    torch::Tensor lengths;  ///< `[B]` int64
    torch::Tensor text;     ///< `[B, Nt]` int64, −1 padded

    Batch to(c10::Device device, bool non_blocking = false) const {
      return {moved(mel, device, non_blocking), moved(lengths, device, non_blocking), moved(text, device, non_blocking)};
    }
    Batch pin_memory() const { return {pinned(mel), pinned(lengths), pinned(text)}; }
  };

  /// A generation request. The prompt's text must be part of `text` (F5-TTS prompts with
  /// "reference text + text to say").
  struct Request {
    torch::Tensor prompt;          ///< `[B, Np, mel_channels]` mel of the reference audio
    torch::Tensor prompt_lengths;  ///< `[B]`; undefined = Np for every item
    torch::Tensor text;            ///< `[B, Nt]` ids of reference text + generated text, −1 padded
    torch::Tensor duration;        ///< `[B]` requested total frames (prompt included)
    torch::Tensor edit_mask;       ///< `[B, Np]` true = keep (speech editing); undefined = keep the prompt
    bool no_ref_audio = false;     ///< condition on zeros instead of the prompt

    Request to(c10::Device device, bool non_blocking = false) const {
      return {moved(prompt, device, non_blocking), moved(prompt_lengths, device, non_blocking), moved(text, device, non_blocking),
              moved(duration, device, non_blocking), moved(edit_mask, device, non_blocking), no_ref_audio};
    }
  };

  /// Inputs prepared once per call, for K guidance branches stacked along the batch: the text
  /// embedding and the conditions' share of the input projection are reused by every ODE step (the
  /// reference caches the text embedding the same way, `cache=True`).
  template <class Backbone>
  struct Prepared {
    torch::Tensor condition;  ///< `[K·B, N, dim]` projection of (prompt on the cond frames, text)
    torch::Tensor mask;       ///< `[K·B, N]` or undefined
  };

  int64_t channels() const { return mel_channels; }
  torch::Tensor target(const Batch& batch) const {
    TORCH_CHECK(batch.mel.dim() == 3 && batch.mel.size(2) == mel_channels, "F5TextAudio: mel [B, N, ", mel_channels,
                "] expected, got ", batch.mel.sizes());
    return batch.mel;
  }
  torch::Tensor lengths(const Batch& batch) const {
    return batch.lengths.defined() ? batch.lengths.to(torch::kLong) : torch::full({batch.mel.size(0)}, batch.mel.size(1), torch::kLong);
  }

  /// On the CPU, wherever the request is: lengths size tensors.
  torch::Tensor prompt_lengths(const Request& r) const {
    return r.prompt_lengths.defined() ? r.prompt_lengths.to(torch::kCPU, torch::kLong)
                                      : torch::full({r.prompt.size(0)}, r.prompt.size(1), torch::kLong);
  }
  torch::Tensor edit_mask(const Request& r) const { return r.edit_mask; }

  /// The reference's duration rule: at least one frame more than both the prompt and the text,
  /// at most `max_duration`. On the CPU, wherever the request is.
  torch::Tensor durations(const Request& r) const {
    TORCH_CHECK(r.prompt.dim() == 3 && r.prompt.size(2) == mel_channels, "F5TextAudio: prompt [B, Np, ", mel_channels,
                "] expected, got ", r.prompt.sizes());
    TORCH_CHECK(r.text.dim() == 2 && r.text.size(0) == r.prompt.size(0), "F5TextAudio: text [B, Nt] with B = ",
                r.prompt.size(0), " expected, got ", r.text.sizes());
    auto text_lengths = (r.text != -1).sum(-1).cpu();
    TORCH_CHECK((text_lengths > 0).all().item<bool>(), "F5TextAudio: every item needs at least one text token");
    auto floor = torch::maximum(text_lengths, prompt_lengths(r)) + 1;
    auto requested = r.duration.defined() ? r.duration.to(torch::kCPU, torch::kLong) : torch::zeros_like(floor);
    return torch::maximum(floor, requested).clamp_max(max_duration);
  }

  /// The prompt padded (or cut) to `frames`; zeros with `no_ref_audio`.
  torch::Tensor prompt(const Request& r, int64_t frames) const {
    auto p = r.prompt.narrow(1, 0, std::min(frames, r.prompt.size(1)));
    if (p.size(1) < frames) p = torch::constant_pad_nd(p, {0, 0, 0, frames - p.size(1)}, 0.0);
    return r.no_ref_audio ? torch::zeros_like(p) : p;
  }

  template <TextAudioBackbone Backbone>
  Prepared<Backbone> prepare_training(Backbone& backbone, const Batch& batch, const Masks& masks,
                                      const ConditionDrop& drop) const {
    const auto& mel = batch.mel;
    Prepared<Backbone> p;
    p.mask = masks.valid;
    auto cond = torch::where(masks.cond.unsqueeze(-1), mel, torch::zeros_like(mel));
    auto text = backbone->embed_text(batch.text.to(mel.device()), mel.size(1), p.mask, drop.rows<signal::Text>(mel.device()));
    p.condition = backbone->embed_condition(cond, text, drop.rows<signal::AudioPrompt>(mel.device()));
    return p;
  }

  template <TextAudioBackbone Backbone>
  Prepared<Backbone> prepare_inference(Backbone& backbone, const Request& r, const Masks& masks,
                                       const std::vector<ConditionDrop>& branches) const {
    const int64_t frames = masks.cond.size(1);
    const auto k = static_cast<int64_t>(branches.size());
    auto prompt_frames = prompt(r, frames);
    auto step_cond = torch::where(masks.cond.unsqueeze(-1), prompt_frames, torch::zeros_like(prompt_frames));
    auto drops = ConditionDrop::concat(branches);
    Prepared<Backbone> p;
    p.mask = masks.valid.defined() ? masks.valid.repeat({k, 1}) : torch::Tensor();
    auto text = backbone->embed_text(r.text.to(step_cond.device()).repeat({k, 1}), frames, p.mask,
                                     drops.rows<signal::Text>(step_cond.device()));
    p.condition = backbone->embed_condition(step_cond.repeat({k, 1, 1}), text, drops.rows<signal::AudioPrompt>(step_cond.device()));
    return p;
  }

  /// The backbone on `x [K·B, N, D]` at `t` (`[K·B]` or a scalar): the velocity, or with `features`
  /// the hidden states before `proj_out`.
  template <TextAudioBackbone Backbone>
  torch::Tensor run(Backbone& backbone, const Prepared<Backbone>& p, const torch::Tensor& x, const torch::Tensor& t,
                    bool features) const {
    auto h = backbone->embed_noisy(x, p.condition, p.mask);
    auto hidden = backbone->transform(h, backbone->embed_time(t, x.size(0)), p.mask);
    return features ? hidden : backbone->project(hidden);
  }
};
static_assert(ConditioningPolicy<F5TextAudio>);
static_assert(Conditions<F5TextAudio, nn::F5DiT>);

}  // namespace chord::cond
