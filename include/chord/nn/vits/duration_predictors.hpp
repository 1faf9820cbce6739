#pragma once
/// @file
/// Bert-VITS2's duration predictors (fishaudio/Bert-VITS2 8f7fbd8): the deterministic
/// `models.DurationPredictor` and the flow-based `models.StochasticDurationPredictor` with its parts from
/// `modules.py` — `DDSConv` (dilated depth-separable convolutions), `ConvFlow` (a rational-quadratic
/// spline coupling, see spline.hpp), `ElementwiseAffine`, `Log` and `Flip`. Submodules and parameters
/// carry the reference's names, so `sdp.*` and `dp.*` of a checkpoint load key for key. Layout `[B, C, T]`.
///
/// Both predictors detach their inputs `x` and `g`, as the reference does: duration losses never train the
/// text encoder or the speaker embedding. The stochastic predictor's two draws (the posterior noise of the
/// training pass and the prior noise of the reverse pass) come from an explicit generator, or are passed
/// in (`*_with_noise`) for parity with a recorded reference run.

#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/nn/vits/commons.hpp"
#include "chord/nn/vits/spline.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace chord::nn::vits {

namespace duration_detail {

inline void check_mask(const char* who, const torch::Tensor& x, const torch::Tensor& x_mask) {
  TORCH_CHECK(x.dim() == 3 && x_mask.dim() == 3 && x_mask.size(0) == x.size(0) && x_mask.size(1) == 1 &&
                  x_mask.size(2) == x.size(2),
              who, ": x [B, C, T] and x_mask [B, 1, T] expected, got x ", x.sizes(), ", x_mask ", x_mask.sizes());
}

inline void check_speaker(const char* who, const torch::Tensor& g, const torch::Tensor& x, int64_t gin_channels) {
  if (!g.defined()) return;
  CHORD_CHECK(gin_channels > 0, who, ": a speaker embedding g was given but gin_channels is 0");
  TORCH_CHECK(g.dim() == 3 && g.size(0) == x.size(0) && g.size(1) == gin_channels && (g.size(2) == 1 || g.size(2) == x.size(2)),
              who, ": g [B, ", gin_channels, ", 1] expected, got ", g.sizes());
}

}  // namespace duration_detail

/// `modules.DDSConv`: `n_layers` residual blocks of a depthwise convolution with dilation `k^i`, layer
/// norm, GELU (erf), a 1×1 convolution, layer norm, GELU and dropout; inputs masked before each block.
class DDSConvImpl : public torch::nn::Module {
 public:
  DDSConvImpl(int64_t channels, int64_t kernel_size, int64_t n_layers, double p_dropout = 0.0) : n_layers_(n_layers) {
    CHORD_CHECK(channels > 0 && kernel_size > 0 && n_layers > 0, "DDSConv: channels, kernel_size and n_layers must be positive, got ",
                channels, ", ", kernel_size, ", ", n_layers);
    drop = register_module("drop", torch::nn::Dropout(p_dropout));
    convs_sep = register_module("convs_sep", torch::nn::ModuleList());
    convs_1x1 = register_module("convs_1x1", torch::nn::ModuleList());
    norms_1 = register_module("norms_1", torch::nn::ModuleList());
    norms_2 = register_module("norms_2", torch::nn::ModuleList());
    int64_t dilation = 1;
    for (int64_t i = 0; i < n_layers; ++i) {
      const int64_t padding = (kernel_size * dilation - dilation) / 2;
      sep_.emplace_back(
          torch::nn::Conv1dOptions(channels, channels, kernel_size).groups(channels).dilation(dilation).padding(padding));
      one_.emplace_back(torch::nn::Conv1dOptions(channels, channels, 1));
      norm_1_.emplace_back(channels);
      norm_2_.emplace_back(channels);
      convs_sep->push_back(sep_.back());
      convs_1x1->push_back(one_.back());
      norms_1->push_back(norm_1_.back());
      norms_2->push_back(norm_2_.back());
      dilation *= kernel_size;
    }
  }

  /// `x [B, C, T]`, `x_mask [B, 1, T]`, optional `g` added to `x` first (broadcast) → `[B, C, T]`, masked.
  torch::Tensor forward(const torch::Tensor& x_in, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    auto x = g.defined() ? x_in + g : x_in;
    for (int64_t i = 0; i < n_layers_; ++i) {
      auto y = sep_[i](x * x_mask);
      y = torch::gelu(norm_1_[i](y));
      y = torch::gelu(norm_2_[i](one_[i](y)));
      x = x + drop(y);
    }
    return x * x_mask;
  }

  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList convs_sep{nullptr}, convs_1x1{nullptr}, norms_1{nullptr}, norms_2{nullptr};

 private:
  int64_t n_layers_;
  std::vector<torch::nn::Conv1d> sep_, one_;
  std::vector<ChannelLayerNorm> norm_1_, norm_2_;
};
TORCH_MODULE(DDSConv);

/// `modules.ElementwiseAffine`: `y = (m + e^logs · x) · mask` per channel, log|det| = Σ logs over valid
/// frames. `m` and `logs` are `[C, 1]`, zero at construction (the identity).
class ElementwiseAffineImpl : public torch::nn::Module {
 public:
  explicit ElementwiseAffineImpl(int64_t channels) {
    m = register_parameter("m", torch::zeros({channels, 1}));
    logs = register_parameter("logs", torch::zeros({channels, 1}));
  }
  /// → `(y [B, C, T], logdet [B])`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& x_mask) {
    auto y = (m + torch::exp(logs) * x) * x_mask;
    return {std::move(y), (logs * x_mask).sum({1, 2})};
  }
  torch::Tensor reverse(const torch::Tensor& y, const torch::Tensor& x_mask) { return (y - m) * torch::exp(-logs) * x_mask; }

  torch::Tensor m, logs;
};
TORCH_MODULE(ElementwiseAffine);

/// `modules.Log`: `y = log(max(x, 1e-5)) · mask`, log|det| = −Σ y; reverse `exp(y) · mask`.
class LogFlowImpl : public torch::nn::Module {
 public:
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& x_mask) {
    auto y = torch::log(torch::clamp_min(x, 1e-5)) * x_mask;
    auto logdet = (-y).sum({1, 2});
    return {std::move(y), std::move(logdet)};
  }
  torch::Tensor reverse(const torch::Tensor& y, const torch::Tensor& x_mask) { return torch::exp(y) * x_mask; }
};
TORCH_MODULE(LogFlow);

/// `modules.Flip`: reverses the channel order (its own inverse, log|det| 0). A module only so that the
/// flow lists number their entries as the reference does.
class FlipImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return torch::flip(x, {1}); }
};
TORCH_MODULE(Flip);

struct ConvFlowOptions {
  ConvFlowOptions(int64_t in_channels, int64_t filter_channels, int64_t kernel_size, int64_t n_layers)
      : in_channels_(in_channels), filter_channels_(filter_channels), kernel_size_(kernel_size), n_layers_(n_layers) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, n_layers);
  TORCH_ARG(int64_t, num_bins) = 10;
  TORCH_ARG(double, tail_bound) = 5.0;
};

/// `modules.ConvFlow`: the first half of the channels, through `pre`, a `DDSConv` (no dropout, `g` added)
/// and `proj`, parameterises a rational-quadratic spline with linear tails that maps the second half.
/// `proj` starts at zero, as the reference's (uniform bins, interior slopes softplus(0) + 1e-3).
class ConvFlowImpl : public torch::nn::Module {
 public:
  explicit ConvFlowImpl(const ConvFlowOptions& options) : options_(options), half_(options.in_channels() / 2) {
    CHORD_CHECK(options.in_channels() >= 2 && options.in_channels() % 2 == 0, "ConvFlow: in_channels must be even and >= 2, got ",
                options.in_channels());
    CHORD_CHECK(options.num_bins() >= 1, "ConvFlow: num_bins must be >= 1, got ", options.num_bins());
    pre = register_module("pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(half_, options.filter_channels(), 1)));
    convs = register_module("convs", DDSConv(options.filter_channels(), options.kernel_size(), options.n_layers(), 0.0));
    proj = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(options.filter_channels(),
                                                                               half_ * (options.num_bins() * 3 - 1), 1)));
    torch::NoGradGuard no_grad;
    proj->weight.zero_();
    proj->bias.zero_();
  }

  /// `x [B, C, T]` → `(y [B, C, T], logdet [B])`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    return apply(x, x_mask, g, false);
  }
  /// The inverse map (the reference's `reverse=True`).
  torch::Tensor reverse(const torch::Tensor& y, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    return apply(y, x_mask, g, true).first;
  }

  const ConvFlowOptions& options() const { return options_; }

  torch::nn::Conv1d pre{nullptr};
  DDSConv convs{nullptr};
  torch::nn::Conv1d proj{nullptr};

 private:
  std::pair<torch::Tensor, torch::Tensor> apply(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& g,
                                                bool inverse) {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == options_.in_channels(), "ConvFlow: x [B, ", options_.in_channels(),
                ", T] expected, got ", x.sizes());
    const auto x0 = x.narrow(1, 0, half_);
    const auto x1 = x.narrow(1, half_, half_);
    auto h = proj(convs(pre(x0), x_mask, g)) * x_mask;
    const int64_t b = x0.size(0), t = x0.size(2), k = options_.num_bins();
    h = h.reshape({b, half_, -1, t}).permute({0, 1, 3, 2});  // [B, half, T, 3K - 1]
    const double scale = std::sqrt(static_cast<double>(options_.filter_channels()));
    const auto widths = h.narrow(-1, 0, k) / scale;
    const auto heights = h.narrow(-1, k, k) / scale;
    const auto derivatives = h.narrow(-1, 2 * k, k - 1);
    auto [y1, logabsdet] = piecewise_rational_quadratic_transform(
        x1, widths, heights, derivatives, SplineOptions().inverse(inverse).tail_bound(options_.tail_bound()));
    auto y = torch::cat({x0, y1}, 1) * x_mask;
    return {std::move(y), (logabsdet * x_mask).sum({1, 2})};
  }

  ConvFlowOptions options_;
  int64_t half_;
};
TORCH_MODULE(ConvFlow);

/// Hyperparameters of `models.DurationPredictor` (constructor order).
struct DurationPredictorOptions {
  DurationPredictorOptions(int64_t in_channels, int64_t filter_channels, int64_t kernel_size, double p_dropout)
      : in_channels_(in_channels), filter_channels_(filter_channels), kernel_size_(kernel_size), p_dropout_(p_dropout) {}
  /// Bert-VITS2 2.3's `dp` (reference/vits2.md §1.1): (192, 256, 3, 0.5, gin 512).
  static DurationPredictorOptions bert_vits2() { return DurationPredictorOptions(192, 256, 3, 0.5).gin_channels(512); }
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, filter_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(double, p_dropout);
  TORCH_ARG(int64_t, gin_channels) = 0;  ///< 0: no speaker conditioning (no `cond`)

};

/// `models.DurationPredictor`: two convolution → ReLU → layer norm → dropout blocks and a 1×1 projection
/// to the log-duration `logw [B, 1, T]` (masked). `x` and `g` are detached.
class DurationPredictorImpl : public torch::nn::Module {
 public:
  explicit DurationPredictorImpl(const DurationPredictorOptions& options) : options_(options) {
    const auto c_in = options.in_channels(), c = options.filter_channels(), k = options.kernel_size();
    drop = register_module("drop", torch::nn::Dropout(options.p_dropout()));
    conv_1 = register_module("conv_1", torch::nn::Conv1d(torch::nn::Conv1dOptions(c_in, c, k).padding(k / 2)));
    norm_1 = register_module("norm_1", ChannelLayerNorm(c));
    conv_2 = register_module("conv_2", torch::nn::Conv1d(torch::nn::Conv1dOptions(c, c, k).padding(k / 2)));
    norm_2 = register_module("norm_2", ChannelLayerNorm(c));
    proj = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(c, 1, 1)));
    if (options.gin_channels() != 0) {
      cond = register_module("cond", torch::nn::Conv1d(torch::nn::Conv1dOptions(options.gin_channels(), c_in, 1)));
    }
  }

  /// `x [B, in_channels, T]`, `x_mask [B, 1, T]`, optional `g [B, gin, 1]` → `logw [B, 1, T]`.
  torch::Tensor forward(const torch::Tensor& x_in, const torch::Tensor& x_mask, const torch::Tensor& g = {}) {
    duration_detail::check_mask("DurationPredictor", x_in, x_mask);
    TORCH_CHECK(x_in.size(1) == options_.in_channels(), "DurationPredictor: x [B, ", options_.in_channels(), ", T] expected, got ",
                x_in.sizes());
    duration_detail::check_speaker("DurationPredictor", g, x_in, options_.gin_channels());
    auto x = x_in.detach();
    if (g.defined()) x = x + cond(g.detach());
    x = drop(norm_1(torch::relu(conv_1(x * x_mask))));
    x = drop(norm_2(torch::relu(conv_2(x * x_mask))));
    return proj(x * x_mask) * x_mask;
  }

  const DurationPredictorOptions& options() const { return options_; }

  torch::nn::Dropout drop{nullptr};
  torch::nn::Conv1d conv_1{nullptr};
  ChannelLayerNorm norm_1{nullptr};
  torch::nn::Conv1d conv_2{nullptr};
  ChannelLayerNorm norm_2{nullptr};
  torch::nn::Conv1d proj{nullptr};
  torch::nn::Conv1d cond{nullptr};  ///< only with gin_channels > 0

 private:
  DurationPredictorOptions options_;
};
TORCH_MODULE(DurationPredictor);

/// Hyperparameters of `models.StochasticDurationPredictor`. The reference's `filter_channels` argument is
/// overwritten with `in_channels` in its constructor ("it needs to be removed from future version"), so
/// chord does not take it: every hidden layer is `in_channels` wide.
struct StochasticDurationPredictorOptions {
  StochasticDurationPredictorOptions(int64_t in_channels, int64_t kernel_size, double p_dropout)
      : in_channels_(in_channels), kernel_size_(kernel_size), p_dropout_(p_dropout) {}
  /// Bert-VITS2 2.3's `sdp` (reference/vits2.md §1.1): (192, [192], 3, 0.5, n_flows 4, gin 512).
  static StochasticDurationPredictorOptions bert_vits2() {
    return StochasticDurationPredictorOptions(192, 3, 0.5).n_flows(4).gin_channels(512);
  }
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(double, p_dropout);
  /// ConvFlows of the main flow (`flows`). The posterior flow (`post_flows`) always has 4, as the
  /// reference's `range(4)`.
  TORCH_ARG(int64_t, n_flows) = 4;
  TORCH_ARG(int64_t, gin_channels) = 0;  ///< 0: no speaker conditioning (no `cond`)

};

/// `models.StochasticDurationPredictor` (VITS): a variational flow over durations. The training pass
/// (`nll`) returns, per item, −log p(w | x) bounded by the variational posterior: the flow NLL of
/// `(log(w − u), ν)` plus `log q(u, ν | w, x)`, with `[u; ν]` from the posterior flow applied to the noise
/// `e_q`. The reverse pass (`reverse`) maps prior noise to `logw [B, 1, T]`.
///
/// Reference behaviour kept on purpose: the reverse pass skips the first ConvFlow of `flows` ("a useless
/// vflow": Flip, CF_n, Flip, …, CF_2, Flip, ElementwiseAffine); its noise is not masked (harmless: every
/// flow masks its output, so `logw` is zero on padding), while the posterior noise is masked before use.
class StochasticDurationPredictorImpl : public torch::nn::Module {
 public:
  explicit StochasticDurationPredictorImpl(const StochasticDurationPredictorOptions& options) : options_(options) {
    const auto c = options.in_channels(), k = options.kernel_size();
    CHORD_CHECK(c > 0 && k > 0 && options.n_flows() >= 1, "StochasticDurationPredictor: in_channels, kernel_size and n_flows must be "
                "positive, got ", c, ", ", k, ", ", options.n_flows());
    // Registration order as the reference's constructor (state-dict order).
    log_flow = register_module("log_flow", LogFlow());
    flows = register_module("flows", torch::nn::ModuleList());
    main_ = build_flows(flows, options.n_flows());
    post_pre = register_module("post_pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, c, 1)));
    post_proj = register_module("post_proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(c, c, 1)));
    post_convs = register_module("post_convs", DDSConv(c, k, 3, options.p_dropout()));
    post_flows = register_module("post_flows", torch::nn::ModuleList());
    post_ = build_flows(post_flows, 4);
    pre = register_module("pre", torch::nn::Conv1d(torch::nn::Conv1dOptions(c, c, 1)));
    proj = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(c, c, 1)));
    convs = register_module("convs", DDSConv(c, k, 3, options.p_dropout()));
    if (options.gin_channels() != 0) {
      cond = register_module("cond", torch::nn::Conv1d(torch::nn::Conv1dOptions(options.gin_channels(), c, 1)));
    }
  }

  /// The training pass with the posterior noise drawn from `gen`: `randn [B, 2, T]` on `gen`'s device,
  /// then moved to `x`'s (the reference draws on the CPU and moves). `x [B, C, T]`, `x_mask [B, 1, T]`,
  /// durations `w [B, 1, T]` (frames per token, 0 on padding), optional `g [B, gin, 1]` → `[B]`.
  torch::Tensor nll(const torch::Tensor& x, const torch::Tensor& x_mask, const torch::Tensor& w, torch::Generator& gen,
                    const torch::Tensor& g = {}) {
    const auto e_q = torch::randn({w.size(0), 2, w.size(2)}, gen, options_on(gen)).to(x.device(), x.scalar_type());
    return nll_with_noise(x, x_mask, w, e_q, g);
  }

  /// The training pass with the posterior noise given: `e_q [B, 2, T]` as drawn (it is masked here).
  torch::Tensor nll_with_noise(const torch::Tensor& x_in, const torch::Tensor& x_mask, const torch::Tensor& w,
                               const torch::Tensor& e_q_in, const torch::Tensor& g = {}) {
    const auto x = condition(x_in, x_mask, g);
    TORCH_CHECK(w.dim() == 3 && w.size(0) == x.size(0) && w.size(1) == 1 && w.size(2) == x.size(2),
                "StochasticDurationPredictor: durations w [B, 1, T] expected, got ", w.sizes(), " for x ", x_in.sizes());
    TORCH_CHECK(e_q_in.dim() == 3 && e_q_in.size(0) == x.size(0) && e_q_in.size(1) == 2 && e_q_in.size(2) == x.size(2),
                "StochasticDurationPredictor: noise e_q [B, 2, T] expected, got ", e_q_in.sizes());
    constexpr double log_2pi = 1.8378770664093453;  // log(2π)

    // Posterior q(u, ν | w, x): the noise through post_flows conditioned on x + h(w).
    auto h_w = post_proj(post_convs(post_pre(w), x_mask)) * x_mask;
    const auto e_q = e_q_in * x_mask;
    const auto g_post = x + h_w;
    auto [z_q, logdet_q] = post_.affine(e_q, x_mask);
    for (auto& flow : post_.convs) {
      auto [z, logdet] = flow(z_q, x_mask, g_post);
      z_q = flip(z);
      logdet_q = logdet_q + logdet;
    }
    const auto z_u = z_q.narrow(1, 0, 1);
    const auto z1 = z_q.narrow(1, 1, 1);
    const auto u = torch::sigmoid(z_u) * x_mask;
    const auto z0 = (w - u) * x_mask;
    logdet_q = logdet_q + ((torch::log_sigmoid(z_u) + torch::log_sigmoid(-z_u)) * x_mask).sum({1, 2});
    const auto logq = (-0.5 * (log_2pi + e_q.pow(2)) * x_mask).sum({1, 2}) - logdet_q;

    // Flow NLL of [log(w − u); ν] under the standard normal prior, conditioned on x.
    auto [log_z0, logdet_tot] = log_flow(z0, x_mask);
    auto z = torch::cat({log_z0, z1}, 1);
    {
      auto [y, logdet] = main_.affine(z, x_mask);
      z = y;
      logdet_tot = logdet_tot + logdet;
    }
    for (auto& flow : main_.convs) {
      auto [y, logdet] = flow(z, x_mask, x);
      z = flip(y);
      logdet_tot = logdet_tot + logdet;
    }
    const auto flow_nll = (0.5 * (log_2pi + z.pow(2)) * x_mask).sum({1, 2}) - logdet_tot;
    return flow_nll + logq;
  }

  /// The reverse pass with the prior noise drawn from `gen` (`randn [B, 2, T]`, as nll()'s draw) and
  /// scaled by `noise_scale` → `logw [B, 1, T]`.
  torch::Tensor reverse(const torch::Tensor& x, const torch::Tensor& x_mask, torch::Generator& gen, const torch::Tensor& g = {},
                        double noise_scale = 1.0) {
    const auto noise = torch::randn({x.size(0), 2, x.size(2)}, gen, options_on(gen)).to(x.device(), x.scalar_type());
    return reverse_with_noise(x, x_mask, noise, g, noise_scale);
  }

  /// The reverse pass with the prior noise given: `noise [B, 2, T]` as drawn (scaled here, not masked).
  torch::Tensor reverse_with_noise(const torch::Tensor& x_in, const torch::Tensor& x_mask, const torch::Tensor& noise,
                                   const torch::Tensor& g = {}, double noise_scale = 1.0) {
    const auto x = condition(x_in, x_mask, g);
    TORCH_CHECK(noise.dim() == 3 && noise.size(0) == x.size(0) && noise.size(1) == 2 && noise.size(2) == x.size(2),
                "StochasticDurationPredictor: noise [B, 2, T] expected, got ", noise.sizes());
    auto z = noise * noise_scale;
    for (int64_t i = static_cast<int64_t>(main_.convs.size()) - 1; i >= 0; --i) {
      z = flip(z);
      if (i > 0) z = main_.convs[i]->reverse(z, x_mask, x);  // the first ConvFlow is skipped, as the reference
    }
    z = main_.affine->reverse(z, x_mask);
    return z.narrow(1, 0, 1);
  }

  const StochasticDurationPredictorOptions& options() const { return options_; }

  LogFlow log_flow{nullptr};
  torch::nn::ModuleList flows{nullptr};  ///< ElementwiseAffine(2), then (ConvFlow, Flip) × n_flows
  torch::nn::Conv1d post_pre{nullptr}, post_proj{nullptr};
  DDSConv post_convs{nullptr};
  torch::nn::ModuleList post_flows{nullptr};  ///< ElementwiseAffine(2), then (ConvFlow, Flip) × 4
  torch::nn::Conv1d pre{nullptr}, proj{nullptr};
  DDSConv convs{nullptr};
  torch::nn::Conv1d cond{nullptr};  ///< only with gin_channels > 0

 private:
  struct FlowChain {
    ElementwiseAffine affine{nullptr};
    std::vector<ConvFlow> convs;  // each followed by a Flip in the list
  };

  FlowChain build_flows(torch::nn::ModuleList& list, int64_t n) {
    FlowChain chain;
    chain.affine = ElementwiseAffine(2);
    list->push_back(chain.affine);
    for (int64_t i = 0; i < n; ++i) {
      chain.convs.emplace_back(ConvFlowOptions(2, options_.in_channels(), options_.kernel_size(), 3));
      list->push_back(chain.convs.back());
      list->push_back(Flip());
    }
    return chain;
  }

  static torch::Tensor flip(const torch::Tensor& x) { return torch::flip(x, {1}); }

  /// The shared encoding of the (detached) text states: `proj(convs(pre(x) + cond(g))) · mask`.
  torch::Tensor condition(const torch::Tensor& x_in, const torch::Tensor& x_mask, const torch::Tensor& g) {
    duration_detail::check_mask("StochasticDurationPredictor", x_in, x_mask);
    TORCH_CHECK(x_in.size(1) == options_.in_channels(), "StochasticDurationPredictor: x [B, ", options_.in_channels(),
                ", T] expected, got ", x_in.sizes());
    duration_detail::check_speaker("StochasticDurationPredictor", g, x_in, options_.gin_channels());
    auto x = pre(x_in.detach());
    if (g.defined()) x = x + cond(g.detach());
    x = convs(x, x_mask);
    return proj(x) * x_mask;
  }

  StochasticDurationPredictorOptions options_;
  FlowChain main_, post_;
};
TORCH_MODULE(StochasticDurationPredictor);

}  // namespace chord::nn::vits
