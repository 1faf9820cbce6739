#pragma once
/// @file
/// `dependent_false<T...>`: the P1830 idiom for a primary template that must never be instantiated.

namespace chord {

/// Always false, but only once the template arguments are known, so a
/// `static_assert(dependent_false<P>, "what; why; how to fix")` fires only when that template is used.
template <class... T>
inline constexpr bool dependent_false = false;

}  // namespace chord
