#pragma once
/// @file
/// Programs read manifests through this: every item is checked before the long work starts
/// (data::read_checked_manifest), every bad item is listed at once with its line, and the run either
/// stops there or, with `--skip-bad-items`, continues without them (counted and listed).

#include "chord/apps/cli.hpp"
#include "chord/data/checked_manifest.hpp"

#include <CLI/CLI.hpp>

namespace chord::apps {

/// `--skip-bad-items`: the same flag wherever a program reads a manifest.
inline CLI::Option* add_skip_bad_items_flag(CLI::App& app, bool& skip) {
  return app.add_flag("--skip-bad-items", skip,
                      "Continue without manifest items whose audio is missing, unreadable, empty, too short or long, or "
                      "holds NaN/Inf (they are listed); by default such items stop the program before any work");
}

/// Reads and checks a manifest; returns the items to use (data/checked_manifest.hpp).
using data::read_checked_manifest;

}  // namespace chord::apps
