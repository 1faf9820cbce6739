#pragma once
/// @file
/// `--model <name>` for every program that loads published weights: the name is looked up in the
/// registry (hub/registry.hpp), its files are downloaded into the Hugging Face cache on first use
/// (hub/download.hpp; found there without a network afterwards, also when the Python
/// `huggingface_hub` put them there) and the program gets their paths, as if they had been given as
/// files. Also the progress line chord-fetch and the programs draw while downloading.
///
/// Built with libcurl (CMake's chord::hub component defines CHORD_WITH_HUB); without it, the flag
/// exists and says what is missing.

#include "chord/core/error.hpp"
#include "chord/hub/registry.hpp"
#if defined(CHORD_WITH_HUB)
#include "chord/hub/published.hpp"
#endif

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace chord::apps {

/// `--model` and `--model-revision` as parsed.
struct ModelChoice {
  std::string name;
  std::string revision;  ///< empty: the registry's revision
};

/// A published model's files on disk, by role (checkpoint, vocab, config, weights, tokenizer).
using ResolvedModel = hub::ModelFiles;

inline void add_model_options(CLI::App& app, ModelChoice& choice, const std::string& what) {
  app.add_option("--model", choice.name,
                 "A published " + what + " by name (chord-fetch --list), downloaded into the Hugging Face cache on first use "
                 "($HF_HOME/hub; HF_HUB_OFFLINE=1: the cache only)");
  app.add_option("--model-revision", choice.revision,
                 "Branch, tag or commit of --model's repository (default: the commit the registry pins, whose files' sha256 it checks)");
}

/// "12.3 MB" for a byte count.
inline std::string format_bytes(uint64_t bytes) {
  char text[32];
  if (bytes < 1000) {
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < 1000 * 1000) {
    std::snprintf(text, sizeof text, "%.1f kB", static_cast<double>(bytes) / 1e3);
  } else if (bytes < 1000ull * 1000 * 1000) {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.2f GB", static_cast<double>(bytes) / 1e9);
  }
  return text;
}

#if defined(CHORD_WITH_HUB)
/// A download progress line on stderr: `[program] model.safetensors: 120.3 MB/1.35 GB, 11.8 MB/s`.
/// On a terminal it redraws one line (at most 10 times a second); in a log, a line per quarter.
inline hub::Progress download_progress(const std::string& program) {
  struct State {
    std::string file;
    std::chrono::steady_clock::time_point start, last;
    uint64_t first_done = 0;  ///< bytes present at the first report (a resumed file's earlier part)
    int quarter = 0;
    bool open_line = false;
  };
  auto state = std::make_shared<State>();
  const bool interactive = ::isatty(2) != 0;
  hub::Progress progress;
  progress.on_bytes = [state, interactive, program](const std::string& file, uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (file != state->file) {
      *state = State{file, now, now - std::chrono::seconds(1), done, 0, state->open_line};
    }
    const bool finished = total > 0 && done >= total;
    if (interactive && !finished && now - state->last < std::chrono::milliseconds(100)) return;
    const int quarter = total > 0 ? static_cast<int>(4 * done / total) : 0;
    if (!interactive && !finished && quarter <= state->quarter) return;
    state->quarter = quarter;
    state->last = now;
    const double seconds = std::chrono::duration<double>(now - state->start).count();
    std::string line = "[" + program + "] " + file + ": " + format_bytes(done) + (total > 0 ? "/" + format_bytes(total) : std::string{});
    if (seconds >= 0.5) line += ", " + format_bytes(static_cast<uint64_t>(static_cast<double>(done - state->first_done) / seconds)) + "/s";
    if (interactive) {
      std::cerr << "\r" << line << "\033[K" << (finished ? "\n" : "") << std::flush;
      state->open_line = !finished;
    } else {
      std::cerr << line << "\n" << std::flush;
    }
  };
  progress.on_note = [state, program](const std::string& message) {
    if (state->open_line) std::cerr << "\n";
    state->open_line = false;
    std::cerr << "[" << program << "] " << message << "\n" << std::flush;
  };
  return progress;
}
#endif

/// Downloads (or finds in the cache) every file of the published model `model`.
inline ResolvedModel resolve_published_model(const hub::PublishedModel& model, const std::string& revision, const std::string& program) {
#if defined(CHORD_WITH_HUB)
  return hub::fetch_published_model(model, revision, hub::HubOptions::from_environment(), download_progress(program));
#else
  (void)revision;
  (void)program;
  CHORD_FAIL(model.name, ": this program was built without libcurl, so it cannot download (install libcurl4-openssl-dev "
             "and rebuild: scripts/setup.sh does both); or download ", model.repo, " yourself and give the files instead");
#endif
}

inline ResolvedModel resolve_published_model(const ModelChoice& choice, const std::string& program) {
  return resolve_published_model(hub::find_published_model(choice.name), choice.revision, program);
}

/// Replaces `{snapshot}` and `{<role>}` in a registry command with the resolved paths.
inline std::string fill_paths(std::string text, const ResolvedModel& resolved) {
  auto replace = [&](const std::string& key, const std::string& value) {
    for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) text.replace(at, key.size(), value);
  };
  replace("{snapshot}", resolved.snapshot.string());
  for (const auto& [role, path] : resolved.files) replace("{" + role + "}", path.string());
  return text;
}

/// A file option's value that names a published model instead of a path (`--text-encoder t5:t5-base`,
/// `--pretransform oobleck:stable-audio-open-1.0`): the model is fetched and the path the option takes
/// returned (the file of `role`, or the repository folder when `role` is "folder"). A value that is an
/// existing path, or names no published model, comes back unchanged for the option's own checks. A
/// model published as a pickle is not converted here (chord never unpickles): the error says how.
inline std::string published_path_or_value(const std::string& value, const std::string& flag, const std::string& role,
                                           const std::string& program) {
  std::error_code error;
  if (value.empty() || std::filesystem::exists(value, error)) return value;
  const hub::PublishedModel* model = nullptr;
  for (const auto& entry : hub::published_models())
    if (entry.name == value) model = &entry;
  if (model == nullptr) return value;
  const auto given = flag.ends_with(':') ? flag + value : flag + " " + value;  // as typed: "--vocos x", "--pretransform oobleck:x"
  CHORD_CHECK(model->flag == flag, given, ": the published model '", value, "' is for ", model->flag, " (", model->system,
              "), not ", flag);
  CHORD_CHECK(model->conversion.empty(), given, ": ", model->name, " is published as a pickle, which chord never reads. Convert it once: ",
              "`chord-fetch ", model->name, "` downloads it and prints the command; then give ", flag,
              flag.ends_with(':') ? "" : " ", "<the converted .safetensors>");
  const auto resolved = resolve_published_model(*model, {}, program);
  const auto path = role == "folder" ? resolved.snapshot : resolved.file(role);
  std::cerr << "[" << program << "] " << given << ": " << path.string() << "\n";
  return path.string();
}

}  // namespace chord::apps
