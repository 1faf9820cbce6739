#pragma once
/// @file
/// Atomic file replacement: write to a temporary file beside the target, flush it to disk, rename.
/// A reader sees either the old file or the complete new one, never a torn write.

#include "chord/core/error.hpp"

#include "chord/core/parse.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace chord::io {

/// Writes `target` atomically. Call write() any number of times, then commit(); if the object is
/// destroyed without commit() (an exception, a crash in between), the target is untouched and the
/// temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
    auto directory = target_.parent_path();
    if (!directory.empty()) {
      std::filesystem::create_directories(directory);
    }
    temporary_ = target_;
    temporary_ += ".tmp." + std::to_string(::getpid());
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHORD_CHECK(fd_ >= 0, "cannot create '", temporary_.string(), "': ", std::strerror(errno));
  }

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  ~AtomicFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      std::error_code ignored;
      std::filesystem::remove(temporary_, ignored);
    }
  }

  /// Appends `size` bytes.
  void write(const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t written = ::write(fd_, bytes, size);
      if (written < 0 && errno == EINTR) continue;
      CHORD_CHECK(written > 0, "writing '", temporary_.string(), "' failed: ", std::strerror(errno));
      bytes += written;
      size -= static_cast<size_t>(written);
    }
  }

  /// Flushes to disk and renames over the target; then syncs the directory so the rename survives a
  /// power loss too.
  void commit() {
    CHORD_CHECK(::fsync(fd_) == 0, "fsync of '", temporary_.string(), "' failed: ", std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    std::error_code error;
    std::filesystem::rename(temporary_, target_, error);
    if (error) {
      std::filesystem::remove(temporary_, error);
      CHORD_FAIL("cannot rename '", temporary_.string(), "' to '", target_.string(), "'");
    }
    auto directory = target_.parent_path().empty() ? std::filesystem::path(".") : target_.parent_path();
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }

  const std::filesystem::path& target() const noexcept { return target_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
};

/// What remove_stale_temporaries removed.
struct RemovedTemporaries {
  std::vector<std::filesystem::path> files;
  uintmax_t bytes = 0;

  /// "removed 2 temporary file(s) (137 MB) in <folder> left by a run killed while writing", or empty.
  std::string describe() const {
    if (files.empty()) return {};
    return "removed " + std::to_string(files.size()) + " temporary file(s) (" + std::to_string(bytes / 1000000) + " MB) in " +
           files.front().parent_path().string() + " left by a run killed while writing";
  }
};

/// Removes the temporary files (`<name>.tmp.<pid>`) that AtomicFile writers killed mid-write left in
/// `directory`, for names matching `name_pattern` (a regular expression over the whole target name).
/// A file whose writer is still running is kept; so is anything that is not such a temporary.
inline RemovedTemporaries remove_stale_temporaries(const std::filesystem::path& directory, const std::string& name_pattern) {
  RemovedTemporaries removed;
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) return removed;
  const std::regex pattern("(?:" + name_pattern + ")\\.tmp\\.([0-9]+)");
  for (const auto& file : std::filesystem::directory_iterator(directory, error)) {
    std::smatch match;
    const std::string name = file.path().filename().string();
    if (!file.is_regular_file() || !std::regex_match(name, match, pattern)) continue;
    const auto pid = parse_number<pid_t>(match[match.size() - 1].str());  // the last group: the pattern may have its own
    if (!pid || *pid <= 0) continue;  // no process has that id: not a temporary AtomicFile wrote
    const bool writer_alive = *pid != ::getpid() && (::kill(*pid, 0) == 0 || errno == EPERM);
    if (writer_alive) continue;
    const auto size = std::filesystem::file_size(file.path(), error);
    const bool sized = !error;
    if (std::filesystem::remove(file.path(), error)) {
      removed.files.push_back(file.path());
      removed.bytes += sized ? size : 0;
    }
  }
  return removed;
}

}  // namespace chord::io
