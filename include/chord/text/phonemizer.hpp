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

/// Makes `voice` espeak-ng's current voice, loading it only when another one is current. Call with
/// espeak_mutex() held. espeak-ng 1.51 loses about 1.3 kB on every espeak_SetVoiceByName from the
/// ~170th call on (measured: 1000 calls leave 1.1 MB unreachable), so a phonemizer that reselected its
/// voice on every call grew without bound over a large corpus.
inline espeak_ERROR espeak_select_voice(const std::string& voice) {
  static std::string current;
  if (!current.empty() && voice == current) return EE_OK;
  const espeak_ERROR status = espeak_SetVoiceByName(voice.c_str());
  current = status == EE_OK ? voice : std::string();
  return status;
}

/// IPA transcription with espeak-ng (the phonemizer VITS-family models are trained with).
/// espeak-ng keeps global state, so every call is serialised through one process-wide lock.
class EspeakPhonemizer {
 public:
  /// @param voice an espeak-ng voice / language name, e.g. "en-us", "en-gb", "de", "cmn".
  explicit EspeakPhonemizer(std::string voice = "en-us") : voice_(std::move(voice)) {
    std::lock_guard<std::mutex> lock(espeak_mutex());
    espeak_initialize();
    CHORD_CHECK(espeak_select_voice(voice_) == EE_OK, "espeak-ng has no voice '", voice_,
                "' (list them with `espeak-ng --voices`)");
  }

  const std::string& voice() const noexcept { return voice_; }

  /// IPA for `text`; clauses are joined with a space (espeak drops punctuation).
  std::string phonemize(std::string_view text) const {
    std::lock_guard<std::mutex> lock(espeak_mutex());
    espeak_select_voice(voice_);
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
