#pragma once
/// @file
/// Tokenizers for T5 text encoders: the SentencePiece Unigram model of a Hugging Face `tokenizer.json`
/// (t5-base's), and ByT5-style bytes (chord's offline text encoder). Both append `</s>` and pad or
/// truncate to a fixed length with an attention mask, as `tokenizer(texts, truncation=True,
/// max_length=L, padding="max_length")` does for the Stable Audio T5 conditioner.

#include "chord/core/error.hpp"
#include "chord/io/json_checks.hpp"
#include "chord/text/utf8.hpp"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace chord::text {

/// Token ids `[B, L]` (int64, padded with 0) and the attention mask `[B, L]` (1 = token).
struct EncodedTexts {
  torch::Tensor ids, mask;
};

/// Pads or truncates id sequences to `length`; a truncated sequence keeps `eos` as its last token, as
/// HF truncation of a template "$A </s>" does.
inline EncodedTexts pad_to_length(const std::vector<std::vector<int64_t>>& sequences, int64_t length, int64_t eos) {
  CHORD_CHECK(length > 0, "token length must be positive, got ", length);
  const auto b = static_cast<int64_t>(sequences.size());
  auto ids = torch::zeros({b, length}, torch::kLong);
  auto mask = torch::zeros({b, length}, torch::kLong);
  auto a = ids.accessor<int64_t, 2>();
  auto m = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& s = sequences[i];
    const auto n = std::min<int64_t>(static_cast<int64_t>(s.size()), length);
    for (int64_t j = 0; j < n; ++j) {
      a[i][j] = s[j];
      m[i][j] = 1;
    }
    if (static_cast<int64_t>(s.size()) > length && eos >= 0) a[i][length - 1] = eos;
  }
  return {ids, mask};
}

/// SentencePiece Unigram segmentation (Viterbi over the piece log-probabilities) from a Hugging Face
/// `tokenizer.json` with `"model": {"type": "Unigram"}`.
///
/// Pre-tokenisation as T5's: whitespace runs split words, each word gets the "▁" prefix. The
/// `Precompiled` normaliser (SentencePiece's NFKC character map) is not applied: for text whose
/// characters it leaves alone (ASCII and most Latin text) the ids equal the Hugging Face tokenizer's
/// (tests/saga_sr pins this); other characters may segment differently.
class UnigramTokenizer {
 public:
  static UnigramTokenizer from_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    CHORD_CHECK(in, "cannot open tokenizer file '", path.string(), "'");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& error) {
      CHORD_FAIL("tokenizer file '", path.string(), "' is not valid JSON: ", error.what());
    }
    CHORD_CHECK(j.contains("model") && j["model"].value("type", "") == "Unigram", "tokenizer file '", path.string(),
                "' has no Unigram model (model.type must be \"Unigram\"; t5-base's tokenizer.json has one)");
    UnigramTokenizer t;
    const auto& vocab = j["model"].at("vocab");
    double lowest = std::numeric_limits<double>::max();
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string piece = vocab[id].at(0);
      const double score = vocab[id].at(1);
      t.pieces_.emplace(piece, Piece{static_cast<int64_t>(id), score});
      t.longest_ = std::max(t.longest_, piece.size());
      lowest = std::min(lowest, score);
    }
    t.size_ = static_cast<int64_t>(vocab.size());
    if (j.contains("added_tokens")) {
      for (const auto& added : j["added_tokens"]) {
        CHORD_CHECK(added.contains("id") && io::json_holds<int32_t>(added.at("id")) && added.at("id").get<int64_t>() >= 0,
                    "tokenizer file '", path.string(), "': an added token's id is not a non-negative integer: ", added.dump());
        t.size_ = std::max<int64_t>(t.size_, added.at("id").get<int64_t>() + 1);
      }
    }
    if (j["model"].contains("unk_id")) {
      CHORD_CHECK(io::json_holds<int32_t>(j["model"]["unk_id"]), "tokenizer file '", path.string(), "': model.unk_id is not an integer");
    }
    t.unk_ = j["model"].value("unk_id", int64_t{2});
    t.unk_score_ = lowest - 10.0;  // SentencePiece's kUnkPenalty
    auto eos = t.pieces_.find("</s>");
    t.eos_ = eos == t.pieces_.end() ? -1 : eos->second.id;
    return t;
  }

  /// Ids of one text, `</s>` appended.
  std::vector<int64_t> encode(std::string_view text) const {
    std::vector<int64_t> ids;
    std::istringstream words{std::string(text)};
    for (std::string word; words >> word;) segment("\xE2\x96\x81" + word, ids);  // U+2581 "▁"
    if (eos_ >= 0) ids.push_back(eos_);
    return ids;
  }
  EncodedTexts encode_batch(const std::vector<std::string>& texts, int64_t length) const {
    std::vector<std::vector<int64_t>> all;
    for (const auto& t : texts) all.push_back(encode(t));
    return pad_to_length(all, length, eos_);
  }
  int64_t vocab_size() const noexcept { return size_; }

 private:
  struct Piece {
    int64_t id;
    double score;
  };

  /// Best-scoring segmentation of `word` (Viterbi over UTF-8 character boundaries); characters no
  /// piece covers become <unk>, consecutive ones fused.
  void segment(const std::string& word, std::vector<int64_t>& out) const {
    std::vector<size_t> bounds{0};
    for (const auto& c : utf8_characters(word)) bounds.push_back(bounds.back() + c.size());
    const size_t n = bounds.size() - 1;
    std::vector<double> best(n + 1, -std::numeric_limits<double>::infinity());
    std::vector<size_t> from(n + 1, 0);
    std::vector<int64_t> piece_id(n + 1, -1);
    best[0] = 0.0;
    for (size_t i = 0; i < n; ++i) {
      if (best[i] == -std::numeric_limits<double>::infinity()) continue;
      bool single_char_known = false;
      for (size_t j = i + 1; j <= n && bounds[j] - bounds[i] <= longest_; ++j) {
        auto found = pieces_.find(word.substr(bounds[i], bounds[j] - bounds[i]));
        if (found == pieces_.end()) continue;
        if (j == i + 1) single_char_known = true;
        const double score = best[i] + found->second.score;
        if (score > best[j]) best[j] = score, from[j] = i, piece_id[j] = found->second.id;
      }
      if (!single_char_known && best[i] + unk_score_ > best[i + 1]) {
        best[i + 1] = best[i] + unk_score_, from[i + 1] = i, piece_id[i + 1] = unk_;
      }
    }
    std::vector<int64_t> reversed;
    for (size_t j = n; j > 0; j = from[j]) {
      if (!(piece_id[j] == unk_ && !reversed.empty() && reversed.back() == unk_)) reversed.push_back(piece_id[j]);
    }
    out.insert(out.end(), reversed.rbegin(), reversed.rend());
  }

  std::unordered_map<std::string, Piece> pieces_;
  size_t longest_ = 1;
  int64_t size_ = 0, unk_ = 2, eos_ = 1;
  double unk_score_ = -10.0;
};

/// ByT5's byte vocabulary: id = byte + 3 (0 pad, 1 `</s>`, 2 unk), `</s>` appended.
struct ByT5Tokenizer {
  static constexpr int64_t eos = 1, offset = 3;
  std::vector<int64_t> encode(std::string_view text) const {
    std::vector<int64_t> ids;
    ids.reserve(text.size() + 1);
    for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c) + offset);
    ids.push_back(eos);
    return ids;
  }
  EncodedTexts encode_batch(const std::vector<std::string>& texts, int64_t length) const {
    std::vector<std::vector<int64_t>> all;
    for (const auto& t : texts) all.push_back(encode(t));
    return pad_to_length(all, length, eos);
  }
  int64_t vocab_size() const noexcept { return 256 + offset; }
};

}  // namespace chord::text
