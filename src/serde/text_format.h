// AppendText(out, value): a record's text as Flink prints it (Java's toString), for the print and
// text sinks: strings as-is, integers in decimal, booleans as true/false, doubles as Java's
// Double.toString ("1.0", "0.001", "1.0E7"), pairs and tuples as Flink's Tuple ("(a,b)").
// A user type prints through fmt::formatter<T> when it has one.
//
// Appends to a caller-owned string that is reused across records, so formatting allocates only
// while the string grows.
#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "serde/types.h"

namespace weir::serde {

template <typename T>
void AppendText(std::string& out, const T& value);

namespace internal {
template <typename Tuple, size_t... I>
void AppendTuple(std::string& out, const Tuple& tuple, std::index_sequence<I...>) {
  out.push_back('(');
  ((I == 0 ? void() : out.push_back(','), AppendText(out, std::get<I>(tuple))), ...);
  out.push_back(')');
}
template <typename T>
struct IsPairOrTuple : std::false_type {};
template <typename A, typename B>
struct IsPairOrTuple<std::pair<A, B>> : std::true_type {};
template <typename... Ts>
struct IsPairOrTuple<std::tuple<Ts...>> : std::true_type {};
}  // namespace internal

template <typename T>
void AppendText(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, end);
  } else if constexpr (std::is_floating_point_v<T>) {
    AppendDouble(out, static_cast<double>(value));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out.append(std::string_view(value));
  } else if constexpr (internal::IsPairOrTuple<T>::value) {
    internal::AppendTuple(out, value, std::make_index_sequence<std::tuple_size_v<T>>());
  } else {
    static_assert(fmt::is_formattable<T>::value,
                  "to print this type, give it a fmt::formatter<T> specialization");
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}

}  // namespace weir::serde
