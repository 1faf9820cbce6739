#pragma once
/// @file
/// Bert-VITS2 training filelists: the cleaned `wav|speaker|language|text|phones|tones|word2ph` lines
/// that the reference's `preprocess_text.py` writes, the speaker map of its config (`data.spk2id`), and
/// the dataset preparation of `data_utils.TextAudioSpeakerLoader.__init__` (fishaudio/Bert-VITS2
/// 8f7fbd8; reference/vits2.md §5.1): `random.seed(1234); random.shuffle(lines)`, the text-length
/// filter and the bucketing length `file_size // (2 * hop_length)`.
///
/// Where the reference fails late with a bare KeyError / ValueError / assertion (or not at all), every
/// check here names the file and line: field count, language, unknown phones, tones outside the
/// language's range, phone/tone count mismatch, word2ph not summing to the phone count, unknown
/// speakers, missing WAVs. What the reference drops silently is counted in a report instead.

#include "chord/core/error.hpp"
#include "chord/systems/bert_vits2/symbols.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chord::systems::bert_vits2 {

/// One filelist line, checked.
struct FilelistEntry {
  std::filesystem::path wav;            ///< as written, resolved against FilelistOptions::base_dir
  std::string speaker;
  Language language = Language::zh;
  std::string text;                     ///< normalised text (only BERT extraction reads it)
  std::vector<std::string> phones;      ///< space-separated phones, blanks not yet interspersed
  std::vector<int64_t> tones;           ///< raw tones of the language (offsets not yet added)
  std::vector<int64_t> word2ph;         ///< phones per normalised character (incl. the start/end pads)
  /// `len(phones)` of the reference's filter: code points of the raw, space-joined phone field.
  int64_t phone_field_length = 0;
  std::filesystem::path source;         ///< the filelist it came from
  size_t line = 0;                      ///< 1-based line number there

  /// "filelist 'x' line n" for messages.
  std::string where() const { return c10::str("filelist '", source.string(), "' line ", line); }
};

namespace detail {

inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

/// Python's `str.strip()` for the ASCII whitespace a filelist line can carry.
inline std::string_view strip(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n\v\f");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n\v\f") - first + 1);
}

inline int64_t utf8_code_points(std::string_view text) {
  int64_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

/// Space-separated integers; the field name and the offending token go into the message.
inline std::vector<int64_t> parse_ints(std::string_view field, const char* name, const std::string& where) {
  std::vector<int64_t> values;
  for (auto token : split(field, ' ')) {
    int64_t value = 0;
    const char* begin = token.data();
    if (!token.empty() && token.front() == '+') ++begin;  // Python's int() accepts a sign
    const auto [end, error] = std::from_chars(begin, token.data() + token.size(), value);
    CHORD_CHECK(!token.empty() && error == std::errc() && end == token.data() + token.size(), where, ": ", name,
                " field holds '", std::string(token), "', not an integer (expected space-separated integers)");
    values.push_back(value);
  }
  return values;
}

}  // namespace detail

/// Parses one line of `source` (number `line`); errors name both.
inline FilelistEntry parse_filelist_line(std::string_view raw, const std::filesystem::path& source = {},
                                         size_t line = 0, const std::filesystem::path& base_dir = {}) {
  FilelistEntry entry;
  entry.source = source;
  entry.line = line;
  const std::string where = entry.where();
  const auto fields = detail::split(detail::strip(raw), '|');
  CHORD_CHECK(fields.size() == 7, where, ": ", fields.size(),
              " '|'-separated fields, expected 7 (wav|speaker|language|text|phones|tones|word2ph)");
  CHORD_CHECK(!fields[0].empty(), where, ": empty wav path");
  const std::filesystem::path wav{std::string(fields[0])};
  entry.wav = (wav.is_absolute() || base_dir.empty()) ? wav : base_dir / wav;
  entry.speaker = std::string(fields[1]);
  try {
    entry.language = parse_language(fields[2]);
  } catch (const Error& error) {
    CHORD_FAIL(where, ": ", error.what());
  }
  entry.text = std::string(fields[3]);
  entry.phone_field_length = detail::utf8_code_points(fields[4]);
  for (auto phone : detail::split(fields[4], ' ')) {
    CHORD_CHECK(!phone.empty(), where, ": empty phone in '", std::string(fields[4]),
                "' (phones are separated by single spaces)");
    entry.phones.emplace_back(phone);
  }
  entry.tones = detail::parse_ints(fields[5], "tones", where);
  entry.word2ph = detail::parse_ints(fields[6], "word2ph", where);
  CHORD_CHECK(entry.phones.size() == entry.tones.size(), where, ": ", entry.phones.size(), " phones but ",
              entry.tones.size(), " tones");
  int64_t total = 0;
  for (auto n : entry.word2ph) {
    CHORD_CHECK(n >= 0, where, ": negative word2ph entry ", n);
    total += n;
  }
  CHORD_CHECK(total == static_cast<int64_t>(entry.phones.size()), where, ": word2ph sums to ", total, " but there are ",
              entry.phones.size(), " phones");
  try {
    (void)cleaned_text_to_sequence(entry.phones, entry.tones, entry.language);  // unknown phones, tone ranges
  } catch (const Error& error) {
    CHORD_FAIL(where, ": ", error.what());
  }
  return entry;
}

/// Reads a whole filelist (UTF-8, one line per utterance), in file order. Relative WAV paths are
/// resolved against `base_dir` when given; the reference opens them relative to its working directory.
inline std::vector<FilelistEntry> read_filelist(const std::filesystem::path& path,
                                                const std::filesystem::path& base_dir = {}) {
  std::ifstream in(path, std::ios::binary);
  CHORD_CHECK(in, "cannot open filelist '", path.string(), "'");
  std::vector<FilelistEntry> entries;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    entries.push_back(parse_filelist_line(line, path, number, base_dir));
  }
  return entries;
}

/// `hps.data.spk2id`: speaker name → embedding row.
using SpeakerMap = std::map<std::string, int64_t>;

/// The speaker map of a Bert-VITS2 config (`{"data": {"spk2id": {...}, "n_speakers": N}}`): ids must be
/// integers in `[0, n_speakers)` when n_speakers is given.
inline SpeakerMap speaker_map_from_config(const nlohmann::json& config, const std::string& name = "config") {
  CHORD_CHECK(config.contains("data") && config["data"].contains("spk2id") && config["data"]["spk2id"].is_object(),
              name, ": no object data.spk2id");
  std::optional<int64_t> n_speakers;
  if (config["data"].contains("n_speakers") && config["data"]["n_speakers"].is_number_integer()) {
    n_speakers = config["data"]["n_speakers"].get<int64_t>();
  }
  SpeakerMap map;
  for (const auto& [speaker, id] : config["data"]["spk2id"].items()) {
    CHORD_CHECK(id.is_number_integer(), name, ": data.spk2id[\"", speaker, "\"] is not an integer");
    const auto value = id.get<int64_t>();
    CHORD_CHECK(value >= 0 && (!n_speakers || value < *n_speakers), name, ": data.spk2id[\"", speaker, "\"] = ", value,
                " is outside [0, n_speakers = ", n_speakers.value_or(-1), ")");
    map.emplace(speaker, value);
  }
  return map;
}

/// Reads config.json and returns its speaker map.
inline SpeakerMap read_speaker_map(const std::filesystem::path& config_path) {
  std::ifstream in(config_path);
  CHORD_CHECK(in, "cannot open config '", config_path.string(), "'");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    CHORD_FAIL("config '", config_path.string(), "': ", error.what());
  }
  return speaker_map_from_config(config, c10::str("config '", config_path.string(), "'"));
}

/// CPython's `random.Random`: MT19937 seeded with `init_by_array`, `shuffle` through `_randbelow`
/// (getrandbits with rejection). Only what the dataset's `random.seed(1234); random.shuffle(...)` uses.
class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed) {
    // random.seed(int): the 32-bit words of |seed|, least significant first (at least one).
    std::vector<uint32_t> key;
    do {
      key.push_back(static_cast<uint32_t>(seed & 0xffffffffULL));
      seed >>= 32;
    } while (seed != 0);
    init_by_array(key);
  }

  uint32_t next_uint32() {
    if (index_ >= kN) twist();
    uint32_t y = state_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
  }

  /// `getrandbits(k)` for 1 <= k <= 32.
  uint32_t getrandbits(int k) { return next_uint32() >> (32 - k); }

  /// `_randbelow(n)` for n >= 1.
  uint64_t randbelow(uint64_t n) {
    int k = 0;
    for (uint64_t v = n; v != 0; v >>= 1) ++k;  // n.bit_length()
    CHORD_CHECK(k <= 32, "PythonRandom::randbelow supports n < 2^32, got ", n);
    uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return r;
  }

  /// `random.shuffle(items)`.
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i-- > 1;) std::swap(items[i], items[randbelow(i + 1)]);
  }

 private:
  static constexpr size_t kN = 624, kM = 397;

  void init_genrand(uint32_t s) {
    state_[0] = s;
    for (size_t i = 1; i < kN; ++i) {
      state_[i] = 1812433253U * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<uint32_t>(i);
    }
    index_ = kN;
  }

  void init_by_array(const std::vector<uint32_t>& key) {
    init_genrand(19650218U);
    size_t i = 1, j = 0;
    for (size_t k = std::max(kN, key.size()); k > 0; --k) {
      state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<uint32_t>(j);
      ++i;
      ++j;
      if (i >= kN) {
        state_[0] = state_[kN - 1];
        i = 1;
      }
      if (j >= key.size()) j = 0;
    }
    for (size_t k = kN - 1; k > 0; --k) {
      state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941U)) - static_cast<uint32_t>(i);
      ++i;
      if (i >= kN) {
        state_[0] = state_[kN - 1];
        i = 1;
      }
    }
    state_[0] = 0x80000000U;
    index_ = kN;
  }

  void twist() {
    for (size_t i = 0; i < kN; ++i) {
      const uint32_t y = (state_[i] & 0x80000000U) | (state_[(i + 1) % kN] & 0x7fffffffU);
      state_[i] = state_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
    }
    index_ = 0;
  }

  uint32_t state_[kN] = {};
  size_t index_ = kN;
};

/// The loader's settings (`hps.data` and the loader's defaults).
struct FilelistOptions {
  int64_t hop_length = 512;
  int64_t min_text_len = 1;    ///< `getattr(hparams, "min_text_len", 1)`
  int64_t max_text_len = 384;  ///< `getattr(hparams, "max_text_len", 384)`
  bool shuffle = true;         ///< the reference always shuffles
  uint64_t shuffle_seed = 1234;
};

/// What preparation kept and dropped.
struct FilelistReport {
  size_t read = 0;
  size_t too_short = 0;  ///< phone field shorter than min_text_len characters
  size_t too_long = 0;   ///< phone field longer than max_text_len characters
  size_t kept = 0;
};

/// The dataset after `TextAudioSpeakerLoader.__init__`: entries in the reference's (shuffled) order and
/// their bucketing lengths.
struct PreparedFilelist {
  std::vector<FilelistEntry> entries;
  std::vector<int64_t> lengths;  ///< `os.path.getsize(wav) // (2 * hop_length)`
  FilelistReport report;
};

/// Shuffles and filters like the reference. Note its quirk, kept for parity: the filter compares the
/// character count of the raw phone field (phones plus separating spaces), not the number of phones.
/// Kept entries must name an existing WAV and, when `speakers` is given, a known speaker.
inline PreparedFilelist prepare_filelist(std::vector<FilelistEntry> entries, const FilelistOptions& options = {},
                                         const SpeakerMap* speakers = nullptr) {
  CHORD_CHECK(options.hop_length > 0, "prepare_filelist: hop_length must be > 0, got ", options.hop_length);
  if (options.shuffle) PythonRandom(options.shuffle_seed).shuffle(entries);
  PreparedFilelist out;
  out.report.read = entries.size();
  for (auto& entry : entries) {
    if (entry.phone_field_length < options.min_text_len) {
      ++out.report.too_short;
      continue;
    }
    if (entry.phone_field_length > options.max_text_len) {
      ++out.report.too_long;
      continue;
    }
    std::error_code error;
    const auto bytes = std::filesystem::file_size(entry.wav, error);
    CHORD_CHECK(!error, entry.where(), ": cannot read the size of WAV '", entry.wav.string(), "' (", error.message(),
                ")");
    if (speakers) {
      CHORD_CHECK(speakers->count(entry.speaker), entry.where(), ": speaker '", entry.speaker,
                  "' is not in the config's data.spk2id");
    }
    out.lengths.push_back(static_cast<int64_t>(bytes) / (2 * options.hop_length));
    out.entries.push_back(std::move(entry));
  }
  out.report.kept = out.entries.size();
  return out;
}

/// Items the bucket sampler will drop: lengths `<= boundaries.front()` or `> boundaries.back()` (the
/// reference drops them without a word).
struct BucketDrops {
  size_t too_short = 0;
  size_t too_long = 0;
};

inline BucketDrops count_bucket_drops(const std::vector<int64_t>& lengths, const std::vector<int64_t>& boundaries) {
  CHORD_CHECK(boundaries.size() >= 2, "count_bucket_drops: at least two boundaries expected");
  BucketDrops drops;
  for (auto length : lengths) {
    if (length <= boundaries.front()) ++drops.too_short;
    else if (length > boundaries.back()) ++drops.too_long;
  }
  return drops;
}

}  // namespace chord::systems::bert_vits2
