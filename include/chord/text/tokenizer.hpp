#pragma once
/// @file
/// Text → token ids, with F5-TTS's conventions: a vocab file of one token per line (line index = id,
/// space must be id 0, unknown characters map to 0) or raw UTF-8 bytes; batches padded with -1.

#include "chord/core/error.hpp"
#include "chord/text/utf8.hpp"

#include <torch/types.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace chord::text {

/// Pads id sequences to `[B, max_len]` (int64) with `pad` (F5-TTS uses -1).
inline torch::Tensor pad_ids(const std::vector<std::vector<int64_t>>& sequences, int64_t pad = -1) {
  size_t longest = 0;
  for (const auto& s : sequences) longest = std::max(longest, s.size());
  auto out = torch::full({static_cast<int64_t>(sequences.size()), static_cast<int64_t>(longest)}, pad, torch::kLong);
  auto a = out.accessor<int64_t, 2>();
  for (size_t b = 0; b < sequences.size(); ++b) {
    for (size_t i = 0; i < sequences[b].size(); ++i) a[b][i] = sequences[b][i];
  }
  return out;
}

/// A vocabulary of string tokens (characters, or multi-character tokens such as pinyin syllables).
class VocabTokenizer {
 public:
  /// Reads a vocab file: one token per line, the id is the line index. Only the line break is
  /// stripped, so a line holding a single space is the space token.
  static VocabTokenizer from_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    CHORD_CHECK(in, "cannot open vocab file '", path.string(),
                "'. The published F5-TTS models need their vocab.txt (2545 entries for the Emilia pinyin "
                "models); pass the file that came with the checkpoint.");
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(line);
    }
    CHORD_CHECK(!tokens.empty(), "vocab file '", path.string(), "' is empty");
    try {
      return VocabTokenizer(std::move(tokens));
    } catch (const Error& error) {
      CHORD_FAIL("vocab file '", path.string(), "': ", error.what());
    }
  }

  explicit VocabTokenizer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
    for (size_t i = 0; i < tokens_.size(); ++i) ids_[tokens_[i]] = static_cast<int64_t>(i);  // later lines win, as a dict does
    auto space = ids_.find(" ");
    CHORD_CHECK(space != ids_.end() && space->second == 0,
                "the space token must be id 0 (F5-TTS uses 0 for both space and unknown characters)");
  }

  /// Number of ids (the text embedding's `text_num_embeds`).
  int64_t size() const noexcept { return static_cast<int64_t>(tokens_.size()); }

  const std::string& token(int64_t id) const {
    CHORD_CHECK(id >= 0 && id < size(), "token id ", id, " is outside the vocabulary [0, ", size(), ")");
    return tokens_[static_cast<size_t>(id)];
  }

  bool contains(const std::string& token) const { return ids_.count(token) > 0; }

  /// Id of one token; unknown tokens map to 0.
  int64_t id(const std::string& token) const {
    auto found = ids_.find(token);
    return found == ids_.end() ? 0 : found->second;
  }

  /// One id per UTF-8 character of `text`.
  std::vector<int64_t> encode(std::string_view text) const { return encode_tokens(utf8_characters(text)); }

  /// One id per given token (for pre-tokenised input such as pinyin syllables).
  std::vector<int64_t> encode_tokens(const std::vector<std::string>& tokens) const {
    std::vector<int64_t> out;
    out.reserve(tokens.size());
    for (const auto& token : tokens) out.push_back(id(token));
    return out;
  }

  /// The distinct tokens of `tokens` that the vocabulary lacks, in order of first appearance: they
  /// would be read as id 0 (a space), so programs name them to the user.
  std::vector<std::string> unknown(const std::vector<std::string>& tokens) const {
    std::vector<std::string> out;
    for (const auto& token : tokens) {
      if (!contains(token) && std::find(out.begin(), out.end(), token) == out.end()) out.push_back(token);
    }
    return out;
  }

  /// `[B, max_len]` int64 padded with -1 (F5-TTS `list_str_to_idx`).
  torch::Tensor encode_batch(const std::vector<std::string>& texts) const {
    std::vector<std::vector<int64_t>> ids;
    ids.reserve(texts.size());
    for (const auto& text : texts) ids.push_back(encode(text));
    return pad_ids(ids);
  }

  /// Writes the vocabulary in the same one-token-per-line format.
  void save(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary);
    CHORD_CHECK(out, "cannot write vocab file '", path.string(), "'");
    for (const auto& token : tokens_) out << token << '\n';
  }

  /// A vocabulary of every distinct character in `texts`, space first, the rest sorted by code
  /// point (how F5-TTS builds a character vocab for a new dataset).
  static VocabTokenizer from_texts(const std::vector<std::string>& texts) {
    std::vector<std::string> characters;
    for (const auto& text : texts) {
      for (auto& c : utf8_characters(text)) characters.push_back(std::move(c));
    }
    std::sort(characters.begin(), characters.end());
    characters.erase(std::unique(characters.begin(), characters.end()), characters.end());
    std::erase(characters, std::string(" "));
    characters.insert(characters.begin(), " ");
    return VocabTokenizer(std::move(characters));
  }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

/// UTF-8 bytes as ids (vocab 256; F5-TTS `list_str_to_tensor`, ByT5 style).
class ByteTokenizer {
 public:
  int64_t size() const noexcept { return 256; }

  std::vector<int64_t> encode(std::string_view text) const {
    std::vector<int64_t> out;
    out.reserve(text.size());
    for (char c : text) out.push_back(static_cast<unsigned char>(c));
    return out;
  }

  torch::Tensor encode_batch(const std::vector<std::string>& texts) const {
    std::vector<std::vector<int64_t>> ids;
    for (const auto& text : texts) ids.push_back(encode(text));
    return pad_ids(ids);
  }
};

}  // namespace chord::text
