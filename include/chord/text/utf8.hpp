#pragma once
/// @file
/// UTF-8 splitting: text → code points (what iterating a Python `str` yields).

#include "chord/core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace chord::text {

/// Splits valid UTF-8 into one string per code point; invalid input is a chord::Error naming the
/// byte offset.
inline std::vector<std::string> utf8_characters(std::string_view text) {
  std::vector<std::string> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    if (lead < 0x80) length = 1;
    else if ((lead >> 5) == 0x6) length = 2;
    else if ((lead >> 4) == 0xE) length = 3;
    else if ((lead >> 3) == 0x1E) length = 4;
    CHORD_CHECK(length > 0 && i + length <= text.size(), "invalid UTF-8 at byte ", i, " of \"", text, "\"");
    for (size_t k = 1; k < length; ++k) {
      CHORD_CHECK((static_cast<unsigned char>(text[i + k]) >> 6) == 0x2, "invalid UTF-8 at byte ", i + k, " of \"",
                  text, "\"");
    }
    out.emplace_back(text.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace chord::text
