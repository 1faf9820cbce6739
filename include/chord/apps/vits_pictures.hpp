#pragma once
/// @file
/// How Bert-VITS2's programs draw a phone-to-frame alignment (the trainer's evaluation and inference):
/// one look for both, so that pictures from either compare at a glance.

#include "chord/viz/plots.hpp"

#include <string>

namespace chord::apps {

/// An alignment map: probabilities in [0, 1] on viridis, phones (blanks included) up, frames across,
/// each cell drawn larger than a mel's (a few dozen phones and frames).
inline viz::SpectrogramOptions alignment_picture_options() {
  viz::SpectrogramOptions alignment;
  alignment.colormap = viz::Colormap::viridis;
  alignment.y_label = "phone (blanks included)";
  alignment.vmin = 0.0;
  alignment.vmax = 1.0;
  alignment.pixels_per_frame = 4;
  alignment.pixels_per_bin = 8;
  return alignment;
}

}  // namespace chord::apps
