#pragma once
/// @file
/// Which rows of a batch have which condition signals dropped: the message from the guidance family
/// (which decides) to the conditioning family (which applies it).
///
/// A condition signal is a type (`struct Text { static constexpr std::string_view name = "text"; }`),
/// so a misspelt signal is a compile error rather than a lookup that silently finds nothing. The
/// systems' signals are declared beside their policies (`policies/signals.hpp`); conditioning policies
/// list what they provide and guidance policies what they drop as `Signals<...>`, and the models check
/// the second is a subset of the first at compile time.

#include <torch/types.h>

#include <concepts>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace chord {

/// A condition signal: a type naming itself.
template <class S>
concept ConditionSignal = requires {
  { S::name } -> std::convertible_to<std::string_view>;
};

/// A compile-time list of condition signals.
template <ConditionSignal... S>
struct Signals {
  static constexpr std::size_t size = sizeof...(S);
  template <class T>
  static constexpr bool contains = (std::same_as<T, S> || ...);
  /// Every signal of this list is in `Other`.
  template <class Other>
  static constexpr bool within = (Other::template contains<S> && ...);
};

namespace detail {
template <class T>
struct is_signals : std::false_type {};
template <class... S>
struct is_signals<Signals<S...>> : std::true_type {};

template <class List, bool Add, class S>
struct append_signal {
  using type = List;
};
template <class... S, class T>
struct append_signal<Signals<S...>, true, T> {
  using type = Signals<S..., T>;
};
}  // namespace detail

/// `Signals<...>`.
template <class T>
concept SignalList = detail::is_signals<T>::value;

/// `List` with `S` appended when `Add`.
template <class List, class S, bool Add = true>
using append_signal_t = typename detail::append_signal<List, Add, S>::type;

/// Per-signal, per-row drop flags: `rows<S>()` is bool `[B]`, all false for a signal nobody set.
class ConditionDrop {
 public:
  explicit ConditionDrop(int64_t batch = 0) : batch_(batch) {}

  int64_t batch() const noexcept { return batch_; }

  /// Drops signal `S` on the rows where `rows [B]` is true.
  template <ConditionSignal S>
  ConditionDrop& set(const torch::Tensor& rows) {
    return set_named(S::name, rows);
  }

  /// Drops `S` on every row (or none).
  template <ConditionSignal S>
  ConditionDrop& set_all(bool dropped) {
    return set_named(S::name, torch::full({batch_}, dropped, torch::kBool));
  }

  /// bool `[B]` on `device`.
  template <ConditionSignal S>
  torch::Tensor rows(c10::Device device = c10::kCPU) const {
    return rows_named(S::name, device);
  }

  template <ConditionSignal S>
  bool any() const {
    auto found = rows_.find(std::string(S::name));
    return found != rows_.end() && found->second.any().item<bool>();
  }

  /// The drops of several row groups one after another (how guidance branches share a batch).
  static ConditionDrop concat(const std::vector<ConditionDrop>& parts) {
    int64_t total = 0;
    std::map<std::string, bool> names;
    for (const auto& p : parts) {
      total += p.batch_;
      for (const auto& [name, rows] : p.rows_) names[name] = true;
    }
    ConditionDrop out(total);
    for (const auto& [name, unused] : names) {
      std::vector<torch::Tensor> pieces;
      for (const auto& p : parts) pieces.push_back(p.rows_named(name, c10::kCPU));
      out.set_named(name, torch::cat(pieces));
    }
    return out;
  }

 private:
  ConditionDrop& set_named(std::string_view signal, const torch::Tensor& rows) {
    TORCH_CHECK(rows.dim() == 1 && rows.size(0) == batch_, "ConditionDrop: rows [", batch_, "] expected for '",
                signal, "', got ", rows.sizes());
    rows_[std::string(signal)] = rows.to(torch::kBool);
    return *this;
  }

  torch::Tensor rows_named(std::string_view signal, c10::Device device) const {
    auto found = rows_.find(std::string(signal));
    return found == rows_.end() ? torch::zeros({batch_}, torch::TensorOptions(torch::kBool).device(device))
                                : found->second.to(device);
  }

  int64_t batch_;
  std::map<std::string, torch::Tensor> rows_;
};

}  // namespace chord
