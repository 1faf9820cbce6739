#pragma once
/// @file
/// Numbers read from outside text (HTTP headers, file metadata, file names): the whole text must be
/// the number and the number must fit. `std::stoll` and friends throw std::out_of_range or
/// std::invalid_argument past the callers' error handling, accept leading blanks and trailing junk,
/// and `std::stoull("-1")` wraps to 2^64 - 1; these return nullopt instead and callers name the problem.

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace chord {

/// The value of `text` when all of it is one number of type T (decimal; floating point in the
/// general format), else nullopt. A leading '+' or blank is not accepted; '-' only for signed types.
template <class T>
  requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
std::optional<T> parse_number(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  if constexpr (std::is_unsigned_v<T>) {
    if (text.front() == '-') return std::nullopt;  // from_chars refuses it too; said here for the reader
  }
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace chord
