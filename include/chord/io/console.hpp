#pragma once
/// @file
/// What long work says on stderr outside a training loop: the device it runs on, and a progress line
/// for sampling, chunked inference or a manifest check (`[program] chunk 2/3: 12/32 steps, 4.1 s,
/// about 6.8 s left`).

#include "chord/core/device.hpp"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

namespace chord::io {

/// Resolves a `--device` value and says which device the program uses.
inline c10::Device announce_device(const std::string& name, const std::string& program) {
  const auto device = resolve_device(name);
  std::cerr << "[" << program << "] device: " << device.str();
  if (device.is_cpu()) std::cerr << " (" << at::get_num_threads() << " threads)";
  std::cerr << "\n";
  return device;
}

/// A progress line on stderr for long work that is not a training loop (sampling, chunked inference):
/// `[program] chunk 2/3: 12/32 steps, 4.1 s, about 6.8 s left`. On a terminal it redraws one line;
/// in a log it writes a line at each quarter.
class ProgressLine {
 public:
  explicit ProgressLine(std::string program) : program_(std::move(program)), interactive_(::isatty(2) != 0) {}

  /// A callback for (done, total) reports of one task, e.g. FlowModel's SampleOptions::progress.
  std::function<void(int64_t, int64_t)> task(std::string label, std::string unit = "steps") {
    return [this, label = std::move(label), unit = std::move(unit), start = std::chrono::steady_clock::now(),
            last_quarter = int64_t{0}](int64_t done, int64_t total) mutable {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const bool finished = total > 0 && done >= total;
      char line[256];
      if (total > 0) {
        const double left = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total - done) : 0.0;
        std::snprintf(line, sizeof line, "[%s] %s: %lld/%lld %s, %.1f s, about %.1f s left", program_.c_str(), label.c_str(),
                      static_cast<long long>(done), static_cast<long long>(total), unit.c_str(), elapsed, left);
      } else {
        std::snprintf(line, sizeof line, "[%s] %s: %lld %s, %.1f s", program_.c_str(), label.c_str(),
                      static_cast<long long>(done), unit.c_str(), elapsed);
      }
      if (interactive_) {
        std::cerr << "\r" << line << "\033[K" << (finished ? "\n" : "") << std::flush;
        return;
      }
      const int64_t quarter = total > 0 ? 4 * done / total : 0;
      if (quarter > last_quarter || done == 1) {
        last_quarter = quarter;
        std::cerr << line << "\n" << std::flush;
      }
    };
  }

 private:
  std::string program_;
  bool interactive_;
};

}  // namespace chord::io
