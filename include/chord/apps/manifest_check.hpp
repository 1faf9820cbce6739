#pragma once
/// @file
/// Programs read manifests through this: every item is checked before the long work starts
/// (data::check_manifest), every bad item is listed at once with its line, and the run either stops
/// there or, with `--skip-bad-items`, continues without them (counted and listed).

#include "chord/apps/cli.hpp"
#include "chord/data/validation.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace chord::apps {

/// `--skip-bad-items`: the same flag wherever a program reads a manifest.
inline CLI::Option* add_skip_bad_items_flag(CLI::App& app, bool& skip) {
  return app.add_flag("--skip-bad-items", skip,
                      "Continue without manifest items whose audio is missing, unreadable, empty, too short or long, or "
                      "holds NaN/Inf (they are listed); by default such items stop the program before any work");
}

/// Reads and checks a manifest; returns the items to use.
inline data::Manifest read_checked_manifest(const std::filesystem::path& path, const char* flag,
                                            const data::AudioRequirements& requirements, bool skip_bad,
                                            const std::string& program) {
  require_input_file(path, flag);
  const auto manifest = data::Manifest::read(path);
  CHORD_CHECK(!manifest.empty(), flag, " '", path.string(), "' lists no items");
  ProgressLine progress_line(program);
  auto progress = progress_line.task("checking " + path.filename().string(), "items");
  const bool show = manifest.size() >= 500;
  auto report = data::check_manifest(manifest, requirements, [&](size_t done, size_t total) {
    if (show) progress(static_cast<int64_t>(done), static_cast<int64_t>(total));
  });
  if (report.ok()) return manifest;
  std::cerr << "[" << program << "] " << report.problems.size() << " of " << manifest.size() << " items of " << flag << " '"
            << path.string() << "' are unusable:\n"
            << report.describe(path.string());
  CHORD_CHECK(skip_bad, report.problems.size(), " bad item(s) in ", flag, " '", path.string(),
              "' (listed above): fix or remove them, or pass --skip-bad-items to continue without them");
  CHORD_CHECK(!report.good.empty(), "every item of ", flag, " '", path.string(), "' is unusable");
  std::cerr << "[" << program << "] continuing without them: " << report.good.size() << " items left\n";
  return report.good;
}

}  // namespace chord::apps
