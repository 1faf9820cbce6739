#pragma once
/// @file
/// Pieces shared by the six policy-family concepts.

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace chord {

/// A policy opts into family `Tag` with `using policy_category = Tag;` (or a tag derived from it), so
/// a look-alike type is never taken for a policy by accident.
template <class P, class Tag>
concept OptsInto = requires { typename P::policy_category; } && std::derived_from<typename P::policy_category, Tag>;

/// Policies are cheap values holding hyperparameters: copyable and default-constructible.
template <class P>
concept PolicyValue = std::copy_constructible<P> && std::default_initializable<P>;

/// Every policy names itself (for logs, benchmark labels and error messages).
template <class P>
concept NamedPolicy = requires {
  { P::name } -> std::convertible_to<std::string_view>;
};

namespace detail {
template <class List>
constexpr bool contains_name(const List& list, std::string_view name) {
  for (std::string_view entry : list) {
    if (entry == name) return true;
  }
  return false;
}
/// Every name of `subset` appears in `set`.
template <class Subset, class Set>
constexpr bool names_subset(const Subset& subset, const Set& set) {
  for (std::string_view entry : subset) {
    if (!contains_name(set, entry)) return false;
  }
  return true;
}
}  // namespace detail

}  // namespace chord
