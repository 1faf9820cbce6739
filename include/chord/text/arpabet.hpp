#pragma once
/// @file
/// English front end for Bert-VITS2: espeak-ng `en-us` IPA → ARPAbet phones with stress → the phones,
/// tones and word2ph of Bert-VITS2's English cleaner. Mirrors the conventions of fishaudio/Bert-VITS2
/// 8f7fbd8 `text/english.py` (`g2p`, `refine_ph`, `distribute_phone`) and the EN phone list of
/// `text/symbols.py`, with espeak-ng in place of the reference's CMUdict + g2p_en lookup:
///
/// - phones are lower-case ARPAbet without stress digits ("hh", "ah", "l", "ow"), except "V": the
///   reference lower-cases CMUdict's V and `post_replace_ph` maps "v" back to "V" (lower-case "v" is a
///   Chinese phone of the shared table);
/// - tones follow `refine_ph`: a vowel with ARPAbet stress digit d gets tone d + 1 (unstressed 1,
///   primary 2, secondary 3); a phone without a digit (every consonant) gets tone 3; punctuation 0;
/// - punctuation (! ? … , . ' -) is a word of its own, one phone, tone 0;
/// - the sequence is framed by "_" (tone 0, word2ph 1) at both ends.
///
/// Where the reference differs, on purpose or by necessity:
/// - word2ph counts phones per whitespace word (and per punctuation mark). The reference counts them per
///   DeBERTa-v3 sub-word token, spreading a word's phones over its tokens with `distribute_phone`
///   (given here as distribute_phones()); a BERT feature extractor must redistribute with its own
///   tokenizer. chord trains without BERT features (zeros) unless such files exist.
/// - ASCII ; and : become "," and brackets/double quotes "'", like the reference's full-width map; "..."
///   becomes "…" (the reference's `post_replace_ph` maps "…" to "...", which the table lacks: "UNK").
/// - IPA → ARPAbet choices (CMUdict conventions): the flap ɾ becomes "t", or "d" when the word is
///   spelled with a d and no t; the glottal stop ʔ becomes "t" (button, cotton: CMUdict spells T);
///   syllabic n̩ l̩ m̩ become "ah" + the consonant (CMUdict "AH0 N"); ɚ/ɜː absorb a following ɹ ("er");
///   a doubled ɹɹ is one "r"; o before ɹ is "ao" (more: AO1 R), else "ow"; ᵻ is "ih" (where espeak
///   writes ᵻ, CMUdict has IH0 more often than AH0: 434 to 275 words of a 24k-word sample); x is "k";
///   nasalisation, length marks and tie bars are dropped. Any other symbol is refused, naming it and
///   the word.

#include "chord/core/error.hpp"
#include "chord/text/phonemizer.hpp"
#include "chord/text/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chord::text {

/// One ARPAbet phone: lower-case name and stress (0 none, 1 primary, 2 secondary; -1 for consonants).
struct ArpabetPhone {
  std::string phone;
  int stress = -1;

  bool is_vowel() const noexcept { return stress >= 0; }
  bool operator==(const ArpabetPhone& other) const { return phone == other.phone && stress == other.stress; }
};

/// "ow2", "v": the phone with its stress digit, as CMUdict writes it (for messages).
inline std::ostream& operator<<(std::ostream& out, const ArpabetPhone& phone) {
  out << phone.phone;
  if (phone.is_vowel()) out << phone.stress;
  return out;
}

/// Bert-VITS2's English tone for a phone (`refine_ph`): vowels stress + 1, phones without a stress digit 3.
inline int64_t bert_vits2_english_tone(const ArpabetPhone& phone) { return phone.is_vowel() ? phone.stress + 1 : 3; }

namespace detail {

inline std::string code_point_name(const std::string& character) {
  // Decode for the message: "U+0294".
  uint32_t value = 0;
  const auto lead = static_cast<unsigned char>(character[0]);
  size_t extra = 0;
  if (lead < 0x80) value = lead;
  else if ((lead >> 5) == 0x6) value = lead & 0x1F, extra = 1;
  else if ((lead >> 4) == 0xE) value = lead & 0x0F, extra = 2;
  else value = lead & 0x07, extra = 3;
  for (size_t k = 1; k <= extra && k < character.size(); ++k) value = (value << 6) | (character[k] & 0x3F);
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "U+%04X", value);
  return buffer;
}

/// Marks that carry nothing ARPAbet can express: length, tie bars, linking, nasalisation.
inline bool ignored_ipa_mark(const std::string& c) {
  return c == "\xCB\x90" /* ː */ || c == "\xCB\x91" /* ˑ */ || c == "\xCD\xA1" /* U+0361 tie */ ||
         c == "\xCD\x9C" /* U+035C tie */ || c == "\xE2\x80\xBF" /* ‿ */ || c == "\xCC\x83" /* U+0303 nasal */;
}

inline bool is_tie(const std::string& c) { return c == "\xCD\xA1" || c == "\xCD\x9C"; }

inline const char* ipa_vowel(const std::string& c) {
  if (c == "ɪ" || c == "ᵻ") return "ih";
  if (c == "i") return "iy";
  if (c == "ɛ" || c == "e") return "eh";
  if (c == "æ" || c == "a") return "ae";
  if (c == "ɑ" || c == "ɒ") return "aa";
  if (c == "ʌ" || c == "ə" || c == "ɐ") return "ah";
  if (c == "ɚ" || c == "ɜ") return "er";
  if (c == "ɔ") return "ao";
  if (c == "o") return "ow";
  if (c == "ʊ") return "uh";
  if (c == "u") return "uw";
  return nullptr;
}

inline const char* ipa_consonant(const std::string& c) {
  static const std::pair<const char*, const char*> table[] = {
      {"p", "p"},  {"b", "b"},  {"t", "t"},   {"d", "d"},  {"k", "k"},  {"ɡ", "g"},  {"g", "g"},  {"f", "f"},
      {"v", "V"},  {"θ", "th"}, {"ð", "dh"},  {"s", "s"},  {"z", "z"},  {"ʃ", "sh"}, {"ʒ", "zh"}, {"h", "hh"},
      {"m", "m"},  {"n", "n"},  {"ŋ", "ng"},  {"l", "l"},  {"ɫ", "l"},  {"ɬ", "l"},  {"ɹ", "r"},  {"r", "r"},
      {"ɻ", "r"},  {"j", "y"},  {"w", "w"},   {"ʍ", "w"},  {"x", "k"},  {"ç", "hh"}, {"ʔ", "t"}};
  for (const auto& [ipa, arpabet] : table) {
    if (c == ipa) return arpabet;
  }
  return nullptr;
}

}  // namespace detail

/// Converts one espeak-ng IPA word (stress marks ˈ ˌ before the vowel, as espeak writes them) to
/// ARPAbet. `spelling` (the written word) only decides the flap ɾ: "d" when the spelling has a d and
/// no t, else "t". An IPA symbol without an ARPAbet equivalent is refused, naming it and the word.
inline std::vector<ArpabetPhone> ipa_to_arpabet(std::string_view ipa, std::string_view spelling = {}) {
  const auto chars = utf8_characters(ipa);
  auto describe = [&] {
    return c10::str("IPA word '", std::string(ipa), "'",
                    spelling.empty() ? std::string() : c10::str(" (\"", std::string(spelling), "\")"));
  };
  // The next symbol at or after j that is not a tie bar (tie bars join affricates and diphthongs).
  auto next_base = [&](size_t j, bool skip_length) {
    while (j < chars.size() && (detail::is_tie(chars[j]) || (skip_length && detail::ignored_ipa_mark(chars[j])))) ++j;
    return j;
  };
  auto at = [&](size_t j) -> const std::string& {
    static const std::string none;
    return j < chars.size() ? chars[j] : none;
  };
  const bool flap_is_d = spelling.find_first_of("dD") != std::string_view::npos &&
                         spelling.find_first_of("tT") == std::string_view::npos;

  std::vector<ArpabetPhone> out;
  int pending_stress = 0;
  auto vowel = [&](const char* phone) {
    out.push_back({phone, pending_stress});
    pending_stress = 0;
  };
  for (size_t i = 0; i < chars.size();) {
    const std::string& c = chars[i];
    if (c == "ˈ") {
      pending_stress = 1;
      ++i;
      continue;
    }
    if (c == "ˌ") {
      pending_stress = 2;
      ++i;
      continue;
    }
    if (detail::ignored_ipa_mark(c)) {
      ++i;
      continue;
    }
    // Two-symbol units: diphthongs and affricates (espeak writes them without a tie bar).
    const size_t j = next_base(i + 1, false);
    const std::string pair = c + at(j);
    static const std::pair<const char*, const char*> diphthongs[] = {
        {"aɪ", "ay"}, {"aʊ", "aw"}, {"eɪ", "ey"}, {"oʊ", "ow"}, {"ɔɪ", "oy"}};
    bool matched = false;
    for (const auto& [ipa_pair, arpabet] : diphthongs) {
      if (pair == ipa_pair) {
        vowel(arpabet);
        i = j + 1;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (pair == "tʃ" || pair == "dʒ") {
      out.push_back({pair == "tʃ" ? "ch" : "jh", -1});
      i = j + 1;
      continue;
    }
    if (const char* v = detail::ipa_vowel(c)) {
      const size_t after = next_base(i + 1, true);
      const bool r_follows = at(after) == "ɹ" || at(after) == "r";
      if (std::string_view(v) == "er" && r_follows) {
        vowel("er");  // ɚɹ, ɜːɹ: CMUdict writes ER alone (bribery B R AY1 B ER0 IY0)
        i = after + 1;
        continue;
      }
      vowel(c == "o" && r_follows ? "ao" : v);
      ++i;
      continue;
    }
    const char* consonant = c == "ɾ" ? (flap_is_d ? "d" : "t") : detail::ipa_consonant(c);
    CHORD_CHECK(consonant != nullptr, "IPA symbol '", c, "' (", detail::code_point_name(c), ") in ", describe(),
                " has no ARPAbet equivalent");
    if (at(i + 1) == "\xCC\xA9") {  // U+0329 syllabic: CMUdict writes a reduced vowel before it (button: AH0 N)
      vowel("ah");
      out.push_back({consonant, -1});
      i += 2;
      continue;
    }
    // espeak doubles ɹ between an r-coloured vowel and the next one (curious kjˈʊɹɹiəs): one R in CMUdict.
    const bool doubled_r = std::string_view(consonant) == "r" && i > 0 && (chars[i - 1] == "ɹ" || chars[i - 1] == "r");
    if (!doubled_r) out.push_back({consonant, -1});
    ++i;
  }
  return out;
}

/// A token of English text: a word (as written, for espeak) or a punctuation mark of Bert-VITS2's
/// table (! ? … , . ' -).
struct EnglishToken {
  std::string text;
  bool punctuation = false;
};

/// Text split into tokens, and the text with its punctuation normalised the same way (the filelist's
/// text field).
struct EnglishTokens {
  std::vector<EnglishToken> tokens;
  std::string normalized_text;
};

namespace detail {

/// Bert-VITS2's punctuation mark for a character, or empty when it is not punctuation.
inline std::string english_punctuation(const std::string& c) {
  if (c == "!" || c == "?" || c == "," || c == "." || c == "…") return c;
  if (c == ";" || c == ":") return ",";
  if (c == "'" || c == "\"" || c == "’" || c == "‘" || c == "“" || c == "”" || c == "(" || c == ")" || c == "[" ||
      c == "]" || c == "«" || c == "»")
    return "'";
  if (c == "-" || c == "—" || c == "–" || c == "−" || c == "~") return "-";
  return {};
}

inline bool is_space(const std::string& c) { return c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\v" || c == "\f"; }

inline bool is_ascii_alnum(const std::string& c) {
  return c.size() == 1 && std::isalnum(static_cast<unsigned char>(c[0]));
}

inline bool is_ascii_digit(const std::string& c) {
  return c.size() == 1 && std::isdigit(static_cast<unsigned char>(c[0]));
}

}  // namespace detail

/// Splits English text into words and punctuation marks. Kept inside a word: an apostrophe between
/// letters (didn't, boy's) and "." or "," between digits (3.5, 1,000). A hyphen is a mark of its own,
/// as the reference's tokenizer makes it (GAN-based → GAN - based).
inline EnglishTokens split_english_text(std::string_view text) {
  const auto chars = utf8_characters(text);
  EnglishTokens out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.tokens.push_back({word, false});
    word.clear();
  };
  auto append_text = [&](const std::string& s) {
    if (s == " ") {
      if (!out.normalized_text.empty() && out.normalized_text.back() != ' ') out.normalized_text += ' ';
    } else {
      out.normalized_text += s;
    }
  };
  auto at = [&](size_t j) -> std::string { return j < chars.size() ? chars[j] : std::string(); };
  for (size_t i = 0; i < chars.size(); ++i) {
    const std::string& c = chars[i];
    if (detail::is_space(c)) {
      flush();
      append_text(" ");
      continue;
    }
    if (c == "." && at(i + 1) == "." && at(i + 2) == ".") {
      flush();
      out.tokens.push_back({"…", true});
      append_text("…");
      i += 2;
      continue;
    }
    const bool inside_word = !word.empty() && i + 1 < chars.size();
    if (inside_word && (c == "'" || c == "’") && detail::is_ascii_alnum(chars[i - 1]) &&
        detail::is_ascii_alnum(at(i + 1))) {
      word += "'";
      append_text("'");
      continue;
    }
    if (inside_word && (c == "." || c == ",") && detail::is_ascii_digit(chars[i - 1]) && detail::is_ascii_digit(at(i + 1))) {
      word += c;
      append_text(c);
      continue;
    }
    const std::string mark = detail::english_punctuation(c);
    if (!mark.empty()) {
      flush();
      out.tokens.push_back({mark, true});
      append_text(mark);
      continue;
    }
    word += c;
    append_text(c);
  }
  flush();
  while (!out.normalized_text.empty() && out.normalized_text.back() == ' ') out.normalized_text.pop_back();
  return out;
}

/// `distribute_phone(n_phone, n_word)`: spreads n_phone phones over n_word tokens, one at a time to the
/// first token holding the fewest (how the reference splits a word's phones over its sub-word tokens).
inline std::vector<int64_t> distribute_phones(int64_t n_phone, int64_t n_word) {
  CHORD_CHECK(n_word > 0, "distribute_phones: n_word must be > 0, got ", n_word);
  std::vector<int64_t> counts(static_cast<size_t>(n_word), 0);
  for (int64_t task = 0; task < n_phone; ++task) ++*std::min_element(counts.begin(), counts.end());
  return counts;
}

/// Bert-VITS2's cleaned English: phones and tones framed by "_", and word2ph (1 for each "_", then one
/// entry per token of `tokens`).
struct BertVits2English {
  std::string normalized_text;
  std::vector<EnglishToken> tokens;
  std::vector<std::string> ipa;  ///< per token: the IPA it was converted from (the mark itself for punctuation)
  std::vector<std::string> phones;
  std::vector<int64_t> tones;    ///< raw English tones 0..3
  std::vector<int64_t> word2ph;  ///< sums to phones.size()
};

/// Text → IPA, one call per run of words (espeak's output: space-separated words).
using PhonemizeFunction = std::function<std::string(std::string_view)>;

namespace detail {

inline std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!current.empty()) words.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) words.push_back(current);
  return words;
}

}  // namespace detail

/// English text → Bert-VITS2 phones, tones and word2ph. Each run of words between punctuation marks is
/// phonemized at once, so espeak sees the words in context (the article "a" is "ɐ" in a phrase but the
/// letter name "ˈeɪ" alone). When espeak's word count for a run differs from the text's (numbers,
/// abbreviations, merged words), the run's words are phonemized one by one and each word takes all the
/// IPA words espeak gave for it.
inline BertVits2English english_g2p(std::string_view text, const PhonemizeFunction& phonemize) {
  auto split = split_english_text(text);
  CHORD_CHECK(!split.tokens.empty(), "english_g2p: no words or punctuation in \"", std::string(text), "\"");
  BertVits2English out;
  out.normalized_text = std::move(split.normalized_text);
  out.tokens = std::move(split.tokens);
  out.ipa.resize(out.tokens.size());
  // IPA per word token, run by run.
  for (size_t begin = 0; begin < out.tokens.size();) {
    if (out.tokens[begin].punctuation) {
      out.ipa[begin] = out.tokens[begin].text;
      ++begin;
      continue;
    }
    size_t end = begin;
    std::string run;
    while (end < out.tokens.size() && !out.tokens[end].punctuation) {
      if (!run.empty()) run += ' ';
      run += out.tokens[end].text;
      ++end;
    }
    const auto words = detail::split_spaces(phonemize(run));
    if (words.size() == end - begin) {
      for (size_t k = begin; k < end; ++k) out.ipa[k] = words[k - begin];
    } else {
      for (size_t k = begin; k < end; ++k) out.ipa[k] = phonemize(out.tokens[k].text);
    }
    begin = end;
  }
  out.phones.push_back("_");
  out.tones.push_back(0);
  out.word2ph.push_back(1);
  for (size_t k = 0; k < out.tokens.size(); ++k) {
    const auto& token = out.tokens[k];
    if (token.punctuation) {
      out.phones.push_back(token.text);
      out.tones.push_back(0);
      out.word2ph.push_back(1);
      continue;
    }
    int64_t count = 0;
    for (const auto& ipa_word : detail::split_spaces(out.ipa[k])) {
      for (const auto& phone : ipa_to_arpabet(ipa_word, token.text)) {
        out.phones.push_back(phone.phone);
        out.tones.push_back(bert_vits2_english_tone(phone));
        ++count;
      }
    }
    out.word2ph.push_back(count);
  }
  out.phones.push_back("_");
  out.tones.push_back(0);
  out.word2ph.push_back(1);
  return out;
}

/// english_g2p() with chord's espeak-ng phonemizer (use an `en-us` one: the mapping covers its IPA).
inline BertVits2English english_g2p(std::string_view text, const EspeakPhonemizer& phonemizer) {
  return english_g2p(text, [&](std::string_view words) { return phonemizer.phonemize(words); });
}

}  // namespace chord::text
