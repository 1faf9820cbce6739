#pragma once
/// @file
/// Input files and output paths checked before any long work: an input that does not exist, or an
/// output folder that cannot be written, is reported at once, naming the flag it came from, instead
/// of after minutes of training or synthesis.

#include "chord/core/error.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace chord::io {

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

}  // namespace chord::io
