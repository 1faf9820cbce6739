#pragma once
/// @file
/// Bert-VITS2's phone symbol table, tone offsets and language ids, and the conversion of a cleaned
/// phone/tone sequence to ids. Mirrors fishaudio/Bert-VITS2 8f7fbd8 `text/symbols.py` and
/// `text/__init__.py::cleaned_text_to_sequence` (reference/vits2.md §5.1), plus `commons.intersperse`.
///
/// The table is built the way the reference builds it (pad, the sorted union of the three languages'
/// phones, punctuation, "SP", "UNK"), so its order is the reference's: ids index the embedding rows of a
/// converted checkpoint. Unlike the reference, an unknown phone or a tone outside its language's range is
/// refused by name instead of raising a bare KeyError or silently indexing another language's tones.

#include "chord/core/error.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chord::systems::bert_vits2 {

/// The three languages of Bert-VITS2 2.x, in `language_id_map` order.
enum class Language : int64_t { zh = 0, jp = 1, en = 2 };

inline constexpr int64_t num_languages = 3;
inline constexpr int64_t num_zh_tones = 6;
inline constexpr int64_t num_ja_tones = 2;
inline constexpr int64_t num_en_tones = 4;
/// Rows of the tone embedding: all languages' tones side by side.
inline constexpr int64_t num_tones = num_zh_tones + num_ja_tones + num_en_tones;

/// The filelist spelling of a language ("ZH", "JP", "EN").
inline std::string_view language_name(Language language) {
  switch (language) {
    case Language::zh: return "ZH";
    case Language::jp: return "JP";
    case Language::en: return "EN";
  }
  return "?";
}

/// "ZH" / "JP" / "EN" → Language; anything else is refused by name.
inline Language parse_language(std::string_view name) {
  if (name == "ZH") return Language::zh;
  if (name == "JP") return Language::jp;
  if (name == "EN") return Language::en;
  CHORD_FAIL("unknown Bert-VITS2 language '", std::string(name), "' (expected ZH, JP or EN)");
}

/// `language_id_map[language]`.
inline int64_t language_id(Language language) { return static_cast<int64_t>(language); }

/// `language_tone_start_map[language]`: where the language's tones start in the shared tone table.
inline int64_t tone_start(Language language) {
  switch (language) {
    case Language::zh: return 0;
    case Language::jp: return num_zh_tones;
    case Language::en: return num_zh_tones + num_ja_tones;
  }
  return 0;
}

/// How many tones the language has: its raw tones lie in `[0, tone_count)`.
inline int64_t tone_count(Language language) {
  switch (language) {
    case Language::zh: return num_zh_tones;
    case Language::jp: return num_ja_tones;
    case Language::en: return num_en_tones;
  }
  return 0;
}

namespace detail {

inline std::vector<std::string> build_symbols() {
  // Phone inventories of text/symbols.py; only their union matters, the table sorts it.
  static const char* const zh[] = {
      "E",  "En",  "a",  "ai",  "an",   "ang", "ao",  "b",   "c",   "ch",   "d",  "e",  "ei", "en",  "eng", "er", "f",
      "g",  "h",   "i",  "i0",  "ia",   "ian", "iang", "iao", "ie", "in",   "ing", "iong", "ir", "iu", "j",  "k",  "l",
      "m",  "n",   "o",  "ong", "ou",   "p",   "q",   "r",   "s",   "sh",   "t",  "u",  "ua", "uai", "uan", "uang",
      "ui", "un",  "uo", "v",   "van",  "ve",  "vn",  "w",   "x",   "y",    "z",  "zh", "AA", "EE",  "OO"};
  static const char* const ja[] = {"N",  "a",  "a:", "b",  "by", "ch", "d", "dy", "e",  "e:", "f", "g",  "gy", "h",
                                   "hy", "i",  "i:", "j",  "k",  "ky", "m", "my", "n",  "ny", "o", "o:", "p",  "py",
                                   "q",  "r",  "ry", "s",  "sh", "t",  "ts", "ty", "u", "u:", "w", "y",  "z",  "zy"};
  static const char* const en[] = {"aa", "ae", "ah", "ao", "aw", "ay", "b",  "ch", "d",  "dh", "eh", "er", "ey",
                                   "f",  "g",  "hh", "ih", "iy", "jh", "k",  "l",  "m",  "n",  "ng", "ow", "oy",
                                   "p",  "r",  "s",  "sh", "t",  "th", "uh", "uw", "V",  "w",  "y",  "z",  "zh"};
  std::vector<std::string> normal;
  for (const char* s : zh) normal.emplace_back(s);
  for (const char* s : ja) normal.emplace_back(s);
  for (const char* s : en) normal.emplace_back(s);
  // Python's sorted() on str compares code points; for these ASCII names that is byte order.
  std::sort(normal.begin(), normal.end());
  normal.erase(std::unique(normal.begin(), normal.end()), normal.end());
  std::vector<std::string> table{"_"};
  table.insert(table.end(), normal.begin(), normal.end());
  for (const char* s : {"!", "?", "\xE2\x80\xA6", ",", ".", "'", "-", "SP", "UNK"}) table.emplace_back(s);
  return table;
}

}  // namespace detail

/// `text.symbols.symbols`: 112 entries, id 0 = pad "_" (also the blank of `add_blank`).
inline const std::vector<std::string>& symbols() {
  static const std::vector<std::string> table = detail::build_symbols();
  return table;
}

/// `_symbol_to_id[phone]`; an unknown phone is refused by name.
inline int64_t symbol_id(std::string_view phone) {
  static const std::unordered_map<std::string, int64_t> ids = [] {
    std::unordered_map<std::string, int64_t> map;
    const auto& table = symbols();
    for (size_t i = 0; i < table.size(); ++i) map.emplace(table[i], static_cast<int64_t>(i));
    return map;
  }();
  auto it = ids.find(std::string(phone));
  CHORD_CHECK(it != ids.end(), "unknown Bert-VITS2 phone '", std::string(phone), "' (not in text/symbols.py)");
  return it->second;
}

/// Ids of the silence/punctuation symbols (`sil_phonemes_ids`).
inline std::vector<int64_t> silence_phoneme_ids() {
  std::vector<int64_t> ids;
  for (const char* s : {"!", "?", "\xE2\x80\xA6", ",", ".", "'", "-", "SP", "UNK"}) ids.push_back(symbol_id(s));
  return ids;
}

/// Phone, tone and language ids of one utterance (before blanks are interspersed).
struct PhoneSequence {
  std::vector<int64_t> phones;
  std::vector<int64_t> tones;      ///< raw tone + the language's tone start
  std::vector<int64_t> languages;  ///< the language id, once per phone
};

/// `cleaned_text_to_sequence(phones, tones, language)`. `phones` and `tones` must have equal length;
/// each raw tone must lie in `[0, tone_count(language))` (the reference does not check, and an
/// out-of-range tone would select another language's tone embedding).
inline PhoneSequence cleaned_text_to_sequence(const std::vector<std::string>& phones, const std::vector<int64_t>& tones,
                                              Language language) {
  CHORD_CHECK(phones.size() == tones.size(), "cleaned_text_to_sequence: ", phones.size(), " phones but ",
              tones.size(), " tones");
  PhoneSequence out;
  const int64_t start = tone_start(language), count = tone_count(language);
  for (size_t i = 0; i < phones.size(); ++i) {
    out.phones.push_back(symbol_id(phones[i]));
    CHORD_CHECK(tones[i] >= 0 && tones[i] < count, "tone ", tones[i], " of phone '", phones[i], "' (position ", i,
                ") is outside [0, ", count, ") for language ", language_name(language));
    out.tones.push_back(tones[i] + start);
    out.languages.push_back(language_id(language));
  }
  return out;
}

/// `commons.intersperse(seq, item)`: `[item, s0, item, s1, ..., item]`, length 2n+1.
inline std::vector<int64_t> intersperse(const std::vector<int64_t>& sequence, int64_t item) {
  std::vector<int64_t> out(2 * sequence.size() + 1, item);
  for (size_t i = 0; i < sequence.size(); ++i) out[2 * i + 1] = sequence[i];
  return out;
}

}  // namespace chord::systems::bert_vits2
