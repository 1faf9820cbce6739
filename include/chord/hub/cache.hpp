#pragma once
/// @file
/// The Hugging Face Hub cache as the Python `huggingface_hub` package lays it out, so that files either
/// side downloaded are found by the other without a network:
///
///     <cache>/models--<org>--<name>/blobs/<etag>                 the file's bytes, once per content
///     <cache>/models--<org>--<name>/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
///     <cache>/models--<org>--<name>/refs/<branch or tag>         the commit it resolved to
///     <cache>/.locks/models--<org>--<name>/<etag>.lock           flock(2) held while a blob is written
///
/// <etag> is the LFS file's sha256 for large files, else the git blob id. <cache> is `$HF_HUB_CACHE`,
/// else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`
/// (huggingface_hub/constants.py). The options come from the same environment variables.

#include "chord/core/error.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace chord::hub {

namespace fs = std::filesystem;

/// Where and how to reach the Hub. from_environment() reads the variables the Python package reads.
struct HubOptions {
  std::string endpoint = "https://huggingface.co";  ///< HF_ENDPOINT (no trailing '/')
  fs::path cache_dir;                               ///< HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub
  std::string token;                                ///< HF_TOKEN, else the token file; sent, never printed
  bool offline = false;                             ///< HF_HUB_OFFLINE=1: the cache only, no request at all
  int max_retries = 5;                              ///< connection errors, 429 and 5xx, with exponential backoff
  double first_backoff_seconds = 1.0;               ///< 1, 2, 4, 8, 8 s (CHORD_HUB_BACKOFF_SECONDS overrides)
  double max_backoff_seconds = 8.0;
  long metadata_timeout_seconds = 10;               ///< HF_HUB_ETAG_TIMEOUT
  long download_timeout_seconds = 10;               ///< HF_HUB_DOWNLOAD_TIMEOUT: no byte for this long = a stall

  static HubOptions from_environment();
};

namespace detail {

inline std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

/// `~` and `~/...` as os.path.expanduser reads them (the Python package expands both variables and `~`).
inline fs::path expand_user(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home != nullptr) return fs::path(home) / path.substr(std::min<size_t>(path.size(), 2));
  }
  return fs::path(path);
}

/// huggingface_hub's _is_true: 1, ON, YES, TRUE in any case.
inline bool is_true(const std::optional<std::string>& value) {
  if (!value) return false;
  std::string upper = *value;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

inline std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

inline fs::path hf_home() {
  if (auto home = environment("HF_HOME")) return expand_user(*home);
  if (auto xdg = environment("XDG_CACHE_HOME")) return expand_user(*xdg) / "huggingface";
  return expand_user("~/.cache") / "huggingface";
}

inline long positive_or(const std::optional<std::string>& value, long fallback) {
  if (!value) return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value->c_str(), &end, 10);
  return end != value->c_str() && parsed > 0 ? parsed : fallback;
}

}  // namespace detail

inline HubOptions HubOptions::from_environment() {
  HubOptions options;
  if (auto endpoint = detail::environment("HF_ENDPOINT"); endpoint && !endpoint->empty()) options.endpoint = *endpoint;
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  if (auto cache = detail::environment("HF_HUB_CACHE")) {
    options.cache_dir = detail::expand_user(*cache);
  } else if (auto legacy = detail::environment("HUGGINGFACE_HUB_CACHE")) {
    options.cache_dir = detail::expand_user(*legacy);
  } else {
    options.cache_dir = detail::hf_home() / "hub";
  }
  // The token: HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the file `hf auth login` writes.
  auto token = detail::environment("HF_TOKEN");
  if (!token || detail::trim(*token).empty()) token = detail::environment("HUGGING_FACE_HUB_TOKEN");
  if (token && !detail::trim(*token).empty()) {
    options.token = detail::trim(*token);
  } else {
    const auto path = detail::environment("HF_TOKEN_PATH") ? detail::expand_user(*detail::environment("HF_TOKEN_PATH"))
                                                           : detail::hf_home() / "token";
    std::ifstream in(path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      options.token = detail::trim(text.str());
    }
  }
  options.offline = detail::is_true(detail::environment("HF_HUB_OFFLINE")) || detail::is_true(detail::environment("TRANSFORMERS_OFFLINE"));
  options.metadata_timeout_seconds = detail::positive_or(detail::environment("HF_HUB_ETAG_TIMEOUT"), options.metadata_timeout_seconds);
  options.download_timeout_seconds = detail::positive_or(detail::environment("HF_HUB_DOWNLOAD_TIMEOUT"), options.download_timeout_seconds);
  if (auto backoff = detail::environment("CHORD_HUB_BACKOFF_SECONDS")) {
    char* end = nullptr;
    const double seconds = std::strtod(backoff->c_str(), &end);
    if (end != backoff->c_str() && seconds >= 0.0) options.first_backoff_seconds = seconds;
  }
  return options;
}

/// A 40-digit lower-case hex commit id (what refs/ files and snapshots/ folders hold).
inline bool is_commit_hash(const std::string& revision) {
  return revision.size() == 40 &&
         std::all_of(revision.begin(), revision.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// `org/name` or `name`: letters, digits, '-', '_', '.'; no '--' or '..' (they would be ambiguous on disk).
inline void check_repo_id(const std::string& repo_id) {
  const auto slash = repo_id.find('/');
  const bool one_slash = slash == std::string::npos || repo_id.find('/', slash + 1) == std::string::npos;
  const bool characters = std::all_of(repo_id.begin(), repo_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
  const bool parts = !repo_id.empty() && repo_id.front() != '/' && repo_id.back() != '/' && repo_id.find("--") == std::string::npos &&
                     repo_id.find("..") == std::string::npos;
  CHORD_CHECK(one_slash && characters && parts, "'", repo_id, "' is not a Hugging Face repository id (org/name, e.g. SWivid/F5-TTS)");
}

/// A path inside the repository: relative, '/'-separated, no '..' part (it must stay inside snapshots/).
inline void check_repo_filename(const std::string& filename) {
  bool ok = !filename.empty() && filename.front() != '/' && filename.find('\\') == std::string::npos;
  std::stringstream parts(filename);
  for (std::string part; ok && std::getline(parts, part, '/');) ok = !part.empty() && part != "." && part != "..";
  CHORD_CHECK(ok, "'", filename, "' is not a file path inside a repository (relative, '/'-separated, without '..')");
}

/// A branch, tag or commit: may hold '/' (refs/pr/1), never a '..' part.
inline void check_revision(const std::string& revision) {
  bool ok = !revision.empty() && revision.front() != '/' && revision.back() != '/';
  std::stringstream parts(revision);
  for (std::string part; ok && std::getline(parts, part, '/');) ok = !part.empty() && part != "." && part != "..";
  CHORD_CHECK(ok, "'", revision, "' is not a revision (a branch, a tag or a commit)");
}

/// `models--org--name`, huggingface_hub's repo_folder_name for a model repository.
inline std::string repo_folder_name(const std::string& repo_id) {
  std::string name = "models";
  std::stringstream parts(repo_id);
  for (std::string part; std::getline(parts, part, '/');) name += "--" + part;
  return name;
}

/// The paths of one repository in the cache.
struct RepoCache {
  fs::path root;     ///< <cache>/models--org--name
  fs::path locks;    ///< <cache>/.locks/models--org--name

  RepoCache(const fs::path& cache_dir, const std::string& repo_id)
      : root(cache_dir / repo_folder_name(repo_id)), locks(cache_dir / ".locks" / repo_folder_name(repo_id)) {}

  fs::path blob(const std::string& etag) const { return root / "blobs" / etag; }
  fs::path ref(const std::string& revision) const { return root / "refs" / revision; }
  fs::path snapshot(const std::string& commit) const { return root / "snapshots" / commit; }
  fs::path pointer(const std::string& commit, const std::string& filename) const { return snapshot(commit) / filename; }
  fs::path lock(const std::string& etag) const { return locks / (etag + ".lock"); }

  /// The commit a branch or tag resolved to when last downloaded (refs/<revision>), or the revision
  /// itself when it is a commit.
  std::optional<std::string> commit_of(const std::string& revision) const {
    if (is_commit_hash(revision)) return revision;
    std::ifstream in(ref(revision));
    if (!in) return std::nullopt;
    std::string commit;
    std::getline(in, commit);
    commit = detail::trim(commit);
    if (!is_commit_hash(commit)) return std::nullopt;
    return commit;
  }

  /// The cached file of `revision`, if present (the symlink and its blob both exist).
  std::optional<fs::path> cached_file(const std::string& filename, const std::string& revision) const {
    const auto commit = commit_of(revision);
    if (!commit) return std::nullopt;
    const auto path = pointer(*commit, filename);
    std::error_code error;
    if (!fs::exists(path, error)) return std::nullopt;
    return path;
  }

  /// Records that `revision` (a branch or tag) is `commit`, atomically, only when it changed (the
  /// cache may be read-only when nothing changed).
  void write_ref(const std::string& revision, const std::string& commit) const {
    if (revision == commit || commit_of(revision) == commit) return;
    const auto path = ref(revision);
    fs::create_directories(path.parent_path());
    auto temporary = path;
    temporary += ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << commit;  // no newline, as huggingface_hub writes it
      CHORD_CHECK(out.good(), "cannot write '", temporary.string(), "'");
    }
    std::error_code error;
    fs::rename(temporary, path, error);
    CHORD_CHECK(!error, "cannot write the ref '", path.string(), "': ", error.message());
  }
};

/// An exclusive flock(2) on a lock file, held for the object's lifetime. The Python package locks the
/// same files with the same call (filelock's UnixFileLock), so chord and Python wait for each other.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    CHORD_CHECK(fd_ >= 0, "cannot open the lock file '", path.string(), "': ", std::strerror(errno));
    int status = 0;
    while ((status = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (status != 0) {
      const int error = errno;
      ::close(fd_);
      CHORD_FAIL("cannot lock '", path.string(), "': ", std::strerror(error));
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_ = -1;
};

/// Tags the cache folder for backup tools (the Cache Directory Tagging Specification), as the
/// Python package does; best effort.
inline void write_cachedir_tag(const fs::path& cache_dir) {
  const auto path = cache_dir / "CACHEDIR.TAG";
  std::error_code error;
  if (fs::exists(path, error)) return;
  std::ofstream out(path);
  out << "Signature: 8a477f597d28d172789f06886806bc55\n"
         "# This file is a cache directory tag: the Hugging Face Hub cache (written by chord).\n"
         "# For information about cache directory tags, see https://bford.info/cachedir/\n";
}

}  // namespace chord::hub
