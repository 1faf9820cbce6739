#pragma once
/// @file
/// Checkpoint files in one directory: written atomically, the last N complete ones kept, resume from
/// the newest one that reads back whole (a truncated newest file is skipped and reported), stale
/// temporary files of killed writers removed; and the weights of a trainer checkpoint read back for
/// inference.

#include "chord/core/error.hpp"
#include "chord/core/parse.hpp"
#include "chord/io/atomic_file.hpp"
#include "chord/io/tensor_map.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace chord::io {

/// Checkpoint archives are TorchScript containers whose keys become attribute names in generated
/// Python code, so a key must be an identifier that is not a Python keyword (a submodule named "in"
/// would write fine and fail to load). chord only uses keys of letters, digits and '_'.
inline void check_archive_key(const std::string& key) {
  static const std::regex identifier("[A-Za-z_][A-Za-z0-9_]*");
  static const std::vector<std::string> keywords{
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
      "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
      "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield"};
  CHORD_CHECK(std::regex_match(key, identifier) && std::find(keywords.begin(), keywords.end(), key) == keywords.end(),
              "checkpoint key '", key, "' must be letters, digits and '_' (and not a Python keyword)");
}

/// Stores named tensors (any names, e.g. dotted parameter paths) under `key`: the names go in a
/// string list and the tensors under positional keys, so no name ever becomes an archive key.
inline void write_tensor_map(torch::serialize::OutputArchive& archive, const std::string& key, const TensorMap& tensors) {
  check_archive_key(key);
  torch::serialize::OutputArchive sub;
  c10::List<std::string> names;
  int64_t index = 0;
  for (const auto& [name, tensor] : tensors) {
    names.push_back(name);
    sub.write("t" + std::to_string(index++), tensor, /*is_buffer=*/true);
  }
  sub.write("names", c10::IValue(names));
  archive.write(key, sub);
}

/// Reads what write_tensor_map() stored under `key`.
inline TensorMap read_tensor_map(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::serialize::InputArchive sub;
  CHORD_CHECK(archive.try_read(key, sub), "checkpoint has no entry '", key, "'");
  c10::IValue names;
  sub.read("names", names);
  TensorMap out;
  int64_t index = 0;
  for (const auto& name : names.toListRef()) {
    torch::Tensor tensor;
    sub.read("t" + std::to_string(index++), tensor, /*is_buffer=*/true);
    out.emplace(name.toStringRef(), tensor);
  }
  return out;
}

/// The checkpoint-file half of training state: naming, atomic writes, retention and resume.
/// What goes *into* a checkpoint is the caller's (the trainer's) business, through the archive.
class CheckpointManager {
 public:
  struct Entry {
    std::filesystem::path path;
    int64_t step = 0;
  };
  struct Resumed {
    /// The checkpoint that was read, if any.
    std::optional<Entry> loaded;
    /// Newer files that could not be read, each with the reason; the caller should warn about them.
    std::vector<std::string> skipped;
  };

  /// @param directory where checkpoints live (created on first save).
  /// @param prefix file names are `<prefix>_<step>.pt`.
  /// @param keep_last how many of the newest files to keep; 0 keeps all.
  explicit CheckpointManager(std::filesystem::path directory, std::string prefix = "checkpoint",
                             int keep_last = 3)
      : directory_(std::move(directory)), prefix_(std::move(prefix)), keep_last_(keep_last) {
    CHORD_CHECK(!prefix_.empty(), "CheckpointManager: prefix must not be empty");
    CHORD_CHECK(keep_last_ >= 0, "CheckpointManager: keep_last must be >= 0, got ", keep_last_);
  }

  const std::filesystem::path& directory() const noexcept { return directory_; }

  std::filesystem::path path_for(int64_t step) const {
    char digits[32];
    std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(step));
    return directory_ / (prefix_ + "_" + digits + ".pt");
  }

  /// Existing checkpoints, oldest first.
  std::vector<Entry> list() const {
    std::vector<Entry> entries;
    if (!std::filesystem::is_directory(directory_)) return entries;
    const std::regex pattern(escape(prefix_) + "_([0-9]+)\\.pt");
    for (const auto& file : std::filesystem::directory_iterator(directory_)) {
      std::smatch match;
      const std::string name = file.path().filename().string();
      if (!file.is_regular_file() || !std::regex_match(name, match, pattern)) continue;
      // A step past int64 (a name chord never writes) is not a checkpoint of this run: left alone.
      if (const auto step = parse_number<int64_t>(match[1].str())) entries.push_back({file.path(), *step});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.step < b.step; });
    return entries;
  }

  /// Whether `path` is a complete archive: its zip central directory, written last, reads back and
  /// names the pickled state. Cheap (no tensor is read); a file cut short anywhere fails it.
  static bool is_complete(const std::filesystem::path& path) {
    try {
      caffe2::serialize::PyTorchStreamReader reader(path.string());
      return reader.hasRecord("data.pkl");
    } catch (const std::exception&) {
      return false;
    }
  }

  /// Removes the temporary files (`<prefix>_<step>.pt.tmp.<pid>`) that writers killed mid-write
  /// left behind; a file whose writer is still running is kept.
  RemovedTemporaries remove_stale_temporaries() const {
    return io::remove_stale_temporaries(directory_, escape(prefix_) + "_[0-9]+\\.pt");
  }

  /// Writes the checkpoint for `step` (temp file, fsync, rename), then deletes all but the newest
  /// `keep_last` complete ones. `write` fills the archive.
  std::filesystem::path save(int64_t step, const std::function<void(torch::serialize::OutputArchive&)>& write) {
    torch::serialize::OutputArchive archive;
    write(archive);
    archive.write(kCompleteKey, c10::IValue(true));
    const auto path = path_for(step);
    AtomicFile file(path);
    // A failed write (a full disk) is kept and rethrown after LibTorch's writer has finished: its last
    // writes happen in a destructor, where an exception would terminate the process (found by the kill
    // trials' injected ENOSPC). The temporary file is then removed, the previous checkpoints untouched.
    std::exception_ptr failure;
    archive.save_to([&file, &failure](const void* data, size_t size) {
      if (!failure) {
        try {
          file.write(data, size);
        } catch (...) {
          failure = std::current_exception();
        }
      }
      return size;
    });
    if (failure) std::rethrow_exception(failure);
    file.commit();
    prune();
    return path;
  }

  /// Reads the newest checkpoint that loads whole and passes it to `read`, its tensors on `device`.
  /// Unreadable newer files (truncated, corrupt, written by a crashed process) are skipped and listed
  /// in `skipped`. Errors thrown by `read` itself (a checkpoint that does not fit the model) propagate.
  Resumed load_latest(const std::function<void(torch::serialize::InputArchive&)>& read,
                      std::optional<c10::Device> device = std::nullopt) const {
    auto entries = list();
    Resumed result;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      torch::serialize::InputArchive archive;
      std::string problem;
      try {
        archive.load_from(it->path.string(), device);
        c10::IValue complete;
        if (!archive.try_read(kCompleteKey, complete)) problem = "no completion marker";
      } catch (const std::exception& error) {
        problem = first_line(error.what());
      }
      if (!problem.empty()) {
        result.skipped.push_back(it->path.string() + ": unreadable (" + problem + ")");
        continue;
      }
      read(archive);
      result.loaded = *it;
      return result;
    }
    return result;
  }

 private:
  static constexpr const char* kCompleteKey = "chord_checkpoint_complete";

  static std::string escape(const std::string& text) {
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(text, special, R"(\$&)");
  }

  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  /// Deletes the oldest complete checkpoints beyond the budget. Only complete files count toward it,
  /// so a damaged file can never take the place of a good one; damaged files are left for the user
  /// (resume skips them and says so).
  void prune() {
    if (keep_last_ == 0) return;
    std::vector<Entry> complete;
    for (auto& entry : list()) {
      if (is_complete(entry.path)) complete.push_back(std::move(entry));
    }
    const auto keep = static_cast<size_t>(keep_last_);
    for (size_t i = 0; i + keep < complete.size(); ++i) {
      std::error_code ignored;
      std::filesystem::remove(complete[i].path, ignored);
    }
  }

  std::filesystem::path directory_;
  std::string prefix_;
  int keep_last_;
};

/// Where the trainer stores a registered module's state and its EMA in a checkpoint archive.
inline std::string trainer_module_key(const std::string& name) { return "module_" + name; }
inline std::string trainer_ema_key(const std::string& name) { return "ema_" + name; }

/// The weights of module `name` in a trainer checkpoint, for inference: its parameters and buffers,
/// with the EMA's averages in place of the raw values when the run kept an EMA.
struct TrainerWeights {
  TensorMap tensors;
  bool averaged = false;  ///< the floating-point tensors are the EMA's
  int64_t step = 0;
};

inline TrainerWeights read_trainer_weights(const std::filesystem::path& path, const std::string& name) {
  CHORD_CHECK(std::filesystem::exists(path), "checkpoint '", path.string(), "' does not exist");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const std::exception& error) {
    const std::string what = error.what();
    CHORD_FAIL("'", path.string(), "' is not a readable chord trainer checkpoint (", what.substr(0, what.find('\n')),
               "); a PyTorch .pt from another program needs converting to .safetensors first");
  }
  TrainerWeights weights;
  weights.tensors = read_tensor_map(archive, trainer_module_key(name));
  torch::serialize::InputArchive ema;
  if (archive.try_read(trainer_ema_key(name), ema)) {
    for (auto& [key, tensor] : read_tensor_map(ema, "shadow")) weights.tensors[key] = tensor;
    weights.averaged = true;
  }
  c10::IValue step;
  if (archive.try_read("trainer_step", step)) weights.step = step.toInt();
  return weights;
}

}  // namespace chord::io
