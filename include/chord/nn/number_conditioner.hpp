#pragma once
/// @file
/// stable-audio-tools' NumberConditioner: a scalar clamped to [min, max], normalised to [0, 1] and
/// embedded with learned Fourier features — `[u, sin(2π·u·w), cos(2π·u·w)]` (sin first; 128 learned
/// frequencies w) — then a linear layer; one token `[B, 1, D]` with mask `[B, 1]`. SAGA-SR embeds the
/// input and output roll-off ratios with two of these. Keys follow the reference
/// (`embedder.embedding.0.weights`, `embedder.embedding.1.{weight,bias}`).
/// Also the seed's `RolloffFourierConditioner`: both roll-off ratios in one module giving one
/// cross-attention token and one global embedding.

#include "chord/core/error.hpp"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>

namespace chord::nn {

/// `LearnedPositionalEmbedding(dim)`: `u [B]` → `[B, dim + 1]` = `[u, sin φ, cos φ]`, `φ = 2π·u·w`.
class LearnedFourierFeaturesImpl : public torch::nn::Module {
 public:
  explicit LearnedFourierFeaturesImpl(int64_t dim = 256) {
    CHORD_CHECK(dim % 2 == 0, "LearnedFourierFeatures: dim must be even, got ", dim);
    weights = register_parameter("weights", torch::randn({dim / 2}));
  }
  torch::Tensor forward(const torch::Tensor& u) {
    auto x = u.reshape({-1, 1});
    auto phase = x * weights.unsqueeze(0) * (2.0 * M_PI);
    return torch::cat({x, phase.sin(), phase.cos()}, -1);
  }
  torch::Tensor weights;
};
TORCH_MODULE(LearnedFourierFeatures);

/// `NumberEmbedder(features, dim = 256)` = Fourier features → `Linear(dim + 1, features)`.
class NumberEmbedderImpl : public torch::nn::Module {
 public:
  explicit NumberEmbedderImpl(int64_t features, int64_t dim = 256) {
    embedding = register_module("embedding", torch::nn::Sequential(LearnedFourierFeatures(dim), torch::nn::Linear(dim + 1, features)));
  }
  torch::Tensor forward(const torch::Tensor& u) { return embedding->forward(u); }
  torch::nn::Sequential embedding{nullptr};
};
TORCH_MODULE(NumberEmbedder);

struct NumberConditionerOptions {
  NumberConditionerOptions(int64_t output_dim) : output_dim_(output_dim) {}
  TORCH_ARG(int64_t, output_dim);
  TORCH_ARG(double, min_value) = 0.0;
  TORCH_ARG(double, max_value) = 1.0;
};

class NumberConditionerImpl : public torch::nn::Module {
 public:
  explicit NumberConditionerImpl(NumberConditionerOptions options_) : options(options_) {
    CHORD_CHECK(options.max_value() > options.min_value(), "NumberConditioner: max_value (", options.max_value(),
                ") must exceed min_value (", options.min_value(), ")");
    embedder = register_module("embedder", NumberEmbedder(options.output_dim()));
  }
  /// `values [B]` → `(embedding [B, 1, D], mask [B, 1] all true)`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& values) {
    TORCH_CHECK(values.dim() == 1, "NumberConditioner: values [B] expected, got ", values.sizes());
    auto u = (values.to(torch::kFloat).clamp(options.min_value(), options.max_value()) - options.min_value()) /
             (options.max_value() - options.min_value());
    auto embedding = embedder(u.to(embedder->parameters().front().device())).unsqueeze(1);
    return {embedding, torch::ones({values.size(0), 1}, torch::TensorOptions(torch::kBool).device(embedding.device()))};
  }
  NumberConditionerOptions options;
  NumberEmbedder embedder{nullptr};
};
TORCH_MODULE(NumberConditioner);

struct RolloffFourierConditionerOptions {
  RolloffFourierConditionerOptions(int64_t cross_dim, int64_t global_dim) : cross_dim_(cross_dim), global_dim_(global_dim) {}
  TORCH_ARG(int64_t, cross_dim);        ///< `embedding_dim_cross`: the cross-attention token's width
  TORCH_ARG(int64_t, global_dim);       ///< `embedding_dim_global`: the DiT's embed_dim (added to the timestep embedding)
  TORCH_ARG(int64_t, features) = 256;   ///< learned Fourier features per ratio (+1 for the ratio itself)
};

/// The seed's `RolloffFourierConditioner` (seed 001, step 2): the low-resolution input's and the
/// target's roll-off ratios in [0, 1], each through learned Fourier features, concatenated, then
/// `to_cross` → one token `[B, 1, cross_dim]` and `to_global` → `[B, global_dim]`. The seed adds the
/// global embedding to the timestep embedding and prepends it (`_build_rolloff_prepend`); see
/// StableAudioDiTOptions::prepend_adds_timestep. The seed names the class and its widths only; this
/// layer layout is chord's (the official code uses two NumberConditioners instead).
class RolloffFourierConditionerImpl : public torch::nn::Module {
 public:
  explicit RolloffFourierConditionerImpl(RolloffFourierConditionerOptions options_) : options(options_) {
    CHORD_CHECK(options.cross_dim() > 0 && options.global_dim() > 0, "RolloffFourierConditioner: widths must be > 0, got cross ",
                options.cross_dim(), ", global ", options.global_dim());
    low_features = register_module("low_features", LearnedFourierFeatures(options.features()));
    high_features = register_module("high_features", LearnedFourierFeatures(options.features()));
    const int64_t width = 2 * (options.features() + 1);
    to_cross = register_module("to_cross", torch::nn::Linear(width, options.cross_dim()));
    to_global = register_module("to_global", torch::nn::Linear(width, options.global_dim()));
  }
  /// `low, high [B]` (input and target roll-off ratios) → `(token [B, 1, cross_dim], global [B, global_dim])`.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& low, const torch::Tensor& high) {
    TORCH_CHECK(low.dim() == 1 && high.sizes() == low.sizes(), "RolloffFourierConditioner: low and high roll-offs [B] expected, got ",
                low.sizes(), " and ", high.sizes());
    const auto device = to_cross->weight.device();
    auto ratio = [&](const torch::Tensor& r) { return r.to(device, torch::kFloat).clamp(0.0, 1.0); };
    auto features = torch::cat({low_features(ratio(low)), high_features(ratio(high))}, -1);
    return {to_cross(features).unsqueeze(1), to_global(features)};
  }
  RolloffFourierConditionerOptions options;
  LearnedFourierFeatures low_features{nullptr}, high_features{nullptr};
  torch::nn::Linear to_cross{nullptr}, to_global{nullptr};
};
TORCH_MODULE(RolloffFourierConditioner);

}  // namespace chord::nn
