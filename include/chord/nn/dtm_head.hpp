#pragma once
/// @file
/// The per-token head of Difference Transition Matching (arXiv 2506.23589): an MLP with AdaLN
/// conditioning in the style of MAR's SimpleMLPAdaLN (LTH14/mar `models/diffloss.py`), predicting the
/// velocity of the inner flow `Y_s = (1 − s)·Y_0 + s·Y` for every token independently from the
/// backbone's features at that token, the inner time s and the transition time t.

#include "chord/nn/dit_blocks.hpp"

#include <torch/arg.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

namespace chord::nn {

struct DtmHeadOptions {
  DtmHeadOptions(int64_t feature_dim, int64_t channels) : feature_dim_(feature_dim), channels_(channels) {}
  TORCH_ARG(int64_t, feature_dim);  ///< backbone width (F5-TTS Base: 1024)
  TORCH_ARG(int64_t, channels);     ///< token size (mel bins: 100)
  TORCH_ARG(int64_t, width) = 512;  ///< paper 1024; the public F5-TTS DTM code 512
  TORCH_ARG(int64_t, depth) = 6;    ///< residual blocks (paper: 6)
};

/// `x + gate·MLP(LN(x)·(1 + scale) + shift)`, `(shift, scale, gate) = Linear(SiLU(c))`.
class DtmResBlockImpl : public torch::nn::Module {
 public:
  explicit DtmResBlockImpl(int64_t width) {
    mlp_in = register_module("mlp_in", torch::nn::Linear(width, width));
    mlp_out = register_module("mlp_out", torch::nn::Linear(width, width));
    modulation = register_module("modulation", torch::nn::Linear(width, width * 3));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c) {
    auto m = modulation(torch::silu(c)).chunk(3, -1);
    auto h = mlp_out(torch::silu(mlp_in(modulated_layer_norm(x, m[0], m[1]))));
    return x + m[2] * h;
  }
  torch::nn::Linear mlp_in{nullptr}, mlp_out{nullptr}, modulation{nullptr};
};
TORCH_MODULE(DtmResBlock);

class DtmHeadImpl : public torch::nn::Module {
 public:
  explicit DtmHeadImpl(DtmHeadOptions options) : options(options) {
    const int64_t w = options.width();
    input_proj = register_module("input_proj", torch::nn::Linear(options.channels(), w));
    feature_proj = register_module("feature_proj", torch::nn::Linear(options.feature_dim(), w));
    inner_time_embed = register_module("inner_time_embed", TimestepEmbedding(w));
    transition_time_embed = register_module("transition_time_embed", TimestepEmbedding(w));
    res_blocks = register_module("res_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < options.depth(); ++i) {
      blocks_.push_back(DtmResBlock(w));
      res_blocks->push_back(blocks_.back());
    }
    final_modulation = register_module("final_modulation", torch::nn::Linear(w, w * 2));
    output_proj = register_module("output_proj", torch::nn::Linear(w, options.channels()));
    reset_parameters();
  }

  /// MAR's initialisation: Xavier-uniform linears with zero bias, zero AdaLN modulations and a zero
  /// output projection, so a fresh head predicts zero velocity.
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    for (auto& linear : {input_proj, feature_proj}) {
      torch::nn::init::xavier_uniform_(linear->weight);
      linear->bias.zero_();
    }
    for (auto& block : blocks_) {
      torch::nn::init::xavier_uniform_(block->mlp_in->weight);
      torch::nn::init::xavier_uniform_(block->mlp_out->weight);
      block->mlp_in->bias.zero_();
      block->mlp_out->bias.zero_();
      block->modulation->weight.zero_();
      block->modulation->bias.zero_();
    }
    for (auto& linear : {final_modulation, output_proj}) {
      linear->weight.zero_();
      linear->bias.zero_();
    }
  }

  /// `features [B, N, F]`, `y [B, N, C]` the inner state, `s` the inner time (`[B, N]`, `[B]` or a
  /// scalar), `t` the transition time (`[B]` or a scalar) → velocity `[B, N, C]`.
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& y, const torch::Tensor& s,
                        const torch::Tensor& t) {
    return velocity(condition(features, t), y, s);
  }

  /// The part of the AdaLN condition that is fixed for one transition (the token features and t):
  /// computed once and reused by every inner step of the sampler.
  torch::Tensor condition(const torch::Tensor& features, const torch::Tensor& t) {
    TORCH_CHECK(features.dim() == 3 && features.size(2) == options.feature_dim(), "DtmHead: features [B, N, ",
                options.feature_dim(), "] expected, got ", features.sizes());
    return feature_proj(features) + embed(transition_time_embed, t, features.size(0), features.size(1));
  }

  /// The velocity at inner state `y` and inner time `s`, given condition(features, t).
  torch::Tensor velocity(const torch::Tensor& condition, const torch::Tensor& y, const torch::Tensor& s) {
    TORCH_CHECK(y.dim() == 3 && y.size(2) == options.channels() && y.size(0) == condition.size(0) &&
                    y.size(1) == condition.size(1),
                "DtmHead: y [B, N, ", options.channels(), "] matching the features expected, got ", y.sizes());
    auto c = condition + embed(inner_time_embed, s, y.size(0), y.size(1));
    auto x = input_proj(y);
    for (auto& block : blocks_) x = block(x, c);
    auto m = final_modulation(torch::silu(c)).chunk(2, -1);
    return output_proj(modulated_layer_norm(x, m[0], m[1]));
  }

  DtmHeadOptions options;
  torch::nn::Linear input_proj{nullptr}, feature_proj{nullptr}, final_modulation{nullptr}, output_proj{nullptr};
  TimestepEmbedding inner_time_embed{nullptr}, transition_time_embed{nullptr};
  torch::nn::ModuleList res_blocks{nullptr};

 private:
  /// A time of shape `[B, N]`, `[B]` or `[]` embedded and broadcast to `[B|1, N|1, W]`.
  static torch::Tensor embed(TimestepEmbedding& embedding, const torch::Tensor& time, int64_t b, int64_t n) {
    if (time.dim() == 2) return embedding(time.reshape({-1})).view({b, n, -1});
    if (time.dim() == 1) return embedding(time).unsqueeze(1);
    return embedding(time.reshape({1})).view({1, 1, -1});
  }

  std::vector<DtmResBlock> blocks_;
};
TORCH_MODULE(DtmHead);

}  // namespace chord::nn
