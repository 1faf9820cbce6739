#pragma once
/// @file
/// `TensorMap`: named tensors in a deterministic (sorted) order, the exchange type of chord's I/O.

#include <torch/types.h>

#include <map>
#include <string>

namespace chord::io {

/// Named tensors, sorted by name. What safetensors files, state dicts and fixtures are read into.
using TensorMap = std::map<std::string, torch::Tensor>;

}  // namespace chord::io
