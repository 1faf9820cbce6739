#pragma once
/// @file
/// Text → IPA phonemes through libespeak-ng.

#include "chord/core/error.hpp"

#include <espeak-ng/speak_lib.h>

#include <mutex>
#include <string>
#include <string_view>

namespace chord::text {

/// The process-wide lock around libespeak-ng, whose state is global. Hold it for any espeak call.
inline std::mutex& espeak_mutex() {
  static std::mutex instance;
  return instance;
}

/// Initialises libespeak-ng once per process (synchronous mode) and returns its sample rate.
/// Call with espeak_mutex() held.
inline int espeak_initialize() {
  static const int sample_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
  CHORD_CHECK(sample_rate > 0, "espeak-ng failed to initialise (is the espeak-ng-data package installed?)");
  return sample_rate;
}

/// IPA transcription with espeak-ng (the phonemizer VITS-family models are trained with).
/// espeak-ng keeps global state, so every call is serialised through one process-wide lock.
class EspeakPhonemizer {
 public:
  /// @param voice an espeak-ng voice / language name, e.g. "en-us", "en-gb", "de", "cmn".
  explicit EspeakPhonemizer(std::string voice = "en-us") : voice_(std::move(voice)) {
    std::lock_guard<std::mutex> lock(espeak_mutex());
    espeak_initialize();
    CHORD_CHECK(espeak_SetVoiceByName(voice_.c_str()) == EE_OK, "espeak-ng has no voice '", voice_,
                "' (list them with `espeak-ng --voices`)");
  }

  const std::string& voice() const noexcept { return voice_; }

  /// IPA for `text`; clauses are joined with a space (espeak drops punctuation).
  std::string phonemize(std::string_view text) const {
    std::lock_guard<std::mutex> lock(espeak_mutex());
    espeak_SetVoiceByName(voice_.c_str());
    std::string input(text);
    const void* cursor = input.c_str();
    std::string out;
    while (cursor != nullptr) {
      const char* phonemes = espeak_TextToPhonemes(&cursor, espeakCHARS_UTF8, espeakPHONEMES_IPA);
      if (phonemes == nullptr) break;
      std::string clause(phonemes);
      if (clause.empty()) continue;
      if (!out.empty()) out += ' ';
      out += clause;
    }
    return out;
  }

 private:
  std::string voice_;
};

}  // namespace chord::text
