#pragma once
/// @file
/// AdamW through ATen's fused kernel (`at::_fused_adamw_`, what `torch.optim.AdamW(fused=True)` runs).
///
/// torch::optim::AdamW updates each parameter with a sequence of element-wise operations (decay, two
/// moment updates, a square root, a division), each a pass over the parameter's memory; the fused
/// kernel makes one pass. Same options and the same per-parameter state (AdamWParamState: step,
/// exp_avg, exp_avg_sq, max_exp_avg_sq), so checkpoints of either load into the other. The results
/// agree to float rounding, not bit for bit (the kernel orders the arithmetic differently), which is
/// why it is an option (`TrainerOptions::fused_adamw`, the programs' `--fused-adamw`) and the default
/// stays the loop the Python references run.

#include "chord/core/error.hpp"

#include <ATen/ops/_fused_adamw.h>
#include <torch/optim/adamw.h>

#include <memory>
#include <vector>

namespace chord::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  /// One step: per parameter group, the parameters with a gradient, batched by device, dtype and step
  /// count (the kernel takes one step per parameter) into one fused call each.
  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
      std::vector<Batch> batches;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        CHORD_CHECK(!p.grad().is_sparse(), "FusedAdamW: sparse gradients are not supported");
        CHORD_CHECK(p.is_contiguous(), "FusedAdamW: parameter of shape ", p.sizes(),
                    " is not contiguous (the fused kernel walks raw memory); use torch::optim::AdamW");
        auto& state = state_of(p, options.amsgrad());
        state.step(state.step() + 1);
        batch_for(batches, p, state.step()).add(p, state, options.amsgrad());
      }
      const auto [beta1, beta2] = options.betas();
      for (auto& batch : batches) {
        const auto step = torch::full({}, static_cast<double>(batch.step), batch.params.front().options().dtype(torch::kFloat32));
        const std::vector<torch::Tensor> steps(batch.params.size(), step);
        at::_fused_adamw_(batch.params, batch.grads, batch.exp_avgs, batch.exp_avg_sqs, batch.max_exp_avg_sqs, steps,
                          options.lr(), beta1, beta2, options.weight_decay(), options.eps(), options.amsgrad(),
                          /*maximize=*/false);
      }
    }
    return loss;
  }

 private:
  struct Batch {
    c10::Device device = c10::kCPU;
    c10::ScalarType dtype = c10::kFloat;
    int64_t step = 0;
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs;

    void add(const torch::Tensor& p, torch::optim::AdamWParamState& state, bool amsgrad) {
      params.push_back(p);
      grads.push_back(p.grad().contiguous());
      exp_avgs.push_back(state.exp_avg());
      exp_avg_sqs.push_back(state.exp_avg_sq());
      if (amsgrad) max_exp_avg_sqs.push_back(state.max_exp_avg_sq());
    }
  };

  static Batch& batch_for(std::vector<Batch>& batches, const torch::Tensor& p, int64_t step) {
    for (auto& batch : batches) {
      if (batch.device == p.device() && batch.dtype == p.scalar_type() && batch.step == step) return batch;
    }
    batches.push_back(Batch{p.device(), p.scalar_type(), step, {}, {}, {}, {}, {}});
    return batches.back();
  }

  /// The parameter's state, created as torch::optim::AdamW creates it (zeros like the parameter).
  torch::optim::AdamWParamState& state_of(const torch::Tensor& p, bool amsgrad) {
    auto& slot = state_[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto state = std::make_unique<torch::optim::AdamWParamState>();
      state->step(0);
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      if (amsgrad) state->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(state);
    }
    return static_cast<torch::optim::AdamWParamState&>(*slot);
  }
};

/// `optimizer` as a FusedAdamW when it is a plain torch::optim::AdamW (the same parameter groups,
/// options and any state it already has); any other optimiser is returned as it is.
inline std::shared_ptr<torch::optim::Optimizer> fused_if_adamw(std::shared_ptr<torch::optim::Optimizer> optimizer) {
  auto* adamw = dynamic_cast<torch::optim::AdamW*>(optimizer.get());
  if (adamw == nullptr || dynamic_cast<FusedAdamW*>(adamw) != nullptr) return optimizer;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& group : adamw->param_groups()) groups.emplace_back(group.params(), group.options().clone());
  auto fused = std::make_shared<FusedAdamW>(groups, static_cast<const torch::optim::AdamWOptions&>(adamw->defaults()));
  for (const auto& [key, state] : adamw->state()) fused->state()[key] = state->clone();
  return fused;
}

}  // namespace chord::train
