#pragma once
/// @file
/// A minimal RGB raster with lines, rectangles and text (stb_easy_font), saved as PNG
/// (stb_image_write). The drawing layer under chord's spectrogram and curve pictures.

#include "chord/core/error.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace chord::viz {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Color kWhite{255, 255, 255};
inline constexpr Color kBlack{0, 0, 0};
inline constexpr Color kGrey{200, 200, 200};
inline constexpr Color kDarkGrey{90, 90, 90};

/// A distinct colour for series `index` (matplotlib's "tab10" order).
inline Color series_color(size_t index) {
  static constexpr std::array<Color, 10> palette{{{31, 119, 180},  {255, 127, 14}, {44, 160, 44},
                                                  {214, 39, 40},   {148, 103, 189}, {140, 86, 75},
                                                  {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                                  {23, 190, 207}}};
  return palette[index % palette.size()];
}

class Canvas {
 public:
  Canvas(int width, int height, Color background = kWhite) : width_(width), height_(height) {
    CHORD_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, "Canvas: bad size ", width, "x",
                height);
    pixels_.resize(static_cast<size_t>(width) * height * 3);
    fill_rect(0, 0, width, height, background);
  }

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }

  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    auto* p = &pixels_[(static_cast<size_t>(y) * width_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }

  void fill_rect(int x0, int y0, int w, int h, Color c) {
    for (int y = std::max(0, y0); y < std::min(height_, y0 + h); ++y) {
      for (int x = std::max(0, x0); x < std::min(width_, x0 + w); ++x) set(x, y, c);
    }
  }

  void draw_rect(int x0, int y0, int w, int h, Color c) {
    draw_line(x0, y0, x0 + w - 1, y0, c);
    draw_line(x0, y0 + h - 1, x0 + w - 1, y0 + h - 1, c);
    draw_line(x0, y0, x0, y0 + h - 1, c);
    draw_line(x0 + w - 1, y0, x0 + w - 1, y0 + h - 1, c);
  }

  /// A line of the given thickness (Bresenham, square pen).
  void draw_line(int x0, int y0, int x1, int y1, Color c, int thickness = 1) {
    const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    const int half = thickness / 2;
    while (true) {
      fill_rect(x0 - half, y0 - half, thickness, thickness, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * error;
      if (e2 >= dy) {
        error += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        error += dx;
        y0 += sy;
      }
    }
  }

  /// `text` as the font can draw it: printable ASCII and newlines as they are, anything else (control
  /// bytes, each non-ASCII UTF-8 character) as one '?'. stb_easy_font indexes its glyph table by
  /// `byte − 32`, so such bytes (a user's CJK text in a plot title) would read outside it.
  static std::string drawable(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const unsigned char c : text) {
      if (c == '\n' || (c >= 32 && c < 128)) {
        out += static_cast<char>(c);
      } else if ((c & 0xC0) != 0x80) {  // a UTF-8 continuation byte belongs to the '?' already written
        out += '?';
      }
    }
    return out;
  }

  /// Width in pixels of `text` drawn at `scale`.
  static int text_width(const std::string& text, int scale = 1) {
    std::string printable = drawable(text);
    return stb_easy_font_width(printable.data()) * scale;
  }
  static int text_height(int scale = 1) { return 8 * scale; }

  /// Draws `text` (see drawable()) with its top-left corner at (x, y).
  void draw_text(int x, int y, const std::string& text, Color c, int scale = 1) {
    std::string printable = drawable(text);
    std::vector<char> buffer(printable.size() * 300 + 1024);
    const int quads = stb_easy_font_print(0, 0, printable.data(), nullptr, buffer.data(),
                                          static_cast<int>(buffer.size()));
    const float* vertices = reinterpret_cast<const float*>(buffer.data());
    for (int q = 0; q < quads; ++q) {
      const float* v = vertices + q * 4 * 4;  // 4 vertices × (x, y, z, rgba packed in a float slot)
      const float qx0 = std::min(v[0], v[8]), qx1 = std::max(v[0], v[8]);
      const float qy0 = std::min(v[1], v[9]), qy1 = std::max(v[1], v[9]);
      fill_rect(x + static_cast<int>(qx0 * scale), y + static_cast<int>(qy0 * scale),
                static_cast<int>((qx1 - qx0) * scale), static_cast<int>((qy1 - qy0) * scale), c);
    }
  }

  void save_png(const std::filesystem::path& path) const {
    if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
    const int ok = stbi_write_png(path.c_str(), width_, height_, 3, pixels_.data(), width_ * 3);
    CHORD_CHECK(ok != 0, "cannot write PNG '", path.string(), "'");
  }

  const std::vector<uint8_t>& pixels() const noexcept { return pixels_; }

 private:
  int width_;
  int height_;
  std::vector<uint8_t> pixels_;
};

}  // namespace chord::viz
