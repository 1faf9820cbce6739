#pragma once
/// @file
/// F5-TTS's text front end for alphabetic scripts, as the reference's inference helpers do it: text to
/// tokens and token ids, the characters a vocabulary lacks, a reference transcript's ending, and long
/// text split into chunks at sentence punctuation.

#include "chord/core/error.hpp"
#include "chord/text/tokenizer.hpp"
#include "chord/text/utf8.hpp"

#include <torch/types.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chord::text::f5tts {

/// The reference's text front end for alphabetic scripts (`convert_char_to_pinyin` without the
/// Chinese branch): `;` → `,`, curly quotes → straight, and a space inserted before a multi-character
/// word that directly follows punctuation. Chinese needs pinyin tokens, which chord does not produce:
/// convert with the Python front end and pass the tokens to VocabTokenizer::encode_tokens.
inline std::vector<std::string> text_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::vector<std::string> chars;
  for (auto& c : text::utf8_characters(text)) {
    if (c == ";") c = ",";
    else if (c == "\xE2\x80\x9C" || c == "\xE2\x80\x9D") c = "\"";
    else if (c == "\xE2\x80\x98" || c == "\xE2\x80\x99") c = "'";
    chars.push_back(std::move(c));
  }
  auto is_word_char = [](const std::string& c) {
    return c.size() == 1 && (std::isalnum(static_cast<unsigned char>(c[0])) != 0);
  };
  for (size_t i = 0; i < chars.size();) {
    if (is_word_char(chars[i])) {
      size_t j = i;
      while (j < chars.size() && is_word_char(chars[j])) ++j;
      if (j - i > 1 && !out.empty() && std::string(" :'\"").find(out.back()) == std::string::npos) out.push_back(" ");
      for (size_t k = i; k < j; ++k) out.push_back(chars[k]);
      i = j;
    } else {
      out.push_back(chars[i++]);
    }
  }
  return out;
}

/// Token ids `[B, max_len]` (padded with -1) of texts through the F5-TTS front end.
inline torch::Tensor text_ids(const text::VocabTokenizer& vocab, const std::vector<std::string>& texts) {
  std::vector<std::vector<int64_t>> ids;
  ids.reserve(texts.size());
  for (const auto& t : texts) ids.push_back(vocab.encode_tokens(text_tokens(t)));
  return text::pad_ids(ids);
}

/// The characters of `texts` the vocabulary lacks, spaces aside: the model reads each as a space.
inline std::vector<std::string> unknown_characters(const text::VocabTokenizer& vocab, const std::vector<std::string>& texts) {
  std::vector<std::string> tokens;
  for (const auto& t : texts) {
    for (auto& token : text_tokens(t)) tokens.push_back(std::move(token));
  }
  return vocab.unknown(tokens);
}

/// Makes a reference transcript end like the reference's preprocessing does: with ". " (or "。").
/// A blank transcript is refused: the reference would turn it into ". " and the duration rule would
/// then read the whole prompt as one character (25 s of output for "Hello there.").
inline std::string normalize_reference_text(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
  CHORD_CHECK(!text.empty(), "the reference text is empty: F5-TTS needs the transcript of the reference audio "
              "(the reference implementation would transcribe it with Whisper; chord does not)");
  const bool cjk_stop = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xE3\x80\x82") == 0;
  if (cjk_stop) return text;
  if (!text.empty() && text.back() == '.') return text + " ";
  return text + ". ";
}

/// Splits long text into chunks of at most `max_bytes` UTF-8 bytes at sentence punctuation
/// (`;:,.!?` followed by whitespace, or the full-width `；：，。！？`), as the reference's `chunk_text`.
inline std::vector<std::string> chunk_text(const std::string& text, size_t max_bytes = 135) {
  std::vector<std::string> sentences;
  std::string current;
  const auto chars = text::utf8_characters(text);
  const std::vector<std::string> wide{"\xEF\xBC\x9B", "\xEF\xBC\x9A", "\xEF\xBC\x8C", "\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"};
  for (size_t i = 0; i < chars.size(); ++i) {
    current += chars[i];
    const bool ascii_stop = chars[i].size() == 1 && std::string(";:,.!?").find(chars[i][0]) != std::string::npos;
    const bool next_space = i + 1 < chars.size() && chars[i + 1].size() == 1 && std::isspace(static_cast<unsigned char>(chars[i + 1][0]));
    if (ascii_stop && next_space) {
      sentences.push_back(current);
      current.clear();
      while (i + 1 < chars.size() && chars[i + 1].size() == 1 && std::isspace(static_cast<unsigned char>(chars[i + 1][0]))) ++i;
    } else if (std::find(wide.begin(), wide.end(), chars[i]) != wide.end()) {
      sentences.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) sentences.push_back(current);

  std::vector<std::string> chunks;
  std::string chunk;
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t\n");
    const auto e = s.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  for (const auto& sentence : sentences) {
    if (sentence.empty()) continue;
    const bool single_byte_end = static_cast<unsigned char>(sentence.back()) < 0x80;
    const std::string piece = single_byte_end ? sentence + " " : sentence;
    if (chunk.size() + sentence.size() <= max_bytes) {
      chunk += piece;
    } else {
      if (!chunk.empty()) chunks.push_back(trim(chunk));
      chunk = piece;
    }
  }
  if (!chunk.empty()) chunks.push_back(trim(chunk));
  return chunks;
}

}  // namespace chord::text::f5tts
