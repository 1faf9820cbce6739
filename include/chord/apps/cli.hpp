#pragma once
/// @file
/// What every chord program shares on its command line: one flag per idea (docs/programs.md has the
/// table), a repeated option taking its last value (so a script's defaults can be overridden by
/// appending), numeric options checked when they are parsed, inputs and output paths checked before
/// any long work, and errors printed as one message, never as a LibTorch stack trace.

#include "chord/core/device.hpp"
#include "chord/core/error.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <string>

namespace chord::apps {

/// Makes every option added to `app` afterwards take the last of repeated values, as most command
/// lines do: `scripts/demo.sh --steps 3000` appends to the script's own `--steps 1500` and wins.
inline void take_last_of_repeated_options(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

/// The message of an exception for a person: LibTorch errors without their C++ stack trace.
inline std::string error_message(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return torch_error->what_without_backtrace();
  return error.what();
}

/// Prints `<program>: <message>` to stderr and returns the exit status for a failed run (1).
inline int report_error(const std::string& program, const std::exception& error) {
  std::cerr << program << ": " << error_message(error) << "\n";
  return 1;
}

/// Refuses a configuration value outside its range, naming the flag (for values that may come from a
/// JSON config, where CLI11's checks do not run).
template <class T>
void require_range(const char* flag, T value, T low, T high = std::numeric_limits<T>::max()) {
  CHORD_CHECK(value >= low && value <= high, flag, " must be in [", low, ", ", high, "], got ", value);
}
template <class T>
void require_positive(const char* flag, T value) {
  CHORD_CHECK(value > T{0}, flag, " must be > 0, got ", value);
}

/// An existing regular file given as `flag`.
inline void require_input_file(const std::filesystem::path& path, const char* flag) {
  CHORD_CHECK(!path.empty(), flag, " is required");
  CHORD_CHECK(std::filesystem::exists(path), flag, " '", path.string(), "' does not exist");
  CHORD_CHECK(std::filesystem::is_regular_file(path), flag, " '", path.string(), "' is not a file");
}

namespace detail {
/// Creates `directory` (and parents) and proves a file can be created in it.
inline void require_writable_directory(const std::filesystem::path& directory, const std::string& what) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  CHORD_CHECK(!error && std::filesystem::is_directory(directory), what, ": cannot create the folder '", directory.string(),
              "' (", error ? error.message() : std::string("a file of that name exists"), ")");
  const auto probe = directory / (".chord-write-test." + std::to_string(::getpid()));
  {
    std::ofstream out(probe);
    CHORD_CHECK(out, what, ": the folder '", directory.string(), "' is not writable (", std::strerror(errno), ")");
  }
  std::filesystem::remove(probe, error);
}
}  // namespace detail

/// Checks, before any long work, that `path` can be written as the file of `flag`: its folder exists
/// or can be made and is writable, and `path` is not a folder. Inference programs learnt the opposite
/// only after minutes of synthesis.
inline void require_output_file(const std::filesystem::path& path, const char* flag) {
  CHORD_CHECK(!path.empty(), flag, " must not be empty");
  CHORD_CHECK(!std::filesystem::is_directory(path), flag, " '", path.string(), "' is a folder; give a file name");
  const auto directory = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  detail::require_writable_directory(directory, std::string(flag) + " '" + path.string() + "'");
}

/// Checks that `path` can be used as the output folder of `flag` (created when missing).
inline void require_output_folder(const std::filesystem::path& path, const char* flag) {
  CHORD_CHECK(!path.empty(), flag, " must not be empty");
  detail::require_writable_directory(path, std::string(flag) + " '" + path.string() + "'");
}

/// `--seed`: the same meaning and default (0) in every program; -1 asks for a random seed where a
/// program allows it (inference), which the program then prints.
inline CLI::Option* add_seed_option(CLI::App& app, int64_t& seed, bool allow_random) {
  auto* option = app.add_option("--seed", seed,
                                allow_random ? "Seed of every random draw (-1: a random seed, printed)" : "Seed of every random draw");
  option->check(CLI::Range(allow_random ? int64_t{-1} : int64_t{0}, std::numeric_limits<int64_t>::max()))->capture_default_str();
  return option;
}

/// `--device`: cpu, cuda, cuda:N or auto (the default: CUDA when available, else the CPU).
inline CLI::Option* add_device_option(CLI::App& app, std::string& device) {
  return app.add_option("--device", device, "cpu, cuda, cuda:N, or auto (CUDA when available, else the CPU)")->capture_default_str();
}

/// Resolves a `--device` value and says which device the program uses.
inline c10::Device announce_device(const std::string& name, const std::string& program) {
  const auto device = resolve_device(name);
  std::cerr << "[" << program << "] device: " << device.str();
  if (device.is_cpu()) std::cerr << " (" << at::get_num_threads() << " threads)";
  std::cerr << "\n";
  return device;
}

/// `--nfe`: sampling steps (network function evaluations of the ODE grid; DTM: transitions).
/// `old_names` (e.g. ",--sample-steps") keeps a program's earlier spelling working.
inline CLI::Option* add_nfe_option(CLI::App& app, int64_t& nfe, const std::string& help = "Sampling steps (ODE steps)",
                                   const std::string& old_names = "") {
  return app.add_option("--nfe" + old_names, nfe, help)->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
}

/// `--cfg`: classifier-free guidance strength (alias `--guidance`).
inline CLI::Option* add_cfg_option(CLI::App& app, double& cfg, const std::string& help = "Classifier-free guidance strength") {
  return app.add_option("--cfg,--guidance", cfg, help)->check(CLI::Range(0.0, 100.0))->capture_default_str();
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

}  // namespace chord::apps
