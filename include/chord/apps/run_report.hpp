#pragma once
/// @file
/// What every trainer prints when it stops: how and at which step, where each output is, and, after
/// an interruption (SIGINT/SIGTERM), that the same command resumes. One wording for all programs, so
/// that scripts and people read one format.

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace chord::apps {

/// `how` ("completed", "interrupted", ...) at `step`, then one aligned "label: where" line per output.
inline void report_run_end(const std::string& program, const std::string& how, int64_t step,
                           const std::vector<std::pair<std::string, std::string>>& outputs, bool interrupted) {
  size_t width = 0;
  for (const auto& output : outputs) width = std::max(width, output.first.size());
  std::cout << "[" << program << "] " << how << " at step " << step << "\n";
  for (const auto& [label, where] : outputs)
    std::cout << "[" << program << "] " << label << ":" << std::string(width - label.size() + 1, ' ') << where << "\n";
  if (interrupted) std::cout << "[" << program << "] interrupted: checkpointed at step " << step << "; the same command resumes\n";
}

}  // namespace chord::apps
