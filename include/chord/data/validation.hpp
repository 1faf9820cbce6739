#pragma once
/// @file
/// Checks every item of a manifest before long work starts, so a bad file is found in the first
/// second with its line number, not at update 41 (and again at update 41 of every resume). Each item
/// is opened, its header checked against what the consumer needs (sample rate, length, agreement with
/// the manifest's duration) and, optionally, its samples decoded and scanned for NaN and Inf. Every
/// problem is collected; the caller decides whether to stop or to continue without the bad items.

#include "chord/audio/io.hpp"
#include "chord/core/error.hpp"
#include "chord/data/manifest.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace chord::data {

/// What a consumer of a manifest's audio needs.
struct AudioRequirements {
  /// Files at a lower rate are refused (e.g. super-resolution targets must really be 44.1 kHz);
  /// nullopt: any rate (the consumer resamples).
  std::optional<int64_t> min_sample_rate;
  double min_seconds = 0.0;  ///< files must be longer than this (and never empty)
  double max_seconds = std::numeric_limits<double>::infinity();
  /// A manifest "duration" further than this from the file's length is a problem: batch samplers
  /// plan memory with it.
  double duration_tolerance_seconds = 0.1;
  /// Decode every file and refuse NaN / Inf samples (a full read of the data set).
  bool check_samples = true;
};

/// One bad item: where it is and what is wrong.
struct ItemProblem {
  size_t index = 0;  ///< position in the manifest
  size_t line = 0;   ///< line in the manifest file (0: not read from a file)
  std::filesystem::path audio;
  std::string problem;
};

struct ManifestReport {
  std::vector<ItemProblem> problems;
  Manifest good;  ///< the items without problems, in manifest order
  bool ok() const noexcept { return problems.empty(); }

  /// Every problem, one per line: `<manifest>:<line>: <audio>: <problem>`.
  std::string describe(const std::string& manifest_name) const {
    std::ostringstream out;
    for (const auto& p : problems) {
      out << "  " << manifest_name;
      if (p.line > 0) out << ":" << p.line;
      out << ": " << p.audio.string() << ": " << p.problem << "\n";
    }
    return out.str();
  }
};

/// What is wrong with the samples of `audio` (a truncated file, NaN / Inf samples, naming the frame),
/// found by decoding all of it; empty when nothing is. The file's name is left to the caller's line.
inline std::string sample_problem(const std::filesystem::path& audio) {
  try {
    audio::read_audio(audio);
  } catch (const Error& error) {
    std::string what = error.what();
    const std::string quoted = "'" + audio.string() + "' ";
    if (const auto at = what.find(quoted); at != std::string::npos) what.erase(0, at + quoted.size());
    return what;
  }
  return {};
}

/// The problem with one item, or an empty string.
inline std::string check_item(const ManifestItem& item, const AudioRequirements& requirements) {
  if (!std::filesystem::exists(item.audio)) return "the audio file does not exist";
  audio::AudioInfo info;
  try {
    info = audio::audio_info(item.audio);
  } catch (const Error& error) {
    return "unreadable (" + std::string(error.what()) + ")";
  }
  if (info.frames == 0) return "the audio file has no samples";
  std::ostringstream problem;
  if (requirements.min_sample_rate && info.sample_rate < *requirements.min_sample_rate) {
    problem << "sampled at " << info.sample_rate << " Hz; at least " << *requirements.min_sample_rate << " Hz is needed";
    return problem.str();
  }
  const double seconds = info.seconds();
  if (seconds <= requirements.min_seconds || seconds > requirements.max_seconds) {
    problem << "lasts " << seconds << " s, outside (" << requirements.min_seconds << ", " << requirements.max_seconds << "] s";
    return problem.str();
  }
  if (item.duration > 0.0 && std::abs(item.duration - seconds) > requirements.duration_tolerance_seconds) {
    problem << "the manifest says " << item.duration << " s but the file lasts " << seconds << " s";
    return problem.str();
  }
  if (requirements.check_samples) return sample_problem(item.audio);
  return {};
}

/// Checks every item; `progress(done, total)` is called as it goes (for a progress line on big sets).
inline ManifestReport check_manifest(const Manifest& manifest, const AudioRequirements& requirements,
                                     const std::function<void(size_t, size_t)>& progress = {}) {
  ManifestReport report;
  std::vector<ManifestItem> good;
  for (size_t i = 0; i < manifest.size(); ++i) {
    const auto& item = manifest[i];
    auto problem = check_item(item, requirements);
    if (problem.empty()) good.push_back(item);
    else report.problems.push_back({i, item.line, item.audio, std::move(problem)});
    if (progress) progress(i + 1, manifest.size());
  }
  report.good = Manifest(std::move(good));
  return report;
}

}  // namespace chord::data
