#pragma once
/// @file
/// Whether a JSON value read from a user's file converts to a C++ type exactly. nlohmann's `get<T>()`
/// converts a JSON float to an integer with a cast, which is undefined behaviour when the value does not
/// fit (`1e50` as `long`: found by fuzzing the config and tokenizer readers); check first, then get.

#include "chord/core/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace chord::io {

namespace detail {
template <class T>
struct VectorElement {
  using type = void;
};
template <class U, class A>
struct VectorElement<std::vector<U, A>> {
  using type = U;
};
}  // namespace detail

/// True when `value` holds a `T`: a JSON boolean for bool, an integer within range for integers (a
/// whole number written as a float too), a number for floating point, an array of such for `std::vector`; other types are left to nlohmann's own
/// type checks (which throw).
template <class T>
bool json_holds(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value.is_boolean();
  } else if constexpr (std::is_integral_v<T>) {
    if (value.is_number_unsigned()) return value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    if (value.is_number_float()) {  // a whole number written as 16.0 converts exactly; 1e50 or 2.5 does not
      const double v = value.get<double>();
      return std::isfinite(v) && std::trunc(v) == v && v >= static_cast<double>(std::numeric_limits<T>::min()) &&
             v < std::ldexp(1.0, std::numeric_limits<T>::digits);
    }
    if (!value.is_number_integer()) return false;
    const auto v = value.get<int64_t>();
    return v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           static_cast<uint64_t>(std::max<int64_t>(v, 0)) <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  } else if constexpr (std::is_floating_point_v<T>) {
    return value.is_number();
  } else if constexpr (!std::is_void_v<typename detail::VectorElement<T>::type>) {
    if (!value.is_array()) return false;
    for (const auto& element : value) {
      if (!json_holds<typename detail::VectorElement<T>::type>(element)) return false;
    }
    return true;
  } else {
    return true;
  }
}

/// `object[key]` as a T, checked by json_holds first; a missing key is nlohmann's `out_of_range` (callers
/// that catch JSON errors report it with their file), a value that does not hold a T is a chord::Error
/// naming `source`, the key and the value.
template <class T>
T json_checked(const nlohmann::json& object, const std::string& key, const std::string& source) {
  const auto& value = object.at(key);
  CHORD_CHECK(json_holds<T>(value), source, ": ", key, " = ", value.dump(), " has the wrong type or is out of range");
  return value.get<T>();
}

/// json_checked, or `fallback` when `object` has no `key` (or is not an object).
template <class T>
T json_checked_or(const nlohmann::json& object, const std::string& key, T fallback, const std::string& source) {
  if (!object.is_object() || !object.contains(key)) return fallback;
  return json_checked<T>(object, key, source);
}

}  // namespace chord::io
