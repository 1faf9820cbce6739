#pragma once
/// @file
/// What every chord program shares on its command line: one flag per idea (docs/programs.md has the
/// table), a repeated option taking its last value (so a script's defaults can be overridden by
/// appending), numeric options checked when they are parsed, inputs and output paths checked before
/// any long work, and errors printed as one message, never as a LibTorch stack trace.

#include "chord/core/error.hpp"
#include "chord/io/console.hpp"
#include "chord/io/json_config.hpp"
#include "chord/io/path_checks.hpp"

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <cstdint>
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

// What programs share with long library work (io/json_config.hpp, io/path_checks.hpp, io/console.hpp),
// under the names programs have always spelt.
using io::announce_device;
using io::ProgressLine;
using io::read_json_config;
using io::require_input_file;
using io::require_output_file;
using io::require_output_folder;
using io::require_positive;
using io::require_range;

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

/// `--nfe`: sampling steps (network function evaluations of the ODE grid; DTM: transitions).
/// `old_names` (e.g. ",--sample-steps") keeps a program's earlier spelling working.
/// `--fused-adamw`, the same flag in every trainer: TrainerOptions::fused_adamw.
inline CLI::Option* add_fused_adamw_flag(CLI::App& app, bool& fused) {
  return app.add_flag("--fused-adamw", fused,
                      "AdamW through ATen's fused kernel: one pass per parameter, faster; equal to the default loop "
                      "to rounding, not bit for bit");
}

inline CLI::Option* add_nfe_option(CLI::App& app, int64_t& nfe, const std::string& help = "Sampling steps (ODE steps)",
                                   const std::string& old_names = "") {
  return app.add_option("--nfe" + old_names, nfe, help)->check(CLI::Range(int64_t{1}, int64_t{100000}))->capture_default_str();
}

/// `--cfg`: classifier-free guidance strength (alias `--guidance`).
inline CLI::Option* add_cfg_option(CLI::App& app, double& cfg, const std::string& help = "Classifier-free guidance strength") {
  return app.add_option("--cfg,--guidance", cfg, help)->check(CLI::Range(0.0, 100.0))->capture_default_str();
}

}  // namespace chord::apps
