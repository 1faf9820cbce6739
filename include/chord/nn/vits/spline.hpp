#pragma once
/// @file
/// The monotonic rational-quadratic spline with linear tails (Durkan et al., "Neural Spline Flows"),
/// as Bert-VITS2's `transforms.piecewise_rational_quadratic_transform(..., tails="linear")` computes
/// it for the stochastic duration predictor's `ConvFlow`: `K` bins on `[-B, B]` in both directions,
/// identity with log|det| 0 outside. Bin widths and heights are `min + (1 − min·K)·softmax(·)`,
/// derivatives `min_derivative + softplus(·)` with the two boundary derivatives fixed to 1 (the
/// unnormalised value `log(e^{1 − min_derivative} − 1)`), bins located by counting edges `≤ x` with
/// `1e-6` added to the last edge, and the inverse solved with the reference's root
/// `2c / (−b − √(b² − 4ac))`. Every operation follows the reference's order, so fp32 results match.

#include "chord/core/error.hpp"

#include <c10/util/irange.h>
#include <torch/arg.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/padding.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <utility>

namespace chord::nn::vits {

struct SplineOptions {
  TORCH_ARG(bool, inverse) = false;
  TORCH_ARG(double, tail_bound) = 1.0;  ///< the spline covers [-tail_bound, tail_bound]
  TORCH_ARG(double, min_bin_width) = 1e-3;
  TORCH_ARG(double, min_bin_height) = 1e-3;
  TORCH_ARG(double, min_derivative) = 1e-3;
};

namespace spline_detail {

/// `sum(x[..., None] >= edges', -1) - 1` with `edges'` = edges whose last entry is raised by `eps`
/// (`transforms.searchsorted`; the reference raises it in place, after the widths are taken).
inline torch::Tensor bin_index(const torch::Tensor& edges, const torch::Tensor& x, double eps = 1e-6) {
  const int64_t n = edges.size(-1);
  const auto raised = torch::cat({edges.narrow(-1, 0, n - 1), edges.narrow(-1, n - 1, 1) + eps}, -1);
  return (x.unsqueeze(-1) >= raised).sum(-1) - 1;
}

/// Bin sizes `min + (1 − min·K)·softmax(u)` turned into `K + 1` edges on `[low, high]` with the end
/// edges set exactly, and the sizes taken back from the edges (as the reference, so they sum exactly).
inline std::pair<torch::Tensor, torch::Tensor> edges_and_sizes(const torch::Tensor& unnormalized, double minimum, double low,
                                                               double high) {
  const int64_t k = unnormalized.size(-1);
  auto sizes = torch::softmax(unnormalized, -1);
  sizes = minimum + (1 - minimum * static_cast<double>(k)) * sizes;
  auto cumulative = torch::constant_pad_nd(torch::cumsum(sizes, -1), {1, 0}, 0.0);
  cumulative = (high - low) * cumulative + low;
  const auto edges = torch::cat({torch::full_like(cumulative.narrow(-1, 0, 1), low), cumulative.narrow(-1, 1, k - 1),
                                 torch::full_like(cumulative.narrow(-1, 0, 1), high)},
                                -1);
  return {edges, edges.narrow(-1, 1, k) - edges.narrow(-1, 0, k)};
}

inline torch::Tensor pick(const torch::Tensor& values, const torch::Tensor& index) {
  return values.gather(-1, index).squeeze(-1);
}

/// The spline on `[left, right] → [bottom, top]` (`transforms.rational_quadratic_spline`), for inputs
/// inside its domain (outside ones give meaningless values; the public transform never passes them).
/// `unnormalized_derivatives` has `K + 1` entries per point.
inline std::pair<torch::Tensor, torch::Tensor> rational_quadratic_spline(const torch::Tensor& inputs, const torch::Tensor& unnormalized_widths,
                                                                         const torch::Tensor& unnormalized_heights,
                                                                         const torch::Tensor& unnormalized_derivatives, bool inverse,
                                                                         double left, double right, double bottom, double top,
                                                                         double min_bin_width, double min_bin_height, double min_derivative) {
  namespace F = torch::nn::functional;
  auto [cumwidths, widths] = edges_and_sizes(unnormalized_widths, min_bin_width, left, right);
  const auto derivatives = min_derivative + F::softplus(unnormalized_derivatives);
  auto [cumheights, heights] = edges_and_sizes(unnormalized_heights, min_bin_height, bottom, top);

  const auto bin = (inverse ? bin_index(cumheights, inputs) : bin_index(cumwidths, inputs)).unsqueeze(-1);
  const int64_t k = widths.size(-1);
  const auto input_cumwidths = pick(cumwidths, bin);
  const auto input_bin_widths = pick(widths, bin);
  const auto input_cumheights = pick(cumheights, bin);
  const auto delta = heights / widths;
  const auto input_delta = pick(delta, bin);
  const auto input_derivatives = pick(derivatives, bin);
  const auto input_derivatives_plus_one = pick(derivatives.narrow(-1, 1, k), bin);
  const auto input_heights = pick(heights, bin);
  const auto slope_sum = input_derivatives + input_derivatives_plus_one - 2 * input_delta;

  if (inverse) {
    const auto offset = inputs - input_cumheights;
    const auto a = offset * slope_sum + input_heights * (input_delta - input_derivatives);
    const auto b = input_heights * input_derivatives - offset * slope_sum;
    const auto c = -input_delta * offset;
    const auto discriminant = b.pow(2) - 4 * a * c;
    const auto root = (2 * c) / (-b - torch::sqrt(discriminant));
    auto outputs = root * input_bin_widths + input_cumwidths;
    const auto theta_one_minus_theta = root * (1 - root);
    const auto denominator = input_delta + slope_sum * theta_one_minus_theta;
    const auto derivative_numerator = input_delta.pow(2) * (input_derivatives_plus_one * root.pow(2) +
                                                            2 * input_delta * theta_one_minus_theta +
                                                            input_derivatives * (1 - root).pow(2));
    auto logabsdet = torch::log(derivative_numerator) - 2 * torch::log(denominator);
    return {std::move(outputs), -logabsdet};
  }
  const auto theta = (inputs - input_cumwidths) / input_bin_widths;
  const auto theta_one_minus_theta = theta * (1 - theta);
  const auto numerator = input_heights * (input_delta * theta.pow(2) + input_derivatives * theta_one_minus_theta);
  const auto denominator = input_delta + slope_sum * theta_one_minus_theta;
  auto outputs = input_cumheights + numerator / denominator;
  const auto derivative_numerator = input_delta.pow(2) * (input_derivatives_plus_one * theta.pow(2) +
                                                          2 * input_delta * theta_one_minus_theta +
                                                          input_derivatives * (1 - theta).pow(2));
  auto logabsdet = torch::log(derivative_numerator) - 2 * torch::log(denominator);
  return {std::move(outputs), std::move(logabsdet)};
}

}  // namespace spline_detail

/// The rational-quadratic spline with linear tails: `inputs [...]`, `unnormalized_widths` and
/// `unnormalized_heights [..., K]`, `unnormalized_derivatives [..., K − 1]` (the interior knots).
/// Returns `(outputs, logabsdet)`, both shaped like `inputs`; with `inverse`, the inverse map and its
/// log|det| (the negated forward one at the output). Inputs outside `[-tail_bound, tail_bound]` pass
/// through with log|det| 0.
///
/// Unlike the reference, which runs the spline on the selected inside points only (and fails when
/// there are none), every point goes through the spline — the outside ones at 0, a point of the
/// domain, so nothing non-finite reaches the gradient — and `where` keeps the identity for them: the
/// same values and gradients, without a host synchronisation.
inline std::pair<torch::Tensor, torch::Tensor> piecewise_rational_quadratic_transform(const torch::Tensor& inputs,
                                                                                      const torch::Tensor& unnormalized_widths,
                                                                                      const torch::Tensor& unnormalized_heights,
                                                                                      const torch::Tensor& unnormalized_derivatives,
                                                                                      const SplineOptions& options = {}) {
  const int64_t k = unnormalized_widths.dim() > 0 ? unnormalized_widths.size(-1) : 0;
  auto leading_matches = [&](const torch::Tensor& t) {
    if (t.dim() != inputs.dim() + 1) return false;
    for (const auto d : c10::irange(inputs.dim())) {
      if (t.size(d) != inputs.size(d)) return false;
    }
    return true;
  };
  TORCH_CHECK(k >= 1 && leading_matches(unnormalized_widths) && leading_matches(unnormalized_heights) &&
                  leading_matches(unnormalized_derivatives) && unnormalized_heights.size(-1) == k &&
                  unnormalized_derivatives.size(-1) == k - 1,
              "piecewise_rational_quadratic_transform: inputs [...], widths and heights [..., K], derivatives [..., K - 1] "
              "expected, got inputs ",
              inputs.sizes(), ", widths ", unnormalized_widths.sizes(), ", heights ", unnormalized_heights.sizes(), ", derivatives ",
              unnormalized_derivatives.sizes());
  CHORD_CHECK(options.tail_bound() > 0, "piecewise_rational_quadratic_transform: tail_bound must be positive, got ",
              options.tail_bound());
  CHORD_CHECK(options.min_bin_width() * static_cast<double>(k) <= 1.0, "piecewise_rational_quadratic_transform: minimal bin width ",
              options.min_bin_width(), " too large for ", k, " bins");
  CHORD_CHECK(options.min_bin_height() * static_cast<double>(k) <= 1.0, "piecewise_rational_quadratic_transform: minimal bin height ",
              options.min_bin_height(), " too large for ", k, " bins");

  const double bound = options.tail_bound();
  // Linear tails: slope 1 at both ends, so softplus(constant) + min_derivative = 1.
  const double constant = std::log(std::exp(1 - options.min_derivative()) - 1);
  auto derivatives = torch::constant_pad_nd(unnormalized_derivatives, {1, 1}, constant);

  const auto inside = (inputs >= -bound) & (inputs <= bound);
  const auto safe_inputs = torch::where(inside, inputs, torch::zeros_like(inputs));
  auto [outputs, logabsdet] = spline_detail::rational_quadratic_spline(
      safe_inputs, unnormalized_widths, unnormalized_heights, derivatives, options.inverse(), -bound, bound, -bound, bound,
      options.min_bin_width(), options.min_bin_height(), options.min_derivative());
  return {torch::where(inside, outputs, inputs), torch::where(inside, logabsdet, torch::zeros_like(logabsdet))};
}

}  // namespace chord::nn::vits
