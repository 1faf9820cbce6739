#pragma once
/// @file
/// A manifest read for long work: every item checked first (check_manifest), every bad item listed at
/// once with its line, and the work either stopped there or, when the caller allows it
/// (`--skip-bad-items` in the programs), continued without them (counted and listed).

#include "chord/core/error.hpp"
#include "chord/data/manifest.hpp"
#include "chord/data/validation.hpp"
#include "chord/io/console.hpp"
#include "chord/io/path_checks.hpp"

#include <filesystem>
#include <iostream>
#include <string>

namespace chord::data {

/// Reads and checks the manifest given as `flag`; returns the items to use. Progress and the list of
/// bad items go to stderr under `program`.
inline Manifest read_checked_manifest(const std::filesystem::path& path, const char* flag, const AudioRequirements& requirements,
                                      bool skip_bad, const std::string& program) {
  io::require_input_file(path, flag);
  const auto manifest = Manifest::read(path);
  CHORD_CHECK(!manifest.empty(), flag, " '", path.string(), "' lists no items");
  io::ProgressLine progress_line(program);
  auto progress = progress_line.task("checking " + path.filename().string(), "items");
  const bool show = manifest.size() >= 500;
  auto report = check_manifest(manifest, requirements, [&](size_t done, size_t total) {
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

}  // namespace chord::data
