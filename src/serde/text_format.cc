#include "serde/text_format.h"

#include <cmath>

namespace weir::serde {

void AppendJavaDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (value == 0.0) {
    out.append(std::signbit(value) ? "-0.0" : "0.0");
    return;
  }
  char buffer[64];
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    // Shortest round-trip digits in fixed notation, always with a fraction part.
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
    std::string_view text(buffer, end - buffer);
    out.append(text);
    if (text.find('.') == std::string_view::npos) out.append(".0");
    return;
  }
  // Java's computerized scientific notation: d.dddE[-]n, with at least one fraction digit.
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view text(buffer, end - buffer);
  size_t e = text.find('e');
  std::string_view mantissa = text.substr(0, e);
  std::string_view exponent = text.substr(e + 1);
  out.append(mantissa);
  if (mantissa.find('.') == std::string_view::npos) out.append(".0");
  out.push_back('E');
  if (!exponent.empty() && exponent.front() == '+') exponent.remove_prefix(1);
  bool negative = !exponent.empty() && exponent.front() == '-';
  if (negative) exponent.remove_prefix(1);
  while (exponent.size() > 1 && exponent.front() == '0') exponent.remove_prefix(1);
  if (negative) out.push_back('-');
  out.append(exponent);
}

}  // namespace weir::serde
