#pragma once
/// @file
/// Dataset manifests: JSON Lines, one utterance per line,
/// `{"audio": "wavs/a.wav", "text": "...", "speaker": "...", "language": "en", "duration": 2.31}`.
/// `audio` and `text` are required; relative audio paths are relative to the manifest's folder.
/// Other keys are kept in `fields` for systems that need them (phonemes, captions, ...).

#include "chord/core/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace chord::data {

struct ManifestItem {
  std::filesystem::path audio;  ///< absolute (resolved) path
  std::string text;
  std::string speaker;
  std::string language;
  double duration = 0.0;        ///< seconds; 0 when the manifest did not say
  nlohmann::json fields;        ///< the whole line, for extra keys
  size_t line = 0;              ///< line number in the manifest file it was read from (0: built in memory)
};

class Manifest {
 public:
  Manifest() = default;
  explicit Manifest(std::vector<ManifestItem> items) : items_(std::move(items)) {}

  /// Reads a JSONL manifest; errors name the file and line.
  static Manifest read(const std::filesystem::path& path) {
    std::ifstream in(path);
    CHORD_CHECK(in, "cannot open manifest '", path.string(), "'");
    const auto base = std::filesystem::absolute(path).parent_path();
    std::vector<ManifestItem> items;
    std::string line;
    for (size_t number = 1; std::getline(in, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto where = [&] { return c10::str("manifest '", path.string(), "' line ", number, ": "); };
      nlohmann::json entry;
      try {
        entry = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& error) {
        CHORD_FAIL(where(), "invalid JSON (", error.what(), ")");
      }
      CHORD_CHECK(entry.is_object(), where(), "expected a JSON object");
      CHORD_CHECK(entry.contains("audio") && entry["audio"].is_string(), where(), "missing string \"audio\"");
      CHORD_CHECK(entry.contains("text") && entry["text"].is_string(), where(), "missing string \"text\"");
      ManifestItem item;
      std::filesystem::path audio = entry["audio"].get<std::string>();
      item.audio = audio.is_absolute() ? audio : base / audio;
      item.text = entry["text"].get<std::string>();
      if (entry.contains("speaker")) item.speaker = entry["speaker"].get<std::string>();
      if (entry.contains("language")) item.language = entry["language"].get<std::string>();
      if (entry.contains("duration")) {
        CHORD_CHECK(entry["duration"].is_number() && entry["duration"].get<double>() >= 0.0, where(),
                    "\"duration\" must be a non-negative number of seconds");
        item.duration = entry["duration"].get<double>();
      }
      item.fields = std::move(entry);
      item.line = number;
      items.push_back(std::move(item));
    }
    return Manifest(std::move(items));
  }

  /// Writes JSONL with audio paths relative to the manifest's folder where possible.
  void write(const std::filesystem::path& path) const {
    if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
    const auto base = std::filesystem::absolute(path).parent_path();
    std::ofstream out(path);
    CHORD_CHECK(out, "cannot write manifest '", path.string(), "'");
    for (const auto& item : items_) {
      nlohmann::json entry = item.fields.is_object() ? item.fields : nlohmann::json::object();
      entry["audio"] = std::filesystem::absolute(item.audio).lexically_relative(base).generic_string();
      entry["text"] = item.text;
      if (!item.speaker.empty()) entry["speaker"] = item.speaker;
      if (!item.language.empty()) entry["language"] = item.language;
      if (item.duration > 0.0) entry["duration"] = item.duration;
      out << entry.dump() << '\n';
    }
  }

  size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const ManifestItem& operator[](size_t i) const { return items_.at(i); }
  const std::vector<ManifestItem>& items() const noexcept { return items_; }
  std::vector<ManifestItem>& items() noexcept { return items_; }

  /// Items `[begin, end)` as a new manifest (e.g. a held-out split).
  Manifest slice(size_t begin, size_t end) const {
    end = std::min(end, items_.size());
    begin = std::min(begin, end);
    return Manifest(std::vector<ManifestItem>(items_.begin() + static_cast<std::ptrdiff_t>(begin),
                                              items_.begin() + static_cast<std::ptrdiff_t>(end)));
  }

 private:
  std::vector<ManifestItem> items_;
};

}  // namespace chord::data
