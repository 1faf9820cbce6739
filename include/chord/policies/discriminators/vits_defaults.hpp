#pragma once
/// @file
/// The optimiser and schedule every VITS-family discriminator trains with (Bert-VITS2 train_ms.py,
/// reference/vits2.md §4.3): AdamW (betas 0.8 / 0.99, eps 1e-9, weight decay 0.01, PyTorch's default)
/// and ExponentialLR stepped once per epoch. Members inherit it; a member with other defaults
/// declares its own make_optimizer() and schedule().

#include "chord/train/schedulers.hpp"

#include <torch/optim/adamw.h>

#include <memory>
#include <vector>

namespace chord::disc {

struct VitsOptimiser {
  double learning_rate = 2e-4;
  double lr_decay = 0.99995;  ///< ExponentialLR gamma, per epoch

  std::shared_ptr<torch::optim::Optimizer> make_optimizer(std::vector<torch::Tensor> parameters) const {
    return std::make_shared<torch::optim::AdamW>(
        std::move(parameters), torch::optim::AdamWOptions(learning_rate).betas({0.8, 0.99}).eps(1e-9).weight_decay(0.01));
  }
  train::LrSchedule schedule() const { return train::exponential_per_epoch(learning_rate, lr_decay); }
};

}  // namespace chord::disc
