#pragma once
/// @file
/// Pictures for people who would rather look than read: spectrogram PNGs (one or several panels
/// sharing a colour scale) and line plots of training curves.

#include "chord/viz/canvas.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace chord::viz {

enum class Colormap { magma, viridis, gray };

/// Colour for `t` in [0, 1]. magma/viridis use 6th-order polynomial fits of matplotlib's maps.
inline Color colormap(double t, Colormap map = Colormap::magma) {
  t = std::clamp(t, 0.0, 1.0);
  if (map == Colormap::gray) {
    const auto v = static_cast<uint8_t>(std::lround(255.0 * t));
    return {v, v, v};
  }
  static constexpr double magma[7][3] = {
      {-0.002136485053939582, -0.000749655052795221, -0.005386127855323933},
      {0.2516605407371642, 0.6775232436837668, 2.494026599312351},
      {8.353717279216625, -3.577719514958484, 0.3144679030132573},
      {-27.66873308576866, 14.26473078096533, -13.64921318813922},
      {52.17613981234068, -27.94360607168351, 12.94416944238394},
      {-50.76852536473588, 29.04658282127291, 4.23415299384598},
      {18.65570506591883, -11.48977351997711, -5.601961508734096}};
  static constexpr double viridis[7][3] = {
      {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
      {0.1050930431085774, 1.404613529898575, 1.384590162594685},
      {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
      {-4.634230498983486, -5.799100973351585, -19.33244095627987},
      {6.228269936347081, 14.17993336680509, 56.69055260068105},
      {4.776384997670288, -13.74514537774601, -65.35303263337234},
      {-5.435455855934631, 4.645852612178535, 26.3124352495832}};
  const auto& c = map == Colormap::magma ? magma : viridis;
  uint8_t rgb[3];
  for (int k = 0; k < 3; ++k) {
    double v = c[6][k];
    for (int i = 5; i >= 0; --i) v = v * t + c[i][k];  // Horner
    rgb[k] = static_cast<uint8_t>(std::lround(255.0 * std::clamp(v, 0.0, 1.0)));
  }
  return {rgb[0], rgb[1], rgb[2]};
}

/// One spectrogram panel: `values [bins, frames]`, bin 0 drawn at the bottom.
struct SpectrogramPanel {
  std::string title;
  torch::Tensor values;
};

struct SpectrogramOptions {
  Colormap colormap = Colormap::magma;
  /// Colour range; by default the 1st and 99.5th percentiles over all panels.
  std::optional<double> vmin, vmax;
  int pixels_per_frame = 2;
  int pixels_per_bin = 3;
  std::string y_label = "mel bin";
  std::string x_label = "frame";
  /// Size caps of the plot area in pixels. Longer audio is drawn at one pixel per frame and, past
  /// the cap, with adjacent frames averaged (the x axis keeps the original frame numbers); likewise
  /// for bins, over all panels together. A picture never fails because the audio was long.
  int max_plot_width = 4000;
  int max_plot_height = 4000;
};

namespace detail {
/// Averages groups of `frames_per_pixel` frames and `bins_per_pixel` bins (the last group may be
/// shorter); non-finite values are left out of the averages (a group of them stays NaN).
inline torch::Tensor pool_spectrogram(const torch::Tensor& values, int64_t bins_per_pixel, int64_t frames_per_pixel) {
  if (bins_per_pixel == 1 && frames_per_pixel == 1) return values;
  const auto finite = torch::isfinite(values);
  auto sum = torch::where(finite, values, torch::zeros_like(values)).unsqueeze(0).unsqueeze(0);
  auto count = finite.to(values.scalar_type()).unsqueeze(0).unsqueeze(0);
  const std::vector<int64_t> kernel{bins_per_pixel, frames_per_pixel};
  auto pooled = [&](const torch::Tensor& x) {
    return torch::avg_pool2d(x, kernel, kernel, /*padding=*/{0, 0}, /*ceil_mode=*/true, /*count_include_pad=*/false);
  };
  return (pooled(sum) / pooled(count)).squeeze(0).squeeze(0).contiguous();  // 0 / 0 = NaN for all-bad groups
}
}  // namespace detail

/// Writes the panels stacked vertically with one shared colour scale and a colour bar.
inline void save_spectrograms_png(const std::filesystem::path& path, const std::vector<SpectrogramPanel>& panels,
                                  const SpectrogramOptions& options = {}) {
  CHORD_CHECK(!panels.empty(), "save_spectrograms_png: no panels");
  CHORD_CHECK(options.max_plot_width > 0 && options.max_plot_height > 0, "save_spectrograms_png: the size caps must be > 0");
  std::vector<torch::Tensor> values;
  std::vector<int64_t> panel_bins;
  int64_t max_frames = 0, all_bins = 0;
  for (const auto& panel : panels) {
    TORCH_CHECK(panel.values.dim() == 2, "save_spectrograms_png: panel '", panel.title,
                "' must be [bins, frames], got ", panel.values.sizes());
    values.push_back(panel.values.detach().to(torch::kCPU, torch::kFloat32).contiguous());
    max_frames = std::max(max_frames, panel.values.size(1));
    all_bins += panel.values.size(0);
    panel_bins.push_back(panel.values.size(0));
  }
  // Fit the caps: first fewer pixels per frame (bin), then several frames (bins) per pixel.
  auto fit = [](int64_t count, int pixels_per_item, int cap, int64_t& items_per_pixel) {
    items_per_pixel = 1;
    if (count * pixels_per_item <= cap) return pixels_per_item;
    items_per_pixel = (count + cap - 1) / cap;
    return 1;
  };
  int64_t frames_per_pixel = 1, bins_per_pixel = 1;
  const int pixels_per_frame = fit(max_frames, options.pixels_per_frame, options.max_plot_width, frames_per_pixel);
  const int pixels_per_bin = fit(all_bins, options.pixels_per_bin, options.max_plot_height, bins_per_pixel);
  for (auto& v : values) v = detail::pool_spectrogram(v, bins_per_pixel, frames_per_pixel);
  max_frames = (max_frames + frames_per_pixel - 1) / frames_per_pixel;
  auto all = torch::cat([&] {
    std::vector<torch::Tensor> flat;
    for (const auto& v : values) flat.push_back(v.flatten());
    return flat;
  }());
  all = all.masked_select(torch::isfinite(all));
  double low = options.vmin.value_or(all.numel() ? torch::quantile(all, 0.01).item<double>() : 0.0);
  double high = options.vmax.value_or(all.numel() ? torch::quantile(all, 0.995).item<double>() : 1.0);
  if (!(high > low)) high = low + 1.0;

  const int margin_left = 50, margin_right = 70, title_height = 22, axis_height = 26;
  int total_height = 0;
  for (const auto& v : values) total_height += title_height + static_cast<int>(v.size(0)) * pixels_per_bin;
  total_height += axis_height;
  const int plot_width = static_cast<int>(max_frames) * pixels_per_frame;
  Canvas canvas(margin_left + plot_width + margin_right, total_height);

  int y = 0;
  for (size_t p = 0; p < values.size(); ++p) {
    const auto& v = values[p];
    canvas.draw_text(margin_left, y + 6, panels[p].title, kBlack, 2);
    y += title_height;
    const int bins = static_cast<int>(v.size(0)), frames = static_cast<int>(v.size(1));
    auto a = v.accessor<float, 2>();
    for (int b = 0; b < bins; ++b) {
      for (int f = 0; f < frames; ++f) {
        const double value = a[b][f];
        const Color c = std::isfinite(value) ? colormap((value - low) / (high - low), options.colormap) : kGrey;
        canvas.fill_rect(margin_left + f * pixels_per_frame, y + (bins - 1 - b) * pixels_per_bin,
                         pixels_per_frame, pixels_per_bin, c);
      }
    }
    canvas.draw_rect(margin_left - 1, y - 1, frames * pixels_per_frame + 2, bins * pixels_per_bin + 2,
                     kDarkGrey);
    canvas.draw_text(4, y, std::to_string(panel_bins[p] - 1), kBlack);
    canvas.draw_text(4, y + bins * pixels_per_bin - 8, "0", kBlack);
    y += bins * pixels_per_bin;
  }
  // x axis: frame ticks every ~100 pixels
  const int tick_every = std::max<int>(1, static_cast<int>(std::ceil(100.0 / pixels_per_frame / 50.0)) * 50);
  for (int f = 0; f < max_frames; f += tick_every) {
    const int x = margin_left + f * pixels_per_frame;
    canvas.draw_line(x, y, x, y + 4, kBlack);
    canvas.draw_text(x - 4, y + 6, std::to_string(f * frames_per_pixel), kBlack);
  }
  const std::string x_label =
      frames_per_pixel > 1 ? options.x_label + " (" + std::to_string(frames_per_pixel) + " per pixel, averaged)" : options.x_label;
  canvas.draw_text(std::max(0, margin_left + plot_width / 2 - 20), y + 16, x_label, kBlack);
  // colour bar
  const int bar_x = margin_left + plot_width + 12, bar_top = title_height, bar_height = total_height - title_height - axis_height;
  for (int i = 0; i < bar_height; ++i) {
    canvas.fill_rect(bar_x, bar_top + i, 14, 1, colormap(1.0 - static_cast<double>(i) / std::max(1, bar_height - 1), options.colormap));
  }
  char label[32];
  std::snprintf(label, sizeof label, "%.3g", high);
  canvas.draw_text(bar_x + 17, bar_top, label, kBlack);
  std::snprintf(label, sizeof label, "%.3g", low);
  canvas.draw_text(bar_x + 17, bar_top + bar_height - 8, label, kBlack);
  canvas.save_png(path);
}

/// Convenience for one spectrogram.
inline void save_spectrogram_png(const std::filesystem::path& path, const torch::Tensor& values,
                                 const std::string& title = "", const SpectrogramOptions& options = {}) {
  save_spectrograms_png(path, {{title, values}}, options);
}

/// One curve of a line plot.
struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

struct PlotOptions {
  std::string title;
  std::string x_label = "step";
  std::string y_label;
  bool log_y = false;
  int width = 900;
  int height = 520;
};

namespace detail {
/// "Nice" tick positions (1, 2, 5 × 10^k) covering [low, high].
inline std::vector<double> nice_ticks(double low, double high, int target = 6) {
  std::vector<double> ticks;
  if (!(high > low)) return {low};
  const double raw = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}
inline std::string format_tick(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}
}  // namespace detail

/// Writes a line plot of `series` (e.g. training and validation loss against step).
inline void save_curves_png(const std::filesystem::path& path, const std::vector<Series>& series,
                            const PlotOptions& options = {}) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const auto& s : series) {
    CHORD_CHECK(s.x.size() == s.y.size(), "save_curves_png: series '", s.name, "' has ", s.x.size(), " x and ",
                s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      double y = s.y[i];
      if (!std::isfinite(y) || (options.log_y && y <= 0.0)) continue;
      if (options.log_y) y = std::log10(y);
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  if (!(x_max > x_min)) x_max = x_min + 1;
  if (!(y_max > y_min)) y_max = y_min + (options.log_y ? 1.0 : std::max(1e-12, std::abs(y_min) * 0.1 + 1e-12));
  const double y_pad = (y_max - y_min) * 0.05;
  y_min -= y_pad;
  y_max += y_pad;

  Canvas canvas(options.width, options.height);
  const int left = 80, right = 20, top = 40, bottom = 60;
  const int plot_w = options.width - left - right, plot_h = options.height - top - bottom;
  auto to_px = [&](double x, double y) {
    return std::pair<int, int>{left + static_cast<int>(std::lround((x - x_min) / (x_max - x_min) * (plot_w - 1))),
                               top + plot_h - 1 - static_cast<int>(std::lround((y - y_min) / (y_max - y_min) * (plot_h - 1)))};
  };
  // grid and ticks
  for (double t : detail::nice_ticks(x_min, x_max)) {
    auto [px, py] = to_px(t, y_min);
    canvas.draw_line(px, top, px, top + plot_h - 1, Color{235, 235, 235});
    const auto text = detail::format_tick(t);
    canvas.draw_text(px - Canvas::text_width(text) / 2, top + plot_h + 6, text, kBlack);
  }
  std::vector<double> y_ticks;
  if (options.log_y) {
    for (double e = std::floor(y_min); e <= std::ceil(y_max); e += 1.0) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = e + std::log10(m);
        if (v >= y_min && v <= y_max) y_ticks.push_back(v);
      }
    }
  } else {
    y_ticks = detail::nice_ticks(y_min, y_max);
  }
  for (double t : y_ticks) {
    auto [px, py] = to_px(x_min, t);
    canvas.draw_line(left, py, left + plot_w - 1, py, Color{235, 235, 235});
    const auto text = detail::format_tick(options.log_y ? std::pow(10.0, t) : t);
    canvas.draw_text(left - 8 - Canvas::text_width(text), py - 4, text, kBlack);
  }
  canvas.draw_rect(left, top, plot_w, plot_h, kBlack);
  // curves
  for (size_t k = 0; k < series.size(); ++k) {
    const auto color = series_color(k);
    bool have_previous = false;
    std::pair<int, int> previous;
    for (size_t i = 0; i < series[k].x.size(); ++i) {
      double y = series[k].y[i];
      if (!std::isfinite(y) || (options.log_y && y <= 0.0)) {
        have_previous = false;
        continue;
      }
      const auto point = to_px(series[k].x[i], options.log_y ? std::log10(y) : y);
      if (have_previous) canvas.draw_line(previous.first, previous.second, point.first, point.second, color, 2);
      if (series[k].x.size() == 1) canvas.fill_rect(point.first - 2, point.second - 2, 5, 5, color);
      previous = point;
      have_previous = true;
    }
  }
  // labels and legend
  canvas.draw_text(left, 12, options.title, kBlack, 2);
  canvas.draw_text(left + plot_w / 2 - Canvas::text_width(options.x_label), options.height - 24, options.x_label, kBlack, 2);
  canvas.draw_text(6, top - 14, options.y_label + (options.log_y ? " (log)" : ""), kBlack);
  int legend_y = top + 8;
  for (size_t k = 0; k < series.size(); ++k) {
    const int legend_x = left + plot_w - 12 - Canvas::text_width(series[k].name, 2) - 24;
    canvas.fill_rect(legend_x, legend_y + 5, 18, 4, series_color(k));
    canvas.draw_text(legend_x + 24, legend_y, series[k].name, kBlack, 2);
    legend_y += 20;
  }
  canvas.save_png(path);
}

}  // namespace chord::viz
