#pragma once
/// @file
/// Bert-VITS2's training losses (fishaudio/Bert-VITS2 8f7fbd8 `losses.py`, and the duration terms of
/// `models.SynthesizerTrn.forward` / `train_ms.py`): the feature-matching L1, the least-squares GAN losses
/// of the discriminators and the generator, the KL divergence between posterior and prior, and the
/// duration losses of the deterministic and the stochastic duration predictor. Every loss is computed in
/// float32 whatever the inputs' dtype, as the reference's `.float()` casts.

#include "chord/core/error.hpp"

#include <torch/types.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace chord::nn::vits {

/// `losses.feature_loss`: `2 · Σ_disc Σ_layer mean(|r − g|)` over the discriminators' feature maps, the
/// real ones detached. The reference pairs the lists with `zip` (silently truncating); chord refuses
/// lists of different lengths, which only a wiring mistake produces.
inline torch::Tensor feature_loss(const std::vector<std::vector<torch::Tensor>>& fmap_r,
                                  const std::vector<std::vector<torch::Tensor>>& fmap_g) {
  CHORD_CHECK(fmap_r.size() == fmap_g.size(), "feature_loss: ", fmap_r.size(), " real and ", fmap_g.size(),
              " generated discriminators' feature maps");
  torch::Tensor loss;
  for (size_t i = 0; i < fmap_r.size(); ++i) {
    CHORD_CHECK(fmap_r[i].size() == fmap_g[i].size(), "feature_loss: discriminator ", i, " has ", fmap_r[i].size(),
                " real and ", fmap_g[i].size(), " generated feature maps");
    for (size_t j = 0; j < fmap_r[i].size(); ++j) {
      const auto term = torch::mean(torch::abs(fmap_r[i][j].to(torch::kFloat32).detach() - fmap_g[i][j].to(torch::kFloat32)));
      loss = loss.defined() ? loss + term : term;
    }
  }
  if (!loss.defined()) return torch::zeros({});
  return loss * 2;
}

/// What discriminator_loss() returns: the total and each discriminator's two terms. The reference returns
/// the terms as Python floats (`.item()`); chord keeps them as detached scalar tensors, so no step waits
/// on the device for a log value.
struct DiscriminatorLoss {
  torch::Tensor loss;                           ///< Σ_i real_i + generated_i (with gradient)
  std::vector<torch::Tensor> real_losses;       ///< mean((1 − D(real))²) per discriminator, detached
  std::vector<torch::Tensor> generated_losses;  ///< mean(D(fake)²) per discriminator, detached
};

/// `losses.discriminator_loss`: the least-squares GAN loss of the discriminators, real target 1, fake 0.
/// Lists of different lengths are refused (the reference's `zip` truncates).
inline DiscriminatorLoss discriminator_loss(const std::vector<torch::Tensor>& real_outputs,
                                            const std::vector<torch::Tensor>& generated_outputs) {
  CHORD_CHECK(real_outputs.size() == generated_outputs.size(), "discriminator_loss: ", real_outputs.size(), " real and ",
              generated_outputs.size(), " generated discriminator outputs");
  DiscriminatorLoss out;
  for (size_t i = 0; i < real_outputs.size(); ++i) {
    const auto r_loss = torch::mean((1 - real_outputs[i].to(torch::kFloat32)).pow(2));
    const auto g_loss = torch::mean(generated_outputs[i].to(torch::kFloat32).pow(2));
    const auto term = r_loss + g_loss;
    out.loss = out.loss.defined() ? out.loss + term : term;
    out.real_losses.push_back(r_loss.detach());
    out.generated_losses.push_back(g_loss.detach());
  }
  if (!out.loss.defined()) out.loss = torch::zeros({});
  return out;
}

/// What generator_loss() returns: the total and each discriminator's term (with gradient, as the reference).
struct GeneratorLoss {
  torch::Tensor loss;
  std::vector<torch::Tensor> losses;
};

/// `losses.generator_loss`: the least-squares GAN loss of the generator, `Σ_i mean((1 − D(fake)_i)²)`.
inline GeneratorLoss generator_loss(const std::vector<torch::Tensor>& generated_outputs) {
  GeneratorLoss out;
  for (const auto& dg : generated_outputs) {
    auto l = torch::mean((1 - dg.to(torch::kFloat32)).pow(2));
    out.loss = out.loss.defined() ? out.loss + l : l;
    out.losses.push_back(std::move(l));
  }
  if (!out.loss.defined()) out.loss = torch::zeros({});
  return out;
}

/// `losses.kl_loss`: KL between the posterior sample mapped by the flow `z_p` (with the posterior's
/// `logs_q`) and the prior `N(m_p, e^{2 logs_p})`, summed over valid frames and channels and divided by
/// the number of valid FRAMES (`sum(z_mask)`, `z_mask [B, 1, T]`), not frames × channels, as the reference.
inline torch::Tensor kl_loss(const torch::Tensor& z_p, const torch::Tensor& logs_q, const torch::Tensor& m_p,
                             const torch::Tensor& logs_p, const torch::Tensor& z_mask) {
  TORCH_CHECK(z_p.dim() == 3 && z_p.sizes() == logs_q.sizes() && z_p.sizes() == m_p.sizes() && z_p.sizes() == logs_p.sizes(),
              "kl_loss: z_p, logs_q, m_p, logs_p [B, C, T] expected, got ", z_p.sizes(), ", ", logs_q.sizes(), ", ", m_p.sizes(),
              ", ", logs_p.sizes());
  TORCH_CHECK(z_mask.dim() == 3 && z_mask.size(0) == z_p.size(0) && z_mask.size(1) == 1 && z_mask.size(2) == z_p.size(2),
              "kl_loss: z_mask [B, 1, T] expected, got ", z_mask.sizes(), " for z_p ", z_p.sizes());
  const auto zp = z_p.to(torch::kFloat32), lq = logs_q.to(torch::kFloat32), mp = m_p.to(torch::kFloat32),
             lp = logs_p.to(torch::kFloat32), mask = z_mask.to(torch::kFloat32);
  auto kl = lp - lq - 0.5;
  kl = kl + 0.5 * (zp - mp).pow(2) * torch::exp(-2.0 * lp);
  return torch::sum(kl * mask) / torch::sum(mask);
}

/// The duration terms of one `SynthesizerTrn.forward` (reference/vits2.md §1.8).
struct DurationLosses {
  torch::Tensor logw_target;   ///< `logw_ = log(w + 1e-6) · x_mask` [B, 1, T]
  torch::Tensor l_length_dp;   ///< `Σ (logw − logw_)² / Σ x_mask` [B]
  torch::Tensor l_length_sdp;  ///< `sdp_nll / Σ x_mask + Σ (logw_sdp − logw_)² / Σ x_mask` [B]
  torch::Tensor l_length;      ///< `l_length_dp + l_length_sdp` [B], the model's output
};

/// The log-duration target of `w [B, 1, T]` (frames per token, from the alignment).
inline torch::Tensor duration_target(const torch::Tensor& w, const torch::Tensor& x_mask) { return torch::log(w + 1e-6) * x_mask; }

/// Combines the predictors' outputs as `SynthesizerTrn.forward` does: `sdp_nll [B]` (the stochastic
/// predictor's training pass on `w`), `logw [B, 1, T]` (the deterministic predictor), `logw_sdp
/// [B, 1, T]` (the stochastic predictor's reverse pass at noise scale 1, kept with its gradient), `w` and
/// `x_mask [B, 1, T]`. Every term divides by `Σ x_mask` over the WHOLE batch, so summing `l_length` over
/// the batch (duration_loss()) gives a per-token mean.
inline DurationLosses duration_losses(const torch::Tensor& sdp_nll, const torch::Tensor& logw, const torch::Tensor& logw_sdp,
                                      const torch::Tensor& w, const torch::Tensor& x_mask) {
  TORCH_CHECK(x_mask.dim() == 3 && x_mask.size(1) == 1 && w.sizes() == x_mask.sizes() && logw.sizes() == x_mask.sizes() &&
                  logw_sdp.sizes() == x_mask.sizes(),
              "duration_losses: w, logw, logw_sdp, x_mask [B, 1, T] expected, got ", w.sizes(), ", ", logw.sizes(), ", ",
              logw_sdp.sizes(), ", ", x_mask.sizes());
  TORCH_CHECK(sdp_nll.dim() == 1 && sdp_nll.size(0) == x_mask.size(0), "duration_losses: sdp_nll [B] expected, got ",
              sdp_nll.sizes(), " for x_mask ", x_mask.sizes());
  DurationLosses out;
  const auto tokens = torch::sum(x_mask);
  out.logw_target = duration_target(w, x_mask);
  out.l_length_dp = torch::sum((logw - out.logw_target).pow(2), {1, 2}) / tokens;
  out.l_length_sdp = sdp_nll / tokens + torch::sum((logw_sdp - out.logw_target).pow(2), {1, 2}) / tokens;
  out.l_length = out.l_length_dp + out.l_length_sdp;
  return out;
}

/// `train_ms.py`'s `loss_dur = sum(l_length.float())`.
inline torch::Tensor duration_loss(const torch::Tensor& l_length) { return torch::sum(l_length.to(torch::kFloat32)); }

}  // namespace chord::nn::vits
