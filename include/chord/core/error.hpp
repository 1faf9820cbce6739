#pragma once
/// @file
/// chord's error type for bad input it can name (files, formats, configurations, arguments).
/// Tensor shape errors use TORCH_CHECK with shapes in the problem's notation instead.

#include <c10/util/StringUtil.h>

#include <stdexcept>
#include <string>

namespace chord {

/// Thrown for input chord can describe: a missing or corrupt file, a bad config value, a
/// missing state-dict key. The message names the file or value and the problem, nothing else.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace chord

/// Throws chord::Error with the concatenated message when `cond` is false.
#define CHORD_CHECK(cond, ...)                                  \
  do {                                                          \
    if (!(cond)) [[unlikely]] {                                 \
      throw ::chord::Error(::c10::str(__VA_ARGS__));            \
    }                                                           \
  } while (false)

/// Throws chord::Error with the concatenated message.
#define CHORD_FAIL(...) throw ::chord::Error(::c10::str(__VA_ARGS__))
